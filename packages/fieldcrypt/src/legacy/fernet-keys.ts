/**
 * The keys of a Fernet decoder that derives them (not exported from `fieldcrypt/legacy` except its
 * types): the master key — given, or itself derived by a chain of PBKDF2 steps, derived once per
 * decoder and then kept — and the per-row PBKDF2 over it, cached by salt (least recently used
 * dropped). `prepare` derives on the libuv threadpool; `keyFor` derives synchronously only what
 * `prepare` did not.
 *
 * @internal
 */
import { pbkdf2, pbkdf2Sync } from "node:crypto";
import { InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { type FernetSalt, type SaltRecipe, saltRecipe } from "./fernet-salt.js";
import type { LegacyRow } from "./format.js";
import { optionBytes } from "./shared.js";

/** HMAC hash of a PBKDF2 step: `"sha256"` (default) or `"sha1"` (PyCryptodome's default). */
export type Pbkdf2Hash = "sha256" | "sha1";

/**
 * How the app hands a derived key to the next derivation: `"bytes"` (the raw bytes, default),
 * `"base64url"` (`base64.urlsafe_b64encode(...)`, padded: a Fernet key's text), `"base64"`
 * (`base64.b64encode(...)`) or `"hex"` (`.hex()`).
 */
export type DerivedSecretEncoding = "bytes" | "base64url" | "base64" | "hex";

/**
 * A master key the app itself derives: `PBKDF2HMAC(hash, length, salt, iterations).derive(secret)`,
 * then encoded as `encoding` says. `secret` may be derived in turn (a longer chain).
 */
export interface DerivedSecret {
  readonly pbkdf2: {
    /** The secret the app derives from (a string is UTF-8 encoded, like `.encode()`). */
    readonly secret: FernetSecret;
    readonly salt: Uint8Array | string;
    readonly iterations: number;
    readonly hash?: Pbkdf2Hash;
    /** Bytes derived (default 32). */
    readonly length?: number;
  };
  readonly encoding?: DerivedSecretEncoding;
}

/** A master key: a string (UTF-8 encoded, like `.encode()`), bytes, or a {@link DerivedSecret}. */
export type FernetSecret = string | Uint8Array | DerivedSecret;

/**
 * PBKDF2 key derivation as the apps do it:
 * `base64.urlsafe_b64encode(PBKDF2HMAC(hash, 32, salt, iterations).derive(master_key))`, with the
 * salt made from the row ({@link FernetSalt}) and the master key given or itself derived.
 */
export interface FernetDerivation {
  /** The master key (a string is UTF-8 encoded, like Python's `.encode()`), or its derivation. */
  readonly masterKey: FernetSecret;
  readonly salt: FernetSalt;
  /** The row columns a salt function reads (required with one, refused otherwise). */
  readonly rowColumns?: readonly string[];
  /** PBKDF2 iterations of the original recipe (e.g. 100000). */
  readonly iterations: number;
  /** HMAC hash of PBKDF2: `"sha256"` (default) or `"sha1"` (PyCryptodome's default). */
  readonly hash?: Pbkdf2Hash;
  /** Fernet keys are 32 bytes; only 32 is accepted. */
  readonly keyLength?: 32;
}

type SecretStep =
  | { readonly bytes: Buffer }
  | {
      readonly from: SecretStep;
      readonly salt: Buffer;
      readonly iterations: number;
      readonly hash: Pbkdf2Hash;
      readonly length: number;
      readonly encoding: DerivedSecretEncoding;
    };

const MAX_CHAIN = 8;
const ENCODINGS: readonly unknown[] = ["bytes", "base64url", "base64", "hex"];
const PBKDF2_OPTIONS = new Set(["secret", "salt", "iterations", "hash", "length"]);

export function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOption(`${name} must be a positive integer`);
  }
  return value;
}

function checkHash(value: unknown, name: string): Pbkdf2Hash {
  const hash = value ?? "sha256";
  if (hash !== "sha256" && hash !== "sha1") throw new InvalidOption(`${name} must be "sha256" or "sha1"`);
  return hash;
}

