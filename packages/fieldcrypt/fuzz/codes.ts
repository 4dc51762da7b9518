/**
 * The documented error codes: every member of the public `ErrorCode` union of `fieldcrypt/errors`.
 * A thrown FieldcryptError whose code is not one of these is a fuzz failure; the check below makes
 * typecheck fail when the union gains or loses a code that this list does not follow.
 */
import type { ErrorCode } from "fieldcrypt/errors";

export const DOCUMENTED_CODES = [
  "ERR_DECRYPTION_FAILED",
  "ERR_INVALID_CELL",
  "ERR_KEY_NOT_FOUND",
  "ERR_NO_PRIMARY_KEY",
  "ERR_INVALID_KEY",
  "ERR_INVALID_KEYRING",
  "ERR_KEY_FILE_PERMISSIONS",
  "ERR_INVALID_CONTEXT",
  "ERR_UNSUPPORTED_VALUE",
  "ERR_VALUE_TOO_LARGE",
  "ERR_UNSUPPORTED_ALGORITHM",
  "ERR_INVALID_OPTION",
  "ERR_NOT_ENCRYPTED",
  "ERR_ALREADY_ENCRYPTED",
  "ERR_TYPE_MISMATCH",
  "ERR_UNWRAP_FAILED",
  "ERR_ROOT_KEY_UNAVAILABLE",
  "ERR_KEY_DESTROYED",
  "ERR_KEY_MISMATCH",
  "ERR_JOB_BUSY",
  "ERR_AUDIT_KEY_MISMATCH",
  "ERR_AUDIT_HEAD_MISMATCH",
  "ERR_INVALID_STREAM",
] as const satisfies readonly ErrorCode[];

type Unlisted = Exclude<ErrorCode, (typeof DOCUMENTED_CODES)[number]>;
// Fails to compile when ErrorCode has a code missing above.
const complete: [Unlisted] extends [never] ? true : Unlisted = true;
void complete;

const DOCUMENTED: ReadonlySet<string> = new Set(DOCUMENTED_CODES);

/** True when `code` is one of the documented codes. */
export function isDocumentedCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && DOCUMENTED.has(code);
}
