/**
 * Errors of root-key providers and the data-key store. Exported from `fieldcrypt/kms`; they live in
 * `fieldcrypt/errors` with every other error class, so that lower layers (a cell's decrypt) can
 * raise them without reaching up into `kms/`.
 *
 * Their codes are members of the core `ErrorCode` union: `isFieldcryptError(e, "ERR_KEY_DESTROYED")`.
 *
 * @module
 */
export {
  KeyDestroyed,
  type KeyHierarchyErrorCode,
  KeyUnwrapFailed,
  RootKeyUnavailable,
} from "../errors/index.js";