/** Checks a master key (and each step of its chain), naming the option, never the secret. */
function secretStep(value: unknown, name: string, depth: number): SecretStep {
  if (typeof value === "string" || value instanceof Uint8Array) return { bytes: optionBytes(value, name) };
  if (typeof value !== "object" || value === null || !("pbkdf2" in value)) {
    throw new InvalidOption(
      `${name} must be a string, a Uint8Array or { pbkdf2: { secret, salt, iterations } } (got ${describeType(value)})`,
    );
  }
  if (depth >= MAX_CHAIN) throw new InvalidOption(`derive.masterKey chains at most ${MAX_CHAIN} derivations`);
  const { pbkdf2: step, encoding, ...rest } = value as DerivedSecret;
  if (Object.keys(rest).length > 0) throw new InvalidOption(`${name} takes only pbkdf2 and encoding`);
  if (typeof step !== "object" || step === null) throw new InvalidOption(`${name}.pbkdf2 must be an object`);
  if (Object.keys(step).some((k) => !PBKDF2_OPTIONS.has(k))) {
    throw new InvalidOption(`${name}.pbkdf2 takes only secret, salt, iterations, hash and length`);
  }
  if (!ENCODINGS.includes(encoding ?? "bytes")) {
    throw new InvalidOption(`${name}.encoding must be "bytes", "base64url", "base64" or "hex"`);
  }
  const length = step.length ?? 32;
  if (positiveInteger(length, `${name}.pbkdf2.length`) > 1024) {
    throw new InvalidOption(`${name}.pbkdf2.length must be at most 1024`);
  }
  return {
    from: secretStep(step.secret, `${name}.pbkdf2.secret`, depth + 1),
    salt: optionBytes(step.salt, `${name}.pbkdf2.salt`),
    iterations: positiveInteger(step.iterations, `${name}.pbkdf2.iterations`),
    hash: checkHash(step.hash, `${name}.pbkdf2.hash`),
    length,
    encoding: encoding ?? "bytes",
  };
}

/** Derived bytes as the app passes them on; the raw bytes are wiped when a copy is returned. */
function encodeDerived(derived: Buffer, encoding: DerivedSecretEncoding): Buffer {
  if (encoding === "bytes") return derived;
  const base64 = derived.toString("base64");
  const text =
    encoding === "hex"
      ? derived.toString("hex")
      : encoding === "base64"
        ? base64
        : base64.replaceAll("+", "-").replaceAll("/", "_"); // urlsafe_b64encode keeps its padding
  derived.fill(0);
  return Buffer.from(text, "latin1");
}

function resolveSync(step: SecretStep, count: () => void): Buffer {
  if ("bytes" in step) return step.bytes;
  const input = resolveSync(step.from, count);
  const derived = pbkdf2Sync(input, step.salt, step.iterations, step.length, step.hash);
  if ("from" in step.from) input.fill(0);
  count();
  return encodeDerived(derived, step.encoding);
}

function pbkdf2Async(password: Buffer, salt: Buffer, iterations: number, length: number, hash: string) {
  return new Promise<Buffer>((resolve, reject) => {
    pbkdf2(password, salt, iterations, length, hash, (error, derived) =>
      error === null ? resolve(derived) : reject(error),
    );
  });
}

async function resolveAsync(step: SecretStep, count: () => void): Promise<Buffer> {
  if ("bytes" in step) return step.bytes;
  const input = await resolveAsync(step.from, count);
  const derived = await pbkdf2Async(input, step.salt, step.iterations, step.length, step.hash);
  if ("from" in step.from) input.fill(0);
  count();
  return encodeDerived(derived, step.encoding);
}

