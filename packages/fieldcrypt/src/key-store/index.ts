/**
 * Data keys in the app's database: `fieldcrypt/key-store`. Random 256-bit data keys per scope
 * (tenant/subject, or shared), stored wrapped by a root key (`fieldcrypt/kms`) in `fieldcrypt_keys`;
 * create, rotate the root key (rewrap, no row touched), crypto-shred a scope, and load a scope's
 * keys into a {@link Keyring} with a TTL- and size-bounded cache. Every key event is audited when
 * an auditor (`fieldcrypt/audit`) is given.
 *
 * @module
 */

export { KeyDestroyed } from "../errors/index.js";
export { createKeyCache, KeyCache, type KeyCacheOptions } from "./cache.js";
export { type CreateDataKeyResult, createDataKey } from "./create.js";
export type { KeyEventOptions } from "./internal.js";
export { type DataKeyInfo, listDataKeys } from "./list.js";
export { destroyedKeyIds, type LoadStoredKeyringOptions, loadKeyring, rethrowDestroyed } from "./load.js";
export { type RotateRootKeyOptions, type RotateRootKeyResult, rotateRootKey } from "./rotate-root.js";
export { type ShredScopeOptions, type ShredScopeResult, shredScope } from "./shred.js";
export { createKeyTable, ensureKeyTable, KEY_TABLE_SQL } from "./table.js";
export {
  type PgListenConnection,
  type PgliteListenConnection,
  SHRED_CHANNEL,
  type ShredWatcher,
  type WatchShredsOptions,
  watchShreds,
} from "./watch.js";
