/** What each job kind does to one stored cell. Not exported. */

import type { BlindIndex } from "../blind-index/index.js";
import { inspectCell, isCell } from "../cell/inspect.js";
import type { EncryptedColumnCodec, RowContext } from "../column/index.js";
import { DecryptionFailed, InvalidCell, NotEncrypted, UnsupportedValue } from "../errors/index.js";
import { FIXED_HEADER_BYTES, MAGIC, MAX_KEY_ID_BYTES, TEXT_PREFIX } from "../internal/format.js";
import type { CellValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";
import { classifyLegacy } from "../legacy/classify.js";
import { hasJsonForm } from "./column-types.js";
import type { JobKind } from "./model.js";

/** A column a job works on, with its blind index when it has one. */
export interface JobColumn {
  readonly name: string;
  readonly column: EncryptedColumnCodec;
  readonly blindIndex: { readonly column: string; readonly index: BlindIndex } | undefined;
  /** Import jobs only: the column holding the legacy values, when it is not `name` itself. */
  readonly source?: string | undefined;
  /** Stored in a json/jsonb column (stored values arrive parsed; decrypt writes any JSON value). */
  readonly json?: boolean | undefined;
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
  row: Readonly<Record<string, unknown>>,
): CellChange | undefined {
  const { column, blindIndex } = target;
  const field = `${column.table}.${column.column}`;
  if (kind === "import") return importCell(target, stored, context, row, field);
  if (stored === null || stored === undefined) return undefined;
  if (kind === "encrypt") {
    if (isCell(stored)) return undefined;
    // A damaged cell is not plaintext: sealing it would bury the damage under a valid cell.
    // A legacy value is ciphertext, which only an import job opens (a markerless format such as raw
    // AES-GCM may even start with the cell magic byte).
    const legacy = column.legacy === undefined ? "other" : classifyLegacy(column.legacy, stored);
    if (legacy === "legacy") return undefined;
    // A legacy value that does not parse (a token cut short) is not plaintext either: the row fails.
    if (legacy === "unreadable") throw new DecryptionFailed();
    if (looksLikeCell(stored)) throw new InvalidCell(`${field} holds a damaged cell`);
    const ctx = context();
    const value = column.encrypt(stored as CellValue, ctx);
    if (blindIndex === undefined) return { value };
    return { value, blindIndex: blindIndex.index.compute(stored as string, ctx.scope) };
  }
  if (!looksLikeCell(stored)) {
    // A strict column promises cells only: verify reports anything else (plaintext, a legacy value
    // not imported yet) as a failure of the row, so a clean verify means every value is a cell that
    // opens. In transition mode such values are expected, and only encrypt and import jobs touch them.
    // In either mode a value with the legacy format's signature that does not parse fails as reads
    // fail it: it is neither plaintext nor a legacy value an import could open. (Well-formed legacy
    // values are not opened here: a markerless format such as raw AES-GCM also matches plaintext.)
    if (kind === "verify" && column.legacy !== undefined && classifyLegacy(column.legacy, stored) === "unreadable")
      throw new DecryptionFailed();
    if (kind === "verify" && column.mode === "strict") throw new NotEncrypted(field);
    return undefined;
  }
  const ctx = context();
  if (kind === "rotate") {
    const primary = (keyring as Keyring).primary(ctx.scope).id;
    // The common case, a cell on an older key, is told from its first bytes alone (the decrypt
    // below validates the whole cell); a cell that claims the primary key is validated here.
    const head = headerKeyId(stored as string | Uint8Array);
    const keyId = head !== undefined && head !== primary ? head : inspectCell(stored as string | Uint8Array).keyId;
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
  if (target.json === true) {
    if (!hasJsonForm(plaintext))
      throw new UnsupportedValue(`${field}: a decrypted value of this type has no JSON form`);
  } else if (column.form === "text" ? typeof plaintext !== "string" : !(plaintext instanceof Uint8Array)) {
    throw new UnsupportedValue(
      `${field}: a decrypted value of this type has no plaintext form in a ${column.form === "text" ? "text" : "bytea"} column`,
    );
  }
  return { value: plaintext };
}

/**
 * import: a legacy value (in the column itself, or in its `source` column) → a cell sealed under
 * the scope's primary key, blind index recomputed. Cells stay; values the format does not match
 * (plaintext) are left to an encrypt job; a legacy value that does not open, or carries the format's
 * signature but does not parse, throws its error.
 */
function importCell(
  target: JobColumn,
  stored: unknown,
  context: () => RowContext,
  row: Readonly<Record<string, unknown>>,
  field: string,
): CellChange | undefined {
  const { column, blindIndex } = target;
  const legacy = column.legacy as NonNullable<EncryptedColumnCodec["legacy"]>;
  if (target.source !== undefined) {
    // Into its own column: a target that holds anything already (a cell the app wrote) is done.
    if (stored !== null && stored !== undefined) {
      if (looksLikeCell(stored) && !isCell(stored)) throw new InvalidCell(`${field} holds a damaged cell`);
      return undefined;
    }
  }
  const source = target.source === undefined ? stored : row[target.source];
  if (source === null || source === undefined || isCell(source)) return undefined;
  // Tried before the damaged-cell check: a raw AES-GCM value starts with the cell magic byte 1 time in 256.
  const kind = classifyLegacy(legacy, source);
  if (kind === "other") {
    if (looksLikeCell(source)) throw new InvalidCell(`${field} holds a damaged cell`);
    return undefined;
  }
  // The format's signature on a value that does not parse (a token cut short): a failed row.
  if (kind === "unreadable") throw new DecryptionFailed();
  const plaintext = legacy.decrypt(source, row) as CellValue;
  const ctx = context();
  const value = column.encrypt(plaintext, ctx);
  if (blindIndex === undefined) return { value };
  return { value, blindIndex: plaintext === null ? null : blindIndex.index.compute(plaintext as string, ctx.scope) };
}

/** Enough base64url characters for the fixed header and the longest key id (5 + 32 bytes). */
const HEAD_CHARS = Math.ceil((FIXED_HEADER_BYTES + MAX_KEY_ID_BYTES) / 3) * 4;

/**
 * The key id in a cell's header, read without decoding the rest of the cell; `undefined` when the
 * first bytes do not hold one. Only a hint: whoever acts on the cell validates all of it.
 */
function headerKeyId(stored: string | Uint8Array): string | undefined {
  const head =
    typeof stored === "string"
      ? Buffer.from(stored.slice(TEXT_PREFIX.length, TEXT_PREFIX.length + HEAD_CHARS), "base64url")
      : Buffer.from(
          stored.buffer,
          stored.byteOffset,
          Math.min(stored.byteLength, FIXED_HEADER_BYTES + MAX_KEY_ID_BYTES),
        );
  const length = head[4];
  if (head[0] !== MAGIC || length === undefined || length < 1 || head.length < FIXED_HEADER_BYTES + length) {
    return undefined;
  }
  return head.toString("latin1", FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + length);
}
