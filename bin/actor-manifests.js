#!/usr/bin/env node
// Compiled JavaScript (`npm run build`, run by `npm ci` through `prepare`): no TypeScript
// is compiled at run time, so `--help` starts like a native tool (SPEC.md §9).
await import("../dist/scripts/cli.js");
