/**
 * One encrypted column, as ORM adapters see it: `fieldcrypt/column`.
 *
 * Wraps {@link encrypt}/{@link decrypt} with what a column needs beyond a cell: a declared value
 * type, the storage form, a mode for migrations, and the guard that a cell is never encrypted twice.
 * Adapters (Drizzle, Prisma, Kysely, TypeORM, node-postgres) are thin layers over this.
 *
 * @module
 */
import { type Cell, decrypt } from "../cell/decrypt.js";
import { encrypt } from "../cell/encrypt.js";
import { isCell } from "../cell/inspect.js";
import {
  AlreadyEncrypted,
  DecryptionFailed,
  InvalidOption,
  isFieldcryptError,
  NotEncrypted,
  TypeMismatch,
  UnsupportedValue,
} from "../errors/index.js";
import { contextBytes, type RowKey } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { type AlgorithmName, MAGIC, TEXT_PREFIX, TYPE_NAMES, type ValueTypeName } from "../internal/format.js";
import type { CellValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";
import { classifyLegacy } from "../legacy/classify.js";
import type { LegacyFormat, LegacyOutput, LegacyRow } from "../legacy/format.js";

/** How a column reads values that are not cells. */
export type ColumnMode =
  /** A stored value that is not a cell is an error (`ERR_NOT_ENCRYPTED`): fail closed. The default. */
  | "strict"
  /** During a migration: a stored value that is not a cell is returned as it is. Writes always encrypt. */
  | "transition";

/** Options of {@link encryptedColumn}. */
export interface EncryptedColumnOptions {
  /** Table name bound into every cell (use the same string everywhere: adapters, jobs, CLI). */
  readonly table: string;
  /** Column name bound into every cell. */
  readonly column: string;
  /** The value type the column holds; writes and reads of another type fail (`ERR_TYPE_MISMATCH`). */
  readonly type?: ValueTypeName | undefined;
  /** `"text"` (default) for `text` columns, `"binary"` for `bytea`. */
  readonly form?: "text" | "binary" | undefined;
  /** `"strict"` (default) or `"transition"`. */
  readonly mode?: ColumnMode | undefined;
  /** `"XAES-256-GCM"` (default) or `"AES-256-GCM"`. */
  readonly algorithm?: AlgorithmName | undefined;
  /**
   * A legacy format the column may still hold (`fieldcrypt/legacy`: Fernet, raw AES-GCM, versioned
   * JSON, cloak) while an `import` job moves it to cells. Reads open a stored value that is not a
   * cell but matches the format with the format's decoder, in either mode; it never passes as
   * plaintext, and one that fails to open fails (`ERR_DECRYPTION_FAILED`). Writes always seal cells.
   */
  readonly legacy?: LegacyFormat | undefined;
  /**
   * How a read treats a cell whose data key was crypto-shredded (`ERR_KEY_DESTROYED`, see
   * `fieldcrypt/key-store`): `"error"` (default) throws it; `"null"` reads the value as `null`, for
   * apps that show erased subjects' fields as empty. Other failures always throw.
   */
  readonly destroyed?: "error" | "null" | undefined;
}

/** What an adapter knows about the row at hand. */
export interface RowContext {
  /** The tenant/subject scope of the row. */
  readonly scope?: string | undefined;
  /** The row's primary key, when the adapter knows it at both write and read time. */
  readonly rowKey?: RowKey | undefined;
}

/** An encrypted column: encrypt values for writes, decrypt stored values for reads. */
export interface EncryptedColumnCodec {
  readonly table: string;
  readonly column: string;
  readonly type: ValueTypeName | undefined;
  readonly form: "text" | "binary";
  readonly algorithm: AlgorithmName;
  readonly mode: ColumnMode;
  /** The legacy format the column may still hold, if any. */
  readonly legacy: LegacyFormat | undefined;
  /** A value to store. `null` stays `null`; a cell is refused (`ERR_ALREADY_ENCRYPTED`). */
  encrypt(value: CellValue | null, row?: RowContext): string | Buffer | null;
  /**
   * A stored value to read. `null` stays `null`; a legacy value opens with the legacy format (which
   * may need other columns of the stored row: `values`); other non-cells per the mode. A cell in a
   * json/jsonb column arrives as the JSON string's value (the driver or the job parses it): the
   * JSON text `"fc1.…"` itself is a second spelling of the cell and is not read as one.
   */
  decrypt(stored: unknown, row?: RowContext, values?: LegacyRow): CellValue | null;
}

function typeOf(value: unknown): ValueTypeName | undefined {
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
      return "number";
    case "bigint":
      return "bigint";
    case "boolean":
      return "boolean";
    case "object":
      if (value instanceof Uint8Array) return "bytes";
      if (value instanceof Date) return "date";
      if (value !== null && (Array.isArray(value) || isPlainObject(value))) return "json";
      return undefined;
    default:
      return undefined;
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True for values that claim to be cells by their first bytes, well-formed or not. */
function looksLikeCell(value: unknown): boolean {
  if (typeof value === "string") return value.startsWith(TEXT_PREFIX);
  return value instanceof Uint8Array && value[0] === MAGIC;
}

/** The value type each legacy output gives. */
const OUTPUT_TYPES: Readonly<Record<LegacyOutput, ValueTypeName>> = { string: "string", bytes: "bytes", json: "json" };

/**
 * A declared value type that the legacy format's output cannot give is refused when the column is
 * made (ERR_INVALID_OPTION), naming the output to set: otherwise every legacy value would fail
 * its row with ERR_TYPE_MISMATCH (a versioned-JSON column declared `type: "json"` reads strings
 * unless the format has `output: "json"`).
 */
function checkLegacyOutput(field: string, type: ValueTypeName | undefined, legacy: LegacyFormat | undefined): void {
  const output = legacy?.output;
  if (type === undefined || output === undefined || OUTPUT_TYPES[output] === type) return;
  const fits = (Object.keys(OUTPUT_TYPES) as LegacyOutput[]).find((o) => OUTPUT_TYPES[o] === type);
  throw new InvalidOption(
    fits === undefined
      ? `${field}: declared ${type}, but a legacy format gives strings, bytes or JSON only`
      : `${field}: declared ${type}, but its legacy format ${legacy?.name} gives ${output === "json" ? "JSON" : output}; set the format's output: "${fits}"`,
  );
}

const VALUE_TYPES: readonly (ValueTypeName | undefined)[] = [undefined, ...TYPE_NAMES];

/**
 * Describes one encrypted column for adapters. Exported from `fieldcrypt/column`.
 *
 * @example
 * ```ts
 * import { encryptedColumn } from "fieldcrypt/column";
 * const note = encryptedColumn(keyring, { table: "clinic_notes", column: "note", type: "string" });
 * const stored = note.encrypt("BP 120/80", { scope: "clinic-7", rowKey: 42 });
 * note.decrypt(stored, { scope: "clinic-7", rowKey: 42 }); // "BP 120/80"
 * ```
 */
export function encryptedColumn(keyring: Keyring, options: EncryptedColumnOptions): EncryptedColumnCodec {
  contextBytes(options.table, "table");
  contextBytes(options.column, "column");
  const { table, column, type } = options;
  const algorithm = options.algorithm ?? "XAES-256-GCM";
  const form = options.form ?? "text";
  const mode = options.mode ?? "strict";
  if (form !== "text" && form !== "binary")
    throw new InvalidOption(`${options.table}.${options.column}: form must be "text" or "binary"`);
  if (mode !== "strict" && mode !== "transition") {
    throw new InvalidOption(`${options.table}.${options.column}: mode must be "strict" or "transition"`);
  }
  if (!VALUE_TYPES.includes(options.type)) {
    throw new InvalidOption(`${options.table}.${options.column}: type must be one of ${TYPE_NAMES.join(", ")}`);
  }
  const field = `${table}.${column}`;
  const cellOptions = { form, algorithm };
  const legacy = options.legacy;
  const destroyed = options.destroyed ?? "error";
  if (destroyed !== "error" && destroyed !== "null") {
    throw new InvalidOption(`${field}: destroyed must be "error" or "null"`);
  }
  if (
    legacy !== undefined &&
    (typeof legacy !== "object" ||
      legacy === null ||
      typeof legacy.matches !== "function" ||
      typeof legacy.decrypt !== "function")
  ) {
    throw new InvalidOption(`${field}: legacy must be a format from fieldcrypt/legacy (e.g. fernetFormat(…))`);
  }
  checkLegacyOutput(field, type, legacy);

  const checkType = (value: unknown): void => {
    if (type === undefined) return;
    const got = typeOf(value);
    if (got !== type) throw new TypeMismatch(field, type, got ?? describeType(value));
  };

  return {
    table,
    column,
    type,
    form,
    algorithm,
    mode,
    legacy,
    encrypt(value, row) {
      if (value === null) return null;
      if (value === undefined) throw new UnsupportedValue(`${field}: cannot encrypt undefined (use null for SQL NULL)`);
      if (isCell(value)) throw new AlreadyEncrypted(field);
      checkType(value);
      return encrypt(keyring, value, { table, column, scope: row?.scope, rowKey: row?.rowKey }, cellOptions);
    },
    decrypt(stored, row, values) {
      if (stored === null || stored === undefined) return null;
      // In transition mode plaintext passes through, but a damaged cell must not pass as plaintext:
      // anything that starts like a cell is decrypted (and fails with its precise error). Neither
      // does a legacy value: it opens with its decoder or fails.
      const cellLike = looksLikeCell(stored);
      // A legacy value may start like a cell (raw AES-GCM starts with the magic byte 1 time in 256):
      // anything cell-like that is not a well-formed cell is offered to the legacy format too.
      const kind = legacy === undefined || (cellLike && isCell(stored)) ? "other" : classifyLegacy(legacy, stored);
      // The format's signature on a value that does not parse (a token cut short): never plaintext.
      if (kind === "unreadable") throw new DecryptionFailed();
      if (kind === "legacy") {
        const value = (legacy as LegacyFormat).decrypt(stored, values) as CellValue;
        checkType(value);
        return value;
      }
      if (!cellLike) {
        if (mode === "transition") return stored as CellValue;
        throw new NotEncrypted(field);
      }
      let value: CellValue;
      try {
        value = decrypt(keyring, stored as Cell, { table, column, scope: row?.scope, rowKey: row?.rowKey });
      } catch (error) {
        if (destroyed === "null" && isFieldcryptError(error, "ERR_KEY_DESTROYED")) return null;
        throw error;
      }
      checkType(value);
      return value;
    },
  };
}
