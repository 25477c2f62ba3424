// Worker threads do not inherit tsx's loader (a .ts worker fails with "Unknown file
// extension"), so a TypeScript worker starts here: register tsx, then import it.
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";

register();
await import(workerData.entry);
