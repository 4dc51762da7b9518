/** Exit codes of every `fieldcrypt` command (also listed in `fieldcrypt --help` and the README). */
export const EXIT_OK = 0;
/** The operation failed: decryption failed, key not found, invalid cell, bad value, database unreachable. */
export const EXIT_FAILED = 1;
/** The command line is wrong: unknown command or flag, missing or bad flag value, a database URL that is not one. */
export const EXIT_USAGE = 2;
/** The configuration is wrong: no or invalid keyring, key file permissions, no such database, login refused. */
export const EXIT_CONFIG = 3;
/** `fieldcrypt audit verify`: the audit log's chain is broken (an entry edited, deleted, reordered). */
export const EXIT_AUDIT_BROKEN = 4;
/** Ctrl-C stopped a job at a batch boundary (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

export type ExitCode =
  | typeof EXIT_OK
  | typeof EXIT_FAILED
  | typeof EXIT_USAGE
  | typeof EXIT_CONFIG
  | typeof EXIT_AUDIT_BROKEN
  | typeof EXIT_INTERRUPTED;

/** The exit-code table as printed by `fieldcrypt --help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  operation failed (decryption failed, key not found, invalid cell, bad value, database unreachable)
  2  usage error (unknown command or flag, missing or bad flag value, not a postgres:// or pglite: URL)
  3  configuration error (no or invalid keyring, key file permissions, no such database, login refused)
  4  audit verify: the audit log was tampered with (an entry edited, deleted or reordered)
  130  interrupted (Ctrl-C): a job stopped at a batch boundary; resume it by id`;
