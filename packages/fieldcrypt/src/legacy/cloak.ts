/**
 * @47ng/cloak (and prisma-field-encryption) strings, `v1.aesgcm256.<fingerprint>.<iv>.<ciphertext>`.
 * Exported from `fieldcrypt/legacy`.
 *
 * @module
 */
import { createHash, type KeyObject } from "node:crypto";
import { DecryptionFailed, InvalidKey, InvalidOption, KeyNotFound } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { decoderOptions, LegacyDecoder } from "./decoder.js";
import type { LegacyFormat, LegacyOutput } from "./format.js";
import { NONCE_BYTES, openGcm, TAG_BYTES } from "./gcm.js";
import { aesKey, asText, decodeBase64 } from "./shared.js";

const CLOAK_KEY = /^k1\.aesgcm256\.([A-Za-z0-9_-]{43})=?$/;
const FINGERPRINT = /^[0-9a-fA-F]{8}$/;
const IV_TEXT = /^[A-Za-z0-9_-]{16}$/;

/** Options of {@link cloakFormat}. */
export interface CloakFormatOptions {
  /** Cloak keys (`k1.aesgcm256.<base64url>`, as `cloak generate` prints), chosen by fingerprint. */
  readonly keys: string | readonly string[];
  /** What `decrypt` returns: `"string"` (UTF-8, default — cloak encrypts strings), `"bytes"` or `"json"`. */
  readonly output?: LegacyOutput;
  /**
   * Largest stored value accepted, in bytes (text: characters). Larger values fail with
   * `ERR_VALUE_TOO_LARGE` before any decoding. Default: the largest text cell (about 85 MiB).
   */
  readonly maxBytes?: number;
}

/** Cloak's fingerprint: the first 8 hex digits of SHA-256 over the key's serialized text. */
function fingerprint(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, 8);
}

/** A cloak string's parts: the key fingerprint (lower case) and the IV and ciphertext, still base64url. */
interface CloakParts {
  readonly fingerprint: string;
  readonly iv: string;
  readonly ciphertext: string;
}

class CloakFormat extends LegacyDecoder<CloakParts> {
  readonly name = "cloak";
  readonly rowColumns: readonly string[] = Object.freeze([]);
  readonly textPrefixes: readonly string[] = Object.freeze(["v1.aesgcm256."]);
  readonly #keys = new Map<string, KeyObject>();

  constructor(options: CloakFormatOptions) {
    super(decoderOptions(options, "cloakFormat"));
    const list: readonly unknown[] = Array.isArray(options.keys) ? options.keys : [options.keys];
    if (list.length === 0) throw new InvalidOption("keys must name at least one cloak key");
    list.forEach((text, i) => {
      const match = typeof text === "string" ? CLOAK_KEY.exec(text) : null;
      if (match === null) {
        throw new InvalidKey(
          `cloak key #${i + 1} must look like k1.aesgcm256.<32 bytes in base64url> (got ${describeType(text)})`,
        );
      }
      const body = match[1] as string;
      const key = aesKey(Buffer.from(body, "base64url"), `cloak key #${i + 1}`, [32]);
      // Cloak hashes the key text as written; it writes it padded. Accept both spellings.
      this.#keys.set(fingerprint(text as string), key);
      this.#keys.set(fingerprint(`k1.aesgcm256.${body}=`), key);
    });
    Object.freeze(this);
  }

  protected parse(stored: unknown): CloakParts | null {
    const text = asText(stored);
    if (text === null) return null;
    const parts = text.split(".");
    if (parts.length !== 5 || parts[0] !== "v1" || parts[1] !== "aesgcm256") return null;
    const [, , print, iv, ciphertext] = parts as [string, string, string, string, string];
    if (!FINGERPRINT.test(print) || !IV_TEXT.test(iv) || ciphertext.length < 24) return null;
    return { fingerprint: print.toLowerCase(), iv, ciphertext };
  }

  protected open(parsed: CloakParts): Buffer {
    const key = this.#keys.get(parsed.fingerprint);
    if (key === undefined) throw new KeyNotFound(parsed.fingerprint);
    const iv = decodeBase64(parsed.iv, "url");
    const body = decodeBase64(parsed.ciphertext, "url");
    if (iv === null || body === null || iv.length !== NONCE_BYTES || body.length < TAG_BYTES) {
      throw new DecryptionFailed();
    }
    const plain = openGcm([key], Buffer.concat([iv, body]), "nonce-ct-tag", undefined);
    if (plain === null) throw new DecryptionFailed();
    return plain;
  }
}

/**
 * A decoder for @47ng/cloak strings — also what prisma-field-encryption stores:
 * `v1.aesgcm256.<fingerprint>.<iv>.<ciphertext>`, where the fingerprint is 8 hex digits of
 * SHA-256 over the key text, the IV is 12 bytes and the ciphertext is AES-256-GCM `ct ‖ tag`, both
 * base64url (cloak pads the ciphertext with `=`). The key is chosen by fingerprint; an unknown
 * fingerprint raises `ERR_KEY_NOT_FOUND` naming it. Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { cloakFormat } from "fieldcrypt/legacy";
 * const cloak = cloakFormat({ keys: process.env.PRISMA_FIELD_DECRYPTION_KEYS!.split(",") });
 * const email = cloak.decrypt(row.email);
 * ```
 */
export function cloakFormat(options: CloakFormatOptions): LegacyFormat {
  return new CloakFormat(options);
}
