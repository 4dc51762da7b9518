/**
 * Raw AES-GCM cells: `nonce(12) ‖ ciphertext ‖ tag(16)` in `bytea`, or that in base64 text.
 * Exported from `fieldcrypt/legacy`.
 *
 * @module
 */
import type { KeyObject } from "node:crypto";
import { DecryptionFailed, InvalidOption } from "../errors/index.js";
import { decoderOptions, LegacyDecoder } from "./decoder.js";
import type { LegacyFormat, LegacyOutput, LegacyRow } from "./format.js";
import { aadResolver, checkLayout, type GcmLayout, type LegacyAad, NONCE_BYTES, openGcm, TAG_BYTES } from "./gcm.js";
import { aesKey, asBytes, decodeBase64 } from "./shared.js";

/** An AES key: raw bytes or base64 text (standard or url-safe), 32 bytes (16 and 24 are accepted too). */
export type AesKeyInput = string | Uint8Array;

/** Options of {@link aesGcmFormat}. */
export interface AesGcmFormatOptions {
  /** The key, or several tried in order (the format carries no key id, so each is tried). */
  readonly keys: AesKeyInput | readonly AesKeyInput[];
  /** Associated data the app passed to AES-GCM, if any. */
  readonly aad?: LegacyAad;
  /** Columns an `aad` function reads (required with one). */
  readonly rowColumns?: readonly string[];
  /** Default `"nonce-ct-tag"` (Python `cryptography` AESGCM, Node, WebCrypto). */
  readonly layout?: GcmLayout;
  /** What `decrypt` returns: `"string"` (UTF-8, default), `"bytes"` or `"json"`. */
  readonly output?: LegacyOutput;
  /**
   * Largest stored value accepted, in bytes (text: characters). Larger values fail with
   * `ERR_VALUE_TOO_LARGE` before any decoding. Default: the largest text cell (about 85 MiB).
   */
  readonly maxBytes?: number;
}

export const AES_KEY_LENGTHS: readonly number[] = [32, 24, 16];

/** Parses one key or a list of keys. */
function aesKeys(keys: unknown, name: string): readonly KeyObject[] {
  const list: readonly unknown[] = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0) throw new InvalidOption(`${name} must name at least one key`);
  return Object.freeze(
    list.map((key, i) => aesKey(key, `${name}${list.length > 1 ? ` #${i + 1}` : ""}`, AES_KEY_LENGTHS)),
  );
}

class AesGcmFormat extends LegacyDecoder<Buffer> {
  readonly name = "aes-gcm";
  readonly rowColumns: readonly string[];
  /** No marker: any value long enough matches (test fieldcrypt cells first). */
  readonly textPrefixes = undefined;
  readonly #keys: readonly KeyObject[];
  readonly #aad: (row: LegacyRow | undefined) => Buffer | undefined;
  readonly #layout: GcmLayout;

  constructor(options: AesGcmFormatOptions) {
    super(decoderOptions(options, "aesGcmFormat"));
    this.#keys = aesKeys(options.keys, "keys");
    const aad = aadResolver(options.aad, options.rowColumns, this.name);
    this.#aad = aad.aad;
    this.rowColumns = aad.rowColumns;
    this.#layout = checkLayout(options.layout);
    Object.freeze(this);
  }

  protected parse(stored: unknown): Buffer | null {
    const bytes = typeof stored === "string" ? decodeBase64(stored, "any") : asBytes(stored);
    return bytes !== null && bytes.length >= NONCE_BYTES + TAG_BYTES ? bytes : null;
  }

  protected open(sealed: Buffer, row: LegacyRow | undefined): Buffer {
    const plain = openGcm(this.#keys, sealed, this.#layout, this.#aad(row));
    if (plain === null) throw new DecryptionFailed();
    return plain;
  }
}

/**
 * A decoder for raw AES-GCM cells, `nonce(12) ‖ ciphertext ‖ tag(16)` — what
 * `nonce + AESGCM(key).encrypt(nonce, data, aad)` stores. A `Uint8Array` (bytea) is read as the raw
 * bytes, a string as base64 (either alphabet). The format has no marker, so `matches` accepts any
 * value of at least 28 bytes: check for fieldcrypt cells first. Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { aesGcmFormat } from "fieldcrypt/legacy";
 * const secrets = aesGcmFormat({ keys: [process.env.AES_KEY_V2!, process.env.AES_KEY_V1!] });
 * const apiKey = secrets.decrypt(row.api_key);
 * ```
 */
export function aesGcmFormat(options: AesGcmFormatOptions): LegacyFormat {
  return new AesGcmFormat(options);
}
