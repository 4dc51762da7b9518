/**
 * The SQL types a job keeps cells in (normative table: spec/jobs-v1.md §2.1): checked before the
 * first batch, and how cells are read and written in `json`/`jsonb` (a JSON string holding the
 * text cell) and `varchar(n)` (a cell that does not fit fails its row). Not exported.
 */
import type { EncryptedColumnCodec } from "../column/index.js";
import { InvalidOption, ValueTooLarge } from "../errors/index.js";
import {
  AES_256_GCM,
  type AlgorithmName,
  FIXED_HEADER_BYTES,
  TAG_BYTES,
  TEXT_PREFIX,
  XAES_256_GCM,
} from "../internal/format.js";
import { quoteIdentifier as quote } from "../internal/sql-identifier.js";

/** How the job stores the cells of its columns, decided from their SQL types. */
export interface ColumnStorage {
  /** json/jsonb columns (targets and import sources): read as text and parsed, compared as text. */
  readonly json: ReadonlySet<string>;
  /** varchar(n) target columns: the most characters each one holds. */
  readonly maxLength: ReadonlyMap<string, number>;
}

/** A job column as this module needs it (a JobColumn). */
interface StoredColumn {
  readonly name: string;
  readonly column: EncryptedColumnCodec;
  readonly source?: string | undefined;
}

const VARCHAR = /^character varying(?:\((\d+)\))?$/;
const JSON_TYPES = new Set(["json", "jsonb"]);

/**
 * How a column of SQL type `type` (as `format_type` and `readColumnTypes` spell it) holds
 * cells: `"text"` (text, varchar), `"json"` (json, jsonb: a JSON string), `"bytea"` (binary cells),
 * or `undefined` when it cannot hold them. The one rule the jobs and `fieldcrypt status` share.
 * Exported from `fieldcrypt/jobs`.
 */
export function cellStorageOf(type: string): "text" | "json" | "bytea" | undefined {
  if (type === "bytea") return "bytea";
  if (JSON_TYPES.has(type)) return "json";
  return type === "text" || VARCHAR.test(type) ? "text" : undefined;
}

/**
 * Characters of a text cell: `fc1.` and unpadded base64url of header (5 bytes and the key id),
 * nonce (24 bytes XAES-256-GCM, 12 AES-256-GCM), encoded value and 16-byte tag.
 */
export function cellTextLength(valueBytes: number, keyIdBytes: number, algorithm: AlgorithmName): number {
  const nonce = algorithm === "AES-256-GCM" ? AES_256_GCM.nonceBytes : XAES_256_GCM.nonceBytes;
  const bytes = FIXED_HEADER_BYTES + keyIdBytes + nonce + valueBytes + TAG_BYTES;
  return TEXT_PREFIX.length + Math.ceil((bytes * 4) / 3);
}

/**
 * Checks that each target's SQL type can hold its cells (text, varchar, json, jsonb for the text
 * form; bytea for the binary form): the storage, or an InvalidOption naming the column, its type
 * and the migration to take.
 */
export function checkColumnTypes(
  table: string,
  targets: readonly StoredColumn[],
  types: ReadonlyMap<string, string>,
): ColumnStorage {
  const json = new Set<string>();
  const maxLength = new Map<string, number>();
  for (const { name, column, source } of targets) {
    const type = types.get(name) as string;
    const field = `${table}.${name}`;
    const alter = (to: string) => `ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(name)} TYPE ${to}`;
    const storage = cellStorageOf(type);
    if (storage === "bytea") {
      if (column.form !== "binary") {
        throw new InvalidOption(
          `${field} is bytea, which holds binary cells: declare the column with form "binary" (or, while it holds no cells, migrate with ${alter("text")})`,
        );
      }
    } else if (storage !== undefined) {
      if (column.form === "binary") {
        throw new InvalidOption(
          `${field} is ${type}, which holds text cells: declare the column with form "text" (or, while it holds no cells, migrate with ${alter("bytea")})`,
        );
      }
      if (storage === "json") json.add(name);
      const n = VARCHAR.exec(type)?.[1];
      if (n !== undefined) {
        // The shortest cell there is: an empty value under a one-character key id.
        const least = cellTextLength(0, 1, column.algorithm);
        if (Number(n) < least) {
          throw new InvalidOption(
            `${field} is ${type}, too short for any cell (at least ${least} characters, more for longer values): migrate with ${alter("text")}`,
          );
        }
        maxLength.set(name, Number(n));
      }
    } else {
      const to =
        column.form === "binary"
          ? `${alter("bytea")} USING convert_to(${quote(name)}::text, 'UTF8')`
          : `${alter("text")} USING ${quote(name)}::text`;
      throw new InvalidOption(
        `${field} is ${type}, which cannot hold cells (text, varchar, json, jsonb; bytea for form "binary"): migrate with ${to}`,
      );
    }
    if (source !== undefined && cellStorageOf(types.get(source) as string) === "json") json.add(source);
  }
  return { json, maxLength };
}

/** The rows with each json/jsonb column (read as text) parsed: what the transforms see. */
export function parseJsonColumns(
  storage: ColumnStorage,
  rows: readonly Record<string, unknown>[],
): readonly Record<string, unknown>[] {
  if (storage.json.size === 0) return rows;
  return rows.map((row) => {
    const parsed = { ...row };
    for (const name of storage.json) {
      const text = row[name];
      if (typeof text === "string") parsed[name] = JSON.parse(text);
    }
    return parsed;
  });
}

/** A new value in the text form the UPDATE binds: a json/jsonb column gets its JSON text. */
export function storedJson(storage: ColumnStorage, name: string, value: unknown): unknown {
  if (!storage.json.has(name) || value === null || value === undefined) return value;
  return JSON.stringify(value);
}

/** Throws ERR_VALUE_TOO_LARGE, naming the length needed, for a value longer than its varchar(n). */
export function checkFits(storage: ColumnStorage, table: string, name: string, value: unknown): void {
  const max = storage.maxLength.get(name);
  if (max === undefined || typeof value !== "string" || value.length <= max) return;
  throw new ValueTooLarge(
    `${table}.${name}: the new value needs ${value.length} characters, but the column is character varying(${max})`,
  );
}

/** True for a decrypted value a json/jsonb column holds as it is: string, boolean, finite number, JSON. */
export function hasJsonForm(value: unknown): boolean {
  if (typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return Array.isArray(value) || proto === Object.prototype || proto === null;
}
