/**
 * Typed errors of fieldcrypt. Exported from `fieldcrypt/errors` (and `fieldcrypt`).
 *
 * Every error has a stable `code` (`ERR_*`). Messages echo identifiers (key ids,
 * `table.column`, algorithm ids, byte lengths, expected formats) and never secrets:
 * no key bytes, no plaintext, no ciphertext payload, no associated-data values and
 * no raw bad input (its type is described instead).
 *
 * @module
 */

const BRAND: unique symbol = Symbol.for("fieldcrypt.error");

/** Every code a fieldcrypt error can carry. Stable across releases: match on these. */
export type ErrorCode =
  | "ERR_DECRYPTION_FAILED"
  | "ERR_INVALID_CELL"
  | "ERR_KEY_NOT_FOUND"
  | "ERR_NO_PRIMARY_KEY"
  | "ERR_INVALID_KEY"
  | "ERR_INVALID_KEYRING"
  | "ERR_KEY_FILE_PERMISSIONS"
  | "ERR_INVALID_CONTEXT"
  | "ERR_UNSUPPORTED_VALUE"
  | "ERR_VALUE_TOO_LARGE"
  | "ERR_UNSUPPORTED_ALGORITHM"
  | "ERR_INVALID_OPTION"
  | "ERR_NOT_ENCRYPTED"
  | "ERR_ALREADY_ENCRYPTED"
  | "ERR_TYPE_MISMATCH"
  | "ERR_UNWRAP_FAILED"
  | "ERR_ROOT_KEY_UNAVAILABLE"
  | "ERR_KEY_DESTROYED"
  | "ERR_KEY_MISMATCH"
  | "ERR_JOB_BUSY"
  | "ERR_AUDIT_KEY_MISMATCH"
  | "ERR_AUDIT_HEAD_MISMATCH"
  | "ERR_INVALID_STREAM";

/**
 * Base class of every fieldcrypt error.
 *
 * Use {@link isFieldcryptError} rather than `instanceof` when two copies of the package may be
 * installed: the brand check works across copies.
 *
 * @example
 * ```ts
 * import { isFieldcryptError } from "fieldcrypt/errors";
 * try { decrypt(keyring, cell, ctx) } catch (e) { if (isFieldcryptError(e)) log(e.code) }
 * ```
 */
export class FieldcryptError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * True when `value` is an error thrown by any installed copy of fieldcrypt.
 * With `code`, also checks the error's code. Exported from `fieldcrypt/errors`.
 *
 * @example
 * ```ts
 * if (isFieldcryptError(e, "ERR_KEY_NOT_FOUND")) await loadMoreKeys()
 * ```
 */
export function isFieldcryptError(value: unknown, code?: ErrorCode): value is FieldcryptError {
  if (typeof value !== "object" || value === null) return false;
  if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (value as FieldcryptError).code === code;
}

/**
 * The one opaque decryption failure: wrong key, wrong context (scope, table, column, row key),
 * tampering and truncation of the sealed part all raise this same error with the same message and
 * no `cause`, so that a caller (or an attacker watching it) learns nothing about which it was.
 */
export class DecryptionFailed extends FieldcryptError {
  constructor() {
    super("ERR_DECRYPTION_FAILED", "decryption failed");
  }
}

/**
 * The value is not a well-formed fieldcrypt cell (bad prefix, unknown version or algorithm,
 * truncated header, bad base64url). The message says what was expected; it never quotes the input.
 */
export class InvalidCell extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_CELL", message);
  }
}

/** A cell names a key id that the keyring does not hold. The key id is safe to print. */
export class KeyNotFound extends FieldcryptError {
  readonly keyId: string;
  constructor(keyId: string) {
    super("ERR_KEY_NOT_FOUND", `key ${JSON.stringify(keyId)} is not in the keyring`);
    this.keyId = keyId;
  }
}

/**
 * The keyring has no primary key for the scope being encrypted. The scope is a context value
 * (often a tenant id) and is not repeated in the message; the caller knows which one it passed.
 */
