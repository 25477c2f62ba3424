import { Command } from "commander";
import { registerImportCommands } from "./commands/import-export.ts";
import { registerScanCommand } from "./commands/scan.ts";
import { registerAuditCommand } from "./commands/audit.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerServeCommand } from "./commands/serve.ts";
import { registerRepairCommands } from "./commands/repair.ts";

const program = new Command("actor-manifests")
  .description("Keeps every training image of every actor accounted for across local disk and S3.")
  .showHelpAfterError();

registerImportCommands(program);
registerScanCommand(program);
registerAuditCommand(program);
registerDemoCommand(program);
registerServeCommand(program);
registerRepairCommands(program);

await program.parseAsync(process.argv);
