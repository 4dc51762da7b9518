import { EXIT_CONFIG, EXIT_FAILED, EXIT_USAGE, type ExitCode } from "./exit-codes.js";

/**
 * An error the CLI reports itself: a message and a hint that name options, files and key ids,
 * never values read from stdin, key material or plaintext.
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(exitCode: ExitCode, message: string, hint?: string) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** A wrong command line (exit 2). */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(EXIT_USAGE, message, hint);
}

/** A missing or wrong keyring or other configuration (exit 3). */
export function configError(message: string, hint?: string): CliError {
  return new CliError(EXIT_CONFIG, message, hint);
}

/** The operation itself failed (exit 1). */
export function operationError(message: string, hint?: string): CliError {
  return new CliError(EXIT_FAILED, message, hint);
}
