/**
 * Helpers shared by the legacy decoders (not exported from `fieldcrypt/legacy`): strict base64,
 * stored-value and row-value access, key parsing, plaintext output, redaction.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { InvalidContext, InvalidKey, InvalidOption, UnsupportedValue, ValueTooLarge } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { FIXED_HEADER_BYTES, MAX_KEY_ID_BYTES, MAX_PLAINTEXT_BYTES, TAG_BYTES } from "../internal/format.js";
import type { LegacyOutput, LegacyRow } from "./format.js";

const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;
const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_ANY = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes base64 in the given alphabet, padded or not; null when the text is not base64 (node's
 * own decoder silently skips bad characters, so the alphabet and length are checked first).
 */
export function decodeBase64(text: string, alphabet: "url" | "std" | "any"): Buffer | null {
  const re = alphabet === "url" ? BASE64_URL : alphabet === "std" ? BASE64_STD : BASE64_ANY;
  if (!re.test(text)) return null;
  const padded = text.endsWith("=");
  if (padded ? text.length % 4 !== 0 : text.length % 4 === 1) return null;
  return Buffer.from(text, alphabet === "std" ? "base64" : "base64url");
}

/** The stored value as a Buffer view (bytea) or null when it is not bytes. */
export function asBytes(stored: unknown): Buffer | null {
  if (Buffer.isBuffer(stored)) return stored;
  if (stored instanceof Uint8Array) return Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  return null;
}

/** The stored value as text: a string, or bytes read as latin1 (an ASCII token kept in bytea). */
export function asText(stored: unknown): string | null {
  if (typeof stored === "string") return stored;
  const bytes = asBytes(stored);
  return bytes === null ? null : bytes.toString("latin1");
}

/** A row's value for a column the format needs; `ERR_INVALID_CONTEXT` when absent or NULL. */
export function rowValue(row: LegacyRow | undefined, column: string, format: string): unknown {
  const value = row?.[column];
  if (value === undefined || value === null) {
    throw new InvalidContext(`the ${format} legacy format needs the row's ${JSON.stringify(column)} column`);
  }
  return value;
}

/** A row value as bytes the way the Python recipes write it: `str(value).encode()` or the raw bytes. */
export function rowValueBytes(row: LegacyRow | undefined, column: string, format: string): Buffer {
  const value = rowValue(row, column, format);
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value))) {
    return Buffer.from(value.toString(10), "utf8");
  }
  const bytes = asBytes(value);
  if (bytes !== null) return bytes;
  throw new InvalidContext(
    `the ${format} legacy format needs the row's ${JSON.stringify(column)} column as a string, integer or bytes (got ${describeType(value)})`,
  );
}

/** Bytes or a UTF-8 string option (a salt, a static AAD). */
export function optionBytes(value: unknown, name: string): Buffer {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  const bytes = asBytes(value);
  if (bytes === null) throw new InvalidOption(`${name} must be a string or a Uint8Array (got ${describeType(value)})`);
  return Buffer.from(bytes);
}

/** An AES key given as raw bytes or base64 text (standard or url-safe alphabet). */
export function aesKey(value: unknown, name: string, lengths: readonly number[]): KeyObject {
  const expected = `${lengths.join(", ")} bytes`;
  let bytes: Buffer | null = null;
  if (typeof value === "string") bytes = decodeBase64(value, "any");
  else bytes = asBytes(value);
  if (bytes === null) {
    throw new InvalidKey(`${name} must be a Uint8Array or base64 text of ${expected} (got ${describeType(value)})`);
  }
  if (!lengths.includes(bytes.length)) {
    throw new InvalidKey(`${name} must be ${expected} (got ${bytes.length} bytes)`);
  }
  const key = createSecretKey(Buffer.from(bytes));
  if (typeof value === "string") bytes.fill(0);
  return key;
}

