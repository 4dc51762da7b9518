import type { KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { InvalidKeyring, KeyDestroyed, NoPrimaryKey } from "../errors/index.js";
import { contextBytes } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { isValidKeyId, KEY_ID_RULE } from "../internal/format.js";
import { Key } from "./key.js";
import { decodeKeySecret } from "./key-string.js";

/** One key handed to {@link createKeyring}. */
export interface KeyringEntry {
  /** Key id written into every cell: 1-32 characters of A-Z a-z 0-9 . _ - (e.g. `"v2"`). */
  readonly id: string;
  /** A key string (`FIELDCRYPT-SECRET-KEY-1-…`) or 32 raw bytes. */
  readonly secret: string | Uint8Array;
  /** The scope (tenant/subject) the key belongs to; absent for a key shared by every scope. */
  readonly scope?: string | undefined;
  /** Encrypt new cells with this key. At most one primary per scope (and one shared primary). */
  readonly primary?: boolean | undefined;
}

/** Keyrings this small are searched by comparing id bytes, with no string allocated per cell. */
const LINEAR_LOOKUP_MAX = 16;
const NONE: ReadonlySet<string> = new Set();

/**
 * Destroys the keys with these ids in `keyring`, in place: from now on their cells fail with
 * `ERR_KEY_DESTROYED`, and a scope whose primary it was cannot encrypt (`ERR_KEY_DESTROYED`). The one
 * change a keyring ever undergoes, and only in that direction: keys leave, none is added or
 * restored. The key store calls it when a shred reaches this process. Returns the ids it held.
 * @internal Not exported from the package.
 */
export function revokeKeys(keyring: Keyring, ids: Iterable<string>): string[] {
  return keyring.revoke(ids);
}

/**
 * The key whose id equals the latin1 bytes `bytes[offset..offset+length)`, or `undefined`.
 * The per-cell path of decrypt: no string is built for small keyrings. Not a public export.
 * @internal
 */
export function findKeyByIdBytes(keyring: Keyring, bytes: Uint8Array, offset: number, length: number): Key | undefined {
  return keyring.findByIdBytes(bytes, offset, length);
}

/** Options of {@link createKeyring}. */
export interface CreateKeyringOptions {
  /**
   * Ids of keys that were destroyed (crypto-shredded): a cell under one of them fails with
   * `ERR_KEY_DESTROYED` instead of `ERR_KEY_NOT_FOUND`. The key-store's loader fills it.
   */
  readonly destroyed?: Iterable<string> | undefined;
}

/** A key's place in the keyring, as listed by {@link Keyring.list}. Never contains material. */
export interface KeyInfo {
  readonly id: string;
  readonly scope: string | undefined;
  readonly state: "primary" | "decrypt-only";
}

/**
 * A set of keys looked up by id, with at most one primary per scope. Older keys stay for
 * decryption only. Exported from `fieldcrypt/keyring`.
 *
 * A scope with keys of its own encrypts with its own primary; any other scope (and no scope)
 * encrypts with the shared primary. Decryption always finds the key by the id in the cell header,
 * never by trying keys.
 *
 * @example
 * ```ts
 * const keyring = createKeyring([
 *   { id: "v1", secret: process.env.OLD_KEY! },
 *   { id: "v2", secret: process.env.NEW_KEY!, primary: true },
 * ]);
 * ```
 */
export class Keyring {
  readonly #byId = new Map<string, Key>();
  readonly #primaryByScope = new Map<string, Key>();
  readonly #scopesWithKeys = new Set<string>();
  #sharedPrimary: Key | undefined;
  #linear: readonly Key[] | undefined;
  readonly #destroyed: Set<string>;
  /** Scopes (`undefined`: shared) whose primary was destroyed in place, with its id. */
  readonly #destroyedPrimaries = new Map<string | undefined, string>();
  #revision = 0;

  /** @internal Use {@link createKeyring} or a loader. */
  constructor(keys: readonly Key[], primaries: ReadonlySet<Key>, destroyed: ReadonlySet<string> = NONE) {
    for (const key of keys) {
      this.#byId.set(key.id, key);
      if (key.scope !== undefined) this.#scopesWithKeys.add(key.scope);
      if (!primaries.has(key)) continue;
      if (key.scope === undefined) this.#sharedPrimary = key;
      else this.#primaryByScope.set(key.scope, key);
    }
    this.#linear = keys.length <= LINEAR_LOOKUP_MAX ? [...keys] : undefined;
    this.#destroyed = new Set(destroyed);
    Object.freeze(this);
  }

  /**
   * @internal Counts the in-place destructions ({@link revokeKeys}): decrypt's per-keyring fast
   * path holds the revision it was filled at and is dropped when it changes.
   */
  get revision(): number {
    return this.#revision;
  }

  /** @internal See {@link revokeKeys}. */
  revoke(ids: Iterable<string>): string[] {
    const revoked: string[] = [];
    for (const id of ids) {
      const key = this.#byId.get(id);
      if (key === undefined) continue;
      revoked.push(id);
      this.#byId.delete(id);
      this.#destroyed.add(id);
      if (key === this.#sharedPrimary) {
        this.#sharedPrimary = undefined;
        this.#destroyedPrimaries.set(undefined, id);
      } else if (key.scope !== undefined && this.#primaryByScope.get(key.scope) === key) {
        this.#primaryByScope.delete(key.scope);
        this.#destroyedPrimaries.set(key.scope, id);
      }
    }
    if (revoked.length > 0) {
      if (this.#linear !== undefined) this.#linear = this.#linear.filter((key) => this.#byId.has(key.id));
      this.#revision++;
    }
    return revoked;
  }

  /**
   * Ids of the destroyed (crypto-shredded) keys this keyring knows of: their cells fail with
   * `ERR_KEY_DESTROYED`. Key ids are safe to print.
   */
  get destroyedIds(): readonly string[] {
    return [...this.#destroyed];
  }

  /** True when the key with this id was destroyed (crypto-shredded). */
  isDestroyed(id: string): boolean {
    return this.#destroyed.has(id);
  }

  /** @internal The per-cell lookup of decrypt; see {@link findKeyByIdBytes}. */
  findByIdBytes(bytes: Uint8Array, offset: number, length: number): Key | undefined {
    const keys = this.#linear;
    if (keys === undefined)
      return this.get(Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString("latin1"));
    search: for (const key of keys) {
      const id = key.id;
      if (id.length !== length) continue;
      for (let i = 0; i < length; i++) if (id.charCodeAt(i) !== bytes[offset + i]) continue search;
      return key;
    }
    return undefined;
  }

  /** The key with this id, or `undefined`. */
  get(id: string): Key | undefined {
    return this.#byId.get(id);
  }

  /** True when the keyring holds a key with this id. */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /**
   * The key new cells of `scope` are encrypted with: the scope's own primary if the scope has keys,
   * otherwise the shared primary. Throws {@link NoPrimaryKey} when there is none.
   */
  primary(scope?: string): Key {
    if (scope !== undefined && this.#scopesWithKeys.has(scope)) {
      const own = this.#primaryByScope.get(scope);
      if (own !== undefined) return own;
      const destroyed = this.#destroyedPrimaries.get(scope);
      if (destroyed !== undefined) throw new KeyDestroyed(destroyed);
      throw new NoPrimaryKey(true);
    }
    if (this.#sharedPrimary !== undefined) return this.#sharedPrimary;
    const destroyed = this.#destroyedPrimaries.get(undefined);
    if (destroyed !== undefined) throw new KeyDestroyed(destroyed);
    throw new NoPrimaryKey(false);
  }

  /**
   * A new keyring with every key of this one plus `entry` (this keyring is not changed). When the
   * entry is primary it replaces its scope's primary (or the shared one), which stays for
   * decryption: the rotation step of a keyring in code.
   *
   * @example
   * ```ts
   * const next = keyring.withKey({ id: "v3", secret: generateKeyString(), primary: true });
   * ```
   */
  withKey(entry: KeyringEntry): Keyring {
    if (typeof entry === "object" && entry !== null && this.#byId.has(entry.id)) {
      throw new InvalidKeyring(`duplicate key id ${JSON.stringify(entry.id)}`);
    }
    const added = createKeyring([entry]).get(entry.id) as Key;
    const primaries = new Set<Key>(this.#primaryByScope.values());
    if (this.#sharedPrimary !== undefined) primaries.add(this.#sharedPrimary);
    if (entry.primary === true) {
      for (const key of primaries) if (key.scope === added.scope) primaries.delete(key);
      primaries.add(added);
    }
    return new Keyring([...this.#byId.values(), added], primaries, this.#destroyed);
  }

  /** Ids, scopes and states of every key (no material). */
  list(): KeyInfo[] {
    return [...this.#byId.values()].map((key) => ({
      id: key.id,
      scope: key.scope,
      state:
        key === this.#sharedPrimary || (key.scope !== undefined && this.#primaryByScope.get(key.scope) === key)
          ? "primary"
          : "decrypt-only",
    }));
  }

  toJSON(): { keys: KeyInfo[] } {
    return { keys: this.list() };
  }

  toString(): string {
    const n = this.#byId.size;
    return `Keyring(${n} ${n === 1 ? "key" : "keys"}, material redacted)`;
  }

  [inspect.custom](): string {
    const keys = this.list().map((k) => `${k.id}${k.scope === undefined ? "" : `@${k.scope}`} (${k.state})`);
    return `Keyring { keys: [${keys.join(", ")}], material: [redacted] }`;
  }
}

/**
 * Builds a keyring from keys held by the app (decoded from key strings or given as bytes).
 * Validates ids, scopes and primaries; throws `ERR_INVALID_KEY` / `ERR_INVALID_KEYRING` with
 * messages that name the entry, never its secret. Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
 * ```
 */
export function createKeyring(entries: readonly KeyringEntry[], options: CreateKeyringOptions = {}): Keyring {
  if (!Array.isArray(entries)) {
    throw new InvalidKeyring(`keyring entries must be an array (got ${describeType(entries)})`);
  }
  const keys: Key[] = [];
  const primaries = new Set<Key>();
  const seen = new Set<string>();
  const primaryScopes = new Set<string | undefined>();
  entries.forEach((entry, index) => {
    const where = `keyring entry #${index + 1}`;
    if (typeof entry !== "object" || entry === null) {
      throw new InvalidKeyring(`${where} must be an object { id, secret, scope?, primary? }`);
    }
    if (!isValidKeyId(entry.id)) throw new InvalidKeyring(`${where}: key id must be ${KEY_ID_RULE}`);
    if (seen.has(entry.id)) throw new InvalidKeyring(`${where}: duplicate key id ${JSON.stringify(entry.id)}`);
    seen.add(entry.id);
    if (entry.scope !== undefined) {
      try {
        contextBytes(entry.scope, "scope");
      } catch {
        throw new InvalidKeyring(`${where}: scope must be a non-empty string of at most 1024 UTF-8 bytes`);
      }
    }
    const bytes = decodeKeySecret(entry.secret, `key ${entry.id}`);
    const key = new Key(entry.id, bytes, entry.scope);
    bytes.fill(0);
    keys.push(key);
    if (entry.primary === true) {
      if (primaryScopes.has(entry.scope)) {
        throw new InvalidKeyring(
          entry.scope === undefined
            ? `${where}: more than one shared primary key`
            : `${where}: more than one primary key for scope ${JSON.stringify(entry.scope)}`,
        );
      }
      primaryScopes.add(entry.scope);
      primaries.add(key);
    }
  });
  const destroyed = new Set<string>();
  for (const id of options.destroyed ?? []) {
    if (!isValidKeyId(id)) throw new InvalidKeyring(`a destroyed key id must be ${KEY_ID_RULE}`);
    if (seen.has(id)) throw new InvalidKeyring(`key id ${JSON.stringify(id)} is both held and destroyed`);
    destroyed.add(id);
  }
  return new Keyring(keys, primaries, destroyed);
}

/**
 * A keyring from key materials held as KeyObjects (a worker thread's copy of a keyring, whose
 * KeyObjects were cloned through postMessage). The same checks as {@link createKeyring}.
 * @internal Not exported from the package.
 */
export function keyringFromMaterials(
  entries: readonly { id: string; scope: string | undefined; primary: boolean; material: KeyObject }[],
): Keyring {
  const exported = entries.map((e) => e.material.export());
  try {
    return createKeyring(
      entries.map((e, i) => ({ id: e.id, scope: e.scope, primary: e.primary, secret: exported[i] as Buffer })),
    );
  } finally {
    for (const bytes of exported) bytes.fill(0);
  }
}
