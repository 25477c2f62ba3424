// An actor and its images as the grid needs them: the first page at once, the next ones as
// the grid scrolls to them (the `trainingImages` connection, by cursor), the filter applied
// by the service, and every loaded page read again when the actor changes elsewhere.
import { useEffect, useMemo, useState } from "preact/hooks";
import { graphql } from "./api.js";
import { imageFigures, toast } from "./ui.js";

/** A screenful or three of tiles: the first paint waits for one page only. */
const pageSize = 200;
/** The API's largest page: re-reading what is loaded takes as few requests as it can. */
const maxPageSize = 500;

const actorPageQuery = `query ActorPage($name: String!, $filter: TrainingImageFilterInput, $first: Int!, $after: String) {
  actor(name: $name) {
    name characterId descriptor age gender lastCheckedAt manifestUpdatedAt
    statistics { ${imageFigures} }
    problems { file jsonPath reason }
    trainingImages(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { filename index status good sizeBytes md5 checkedAt modifiedAt prompt localPath s3Url viewUrl orphan generation { type generatedAt } }
    }
  }
}`;

/**
 * The loaded images (always a prefix of the filtered list) and how to get more. Reads run
 * one at a time, in order; a re-read that overlapped a local change still being written is
 * dropped and done again once the write is over, so it never undoes what the user just did.
 */
class ImagePages {
  constructor(name, filter, publish) {
    this.name = name;
    this.filter = filter;
    this.publish = publish;
    this.images = [];
    this.actor = null;
    this.total = 0;
    this.missing = false;
    this.cursor = null;
    this.more = true;
    this.queue = Promise.resolve();
    this.edits = 0;
    this.writes = 0;
    this.stale = false;
    this.closed = false;
  }

  run(task) {
    const done = this.queue.then(task);
    this.queue = done.catch(() => {});
    return done;
  }

  async read(after, first) {
    const { actor } = await graphql(actorPageQuery, { name: this.name, filter: this.filter, first, after });
    return actor;
  }

  show(actor, images, cursor, more) {
    if (this.closed) return;
    if (!actor) {
      this.missing = true;
      this.more = false;
    } else {
      this.actor = actor;
      this.total = actor.trainingImages.totalCount;
      this.images = images;
      this.cursor = cursor;
      this.more = more;
    }
    this.publish({ from: this, actor: this.actor, images: this.images, total: this.total, missing: this.missing });
  }

  /** Loads pages until `count` images are loaded (or all are); resolves to the loaded images. */
  async ensureLoaded(count) {
    while (this.more && this.images.length < count && !this.closed) {
      await this.run(async () => {
        if (!this.more || this.images.length >= count || this.closed) return;
        const actor = await this.read(this.cursor, pageSize);
        const page = actor?.trainingImages;
        this.show(
          actor,
          page ? [...this.images, ...page.nodes] : this.images,
          page?.pageInfo.endCursor ?? null,
          page?.pageInfo.hasNextPage ?? false,
        );
      });
    }
    return this.images;
  }

  /** Reads again the actor and as many images as are loaded (at least a page). */
  refresh() {
    return this.run(async () => {
      const edits = this.edits;
      const wanted = Math.max(this.images.length, pageSize);
      let fresh = [];
      let cursor = null;
      let more = true;
      let actor = null;
      while (more && fresh.length < wanted) {
        actor = await this.read(cursor, Math.min(maxPageSize, wanted - fresh.length));
        if (!actor) break;
        fresh = [...fresh, ...actor.trainingImages.nodes];
        cursor = actor.trainingImages.pageInfo.endCursor;
        more = actor.trainingImages.pageInfo.hasNextPage;
      }
      // What the user changed meanwhile is newer than this answer: read again after it.
      if (this.writes > 0) {
        this.stale = true;
        return;
      }
      if (edits !== this.edits) {
        this.refresh().catch(() => {});
        return;
      }
      this.show(actor, fresh, cursor, more);
    });
  }

  /** Changes loaded images (and the actor) at once, before the service has answered. */
  change(images, actor = (current) => current) {
    this.edits++;
    this.show(actor(this.actor), this.images.map(images), this.cursor, this.more);
  }

  /** Follows a write of a local change: re-reads made meanwhile wait for its end. */
  async writing(request) {
    this.writes++;
    try {
      return await request;
    } finally {
      this.writes--;
      if (this.writes === 0 && this.stale) {
        this.stale = false;
        this.refresh().catch(() => {});
      }
    }
  }
}

/**
 * The actor `name` and its images matching `filter` (a `TrainingImageFilterInput`, or null):
 * `{ actor, images, total, missing, loaded, pages }`; `images` are the loaded ones, `total` all that match.
 */
export function useActorImages(name, filter) {
  const [state, setState] = useState(null);
  const key = JSON.stringify(filter);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the filter is compared by value (key)
  const pages = useMemo(() => new ImagePages(name, filter, setState), [name, key]);
  useEffect(() => {
    pages.ensureLoaded(1).catch((error) => toast(error.message, "error"));
    return () => {
      pages.closed = true;
    };
  }, [pages]);
  // Until its first page arrives, a new filter shows the actor with no image yet.
  const current = state?.from === pages ? state : { actor: state?.actor ?? null, images: [], total: 0, missing: false };
  return { ...current, loaded: state?.from === pages, pages };
}
