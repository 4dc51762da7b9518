/**
 * Keys and keyrings: `fieldcrypt/keyring`.
 * @module
 */
export { Key } from "./key.js";
export { generateKeyString, KEY_STRING_PREFIX } from "./key-string.js";
export { type CreateKeyringOptions, createKeyring, type KeyInfo, Keyring, type KeyringEntry } from "./keyring.js";
export { type KeyringEnv, type LoadLocalKeyringOptions, loadKeyringFile, loadKeyringFromEnv } from "./load.js";
