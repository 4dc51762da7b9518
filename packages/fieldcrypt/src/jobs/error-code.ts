/** The code a job records for a failure. Not exported. */
import { type ErrorCode, isFieldcryptError } from "../errors/index.js";

/** The stable code of a failure: a fieldcrypt code, or ERR_UNEXPECTED (never the message). */
export function errorCode(error: unknown): ErrorCode | "ERR_UNEXPECTED" {
  return isFieldcryptError(error) ? error.code : "ERR_UNEXPECTED";
}
