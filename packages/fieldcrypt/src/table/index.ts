/**
 * The encrypted columns of one table, and how a row supplies each cell's context:
 * `fieldcrypt/table`. The one configuration that ORM adapters, jobs and the CLI share.
 *
 * @module
 */
import { type BlindIndex, type BlindIndexOptions, createBlindIndex } from "../blind-index/index.js";
import {
  type EncryptedColumnCodec,
  type EncryptedColumnOptions,
  encryptedColumn,
  type RowContext,
} from "../column/index.js";
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { RowKeyPart } from "../internal/context.js";
import { contextBytes } from "../internal/context.js";
import type { CellValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";

/** Where the scope (tenant/subject) of a row comes from. */
export type ScopeSource =
  /** A column of the same row, e.g. `{ column: "clinic_id" }`; reads must select it. */
  | { readonly column: string }
  /** The caller's context, e.g. `{ current: tenants.current }` from `fieldcrypt/scope`. */
  | { readonly current: () => string | undefined };

/** One encrypted column of a table. */
export interface TableColumnOptions extends Omit<EncryptedColumnOptions, "table" | "column"> {
  /** A blind index for equality search, kept in its own column (text, with a btree index). */
  readonly blindIndex?: (Omit<BlindIndexOptions, "table" | "column"> & { readonly column: string }) | undefined;
}

/** Options of {@link encryptedTable}. */
export interface EncryptedTableOptions {
  /** Table name bound into every cell. */
  readonly table: string;
  /**
   * Primary-key columns, in order. When given, every cell is bound to its row: writes must carry
   * these columns (generate keys in the app, e.g. UUIDs) and reads must select them.
   */
  readonly primaryKey?: readonly string[] | undefined;
  /** Where each row's scope comes from; absent: cells have no scope. */
  readonly scope?: ScopeSource | undefined;
  /** The encrypted columns, by column name. */
  readonly columns: Readonly<Record<string, TableColumnOptions>>;
}

/** A table's encrypted columns, ready for adapters. */
export interface EncryptedTable {
  readonly table: string;
  /** The keyring the table was described with (redacts itself when printed). */
  readonly keyring: Keyring;
  /** The options the table was described from (plain data but for custom normalizers and legacy formats). */
  readonly options: EncryptedTableOptions;
  readonly primaryKey: readonly string[] | undefined;
  readonly scope: ScopeSource | undefined;
  /** The encrypted columns, by column name. */
  readonly columns: ReadonlyMap<string, EncryptedColumnCodec>;
  /** Blind indexes by encrypted column name, with the name of the column that stores each. */
  readonly blindIndexes: ReadonlyMap<string, { readonly column: string; readonly index: BlindIndex }>;
  /**
   * A copy of `row` for writing: declared columns present in it are encrypted, and their blind-index
   * columns filled. Other columns pass through. `undefined` columns are left out of the copy's work.
   */
  encryptRow<T extends Record<string, unknown>>(row: T, context?: { readonly scope?: string | undefined }): T;
  /** A copy of a stored `row` with its declared columns decrypted. */
  decryptRow<T extends Record<string, unknown>>(row: T, context?: { readonly scope?: string | undefined }): T;
  /** The row's cell context, from its scope column or the caller, and its primary-key columns. */
  rowContext(row: Record<string, unknown>, context?: { readonly scope?: string | undefined }): RowContext;
  /** Values to match in the blind-index column of `column` (every live key version). */
  searchValues(column: string, value: string, context?: { readonly scope?: string | undefined }): string[];
}

/**
 * Describes a table's encrypted columns. Exported from `fieldcrypt/table`.
 *
 * @example
 * ```ts
 * import { encryptedTable } from "fieldcrypt/table";
 * export const patients = encryptedTable(keyring, {
 *   table: "patients", primaryKey: ["id"], scope: { column: "clinic_id" },
 *   columns: {
 *     name: { type: "string" },
 *     email: { type: "string", blindIndex: { column: "email_bidx", normalize: ["trim", "lowercase", "nfc"] } },
 *   },
 * });
 * ```
 */
export function encryptedTable(keyring: Keyring, options: EncryptedTableOptions): EncryptedTable {
  const table = options.table;
  contextBytes(table, "table");
  const columns = new Map<string, EncryptedColumnCodec>();
  const blindIndexes = new Map<string, { column: string; index: BlindIndex }>();
  for (const [name, spec] of Object.entries(options.columns)) {
    const { blindIndex, ...columnOptions } = spec;
    columns.set(name, encryptedColumn(keyring, { ...columnOptions, table, column: name }));
    if (blindIndex !== undefined) {
      const { column: indexColumn, ...indexOptions } = blindIndex;
      if (options.columns[indexColumn] !== undefined) {
        throw new InvalidOption(`${table}.${indexColumn} cannot be both encrypted and a blind index`);
      }
      blindIndexes.set(name, {
        column: indexColumn,
        index: createBlindIndex(keyring, { ...indexOptions, table, column: name }),
      });
    }
  }
  const primaryKey = options.primaryKey;
  const scopeSource = options.scope;

  const scopeOf = (
    row: Record<string, unknown>,
    context?: { readonly scope?: string | undefined },
  ): string | undefined => {
    if (context?.scope !== undefined) return context.scope;
    if (scopeSource === undefined) return undefined;
    // A table that has a scope never writes or reads an unscoped cell: that cell would open for
    // every tenant. Missing scopes fail closed.
    if ("current" in scopeSource) {
      const current = scopeSource.current();
      if (current === undefined) {
        throw new InvalidContext(`${table}: no current scope (run inside scopes.run(tenant, …) or pass a scope)`);
      }
      return current;
    }
    const value = row[scopeSource.column];
    if (value === undefined || value === null) {
      throw new InvalidContext(
        `${table}: the row lacks its scope column ${scopeSource.column} (select it, or pass a scope)`,
      );
    }
    return String(value);
  };

  const rowContext = (row: Record<string, unknown>, context?: { readonly scope?: string | undefined }): RowContext => {
    const scope = scopeOf(row, context);
    if (primaryKey === undefined) return { scope };
    const parts = primaryKey.map((name) => {
      const part = row[name];
      if (part === undefined || part === null) {
        throw new InvalidContext(`${table}: the row lacks primary-key column ${name}, which its cells are bound to`);
      }
      return (part instanceof Date ? part.toISOString() : part) as RowKeyPart;
    });
    return { scope, rowKey: parts.length === 1 ? parts[0] : parts };
  };

  const described: EncryptedTable = {
    table,
    primaryKey,
    scope: scopeSource,
    columns,
    keyring,
    options,
    blindIndexes,
    rowContext,
    encryptRow(row, context) {
      const out: Record<string, unknown> = { ...row };
      let ctx: RowContext | undefined;
      for (const [name, column] of columns) {
        const value = row[name];
        if (value === undefined) continue;
        ctx ??= rowContext(row, context);
        out[name] = column.encrypt(value as CellValue | null, ctx);
        const bidx = blindIndexes.get(name);
        if (bidx !== undefined) {
          out[bidx.column] = value === null ? null : bidx.index.compute(value as string, ctx.scope);
        }
      }
      return out as typeof row;
    },
    decryptRow(row, context) {
      const out: Record<string, unknown> = { ...row };
      let ctx: RowContext | undefined;
      for (const [name, column] of columns) {
        const stored = row[name];
        if (stored === undefined) continue;
        ctx ??= rowContext(row, context);
        out[name] = column.decrypt(stored, ctx, row);
      }
      return out as typeof row;
    },
    searchValues(column, value, context) {
      const bidx = blindIndexes.get(column);
      if (bidx === undefined) throw new InvalidOption(`${table}.${column} has no blind index`);
      if (scopeSource !== undefined && context?.scope === undefined && !("current" in scopeSource)) {
        throw new InvalidContext(`${table}: searching ${column} needs the row's scope (pass { scope })`);
      }
      return bidx.index.candidates(value, scopeOf({}, context));
    },
  };
  return described;
}
