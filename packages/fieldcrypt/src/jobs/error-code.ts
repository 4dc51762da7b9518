/** The code and class a job records for a failure. Not exported. */
import { type ErrorCode, isFieldcryptError, safeErrorName } from "../errors/index.js";

/** What a job records of a failing cell: the stable code and the error's class name, never its message. */
export interface CellFailure {
  readonly code: string;
  readonly errorClass: string;
}

/** The stable code of a failure: a fieldcrypt code, or ERR_UNEXPECTED (never the message). */
export function errorCode(error: unknown): ErrorCode | "ERR_UNEXPECTED" {
  return isFieldcryptError(error) ? error.code : "ERR_UNEXPECTED";
}

/**
 * The class name of a failure (spec/jobs-v1.md §7): a fieldcrypt error's class (`DecryptionFailed`),
 * another error's class when its name is plain (`TypeError`), else `Error`; never the message.
 */
export function errorClass(error: unknown): string {
  const name =
    typeof error === "object" && error !== null ? safeErrorName((error as { name?: unknown }).name) : undefined;
  return name ?? (isFieldcryptError(error) ? "FieldcryptError" : "Error");
}

/** The code and class of a failure. */
export function cellFailure(error: unknown): CellFailure {
  return { code: errorCode(error), errorClass: errorClass(error) };
}
