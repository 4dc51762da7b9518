/**
 * Ids of crypto-shredded data keys per keyring, recorded by `fieldcrypt/key-store`'s loader, so
 * that decrypting a cell of a destroyed key fails with `ERR_KEY_DESTROYED` instead of
 * `ERR_KEY_NOT_FOUND`. Not exported.
 */
import type { Keyring } from "../keyring/keyring.js";

export const destroyedByKeyring = new WeakMap<Keyring, ReadonlySet<string>>();
