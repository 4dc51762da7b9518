import type { ExitCode } from "./exit-codes.js";
import type { Io } from "./io.js";

/** One `fieldcrypt <name>` command. */
export interface Command {
  readonly name: string;
  /** One line for the command list of `fieldcrypt --help`. */
  readonly summary: string;
  /** The full text of `fieldcrypt <name> --help`. */
  readonly help: string;
  /** Runs the command with the arguments after its name; throws CLI or fieldcrypt errors. */
  run(argv: readonly string[], io: Io): Promise<ExitCode>;
}