export class NoPrimaryKey extends FieldcryptError {
  constructor(scoped: boolean) {
    super(
      "ERR_NO_PRIMARY_KEY",
      scoped ? "keyring has keys for this scope but none of them is primary" : "keyring has no primary key",
    );
  }
}

/** A key string or key bytes are malformed (wrong prefix, length or encoding). */
export class InvalidKey extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_KEY", message);
  }
}

/** A keyring definition is malformed (duplicate ids, unknown primary, bad syntax). */
export class InvalidKeyring extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_KEYRING", message);
  }
}

/** A key file is readable by users other than its owner. */
export class KeyFilePermissions extends FieldcryptError {
  constructor(message: string) {
    super("ERR_KEY_FILE_PERMISSIONS", message);
  }
}

/** The encryption context ({ scope, table, column, rowKey }) is malformed. */
export class InvalidContext extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_CONTEXT", message);
  }
}

/** A value of a type that cannot round-trip through a cell (its type is named, never its content). */
export class UnsupportedValue extends FieldcryptError {
  constructor(message: string) {
    super("ERR_UNSUPPORTED_VALUE", message);
  }
}

/** A plaintext or cell exceeds the size limits of the cell format. */
export class ValueTooLarge extends FieldcryptError {
  constructor(message: string) {
    super("ERR_VALUE_TOO_LARGE", message);
  }
}

/** An algorithm name that this version of fieldcrypt does not implement. */
export class UnsupportedAlgorithm extends FieldcryptError {
  constructor(message: string) {
    super("ERR_UNSUPPORTED_ALGORITHM", message);
  }
}

/** An option passed to a fieldcrypt function has a value it does not accept. */
export class InvalidOption extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_OPTION", message);
  }
}

/**
 * A column in strict mode holds a value that is not a fieldcrypt cell (plaintext, or NULL where the
 * column is declared non-null). Strict mode fails closed; transition mode would return the value.
 */
export class NotEncrypted extends FieldcryptError {
  constructor(field: string) {
    super("ERR_NOT_ENCRYPTED", `${field} holds a value that is not a fieldcrypt cell (strict mode)`);
  }
}

/** A value handed to an encrypted column is already a fieldcrypt cell: it is never encrypted twice. */
export class AlreadyEncrypted extends FieldcryptError {
  constructor(field: string) {
    super("ERR_ALREADY_ENCRYPTED", `${field} was given a fieldcrypt cell to encrypt; a cell is never encrypted twice`);
  }
}

/** A value (or a decrypted cell) has another type than the column declares. Types are named, values never. */
export class TypeMismatch extends FieldcryptError {
  constructor(field: string, expected: string, got: string) {
    super("ERR_TYPE_MISMATCH", `${field} is declared ${expected} but the value is of type ${got}`);
  }
}

/** Codes added by the key hierarchy. */
export type KeyHierarchyErrorCode = "ERR_UNWRAP_FAILED" | "ERR_ROOT_KEY_UNAVAILABLE" | "ERR_KEY_DESTROYED";

/**
 * A root key could not unwrap a data key: wrong root key, wrong associated data (the wrapped key
 * was moved to another key id or scope), tampering or truncation. One error, one message per root
 * key, no `cause`. Only a mismatch of root key ids (both safe to print) gets its own message.
 */
export class KeyUnwrapFailed extends FieldcryptError {
  readonly rootKeyId: string;
  constructor(rootKeyId: string, message?: string) {
    super("ERR_UNWRAP_FAILED", message ?? `root key ${JSON.stringify(rootKeyId)} could not unwrap the data key`);
    this.rootKeyId = rootKeyId;
  }
}

/**
 * A root-key provider failed or could not be reached (a KMS/HSM error, a timeout), or no provider
 * given holds the root key a data key is wrapped with. Names the root key id and the kind of
 * failure (the error's class name or code), never the provider's message or payloads.
 */
