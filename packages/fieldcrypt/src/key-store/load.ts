import { createSecretKey, type KeyObject } from "node:crypto";
import {
  InvalidOption,
  isFieldcryptError,
  KeyDestroyed,
  KeyUnwrapFailed,
  RootKeyUnavailable,
} from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { getKeyMaterial } from "../internal/key-material.js";
import { checkValueOf } from "../keyring/check-value.js";
import { createKeyring, type Keyring, type KeyringEntry } from "../keyring/keyring.js";
import type { RootKeyProvider } from "../kms/provider.js";
import { cacheBinding, cacheGet, cacheLoad, cacheRevoke, cacheSet, cacheTrack, type KeyCache } from "./cache.js";
import { audit, callProvider, dataKeyAad, type KeyEventOptions, scopeParam } from "./internal.js";

/** Options of {@link loadKeyring}. */
export interface LoadStoredKeyringOptions extends KeyEventOptions {
  /** The scopes (tenants/subjects) whose data keys to load. */
  readonly scopes: readonly string[];
  /** Also load the shared keys (`NULL` scope). Default `true`. */
  readonly shared?: boolean | undefined;
  /** A cache shared between loads: a cached data key costs no provider call until its TTL ends. */
  readonly cache?: KeyCache | undefined;
  /**
   * Keys of another keyring to keep, decrypt-only (their primaries are not primaries here): the
   * environment keys of simple mode while a rotate job moves their cells to the key table's keys.
   */
  readonly include?: Keyring | undefined;
}

interface KeyRow {
  readonly id: string;
  readonly scope: string | null;
  readonly state: "primary" | "decrypt-only" | "destroyed";
  readonly root_key_id: string;
  readonly wrapped_key: Uint8Array | null;
  readonly check_value: string | null;
}

/**
 * Loads the data keys of `scopes` (and the shared ones) into a {@link Keyring} for the synchronous
 * `encrypt`/`decrypt` of `fieldcrypt/cell` and the adapters: at startup, or per tenant in a request
 * middleware. One provider call per data key not in `cache` (made concurrently), never per row.
 * Exported from `fieldcrypt/key-store`.
 *
 * `provider` may be a list (during a root rotation, the old and the new root key); a data key
 * wrapped by a root key no provider holds gives `ERR_ROOT_KEY_UNAVAILABLE`, a provider that fails
 * or cannot be reached gives `ERR_ROOT_KEY_UNAVAILABLE`, a wrapped key that does not open gives
 * `ERR_UNWRAP_FAILED` (audited as `key.unwrap-failed`). Destroyed keys are left out, and a cell
 * of one fails with `ERR_KEY_DESTROYED` (a column may read it as `null` instead: its `destroyed`
 * option). A cell of a key the keyring never had fails with `ERR_KEY_NOT_FOUND`.
 *
 * @example
 * ```ts
 * import { createKeyCache, loadKeyring } from "fieldcrypt/key-store";
 * const cache = createKeyCache({ ttlMs: 10 * 60_000 });
 * const keyring = await loadKeyring(pool, root, { scopes: [req.tenantId], cache });
 * const note = decrypt(keyring, row.body, { scope: req.tenantId, table: "notes", column: "body" });
 * ```
 */
