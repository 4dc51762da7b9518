import { createDecipheriv, type DecipherGCM } from "node:crypto";
import { DecryptionFailed, InvalidCell, KeyDestroyed, KeyNotFound } from "../errors/index.js";
import { assertContextObject, type CellContext, contextBytes } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { type FieldCipher, getFieldCipher } from "../internal/field-cipher.js";
import {
  algorithmById,
  decodeTextCell,
  FIXED_HEADER_BYTES,
  MAGIC,
  MAX_KEY_ID_BYTES,
  MAX_PLAINTEXT_BYTES,
  MAX_TYPE_ID,
  parseHeader,
  TAG_BYTES,
  VERSION,
} from "../internal/format.js";
import { type CellValue, decodeValue } from "../internal/value-codec.js";
import { findKeyByIdBytes, type Keyring } from "../keyring/keyring.js";

// node:crypto copies the IV and the tag into the cipher context, so one scratch buffer of each
// serves every call (decrypt is synchronous) and spares two Buffer views per cell.
const ivScratch = Buffer.allocUnsafe(12);
const tagScratch = Buffer.allocUnsafe(TAG_BYTES);

/** A cell as read from the database: text form (`string`) or binary form (`Buffer`/`Uint8Array`). */
export type Cell = string | Uint8Array;

/** @internal Turns a text or binary cell into a Buffer (a view, for binary input). */
export function cellBytes(cell: unknown): Buffer {
  if (typeof cell === "string") return decodeTextCell(cell);
  if (Buffer.isBuffer(cell)) return cell;
  if (cell instanceof Uint8Array) return Buffer.from(cell.buffer, cell.byteOffset, cell.length);
  throw new InvalidCell(`a cell must be a string or a Uint8Array (got ${describeType(cell)})`);
}

/**
 * Decrypts a cell made by {@link encrypt} under the same context. The key is found by the id in
 * the cell header (`ERR_KEY_NOT_FOUND` if the keyring lacks it). Synchronous.
 * Exported from `fieldcrypt/cell`.
 *
 * A malformed cell raises `ERR_INVALID_CELL`. Everything else that can go wrong with a well-formed
 * cell (wrong key material, another scope/table/column/row, a flipped bit, a cut tag) raises the
 * one opaque `ERR_DECRYPTION_FAILED`. `null` returns `null`.
 *
 * @example
 * ```ts
 * import { decrypt } from "fieldcrypt/cell";
 * const note = decrypt(keyring, row.body, { scope: "clinic-7", table: "clinic_notes", column: "body", rowKey: row.id });
 * ```
 */
export function decrypt(keyring: Keyring, cell: Cell, context: CellContext): CellValue;
export function decrypt(keyring: Keyring, cell: null, context: CellContext): null;
export function decrypt(keyring: Keyring, cell: Cell | null, context: CellContext): CellValue | null;
export function decrypt(keyring: Keyring, cell: Cell | null, context: CellContext): CellValue | null {
  if (cell === null) return null;
  assertContextObject(context);
  const bytes = cellBytes(cell);

  const length = bytes.length;
  const type = bytes[3] as number;
  const end = length - TAG_BYTES;
  let field: FieldCipher;
  const last = lastFields.get(keyring);
  if (
    last !== undefined &&
    last.revision === keyring.revision &&
    last.table === context.table &&
    last.column === context.column &&
    sameHeader(bytes, last.field.header)
  ) {
    // Same key, algorithm and field as the previous cell (the common case: a column over many rows).
    field = last.field;
    if (type < 1 || type > MAX_TYPE_ID) throw malformed(bytes);
    const start = field.header.length + field.algorithm.nonceBytes;
    if (end < start || end - start > MAX_PLAINTEXT_BYTES) throw malformed(bytes);
  } else {
    // The checks of parseHeader, in its order; it runs only to describe a malformed cell.
    const kidLength = bytes[4] as number;
    const algorithm = algorithmById(bytes[2] as number);
    if (
      length <= FIXED_HEADER_BYTES ||
      bytes[0] !== MAGIC ||
      bytes[1] !== VERSION ||
      algorithm === undefined ||
      type < 1 ||
      type > MAX_TYPE_ID ||
      kidLength < 1 ||
      kidLength > MAX_KEY_ID_BYTES
    ) {
      throw malformed(bytes);
    }
    const start = FIXED_HEADER_BYTES + kidLength + algorithm.nonceBytes;
    if (end < start || end - start > MAX_PLAINTEXT_BYTES) throw malformed(bytes);
    const key = findKeyByIdBytes(keyring, bytes, FIXED_HEADER_BYTES, kidLength);
    if (key === undefined) {
      const keyId = parseHeader(bytes).keyId;
      if (keyring.isDestroyed(keyId)) throw new KeyDestroyed(keyId);
      throw new KeyNotFound(keyId);
    }
    field = getFieldCipher(key, algorithm, context.table, context.column);
    lastFields.set(keyring, { revision: keyring.revision, table: context.table, column: context.column, field });
  }
  const h = field.header.length;
  const start = h + field.algorithm.nonceBytes;
  // A scoped key opens only its own scope's cells (the AAD would refuse too; this is the fast path).
  if (field.keyScope !== undefined && field.keyScope !== context.scope) {
    if (context.scope !== undefined) contextBytes(context.scope, "scope"); // a malformed scope says so
    throw new DecryptionFailed();
  }
  const aad = field.aad(context.scope, type, context.rowKey);

  let decipher: DecipherGCM;
  if (field.xaes !== undefined) {
    const derived = field.xaes.deriveKey(bytes, h);
    copyInto(ivScratch, bytes, h + 12, 12);
    decipher = createDecipheriv("aes-256-gcm", derived, ivScratch);
  } else {
    copyInto(ivScratch, bytes, h, 12);
    decipher = createDecipheriv("aes-256-gcm", field.gcmKey as NonNullable<typeof field.gcmKey>, ivScratch);
  }
  decipher.setAAD(aad);
  // Always exactly 16 tag bytes: a shorter tag can never reach setAuthTag, so the optional
  // authTagLength option (which costs an option parse per cell) adds nothing.
  copyInto(tagScratch, bytes, end, TAG_BYTES);
  decipher.setAuthTag(tagScratch);
  const payload = decipher.update(new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start));
  try {
    decipher.final();
  } catch {
    payload.fill(0);
    throw new DecryptionFailed();
  }
  return decodeValue(type, payload);
}

/**
 * The field of each keyring's previous decrypt, valid while the keyring's revision is unchanged
 * (a keyring changes only when a key is destroyed in place, and then its revision moves on); it
 * lives only as long as its keyring (derived subkeys are not kept alive by this cache).
 */
const lastFields = new WeakMap<Keyring, { revision: number; table: string; column: string; field: FieldCipher }>();

/** True when `bytes` starts with `header` in every byte but the value type (byte 3). */
function sameHeader(bytes: Buffer, header: Buffer): boolean {
  const n = header.length;
  if (bytes.length < n) return false;
  for (let i = 0; i < n; i++) if (i !== 3 && bytes[i] !== header[i]) return false;
  return true;
}

/** Copies a few bytes; for 12–16 bytes a plain loop is several times cheaper than Buffer#copy. */
function copyInto(target: Buffer, source: Buffer, offset: number, count: number): void {
  for (let i = 0; i < count; i++) target[i] = source[offset + i] as number;
}

/** The precise format error for a cell the fast checks refused. */
function malformed(bytes: Buffer): Error {
  try {
    parseHeader(bytes);
  } catch (error) {
    return error as Error;
  }
  return new InvalidCell("cell header is malformed");
}
