import { inspect } from "node:util";
import { type ErrorCode, isFieldcryptError, safeErrorName } from "fieldcrypt/errors";
import { CliError } from "./cli-error.js";
import { EXIT_AUDIT_BROKEN, EXIT_CONFIG, EXIT_FAILED, EXIT_USAGE, type ExitCode } from "./exit-codes.js";
import type { Io } from "./io.js";

/** Exit code and hint for each fieldcrypt error code. Hints name flags and variables, never values. */
const BY_CODE: Record<ErrorCode, { readonly exit: ExitCode; readonly hint: string }> = {
  ERR_DECRYPTION_FAILED: {
    exit: EXIT_FAILED,
    hint: "the cell was sealed with another key or for another --scope, --table, --column or --row-key, or it was altered",
  },
  ERR_INVALID_STREAM: {
    exit: EXIT_FAILED,
    hint: "pass the age file exactly as written (it starts with age-encryption.org/v1); an armored file must be dearmored first",
  },
  ERR_INVALID_CELL: {
    exit: EXIT_FAILED,
    hint: "pass the cell exactly as stored (text cells start with fc1.); `fieldcrypt inspect` checks a cell's header",
  },
  ERR_KEY_NOT_FOUND: {
    exit: EXIT_FAILED,
    hint: "add the key with that id to FIELDCRYPT_KEYS or to the --keys-file (old keys stay in the keyring to decrypt)",
  },
  ERR_NO_PRIMARY_KEY: {
    exit: EXIT_CONFIG,
    hint: "name the key to encrypt with: set FIELDCRYPT_PRIMARY_KEY=ID or add a primary=ID entry (a new key: `fieldcrypt keygen --id v1`)",
  },
  ERR_INVALID_KEY: {
    exit: EXIT_CONFIG,
    hint: "a key string is FIELDCRYPT-SECRET-KEY-1- followed by 43 base64url characters; make one with `fieldcrypt keygen`",
  },
  ERR_INVALID_KEYRING: {
    exit: EXIT_CONFIG,
    hint: "FIELDCRYPT_KEYS and key files hold entries like v1=FIELDCRYPT-SECRET-KEY-1-… separated by commas or newlines; make one with `fieldcrypt keygen --id v1`",
  },
  ERR_KEY_FILE_PERMISSIONS: {
    exit: EXIT_CONFIG,
    hint: "a key file must be readable by its owner only, like an ssh private key",
  },
  ERR_NOT_ENCRYPTED: {
    exit: EXIT_FAILED,
    hint: "the column still holds plaintext: encrypt it first, or read it in transition mode during the migration",
  },
  ERR_ALREADY_ENCRYPTED: {
    exit: EXIT_FAILED,
    hint: "pass the plaintext value; a cell is never encrypted twice",
  },
  ERR_TYPE_MISMATCH: {
    exit: EXIT_FAILED,
    hint: "the value's type differs from the column's declared type",
  },
  ERR_UNWRAP_FAILED: {
    exit: EXIT_CONFIG,
    hint: "the root key cannot unwrap this data key: check which root key the key table names",
  },
  ERR_ROOT_KEY_UNAVAILABLE: {
    exit: EXIT_CONFIG,
    hint: "the root-key provider (KMS/HSM) failed or is unreachable; nothing was written",
  },
  ERR_KEY_DESTROYED: {
    exit: EXIT_FAILED,
    hint: "the cell's key was crypto-shredded: its data is unrecoverable by design",
  },
  ERR_KEY_MISMATCH: {
    exit: EXIT_CONFIG,
    hint: "a key has the id of the key an earlier run of this job used, but other material: load the original key; nothing was written",
  },
  ERR_JOB_BUSY: {
    exit: EXIT_FAILED,
    hint: "another worker holds this job's lease; wait for it, or for the lease to expire if that worker died",
  },
  ERR_AUDIT_KEY_MISMATCH: {
    exit: EXIT_CONFIG,
    hint: "the config's audit key is not the key this audit log was written with; check FIELDCRYPT_AUDIT_KEY",
  },
  ERR_AUDIT_HEAD_MISMATCH: {
    exit: EXIT_AUDIT_BROKEN,
    hint: "entries were cut off the end of fieldcrypt_audit since that head was taken; compare it with a backup",
  },
  ERR_INVALID_OPTION: {
    exit: EXIT_USAGE,
    hint: "run the command with --help for the accepted values",
  },
  ERR_INVALID_CONTEXT: {
    exit: EXIT_USAGE,
    hint: "--table, --column, --scope and --row-key take non-empty values of at most 1024 UTF-8 bytes",
  },
  ERR_UNSUPPORTED_VALUE: {
    exit: EXIT_FAILED,
    hint: "the CLI encrypts the UTF-8 text read from standard input",
  },
  ERR_VALUE_TOO_LARGE: {
    exit: EXIT_FAILED,
    hint: "a cell holds at most 64 MiB of plaintext",
  },
  ERR_UNSUPPORTED_ALGORITHM: {
    exit: EXIT_USAGE,
    hint: "--algorithm takes XAES-256-GCM (the default) or AES-256-GCM",
  },
};

/**
 * Prints an error in the one CLI shape (`fieldcrypt: error: …` / `fieldcrypt: hint: …`) and returns
 * the exit code. fieldcrypt and CLI messages are safe by construction and printed without a stack;
 * any other error is reduced to its name and code, because its message could quote data.
 */
export function reportError(error: unknown, io: Io): ExitCode {
  if (error instanceof CliError) {
    print(io, error.message, error.hint);
    return error.exitCode;
  }
  if (isFieldcryptError(error)) {
    const entry = Object.hasOwn(BY_CODE, error.code) ? BY_CODE[error.code] : undefined;
    print(io, error.message, entry?.hint);
    return entry?.exit ?? EXIT_FAILED;
  }
  const name = (error instanceof Error && safeErrorName(error.name)) || "Error";
  const code = safeErrorName((error as { code?: unknown } | null)?.code);
  const shownCode = code === undefined ? "" : ` ${code}`;
  if (io.env.FIELDCRYPT_DEBUG === "1") {
    print(io, `unexpected failure (${name}${shownCode})`, undefined);
    io.err(`${inspect(error)}\n`);
  } else {
    print(
      io,
      `unexpected failure (${name}${shownCode})`,
      "set FIELDCRYPT_DEBUG=1 to print the full error (it may contain data)",
    );
  }
  return EXIT_FAILED;
}

function print(io: Io, message: string, hint: string | undefined): void {
  io.err(`fieldcrypt: error: ${oneLine(message)}\n`);
  if (hint !== undefined) io.err(`fieldcrypt: hint: ${hint}\n`);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
