import DataLoader from "dataloader";
import type { AppContext } from "../context.ts";
import type { GenerationRow } from "../db/schema.ts";
import {
  generationsByActorIds,
  imageCountsByActorIds,
  imagePagesByActorIds,
  type ActorImagePosition,
  type ImageFilter,
  type ImagePage,
  type ImageRowWithPosition,
} from "../db/image-queries.ts";

/** What every resolver sees: the application context plus per-request state. */
export interface GraphQLContext {
  app: AppContext;
  /** Shown in logs and in masked errors, so a user's report can be matched to the log line. */
  requestId: string;
  loaders: RequestLoaders;
}

export function createGraphQLContext(app: AppContext, requestId: string): GraphQLContext {
  return { app, requestId, loaders: new RequestLoaders(app) };
}

/**
 * DataLoaders for the list hops that depend on arguments (a page of images per actor).
 * One loader per distinct argument set, all made per request so no cache outlives it.
 */
export class RequestLoaders {
  private readonly imagePageLoaders = new Map<string, DataLoader<number, ImagePage<ImageRowWithPosition>>>();
  private readonly imageCountLoaders = new Map<string, DataLoader<number, number>>();
  readonly generationsByActor: DataLoader<number, GenerationRow[]>;

  constructor(private readonly app: AppContext) {
    this.generationsByActor = new DataLoader(async (ids) => generationsByActorIds(app.db, ids));
  }

  imagePages(filter: ImageFilter | undefined, first: number, after: ActorImagePosition | undefined) {
    const key = JSON.stringify([filter ?? null, first, after ?? null]);
    let loader = this.imagePageLoaders.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => imagePagesByActorIds(this.app.db, ids, filter, first, after));
      this.imagePageLoaders.set(key, loader);
    }
    return loader;
  }

  imageCounts(filter: ImageFilter | undefined) {
    const key = JSON.stringify(filter ?? null);
    let loader = this.imageCountLoaders.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => imageCountsByActorIds(this.app.db, ids, filter));
      this.imageCountLoaders.set(key, loader);
    }
    return loader;
  }
}
