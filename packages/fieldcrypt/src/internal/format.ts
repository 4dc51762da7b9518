/**
 * Constants and header parsing of the cell format v1 (normative text: spec/cell-format-v1.md).
 *
 * Binary cell:  0xFC ‖ version(1) ‖ alg(1) ‖ type(1) ‖ kidLen(1) ‖ kid ‖ nonce ‖ ciphertext ‖ tag(16)
 * Text cell:    "fc1." ‖ base64url(binary cell), unpadded, canonical
 */
import { InvalidCell, ValueTooLarge } from "../errors/index.js";

export const MAGIC = 0xfc;
export const VERSION = 1;
export const TEXT_PREFIX = "fc1.";
export const TAG_BYTES = 16;
export const MAX_KEY_ID_BYTES = 32;
/** Largest encoded plaintext a cell may carry: 64 MiB. */
export const MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024;
/** Fixed header bytes before the key id. */
export const FIXED_HEADER_BYTES = 5;

/** Algorithm ids as they appear in byte 2 of a cell. */
export const ALG_XAES_256_GCM = 1;
export const ALG_AES_256_GCM = 2;

/** The algorithms a cell can name. */
export type AlgorithmName = "XAES-256-GCM" | "AES-256-GCM";

export interface AlgorithmInfo {
  readonly id: number;
  readonly name: AlgorithmName;
  readonly nonceBytes: number;
}

export const XAES_256_GCM: AlgorithmInfo = { id: ALG_XAES_256_GCM, name: "XAES-256-GCM", nonceBytes: 24 };
export const AES_256_GCM: AlgorithmInfo = { id: ALG_AES_256_GCM, name: "AES-256-GCM", nonceBytes: 12 };

export function algorithmById(id: number): AlgorithmInfo | undefined {
  return id === ALG_XAES_256_GCM ? XAES_256_GCM : id === ALG_AES_256_GCM ? AES_256_GCM : undefined;
}

const KEY_ID_RE = /^[A-Za-z0-9._-]{1,32}$/;

/** Key ids: 1–32 characters of A–Z a–z 0–9 . _ - (safe to print, log and put in a header). */
export function isValidKeyId(id: unknown): id is string {
  return typeof id === "string" && KEY_ID_RE.test(id);
}

export const KEY_ID_RULE = "1-32 characters of A-Z a-z 0-9 . _ -";

function isKeyIdByte(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2e ||
    b === 0x5f ||
    b === 0x2d
  );
}

/** A parsed header: where each part of the cell starts. */
export interface Header {
  readonly algorithm: AlgorithmInfo;
  readonly type: number;
  readonly keyId: string;
  /** Length of the header (and offset of the nonce). */
  readonly headerBytes: number;
  /** Encoded plaintext length. */
  readonly payloadBytes: number;
}

/**
 * Parses and validates the header of a binary cell. Throws {@link InvalidCell} with a message that
 * names what was expected; never quotes the input.
 */
export function parseHeader(cell: Buffer): Header {
  if (cell.length < FIXED_HEADER_BYTES + 1 || cell[0] !== MAGIC) {
    throw new InvalidCell(
      "not a fieldcrypt cell (expected a binary cell starting with 0xFC, or text starting with fc1.)",
    );
  }
  const version = cell[1] as number;
  if (version !== VERSION)
    throw new InvalidCell(`unsupported cell version ${version} (this fieldcrypt reads version 1)`);
  const algorithm = algorithmById(cell[2] as number);
  if (algorithm === undefined) throw new InvalidCell(`unknown algorithm id ${cell[2] as number} in cell header`);
  const type = cell[3] as number;
  if (type < 1 || type > MAX_TYPE_ID) throw new InvalidCell(`unknown value type id ${type} in cell header`);
  const kidLen = cell[4] as number;
  if (kidLen < 1 || kidLen > MAX_KEY_ID_BYTES) throw new InvalidCell(`key id length ${kidLen} is outside 1-32`);
  const headerBytes = FIXED_HEADER_BYTES + kidLen;
  for (let i = FIXED_HEADER_BYTES; i < headerBytes && i < cell.length; i++) {
    if (!isKeyIdByte(cell[i] as number)) throw new InvalidCell(`key id in cell header is not ${KEY_ID_RULE}`);
  }
  const payloadBytes = cell.length - headerBytes - algorithm.nonceBytes - TAG_BYTES;
  if (payloadBytes < 0) {
    throw new InvalidCell(
      `cell is truncated: ${cell.length} bytes, at least ${headerBytes + algorithm.nonceBytes + TAG_BYTES} expected`,
    );
  }
  if (payloadBytes > MAX_PLAINTEXT_BYTES) throw new ValueTooLarge(`cell payload exceeds ${MAX_PLAINTEXT_BYTES} bytes`);
  const keyId = cell.toString("latin1", FIXED_HEADER_BYTES, headerBytes);
  return { algorithm, type, keyId, headerBytes, payloadBytes };
}

