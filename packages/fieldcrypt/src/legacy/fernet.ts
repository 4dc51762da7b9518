/**
 * Fernet tokens (https://github.com/fernet/spec), as Python `cryptography` writes them, with a
 * static key (or several, MultiFernet-style) or a key derived per user with PBKDF2.
 * Exported from `fieldcrypt/legacy`.
 *
 * @module
 */
import { createDecipheriv, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { DecryptionFailed, InvalidKey, InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { decoderOptions, LegacyDecoder } from "./decoder.js";
import { DerivedKeys, type FernetDerivation, positiveInteger } from "./fernet-keys.js";
import type { LegacyFormat, LegacyOutput, LegacyRow } from "./format.js";
import { asBytes, asText, decodeBase64 } from "./shared.js";

export type {
  DerivedSecret,
  DerivedSecretEncoding,
  FernetDerivation,
  FernetSecret,
  Pbkdf2Hash,
} from "./fernet-keys.js";
export type { FernetSalt, FernetSaltFunction } from "./fernet-salt.js";

const VERSION = 0x80;
const HEADER_BYTES = 1 + 8 + 16; // version ‖ timestamp ‖ IV
const HMAC_BYTES = 32;
const BLOCK = 16;
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK + HMAC_BYTES;
// Python cryptography's _MAX_CLOCK_SKEW, applied (like there) only when a TTL is enforced.
const MAX_CLOCK_SKEW_SECONDS = 60;
const FERNET_KEY_TEXT = /^[A-Za-z0-9_-]{43}=?$/;

/** A Fernet key: the url-safe base64 text `Fernet.generate_key()` prints (44 characters), or its 32 raw bytes. */
export type FernetKeyInput = string | Uint8Array;

/** Options of {@link fernetFormat}: exactly one of `key` or `derive`, plus the reading options. */
export type FernetFormatOptions = (
  | { readonly key: FernetKeyInput | readonly FernetKeyInput[]; readonly derive?: undefined }
  | { readonly derive: FernetDerivation; readonly key?: undefined }
) & {
  /**
   * Enforce the token TTL (seconds since the token's timestamp), like `Fernet.decrypt(token, ttl)`,
   * including the 60 s clock-skew check. Default: not enforced — data at rest is old by nature.
   */
  readonly ttlSeconds?: number;
  /** Clock for the TTL check, in milliseconds since the epoch (or a Date). Default `Date.now`. */
  readonly now?: () => number | Date;
  /** The app base64-encoded the token once more before storing it (either alphabet). */
  readonly doubleBase64?: boolean;
  /** What `decrypt` returns: `"string"` (UTF-8, default), `"bytes"` or `"json"`. */
  readonly output?: LegacyOutput;
  /**
   * Largest stored value accepted, in bytes (text: characters). Larger values fail with
   * `ERR_VALUE_TOO_LARGE` before any decoding. Default: the largest text cell (about 85 MiB).
   */
  readonly maxBytes?: number;
  /** Derived keys kept in memory (least recently used are dropped). Default 10,000. */
  readonly cacheSize?: number;
};

/** Counters of a Fernet decoder, for tests and benchmarks. */
export interface FernetStats {
  /** PBKDF2 derivations run so far (sync and async; the steps of a chained master key included). */
  readonly derivations: number;
  /** Derived keys currently cached. */
  readonly cached: number;
}

interface FernetKey {
  readonly signing: KeyObject;
  readonly encryption: KeyObject;
}

function splitKey(bytes: Buffer): FernetKey {
  const key = {
    signing: createSecretKey(Buffer.from(bytes.subarray(0, 16))),
    encryption: createSecretKey(Buffer.from(bytes.subarray(16, 32))),
  };
  bytes.fill(0);
  return key;
}

function parseFernetKey(value: unknown, index: number): FernetKey {
  const name = `Fernet key #${index + 1}`;
  if (typeof value === "string") {
    if (!FERNET_KEY_TEXT.test(value)) {
      throw new InvalidKey(
        `${name} must be 32 bytes in url-safe base64 (44 characters, as Fernet.generate_key() prints)`,
      );
    }
    return splitKey(Buffer.from(value, "base64url"));
  }
  const bytes = asBytes(value);
  if (bytes === null) throw new InvalidKey(`${name} must be a string or a Uint8Array (got ${describeType(value)})`);
  if (bytes.length !== 32) throw new InvalidKey(`${name} must be 32 bytes (got ${bytes.length} bytes)`);
  return splitKey(Buffer.from(bytes));
}

class FernetFormat extends LegacyDecoder<Buffer> {
  readonly name = "fernet";
  readonly rowColumns: readonly string[];
  /** 0x80 and a timestamp's four zero high bytes, in base64url ("Z0FBQUFB" once more encoded). */
  readonly textPrefixes: readonly string[];
  readonly #keys: readonly FernetKey[] | undefined;
  readonly #ttl: number | undefined;
  readonly #now: () => number | Date;
  readonly #double: boolean;
  readonly #derived: DerivedKeys<FernetKey> | undefined;

  constructor(options: FernetFormatOptions) {
    super(decoderOptions(options, "fernetFormat"));
    if (options.ttlSeconds !== undefined) this.#ttl = positiveInteger(options.ttlSeconds, "ttlSeconds");
    this.#now = options.now ?? Date.now;
    this.#double = options.doubleBase64 === true;
    this.textPrefixes = Object.freeze([this.#double ? "Z0FBQUFB" : "gAAAAA"]);
    const cacheSize = options.cacheSize === undefined ? 10_000 : positiveInteger(options.cacheSize, "cacheSize");
    if ((options.key === undefined) === (options.derive === undefined)) {
      throw new InvalidOption("fernetFormat needs exactly one of key or derive");
    }
    if (options.key !== undefined) {
      const list: readonly unknown[] = Array.isArray(options.key) ? options.key : [options.key];
      if (list.length === 0) throw new InvalidOption("key must name at least one Fernet key");
      this.#keys = Object.freeze(list.map(parseFernetKey));
      this.rowColumns = Object.freeze([]);
    } else {
      this.#derived = new DerivedKeys(options.derive as FernetDerivation, cacheSize, splitKey);
      this.rowColumns = this.#derived.rowColumns;
    }
    Object.freeze(this);
  }

  /** PBKDF2 derivations run so far (a chained master key's included) and keys cached. */
  stats(): FernetStats {
    return this.#derived?.stats() ?? { derivations: 0, cached: 0 };
  }

  async prepare(rows: readonly LegacyRow[]): Promise<void> {
    await this.#derived?.prepare(rows);
  }

  #keysFor(row: LegacyRow | undefined): readonly FernetKey[] {
    return this.#keys ?? [(this.#derived as DerivedKeys<FernetKey>).keyFor(row)];
  }

  /** The decoded token when the value is structurally a Fernet token, else null. */
  protected parse(stored: unknown): Buffer | null {
    let text = asText(stored);
    if (text === null) return null;
    if (this.#double) {
      const outer = decodeBase64(text, "any");
      if (outer === null) return null;
      text = outer.toString("latin1");
    }
    const token = decodeBase64(text, "url");
    if (token === null || token.length < MIN_TOKEN_BYTES || token[0] !== VERSION) return null;
    if ((token.length - HEADER_BYTES - HMAC_BYTES) % BLOCK !== 0) return null;
    return token;
  }

  protected open(token: Buffer, row: LegacyRow | undefined): Buffer {
    const keys = this.#keysFor(row);
    const signed = token.subarray(0, token.length - HMAC_BYTES);
    const mac = token.subarray(token.length - HMAC_BYTES);
    // The MAC is checked first, in constant time: nothing about the padding is learned without it.
    let key: FernetKey | undefined;
    for (const candidate of keys) {
      if (timingSafeEqual(createHmac("sha256", candidate.signing).update(signed).digest(), mac)) {
        key = candidate;
        break;
      }
    }
    if (key === undefined) throw new DecryptionFailed();
    if (this.#ttl !== undefined) {
      const now = this.#now();
      const seconds = Math.floor((typeof now === "number" ? now : now.getTime()) / 1000);
      const timestamp = Number(token.readBigUInt64BE(1));
      if (timestamp + this.#ttl < seconds || seconds + MAX_CLOCK_SKEW_SECONDS < timestamp) {
        throw new DecryptionFailed();
      }
    }
    const decipher = createDecipheriv("aes-128-cbc", key.encryption, token.subarray(9, HEADER_BYTES));
    const head = decipher.update(token.subarray(HEADER_BYTES, token.length - HMAC_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([head, decipher.final()]);
    } catch {
      head.fill(0);
      throw new DecryptionFailed();
    }
    head.fill(0);
    return plain;
  }
}

/**
 * A decoder for Fernet tokens (Python `cryptography.fernet`): `0x80 ‖ timestamp ‖ IV ‖
 * AES-128-CBC ciphertext ‖ HMAC-SHA256`, url-safe base64. The HMAC is verified in constant time
 * before anything is decrypted. Keys: `{ key }` (one Fernet key, or several tried in order like
 * MultiFernet) or `{ derive }` (PBKDF2 per user, derived once per salt and cached; `prepare`
 * derives a batch's keys on the threadpool, `decrypt` derives synchronously if it was not called).
 * The salt is `static ‖ str(row[append])`, a salt column, a template over row columns or a
 * function of the row; the master key may itself be derived (`{ pbkdf2: … }`, a chain), once per
 * decoder.
 * The TTL is not enforced unless `ttlSeconds` is set. Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { fernetFormat } from "fieldcrypt/legacy";
 * const notes = fernetFormat({
 *   derive: { masterKey: process.env.MASTER_KEY!, salt: { static: "journal-salt", append: "user_id" }, iterations: 100_000 },
 * });
 * await notes.prepare(rows);
 * const text = notes.decrypt(rows[0].body, rows[0]);
 * ```
 *
 * @example A chained master key and a salt template
 * ```ts
 * // master = urlsafe_b64encode(PBKDF2HMAC(SHA256(), 32, APP_SALT, 200_000).derive(SECRET.encode()))
 * // key    = urlsafe_b64encode(PBKDF2HMAC(SHA1(), 32, f"user_{user_id}_salt".encode(), 10_000).derive(master))
 * const journal = fernetFormat({
 *   derive: {
 *     masterKey: {
 *       pbkdf2: { secret: process.env.SECRET!, salt: "app-salt", iterations: 200_000, hash: "sha256" },
 *       encoding: "base64url",
 *     },
 *     salt: { template: "user_{user_id}_salt" },
 *     iterations: 10_000,
 *     hash: "sha1",
 *   },
 * });
 * ```
 */
export function fernetFormat(options: FernetFormatOptions): LegacyFormat & { stats(): FernetStats } {
  return new FernetFormat(options);
}
