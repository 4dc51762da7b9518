/**
 * The encryption context of a cell and its canonical, length-prefixed encoding in the associated
 * data (spec/cell-format-v1.md §5):
 *
 *   AAD = header ‖ LP(scope) ‖ LP(table) ‖ LP(column) ‖ u8(n) ‖ LP(part_1) ‖ … ‖ LP(part_n)
 *
 * where LP(x) = u32be(byteLength(utf8(x))) ‖ utf8(x), an absent scope is the empty string, and the
 * row key has n = 0 parts when absent. Integer row-key parts are encoded as their decimal string,
 * so `42`, `42n` and `"42"` bind the same row (drivers return int8 keys as strings).
 */
import { InvalidContext } from "../errors/index.js";
import { describeType } from "./describe-type.js";

/** One part of a row key. Numbers must be safe integers. */
export type RowKeyPart = string | number | bigint;
/** A row key: one part, or the parts of a composite primary key in column order. */
export type RowKey = RowKeyPart | readonly RowKeyPart[];

/**
 * Where a cell lives. Every cell is bound to its scope (tenant/subject; absent = no scope), its
 * table and column, and, when given, its row key: a cell moved anywhere else fails to decrypt.
 */
export interface CellContext {
  /** Table name as the app knows it, e.g. `"clinic_notes"` or `"public.clinic_notes"`. */
  readonly table: string;
  /** Column name, e.g. `"body"`. */
  readonly column: string;
  /** Tenant or subject scope, e.g. a tenant id. Absent means the cell has no scope. */
  readonly scope?: string | undefined;
  /** The row's primary key, when the integration knows it at write and read time. */
  readonly rowKey?: RowKey | undefined;
}

export const MAX_CONTEXT_BYTES = 1024;
export const MAX_ROW_KEY_PARTS = 16;

/** Validates a context string and returns its UTF-8 bytes. */
export function contextBytes(value: unknown, name: string): Buffer {
  if (typeof value !== "string" || value.length === 0) {
    const got = value === "" ? "an empty string" : describeType(value);
    throw new InvalidContext(`context.${name} must be a non-empty string (got ${got})`);
  }
  if (!value.isWellFormed()) throw new InvalidContext(`context.${name} is not well-formed UTF-16 (lone surrogate)`);
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > MAX_CONTEXT_BYTES) {
    throw new InvalidContext(`context.${name} must be at most ${MAX_CONTEXT_BYTES} UTF-8 bytes (got ${bytes.length})`);
  }
  return bytes;
}

/** LP(x) for each buffer, concatenated. */
export function lengthPrefixed(parts: readonly Buffer[]): Buffer {
  let total = 0;
  for (const p of parts) total += 4 + p.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const p of parts) {
    out.writeUInt32BE(p.length, o);
    p.copy(out, o + 4);
    o += 4 + p.length;
  }
  return out;
}

function rowKeyPartBytes(part: unknown, index: number): Buffer {
  if (typeof part === "string") return contextBytes(part, `rowKey[${index}]`);
  if (typeof part === "bigint") {
    const digits = Buffer.from(part.toString(), "latin1");
    if (digits.length > MAX_CONTEXT_BYTES) {
      throw new InvalidContext(
        `context.rowKey[${index}] must be at most ${MAX_CONTEXT_BYTES} UTF-8 bytes (got ${digits.length})`,
      );
    }
    return digits;
  }
  if (typeof part === "number" && Number.isSafeInteger(part)) return Buffer.from(String(part), "latin1");
  throw new InvalidContext(
    `context.rowKey[${index}] must be a string, a bigint or a safe integer (got ${describeType(part)})`,
  );
}

/** u8(n) ‖ LP(part_1) ‖ … ‖ LP(part_n) for a row key (n = 0 when absent). */
export function encodeRowKey(rowKey: unknown): Buffer {
  if (rowKey === undefined) return Buffer.of(0);
  const parts = Array.isArray(rowKey) ? (rowKey as unknown[]) : [rowKey];
  if (parts.length === 0 || parts.length > MAX_ROW_KEY_PARTS) {
    throw new InvalidContext(`context.rowKey must have 1-${MAX_ROW_KEY_PARTS} parts (got ${parts.length})`);
  }
  const body = lengthPrefixed(parts.map(rowKeyPartBytes));
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = parts.length;
  body.copy(out, 1);
  return out;
}

/** Checks that `context` is an object before its fields are read. */
export function assertContextObject(context: unknown): asserts context is CellContext {
  if (typeof context !== "object" || context === null) {
    throw new InvalidContext(
      `context must be an object { table, column, scope?, rowKey? } (got ${describeType(context)})`,
    );
  }
}

/**
 * Validates a whole context (§5 of the spec). The per-cell path validates lazily, on cache misses;
 * this runs when encrypting fails for another reason, so that an invalid context is reported first.
 */
export function validateContext(context: CellContext): void {
  contextBytes(context.table, "table");
  contextBytes(context.column, "column");
  if (context.scope !== undefined) contextBytes(context.scope, "scope");
  encodeRowKey(context.rowKey);
}
