import { builder } from "./builder.ts";
import "./errors.ts";
import "./inputs.ts";
import "./generation.ts";
import "./training-image.ts";
import "./actor.ts";
import "./stats.ts";
import "./manifest.ts";
import "./actor-outcome.ts";
import "./sync-job.ts";
import "./actor-checks.ts";
import "./image-operations.ts";
import "./trash.ts";

export const schema = builder.toSchema({ sortSchema: true });
