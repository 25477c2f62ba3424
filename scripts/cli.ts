import { Command } from "commander";
import { registerImportCommands } from "./commands/import-export.ts";

const program = new Command("actor-manifests")
  .description("Keeps every training image of every actor accounted for across local disk and S3.")
  .showHelpAfterError();

registerImportCommands(program);

await program.parseAsync(process.argv);
