import { createHash, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { InvalidOption } from "../errors/index.js";
import { type Keyring, revokeKeys } from "../keyring/keyring.js";

/** Options of {@link createKeyCache}. */
export interface KeyCacheOptions {
  /** How long an unwrapped data key stays cached, in ms (default 10 minutes). */
  readonly ttlMs?: number | undefined;
  /** At most this many data keys are cached; the least recently used go first (default 1,000). */
  readonly maxKeys?: number | undefined;
  /** The clock, in ms (default `Date.now`); injectable for tests. */
  readonly now?: (() => number) | undefined;
}

interface Entry {
  readonly material: KeyObject;
  readonly expires: number;
  /** What the material was unwrapped from: see {@link cacheBinding}. */
  readonly binding: string;
}

/** The row a data key is unwrapped from, as the cache binds it. @internal */
export interface CachedKeyRow {
  readonly id: string;
  readonly scope: string | null;
  readonly rootKeyId: string;
  readonly wrapped: Uint8Array;
  readonly checkValue: string | null;
}

/**
 * The binding of a cache entry: id, scope, root key id, SHA-256 of the wrapped bytes and the stored
 * check value. A cached
 * key serves a load only when the row it comes from has the same binding, so a row changed under
 * a warm cache (tampered bytes, another scope or root key) goes through the full unwrap and its
 * checks, exactly as with a cold cache. @internal
 */
export function cacheBinding(row: CachedKeyRow): string {
  const digest = createHash("sha256").update(row.wrapped).digest("base64url");
  return JSON.stringify([row.id, row.scope, row.rootKeyId, digest, row.checkValue]);
}

const stores = new WeakMap<KeyCache, Map<string, Entry>>();
const pending = new WeakMap<KeyCache, Map<string, Promise<KeyObject>>>();

/**
 * The keyrings loaded through a cache, held weakly (a per-request keyring is collected as usual and
 * leaves the set then): where a shred that reaches this process destroys its keys in place.
 */
interface Tracked {
  readonly refs: Set<WeakRef<Keyring>>;
  readonly registry: FinalizationRegistry<WeakRef<Keyring>>;
}
const tracked = new WeakMap<KeyCache, Tracked>();

/** Remembers that `keyring` was loaded through `cache`, for {@link cacheRevoke}. @internal */
export function cacheTrack(cache: KeyCache, keyring: Keyring): void {
  const t = tracked.get(cache) as Tracked;
  const ref = new WeakRef(keyring);
  t.refs.add(ref);
  t.registry.register(keyring, ref);
}

/** Ids of the keys that the live keyrings loaded through `cache` hold. @internal */
export function cacheHeldIds(cache: KeyCache): string[] {
  const ids = new Set<string>();
  for (const ref of (tracked.get(cache) as Tracked).refs)
    for (const info of ref.deref()?.list() ?? []) ids.add(info.id);
  return [...ids];
}

/**
 * Destroyed keys reach this process: drops them from `cache` and destroys them in place in every
 * live keyring loaded through it (their cells fail with `ERR_KEY_DESTROYED` from the next call on).
 * Returns the ids some keyring or the cache held. @internal
 */
export function cacheRevoke(cache: KeyCache, ids: readonly string[]): string[] {
  const map = stores.get(cache) as Map<string, Entry>;
  const reached = new Set<string>();
  for (const id of ids) if (map.delete(id)) reached.add(id);
  for (const ref of (tracked.get(cache) as Tracked).refs) {
    const keyring = ref.deref();
    if (keyring !== undefined) for (const id of revokeKeys(keyring, ids)) reached.add(id);
  }
  return [...reached].sort();
}

/**
 * The unwrap in flight for `binding`, shared by concurrent loads of a cold key (one provider call,
 * not one per waiting request); `start` runs only when none is. Keyed by the whole binding, so a
 * load of a changed row never joins the unwrap of the unchanged one. @internal
 */
export function cacheLoad(cache: KeyCache, binding: string, start: () => Promise<KeyObject>): Promise<KeyObject> {
  const map = pending.get(cache) as Map<string, Promise<KeyObject>>;
  const inFlight = map.get(binding);
  if (inFlight !== undefined) return inFlight;
  const promise = start().finally(() => map.delete(binding));
  map.set(binding, promise);
  return promise;
}

/**
 * Unwrapped data keys by id, with a TTL and a size bound, so that loading a tenant's keyring costs
 * one provider call per data key per TTL — never one per row. Each entry is bound to the row it
 * was unwrapped from (id, scope, root key id, digest of the wrapped bytes): any difference is a
 * miss that unwraps again, with every check of a cold load. Material is held as node:crypto
 * KeyObjects, never exposed, and redacted from `inspect` and `toJSON`. Exported from
 * `fieldcrypt/key-store`.
 */
export class KeyCache {
  readonly ttlMs: number;
  readonly maxKeys: number;
  readonly #now: () => number;

  /** @internal Use {@link createKeyCache}. */
  constructor(ttlMs: number, maxKeys: number, now: () => number) {
    this.ttlMs = ttlMs;
    this.maxKeys = maxKeys;
    this.#now = now;
    stores.set(this, new Map());
    pending.set(this, new Map());
    const refs = new Set<WeakRef<Keyring>>();
    tracked.set(this, { refs, registry: new FinalizationRegistry((ref) => refs.delete(ref)) });
  }

  /** Keys currently cached (expired ones included until they are next looked up). */
  get size(): number {
    return (stores.get(this) as Map<string, Entry>).size;
  }

  /** True when `id` is cached and not expired. */
  has(id: string): boolean {
    return cacheGet(this, id) !== undefined;
  }

  /** Drops these key ids (after a shred, say). */
  delete(ids: Iterable<string>): void {
    const map = stores.get(this) as Map<string, Entry>;
    for (const id of ids) map.delete(id);
  }

  /** Drops every key. */
  clear(): void {
    (stores.get(this) as Map<string, Entry>).clear();
  }

  /** @internal */
  nowMs(): number {
    return this.#now();
  }

  toString(): string {
    return `KeyCache(${this.size} keys, material redacted)`;
  }

  toJSON(): { keys: number; ttlMs: number; maxKeys: number; material: "[redacted]" } {
    return { keys: this.size, ttlMs: this.ttlMs, maxKeys: this.maxKeys, material: "[redacted]" };
  }

  [inspect.custom](): string {
    return `KeyCache { keys: ${this.size}, ttlMs: ${this.ttlMs}, maxKeys: ${this.maxKeys}, material: [redacted] }`;
  }
}

/**
 * The cached material of `id` when it is unexpired and was unwrapped from a row with this
 * `binding` (omitted: any binding, for {@link KeyCache.has}). A stale or mismatched entry is
 * dropped. @internal
 */
export function cacheGet(cache: KeyCache, id: string, binding?: string): KeyObject | undefined {
  const map = stores.get(cache) as Map<string, Entry>;
  const entry = map.get(id);
  if (entry === undefined) return undefined;
  map.delete(id);
  if (entry.expires <= cache.nowMs() || (binding !== undefined && entry.binding !== binding)) return undefined;
  map.set(id, entry); // most recently used last
  return entry.material;
}

/** @internal */
export function cacheSet(cache: KeyCache, id: string, binding: string, material: KeyObject): void {
  const map = stores.get(cache) as Map<string, Entry>;
  map.delete(id);
  map.set(id, { material, expires: cache.nowMs() + cache.ttlMs, binding });
  while (map.size > cache.maxKeys) map.delete(map.keys().next().value as string);
}

/**
 * Creates a data-key cache to share between {@link loadKeyring} calls (one per process, usually).
 * Exported from `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * const cache = createKeyCache({ ttlMs: 10 * 60_000, maxKeys: 5_000 });
 * const keyring = await loadKeyring(pool, root, { scopes: [tenantId], cache });
 * ```
 */
export function createKeyCache(options?: KeyCacheOptions): KeyCache {
  const ttlMs = options?.ttlMs ?? 10 * 60_000;
  const maxKeys = options?.maxKeys ?? 1000;
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new InvalidOption("cache ttlMs must be a non-negative number");
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new InvalidOption("cache maxKeys must be a positive integer");
  return new KeyCache(ttlMs, maxKeys, options?.now ?? Date.now);
}