export async function loadKeyring(
  db: Queryable,
  provider: RootKeyProvider | readonly RootKeyProvider[],
  options: LoadStoredKeyringOptions,
): Promise<Keyring> {
  const providers = Array.isArray(provider) ? (provider as readonly RootKeyProvider[]) : [provider as RootKeyProvider];
  if (options === undefined || !Array.isArray(options.scopes)) {
    throw new InvalidOption("loadKeyring needs options.scopes, an array of scopes");
  }
  const scopes = options.scopes.map((s) => scopeParam(s) as string);
  const { rows } = await db.query(
    `SELECT id, scope, state, root_key_id, wrapped_key, check_value FROM fieldcrypt_keys
      WHERE scope = ANY($1::text[]) OR ($2::boolean AND scope IS NULL) ORDER BY id`,
    [scopes, options.shared !== false],
  );
  const destroyed = new Set<string>();
  const live: KeyRow[] = [];
  for (const row of rows as KeyRow[]) {
    if (row.state === "destroyed" || row.wrapped_key === null) destroyed.add(row.id);
    else live.push(row);
  }
  // A key destroyed since another keyring of this process was loaded is destroyed there too.
  if (options.cache !== undefined && destroyed.size > 0) cacheRevoke(options.cache, [...destroyed]);

  const materials = await Promise.all(live.map((row) => materialOf(db, row, providers, options)));
  const entries: KeyringEntry[] = [];
  const exported: Buffer[] = [];
  try {
    live.forEach((row, i) => {
      const bytes = (materials[i] as KeyObject).export();
      exported.push(bytes);
      entries.push({ id: row.id, secret: bytes, scope: row.scope ?? undefined, primary: row.state === "primary" });
    });
    for (const info of options.include?.list() ?? []) {
      const key = options.include?.get(info.id);
      const material = key === undefined ? undefined : getKeyMaterial(key);
      if (material === undefined) continue;
      if (entries.some((e) => e.id === info.id)) {
        throw new InvalidOption(
          `key id ${JSON.stringify(info.id)} is both in the key table and in the included keyring`,
        );
      }
      const bytes = material.export();
      exported.push(bytes);
      entries.push({ id: info.id, secret: bytes, scope: info.scope });
    }
    const keyring = createKeyring(entries, { destroyed });
    if (options.cache !== undefined) cacheTrack(options.cache, keyring);
    return keyring;
  } finally {
    for (const bytes of exported) bytes.fill(0);
  }
}

async function materialOf(
  db: Queryable,
  row: KeyRow,
  providers: readonly RootKeyProvider[],
  options: LoadStoredKeyringOptions,
): Promise<KeyObject> {
  const cache = options.cache;
  if (cache === undefined) return unwrapRow(db, row, providers, options);
  // The entry must come from this very row: same id, scope, root key and wrapped bytes.
  const binding = cacheBinding({
    id: row.id,
    scope: row.scope,
    rootKeyId: row.root_key_id,
    wrapped: row.wrapped_key as Uint8Array,
    checkValue: row.check_value,
  });
  const cached = cacheGet(cache, row.id, binding);
  if (cached !== undefined) return cached;
  return cacheLoad(cache, binding, async () => {
    const material = await unwrapRow(db, row, providers, options);
    cacheSet(cache, row.id, binding, material);
    return material;
  });
}

async function unwrapRow(
  db: Queryable,
  row: KeyRow,
  providers: readonly RootKeyProvider[],
  options: LoadStoredKeyringOptions,
): Promise<KeyObject> {
  const provider = providers.find((p) => p.id === row.root_key_id);
  if (provider === undefined) {
    throw new RootKeyUnavailable(
      row.root_key_id,
      `data key ${JSON.stringify(row.id)} is wrapped by root key ${JSON.stringify(row.root_key_id)}, which no given provider holds`,
    );
  }
  let material: KeyObject;
  try {
    const bytes = await callProvider(provider, () =>
      provider.unwrap(row.wrapped_key as Uint8Array, dataKeyAad(row.id, row.scope)),
    );
    material = createSecretKey(bytes);
    bytes.fill(0);
    // The stored check value is public and writable by whoever writes the table, so it adds no
    // secrecy; it catches a provider that unwraps to other material than the key was created with.
    if (row.check_value !== null && checkValueOf(material) !== row.check_value) {
      throw new KeyUnwrapFailed(provider.id);
    }
  } catch (error) {
    const code = isFieldcryptError(error) ? error.code : "error";
    await audit(db, options, "key.unwrap-failed", row.scope, [row.id], { rootKeyId: provider.id, code });
    throw error;
  }
  return material;
}

/**
 * Throws {@link KeyDestroyed} when `error` is the `ERR_KEY_NOT_FOUND` of a key that `keyring`
 * (loaded by {@link loadKeyring}) knows was destroyed; rethrows `error` otherwise. Synchronous.
 * Exported from `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * try { return decrypt(keyring, cell, context) } catch (e) { rethrowDestroyed(keyring, e) }
 * ```
 */
export function rethrowDestroyed(keyring: Keyring, error: unknown): never {
  if (isFieldcryptError(error, "ERR_KEY_NOT_FOUND")) {
    const keyId = (error as { keyId?: unknown }).keyId;
    if (typeof keyId === "string" && keyring.isDestroyed(keyId)) throw new KeyDestroyed(keyId);
  }
  throw error;
}

/** Ids of the destroyed data keys of the scopes `keyring` was loaded for. */
export function destroyedKeyIds(keyring: Keyring): string[] {
  return [...keyring.destroyedIds];
}
