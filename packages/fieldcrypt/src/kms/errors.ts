/**
 * Errors of root-key providers and the data-key store. Exported from `fieldcrypt/kms`.
 *
 * Their codes are members of the core `ErrorCode` union: `isFieldcryptError(e, "ERR_KEY_DESTROYED")`.
 *
 * @module
 */
import { FieldcryptError } from "../errors/index.js";

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
