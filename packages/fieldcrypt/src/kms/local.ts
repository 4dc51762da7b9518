import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { InvalidKey, InvalidOption } from "../errors/index.js";
import { lengthPrefixed } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { decodeKeySecret } from "../keyring/key-string.js";
import { KeyUnwrapFailed } from "./errors.js";
import { ROOT_KEY_ID_RE, ROOT_KEY_ID_RULE, type RootKeyProvider } from "./provider.js";
import { wrappedBody, wrappedHeader } from "./wrapped-key.js";

/**
 * The wrapped form of the local provider:
 *
 *   "FCW" ‖ u8(1) ‖ u8(len(id)) ‖ id ‖ nonce[12] ‖ AES-256-GCM(rootKey, nonce, dataKey, aad') ‖ tag[16]
 *   aad' = "fieldcrypt-v1-wrap" ‖ LP(header) ‖ LP(aad), header = every byte before the nonce
 */
const DOMAIN = Buffer.from("fieldcrypt-v1-wrap", "latin1");
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const keys = new WeakMap<LocalRootKey, KeyObject>();

function bytesArg(value: unknown, name: string): Buffer {
  if (!(value instanceof Uint8Array))
    throw new InvalidOption(`${name} must be a Uint8Array (got ${describeType(value)})`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * A root key held by the app itself (from an env var or a file): AES-256-GCM with a random nonce
 * per wrap. Create it with {@link localRootKey}. `inspect`, `toJSON` and `toString` redact it.
 * Exported from `fieldcrypt/kms`.
 */
export class LocalRootKey implements RootKeyProvider {
  readonly id: string;
  readonly #header: Buffer;

  /** @internal Use {@link localRootKey}. */
  constructor(id: string, material: KeyObject) {
    this.id = id;
    this.#header = wrappedHeader("FCW", id);
    keys.set(this, material);
    Object.freeze(this);
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const plain = bytesArg(dataKey, "dataKey");
    if (plain.length === 0) throw new InvalidOption("dataKey must not be empty");
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", keys.get(this) as KeyObject, nonce);
    cipher.setAAD(Buffer.concat([DOMAIN, lengthPrefixed([this.#header, bytesArg(aad, "aad")])]));
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([this.#header, nonce, sealed, cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const bytes = bytesArg(wrapped, "wrapped");
    const context = bytesArg(aad, "aad");
    const header = this.#header;
    wrappedBody(header, this.id, bytes, NONCE_BYTES + TAG_BYTES + 1);
    const nonce = bytes.subarray(header.length, header.length + NONCE_BYTES);
    const body = bytes.subarray(header.length + NONCE_BYTES, bytes.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", keys.get(this) as KeyObject, nonce);
      decipher.setAAD(Buffer.concat([DOMAIN, lengthPrefixed([header, context])]));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new KeyUnwrapFailed(this.id);
    }
  }

  toString(): string {
    return `LocalRootKey(${this.id}, material redacted)`;
  }

  toJSON(): { id: string; type: "local"; material: "[redacted]" } {
    return { id: this.id, type: "local", material: "[redacted]" };
  }

  [inspect.custom](): string {
    return `LocalRootKey { id: ${JSON.stringify(this.id)}, material: [redacted] }`;
  }
}

/** Options of {@link localRootKey}. */
export interface LocalRootKeyOptions {
  /** Id stored next to every data key this key wraps. Safe to print. */
  readonly id: string;
  /** A key string (`FIELDCRYPT-SECRET-KEY-1-…`) or 32 raw bytes. */
  readonly key: string | Uint8Array;
}

/**
 * A local root key: a 32-byte key string (`FIELDCRYPT-SECRET-KEY-1-…`, e.g. from
 * `FIELDCRYPT_ROOT_KEY` or a 0600 file) or 32 raw bytes, under a short id stored next to every data
 * key it wraps. Exported from `fieldcrypt/kms`.
 *
 * Security: whoever holds this key and a database dump can unwrap every data key. Prefer a KMS or
 * an HSM in production; keep a local root key out of the database host and its backups.
 *
 * @example
 * ```ts
 * import { localRootKey } from "fieldcrypt/kms";
 * const root = localRootKey({ id: "root-2026", key: process.env.FIELDCRYPT_ROOT_KEY! });
 * ```
 */
export function localRootKey(options: LocalRootKeyOptions): LocalRootKey;
/**
 * @deprecated Since 0.3: pass an options object, `localRootKey({ id, key })`, as every other root-key
 * provider takes. Removed in the next release.
 */
export function localRootKey(id: string, key: string | Uint8Array): LocalRootKey;
export function localRootKey(
  idOrOptions: string | LocalRootKeyOptions,
  positionalKey?: string | Uint8Array,
): LocalRootKey {
  const positional = typeof idOrOptions === "string" || typeof idOrOptions !== "object" || idOrOptions === null;
  const id = positional ? (idOrOptions as string) : idOrOptions.id;
  const key = positional ? positionalKey : idOrOptions.key;
  if (typeof id !== "string" || !ROOT_KEY_ID_RE.test(id)) {
    const got = typeof id === "string" ? `a string of ${id.length} characters` : describeType(id);
    throw new InvalidKey(`root key id must be ${ROOT_KEY_ID_RULE} (got ${got})`);
  }
  const bytes = decodeKeySecret(key as string | Uint8Array, `root key ${id}`);
  const material = createSecretKey(bytes);
  bytes.fill(0);
  return new LocalRootKey(id, material);
}