/** Value type ids (byte 3 of a cell). */
export const TYPE_STRING = 1;
export const TYPE_BYTES = 2;
export const TYPE_JSON = 3;
export const TYPE_NUMBER = 4;
export const TYPE_BIGINT = 5;
export const TYPE_BOOLEAN = 6;
export const TYPE_DATE = 7;
export const MAX_TYPE_ID = 7;

/** The value types a cell can carry, by name. */
export type ValueTypeName = "string" | "bytes" | "json" | "number" | "bigint" | "boolean" | "date";
export const TYPE_NAMES: readonly ValueTypeName[] = ["string", "bytes", "json", "number", "bigint", "boolean", "date"];

const B64URL_INDEX = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].entries()) {
  B64URL_INDEX[c.charCodeAt(0)] = i;
}

/**
 * Decodes the text form to the binary cell, strictly: the prefix, then unpadded base64url with
 * canonical trailing bits, so that each cell has exactly one text spelling.
 *
 * Node's decoder accepts "+" and "/" as aliases, reads non-Latin-1 characters by their low byte, and
 * skips any other character outside the alphabet (including "=" and whitespace). So: refuse "+",
 * "/" and non-ASCII, and check the decoded length, which comes out short whenever a character was
 * skipped; then the unused low bits of the last character.
 */
export function decodeTextCell(text: string): Buffer {
  if (!text.startsWith(TEXT_PREFIX)) {
    throw new InvalidCell(
      "not a fieldcrypt cell (expected a binary cell starting with 0xFC, or text starting with fc1.)",
    );
  }
  const encoded = text.slice(TEXT_PREFIX.length);
  const n = encoded.length;
  if (n > MAX_TEXT_CELL_CHARS) throw new ValueTooLarge(`cell payload exceeds ${MAX_PLAINTEXT_BYTES} bytes`);
  const rem = n & 3;
  // Node reads a character above U+00FF by its low byte ("Ł" as "A"): refuse anything but ASCII.
  if (rem === 1 || encoded.includes("+") || encoded.includes("/") || Buffer.byteLength(encoded, "utf8") !== n) {
    throw notBase64url();
  }
  const bytes = Buffer.from(encoded, "base64url");
  if (bytes.length !== (n >> 2) * 3 + (rem === 0 ? 0 : rem - 1)) throw notBase64url();
  if (rem !== 0 && ((B64URL_INDEX[encoded.charCodeAt(n - 1)] as number) & (rem === 2 ? 0x0f : 0x03)) !== 0) {
    throw notBase64url();
  }
  return bytes;
}

function notBase64url(): InvalidCell {
  return new InvalidCell("text cell is not canonical unpadded base64url after the fc1. prefix");
}

/** Longest base64url body a text cell can have: the largest payload plus the largest header, nonce and tag. */
const MAX_TEXT_CELL_CHARS = Math.ceil(
  ((MAX_PLAINTEXT_BYTES + FIXED_HEADER_BYTES + MAX_KEY_ID_BYTES + 24 + TAG_BYTES) * 4) / 3,
);

/** Encodes a binary cell in the text form. */
export function encodeTextCell(cell: Buffer): string {
  return TEXT_PREFIX + cell.toString("base64url");
}
