/**
 * Versioned JSON envelopes `{ "version": "v1", "ciphertext": "<base64>" }` with a key registry by
 * version. Exported from `fieldcrypt/legacy`.
 *
 * @module
 */
import type { KeyObject } from "node:crypto";
import { DecryptionFailed, InvalidOption, KeyNotFound } from "../errors/index.js";
import { AES_KEY_LENGTHS, type AesKeyInput } from "./aes-gcm.js";
import { decoderOptions, LegacyDecoder } from "./decoder.js";
import type { LegacyFormat, LegacyOutput, LegacyRow } from "./format.js";
import { aadResolver, checkLayout, type GcmLayout, type LegacyAad, NONCE_BYTES, openGcm, TAG_BYTES } from "./gcm.js";
import { aesKey, asBytes, decodeBase64 } from "./shared.js";

// A version is echoed in ERR_KEY_NOT_FOUND only when it looks like an id; anything else is opaque.
const VERSION_ID = /^[A-Za-z0-9._-]{1,32}$/;

/** Options of {@link versionedJsonFormat}. */
export interface VersionedJsonFormatOptions {
  /** Key registry by version: `{ v1: key, v2: key }` (32-byte keys, raw or base64). */
  readonly keys: Readonly<Record<string, AesKeyInput>>;
  /** Property names of the envelope. Default `{ version: "version", ciphertext: "ciphertext" }`. */
  readonly fields?: { readonly version?: string; readonly ciphertext?: string };
  /** Layout of the decoded ciphertext. Default `"nonce-ct-tag"` (AES-256-GCM nonce ‖ ct ‖ tag). */
  readonly layout?: GcmLayout;
  /** Associated data the app passed to AES-GCM, if any. */
  readonly aad?: LegacyAad;
  /** Columns an `aad` function reads (required with one). */
  readonly rowColumns?: readonly string[];
  /** What `decrypt` returns: `"string"` (UTF-8, default), `"bytes"` or `"json"`. */
  readonly output?: LegacyOutput;
  /**
   * Largest stored value accepted, in bytes (text: characters). Larger values fail with
   * `ERR_VALUE_TOO_LARGE` before any decoding. Default: the largest text cell (about 85 MiB).
   */
  readonly maxBytes?: number;
}

class VersionedJsonFormat extends LegacyDecoder<{ version: string; ciphertext: string }> {
  readonly name = "versioned-json";
  readonly rowColumns: readonly string[];
  readonly textPrefixes: readonly string[] = Object.freeze(["{"]);
  readonly #keys = new Map<string, KeyObject>();
  readonly #versionField: string;
  readonly #ciphertextField: string;
  readonly #aad: (row: LegacyRow | undefined) => Buffer | undefined;
  readonly #layout: GcmLayout;

  constructor(options: VersionedJsonFormatOptions) {
    super(decoderOptions(options, "versionedJsonFormat"));
    const keys = options.keys;
    if (typeof keys !== "object" || keys === null || Object.keys(keys).length === 0) {
      throw new InvalidOption("keys must be a registry by version, e.g. { v1: key }");
    }
    for (const [version, key] of Object.entries(keys)) {
      if (!VERSION_ID.test(version))
        throw new InvalidOption("key versions must be 1-32 characters of A-Z a-z 0-9 . _ -");
      this.#keys.set(version, aesKey(key, `key ${JSON.stringify(version)}`, AES_KEY_LENGTHS));
    }
    this.#versionField = options.fields?.version ?? "version";
    this.#ciphertextField = options.fields?.ciphertext ?? "ciphertext";
    const aad = aadResolver(options.aad, options.rowColumns, this.name);
    this.#aad = aad.aad;
    this.rowColumns = aad.rowColumns;
    this.#layout = checkLayout(options.layout);
    Object.freeze(this);
  }

  /** The envelope's version and ciphertext text, from JSON text, JSON bytes or a parsed jsonb value. */
  protected parse(stored: unknown): { version: string; ciphertext: string } | null {
    let value: unknown = stored;
    const text = typeof stored === "string" ? stored : asBytes(stored)?.toString("utf8");
    if (text !== undefined) {
      const trimmed = text.trimStart();
      if (!trimmed.startsWith("{")) return null;
      try {
        value = JSON.parse(trimmed);
      } catch {
        return null;
      }
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    const version = (value as Record<string, unknown>)[this.#versionField];
    const ciphertext = (value as Record<string, unknown>)[this.#ciphertextField];
    if (typeof version !== "string" || typeof ciphertext !== "string") return null;
    return { version, ciphertext };
  }

  /**
   * The envelope's shape, well-formed or not: an object holding both fields (whatever their values),
   * or text that starts with `{`, is not JSON (an envelope cut short) and names both fields. A JSON
   * object without them is plaintext, not a damaged envelope.
   */
  override hasSignature(stored: unknown): boolean {
    if (this.matches(stored)) return true;
    const text = typeof stored === "string" ? stored : asBytes(stored)?.toString("utf8");
    let value: unknown = stored;
    if (text !== undefined) {
      const trimmed = text.trimStart();
      if (!trimmed.startsWith("{")) return false;
      try {
        value = JSON.parse(trimmed);
      } catch {
        const names = [this.#versionField, this.#ciphertextField].map((field) => JSON.stringify(field));
        return names.every((name) => trimmed.includes(name));
      }
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    return Object.hasOwn(value, this.#versionField) && Object.hasOwn(value, this.#ciphertextField);
  }

  protected open(envelope: { version: string; ciphertext: string }, row: LegacyRow | undefined): Buffer {
    const key = this.#keys.get(envelope.version);
    if (key === undefined) {
      if (VERSION_ID.test(envelope.version)) throw new KeyNotFound(envelope.version);
      throw new DecryptionFailed();
    }
    const sealed = decodeBase64(envelope.ciphertext, "any");
    if (sealed === null || sealed.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionFailed();
    const plain = openGcm([key], sealed, this.#layout, this.#aad(row));
    if (plain === null) throw new DecryptionFailed();
    return plain;
  }
}

/**
 * A decoder for versioned JSON envelopes, `{ "version": "v1", "ciphertext": "<base64>" }`, whose
 * ciphertext is AES-256-GCM `nonce(12) ‖ ciphertext ‖ tag(16)` (or `nonce ‖ tag ‖ ct` with
 * `layout`) under the key registered for its version. Reads JSON text, JSON bytes or an already
 * parsed `jsonb` value. A version not in `keys` raises `ERR_KEY_NOT_FOUND` naming it.
 * Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { versionedJsonFormat } from "fieldcrypt/legacy";
 * const prompts = versionedJsonFormat({ keys: { v1: process.env.KEY_V1!, v2: process.env.KEY_V2! } });
 * const prompt = prompts.decrypt(row.prompt);
 * ```
 */
export function versionedJsonFormat(options: VersionedJsonFormatOptions): LegacyFormat {
  return new VersionedJsonFormat(options);
}