export class RootKeyUnavailable extends FieldcryptError {
  readonly rootKeyId: string;
  constructor(rootKeyId: string, message: string) {
    super("ERR_ROOT_KEY_UNAVAILABLE", message);
    this.rootKeyId = rootKeyId;
  }
}

/** A cell needs a data key that was destroyed (crypto-shredded): its data is unrecoverable. */
export class KeyDestroyed extends FieldcryptError {
  readonly keyId: string;
  constructor(keyId: string) {
    super("ERR_KEY_DESTROYED", `key ${JSON.stringify(keyId)} was destroyed (crypto-shredded)`);
    this.keyId = keyId;
  }
}

/**
 * A key has the id of a key that already wrote part of a job, but other material: its check value
 * (`key.checkValue`, spec/keys-v1.md) differs from the one the job's run record holds for that id.
 * Raised before the run writes a row. Names the id and both check values (public), never a key.
 */
export class KeyMismatch extends FieldcryptError {
  readonly keyId: string;
  /** The check value recorded for `keyId` by an earlier run of the job. */
  readonly expectedCheckValue: string;
  /** The check value of the key given now. */
  readonly actualCheckValue: string;
  constructor(keyId: string, expectedCheckValue: string, actualCheckValue: string) {
    super(
      "ERR_KEY_MISMATCH",
      `key ${JSON.stringify(keyId)} (${actualCheckValue}) is not the key ${JSON.stringify(keyId)} that an earlier run of this job used (${expectedCheckValue})`,
    );
    this.keyId = keyId;
    this.expectedCheckValue = expectedCheckValue;
    this.actualCheckValue = actualCheckValue;
  }
}

/**
 * The auditor's key is not the key the audit log was written with: the check value stored with
 * the log (spec/audit-v1.md) differs from `auditor.checkValue` and the entries do not verify under
 * it. A configuration error, not tampering. Names both check values (public), never a key.
 */
export class AuditKeyMismatch extends FieldcryptError {
  /** The check value stored with the log; `undefined` for a log older than check values. */
  readonly expectedCheckValue: string | undefined;
  readonly actualCheckValue: string;
  constructor(expectedCheckValue: string | undefined, actualCheckValue: string) {
    super(
      "ERR_AUDIT_KEY_MISMATCH",
      expectedCheckValue === undefined
        ? `the audit key (${actualCheckValue}) does not verify the last entry of the audit log, which has no stored key check value`
        : `the audit key (${actualCheckValue}) is not the key the audit log was written with (${expectedCheckValue})`,
    );
    this.expectedCheckValue = expectedCheckValue;
    this.actualCheckValue = actualCheckValue;
  }
}

/**
 * The audit log does not reach the expected head kept outside the database: entries were cut off
 * its end (`"truncated"`, the table emptied included) or the entry at the head's `seq` is another
 * one (`"replaced"`: a truncation followed by new appends that reused the numbers).
 */
export class AuditHeadMismatch extends FieldcryptError {
  readonly reason: "truncated" | "replaced";
  readonly expectedSeq: number;
  readonly entries: number;
  constructor(reason: "truncated" | "replaced", expectedSeq: number, entries: number) {
    super(
      "ERR_AUDIT_HEAD_MISMATCH",
      reason === "truncated"
        ? `audit log truncated: the expected head is entry ${expectedSeq}, the log has ${entries} entries`
        : `audit log rewritten: entry ${expectedSeq} is not the expected head (${entries} entries)`,
    );
    this.reason = reason;
    this.expectedSeq = expectedSeq;
    this.entries = entries;
  }
}

/**
 * The input is not a well-formed age v1 file (spec/stream-v1.md): bad version line, malformed
 * stanza or MAC line, a header over 1 MiB or cut off. Says what was expected; never quotes the input.
 * Wrong key, tampering and truncation of the payload are {@link DecryptionFailed}.
 */
export class InvalidStream extends FieldcryptError {
  constructor(message: string) {
    super("ERR_INVALID_STREAM", message);
  }
}
export { safeErrorName } from "./foreign.js";
