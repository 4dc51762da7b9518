import { createDecipheriv } from "node:crypto";
import { DecryptionFailed, InvalidCell, KeyNotFound } from "../errors/index.js";
import { assertContextObject, type CellContext } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { getFieldCipher } from "../internal/field-cipher.js";
import { decodeTextCell, parseHeader, TAG_BYTES } from "../internal/format.js";
import { type CellValue, decodeValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";

const GCM_OPTIONS = { authTagLength: TAG_BYTES } as const;

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
  const header = parseHeader(bytes);
  const key = keyring.get(header.keyId);
  if (key === undefined) throw new KeyNotFound(header.keyId);
  // A scoped key opens only its own scope's cells (the AAD would refuse too; this is the fast path).
  if (key.scope !== undefined && key.scope !== context.scope) throw new DecryptionFailed();
  const field = getFieldCipher(key, header.algorithm, context.table, context.column);
  const aad = field.aad(context.scope, header.type, context.rowKey);

  const h = header.headerBytes;
  const start = h + header.algorithm.nonceBytes;
  const end = start + header.payloadBytes;
  const decipher =
    field.xaes !== undefined
      ? createDecipheriv("aes-256-gcm", field.xaes.deriveKey(bytes, h), bytes.subarray(h + 12, start), GCM_OPTIONS)
      : createDecipheriv(
          "aes-256-gcm",
          field.gcmKey as NonNullable<typeof field.gcmKey>,
          bytes.subarray(h, start),
          GCM_OPTIONS,
        );
  decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(end));
  const payload = decipher.update(bytes.subarray(start, end));
  try {
    decipher.final();
  } catch {
    payload.fill(0);
    throw new DecryptionFailed();
  }
  return decodeValue(header.type, payload);
}