/** Turns an opened plaintext into the column's value; the buffer is wiped when a copy is returned. */
export function toOutput(plain: Buffer, output: LegacyOutput, format: string): unknown {
  if (output === "bytes") return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  let text: string;
  try {
    text = UTF8.decode(plain);
  } catch {
    plain.fill(0);
    throw new UnsupportedValue(`a ${format} legacy plaintext is not valid UTF-8; use output: "bytes"`);
  }
  plain.fill(0);
  if (output === "string") return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UnsupportedValue(`a ${format} legacy plaintext is not valid JSON; use output: "string"`);
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function checkOutput(output: unknown): LegacyOutput {
  if (output === undefined) return "string";
  if (output === "string" || output === "bytes" || output === "json") return output;
  throw new InvalidOption(`output must be "string", "bytes" or "json" (got ${describeType(output)})`);
}

/** What `inspect`, `toJSON` and `toString` show of a decoder: its name and row columns, no keys. */
export abstract class RedactedFormat {
  abstract readonly name: string;
  abstract readonly rowColumns: readonly string[];

  toJSON(): { name: string; rowColumns: readonly string[]; keys: "[redacted]" } {
    return { name: this.name, rowColumns: this.rowColumns, keys: "[redacted]" };
  }

  toString(): string {
    return `LegacyFormat(${this.name}, keys redacted)`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Default `maxBytes` of a legacy decoder: the length of the largest text cell (64 MiB of plaintext
 * under the longest key id, base64url), so a legacy value may be as large as a cell and no larger.
 */
export const DEFAULT_MAX_LEGACY_BYTES =
  4 + Math.ceil(((FIXED_HEADER_BYTES + MAX_KEY_ID_BYTES + 24 + MAX_PLAINTEXT_BYTES + TAG_BYTES) * 4) / 3);

/** The `maxBytes` option: a positive integer, default {@link DEFAULT_MAX_LEGACY_BYTES}. */
export function checkMaxBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_LEGACY_BYTES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOption(`maxBytes must be a positive integer (got ${describeType(value)})`);
  }
  return value;
}

/**
 * The size of a stored value in O(1): bytes of a bytea, UTF-16 code units of text (legacy values
 * are ASCII — base64 and JSON — so that is their byte length; anything else fails to decode anyway).
 */
function storedSize(stored: unknown): number {
  if (typeof stored === "string") return stored.length;
  return stored instanceof Uint8Array ? stored.byteLength : 0;
}

/** True when `stored` is over `maxBytes`: checked before any parsing, so a huge value costs nothing. */
export function isOversized(stored: unknown, maxBytes: number): boolean {
  return storedSize(stored) > maxBytes;
}

/** `ERR_VALUE_TOO_LARGE` (naming the sizes, never the value) when `stored` is over `maxBytes`. */
export function checkStoredSize(stored: unknown, maxBytes: number, format: string): void {
  if (isOversized(stored, maxBytes)) {
    throw new ValueTooLarge(`a ${format} legacy value of ${storedSize(stored)} bytes is over maxBytes (${maxBytes})`);
  }
}

/**
 * What `matches` says of an oversized value, without reading it: whether it starts with one of the
 * format's markers (then `decrypt` refuses it as too large, rather than it passing for plaintext).
 */
export function oversizedMatches(stored: unknown, prefixes: readonly string[] | undefined): boolean {
  return prefixes === undefined || startsWithPrefix(stored, prefixes);
}

/** True when a string, or bytes read as latin1, starts with one of `prefixes` (each ≤ 16 characters). */
export function startsWithPrefix(stored: unknown, prefixes: readonly string[]): boolean {
  if (typeof stored !== "string" && !(stored instanceof Uint8Array)) return false;
  const head =
    typeof stored === "string" ? stored.slice(0, 16) : Buffer.from(stored.subarray(0, 16)).toString("latin1");
  return prefixes.some((prefix) => head.startsWith(prefix));
}
