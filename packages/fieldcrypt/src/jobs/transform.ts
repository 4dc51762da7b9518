/** What each job kind does to one stored cell. Not exported. */

import type { BlindIndex } from "../blind-index/index.js";
import { inspectCell, isCell } from "../cell/inspect.js";
import type { EncryptedColumn, RowContext } from "../column/index.js";
import { InvalidCell, UnsupportedValue } from "../errors/index.js";
import { MAGIC, TEXT_PREFIX } from "../internal/format.js";
import type { CellValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";
import type { JobKind } from "./tables.js";

/** A column a job works on, with its blind index when it has one. */
export interface JobColumn {
  readonly name: string;
  readonly column: EncryptedColumn;
  readonly blindIndex: { readonly column: string; readonly index: BlindIndex } | undefined;
}

/** New stored values for a cell (and its blind-index column, when recomputed). */
export interface CellChange {
  readonly value: unknown;
  /** Present when the blind-index column is rewritten. */
  readonly blindIndex?: string | null;
}

/** True for values that claim to be cells by their first bytes, well-formed or not. */
function looksLikeCell(value: unknown): boolean {
  if (typeof value === "string") return value.startsWith(TEXT_PREFIX);
  return value instanceof Uint8Array && value[0] === MAGIC;
}

/**
 * The change `kind` makes to the stored value of one cell, or `undefined` for none. Throws the
 * cell's typed error (recorded by the job, which goes on).
 */
export function transformCell(
  kind: JobKind,
  target: JobColumn,
  stored: unknown,
  storedIndex: unknown,
  context: () => RowContext,
  keyring: Keyring | undefined,
): CellChange | undefined {
  if (stored === null || stored === undefined) return undefined;
  const { column, blindIndex } = target;
  const field = `${column.table}.${column.column}`;
  if (kind === "encrypt") {
    if (isCell(stored)) return undefined;
    // A damaged cell is not plaintext: sealing it would bury the damage under a valid cell.
    if (looksLikeCell(stored)) throw new InvalidCell(`${field} holds a damaged cell`);
    const ctx = context();
    const value = column.encrypt(stored as CellValue, ctx);
    if (blindIndex === undefined) return { value };
    return { value, blindIndex: blindIndex.index.compute(stored as string, ctx.scope) };
  }
  if (!looksLikeCell(stored)) return undefined; // plaintext: only encrypt jobs touch it
  const ctx = context();
  if (kind === "rotate") {
    const keyId = inspectCell(stored as string | Uint8Array).keyId;
    const primary = (keyring as Keyring).primary(ctx.scope).id;
    const indexCurrent =
      blindIndex === undefined || (typeof storedIndex === "string" && storedIndex.startsWith(`bi1:${primary}:`));
    if (keyId === primary && indexCurrent) return undefined;
    const plaintext = column.decrypt(stored, ctx);
    const value = keyId === primary ? stored : column.encrypt(plaintext, ctx);
    if (blindIndex === undefined) return { value };
    return { value, blindIndex: plaintext === null ? null : blindIndex.index.compute(plaintext as string, ctx.scope) };
  }
  const plaintext = column.decrypt(stored, ctx);
  if (kind === "verify") return undefined;
  // decrypt: back to what an encrypt job started from, a string in text columns, bytes in bytea.
  if (column.form === "text" ? typeof plaintext !== "string" : !(plaintext instanceof Uint8Array)) {
    throw new UnsupportedValue(
      `${field}: a decrypted value of this type has no plaintext form in a ${column.form === "text" ? "text" : "bytea"} column`,
    );
  }
  return { value: plaintext };
}
