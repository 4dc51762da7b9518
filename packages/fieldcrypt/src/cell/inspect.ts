import type { AlgorithmName, ValueTypeName } from "../internal/format.js";
import { MAGIC, parseHeader, TEXT_PREFIX, TYPE_NAMES } from "../internal/format.js";
import { type Cell, cellBytes } from "./decrypt.js";

/** What a cell's header says, readable without keys. Contains no secret. */
export interface CellInfo {
  /** `"text"` (`fc1.` + base64url) or `"binary"`. */
  readonly form: "text" | "binary";
  /** Cell format version (1). */
  readonly version: 1;
  readonly algorithm: AlgorithmName;
  /** Id of the key that sealed the cell: look for it in your keyring. */
  readonly keyId: string;
  /** The type the value decrypts to. */
  readonly type: ValueTypeName;
  /** Length of the encoded plaintext in bytes (visible to anyone who sees the cell anyway). */
  readonly payloadBytes: number;
  /** Length of the binary cell in bytes. */
  readonly cellBytes: number;
}

/**
 * Reads a cell's header (version, algorithm, key id, value type, sizes) without any key.
 * Throws `ERR_INVALID_CELL` for anything that is not a well-formed cell (`ERR_VALUE_TOO_LARGE` for
 * one over the size limit). Does not authenticate
 * the cell: only {@link decrypt} does. Exported from `fieldcrypt/cell`.
 *
 * @example
 * ```ts
 * import { inspectCell } from "fieldcrypt/cell";
 * inspectCell(row.body).keyId // "v1": still on the old key
 * ```
 */
export function inspectCell(cell: Cell): CellInfo {
  const bytes = cellBytes(cell);
  const header = parseHeader(bytes);
  return {
    form: typeof cell === "string" ? "text" : "binary",
    version: 1,
    algorithm: header.algorithm.name,
    keyId: header.keyId,
    type: TYPE_NAMES[header.type - 1] as ValueTypeName,
    payloadBytes: header.payloadBytes,
    cellBytes: bytes.length,
  };
}

/**
 * True when `value` is a well-formed fieldcrypt cell (text or binary) by its header; never throws.
 * Used by transition modes to tell cells from legacy plaintext. A plaintext that happens to look
 * exactly like a cell header is treated as a cell, and then fails to decrypt (fail closed).
 * Exported from `fieldcrypt/cell`.
 *
 * @example
 * ```ts
 * const value = isCell(row.body) ? decrypt(keyring, row.body, ctx) : row.body; // transition read
 * ```
 */
export function isCell(value: unknown): value is Cell {
  // The cheap prefix test first: plaintext (the common case on writes) never reaches the parser
  // and its thrown-and-caught error.
  if (typeof value === "string") {
    if (!value.startsWith(TEXT_PREFIX)) return false;
  } else if (!(value instanceof Uint8Array) || value[0] !== MAGIC) {
    return false;
  }
  try {
    parseHeader(cellBytes(value));
    return true;
  } catch {
    return false;
  }
}
