/**
 * Root keys (KEKs) that wrap data keys: `fieldcrypt/kms`. One small async interface,
 * {@link RootKeyProvider}, and the local provider; KMS/HSM providers live on their own subpaths.
 *
 * @module
 */
export { KeyDestroyed, type KeyHierarchyErrorCode, KeyUnwrapFailed, RootKeyUnavailable } from "./errors.js";
export { LocalRootKey, type LocalRootKeyOptions, localRootKey } from "./local.js";
export { ROOT_KEY_ID_RULE, type RootKeyProvider } from "./provider.js";