/** The per-row keys of a `derive` recipe, as `toKey` makes them from 32 derived bytes. */
export class DerivedKeys<K> {
  readonly rowColumns: readonly string[];
  readonly #master: SecretStep;
  #masterBytes: Buffer | undefined;
  #masterPending: Promise<Buffer> | undefined;
  readonly #salt: SaltRecipe["salt"];
  readonly #iterations: number;
  readonly #hash: Pbkdf2Hash;
  readonly #cacheSize: number;
  readonly #toKey: (derived: Buffer) => K;
  readonly #cache = new Map<string, K>();
  readonly #pending = new Map<string, Promise<void>>();
  #derivations = 0;
  readonly #count = () => {
    this.#derivations++;
  };

  constructor(derive: FernetDerivation, cacheSize: number, toKey: (derived: Buffer) => K) {
    if (typeof derive !== "object" || derive === null) throw new InvalidOption("derive must be an object");
    this.#master = secretStep(derive.masterKey, "derive.masterKey", 0);
    this.#iterations = positiveInteger(derive.iterations, "derive.iterations");
    this.#hash = checkHash(derive.hash, "derive.hash");
    if (derive.keyLength !== undefined && derive.keyLength !== 32) {
      throw new InvalidOption("derive.keyLength must be 32 (a Fernet key is 32 bytes)");
    }
    const salt = saltRecipe(derive.salt, derive.rowColumns);
    this.#salt = salt.salt;
    this.rowColumns = salt.rowColumns;
    this.#cacheSize = cacheSize;
    this.#toKey = toKey;
  }

  /** PBKDF2 derivations run so far (the master key's chain included) and keys cached. */
  stats(): { derivations: number; cached: number } {
    return { derivations: this.#derivations, cached: this.#cache.size };
  }

  /** Derives the rows' missing keys concurrently off the main thread (the master key first, once). */
  async prepare(rows: readonly LegacyRow[]): Promise<void> {
    const missing = new Map<string, Buffer>();
    for (const row of rows) {
      let bytes: Buffer;
      try {
        bytes = this.#salt(row);
      } catch {
        continue; // that row fails in decrypt, with its own error
      }
      const id = bytes.toString("latin1");
      if (!this.#cache.has(id) && !missing.has(id)) missing.set(id, bytes);
    }
    if (missing.size === 0) return;
    const master = await this.#masterAsync();
    await Promise.all([...missing].map(([id, bytes]) => this.#deriveAsync(master, id, bytes)));
  }

  /** The key of a row: cached, or derived now (synchronously) when `prepare` did not. */
  keyFor(row: LegacyRow | undefined): K {
    const salt = this.#salt(row);
    const id = salt.toString("latin1");
    let key = this.#cache.get(id);
    if (key !== undefined) {
      // Most recently used last, so eviction drops the oldest.
      this.#cache.delete(id);
      this.#cache.set(id, key);
      return key;
    }
    key = this.#toKey(pbkdf2Sync(this.#masterSync(), salt, this.#iterations, 32, this.#hash));
    this.#derivations++;
    this.#remember(id, key);
    return key;
  }

  #masterSync(): Buffer {
    this.#masterBytes ??= resolveSync(this.#master, this.#count);
    return this.#masterBytes;
  }

  #masterAsync(): Promise<Buffer> {
    if (this.#masterBytes !== undefined) return Promise.resolve(this.#masterBytes);
    // One chain derivation, shared by concurrent batches; a failure is retried by the next call.
    this.#masterPending ??= resolveAsync(this.#master, this.#count).then(
      (bytes) => {
        this.#masterBytes ??= bytes;
        return this.#masterBytes;
      },
      (error: unknown) => {
        this.#masterPending = undefined;
        throw error;
      },
    );
    return this.#masterPending;
  }

  #deriveAsync(master: Buffer, id: string, salt: Buffer): Promise<void> {
    const pending = this.#pending.get(id);
    if (pending !== undefined) return pending;
    const promise = pbkdf2Async(master, salt, this.#iterations, 32, this.#hash).then(
      (derived) => {
        this.#pending.delete(id);
        this.#derivations++;
        this.#remember(id, this.#toKey(derived));
      },
      (error: unknown) => {
        this.#pending.delete(id);
        throw error;
      },
    );
    this.#pending.set(id, promise);
    return promise;
  }

  #remember(id: string, key: K): void {
    this.#cache.delete(id);
    this.#cache.set(id, key);
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value as string);
  }
}
