import { readFileSync } from "node:fs";
import { Command } from "commander";
import { projectPath } from "../src/project-files.ts";
import { registerImportCommands } from "./commands/import-export.ts";
import { registerScanCommand } from "./commands/scan.ts";
import { registerAuditCommand } from "./commands/audit.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerServeCommand } from "./commands/serve.ts";
import { registerRepairCommands } from "./commands/repair.ts";
import { registerReadCommands } from "./commands/read.ts";
import { registerConfigCommand } from "./commands/config.ts";
import { runProgram } from "./commands/common.ts";
import { registerTrashCommands } from "./commands/trash.ts";

const { version } = JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as { version: string };

const program = new Command("actor-manifests")
  .description("Keeps every training image of every actor accounted for across local disk and S3.")
  .version(version)
  .showHelpAfterError();

registerImportCommands(program);
registerScanCommand(program);
registerAuditCommand(program);
registerDemoCommand(program);
registerServeCommand(program);
registerRepairCommands(program);
registerReadCommands(program);
registerConfigCommand(program);
registerTrashCommands(program);

await runProgram(program, process.argv);
