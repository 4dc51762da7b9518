import { type CellContext, decrypt, encrypt, isCell } from "fieldcrypt/cell";
import { isFieldcryptError } from "fieldcrypt/errors";
import type { Keyring } from "fieldcrypt/keyring";
import type { Db } from "./db.js";
import type { DemoRow, DemoTable } from "./sample-tables.js";

/** A column name as SQL; the demo's names are constants, checked anyway. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new RangeError("demo identifiers are lower-case SQL names");
  return `"${name}"`;
}

function columnsOf(table: DemoTable): string[] {
  return ["id", table.scopeColumn, ...table.plainColumns, ...table.encryptedColumns];
}

/** The context a cell of `table.column` in `row` is bound to: tenant scope, table, column, row id. */
export function cellContext(table: DemoTable, row: DemoRow, column: string): CellContext {
  return { scope: String(row[table.scopeColumn]), table: table.name, column, rowKey: row.id };
}

/** Creates the table and inserts its sample rows in plaintext, as the app has them today. */
export async function createTable(db: Db, table: DemoTable): Promise<void> {
  const columns = columnsOf(table);
  const defs = columns.map((c) => (c === "id" ? `${ident(c)} integer PRIMARY KEY` : `${ident(c)} text NOT NULL`));
  await db.exec(`CREATE TABLE ${ident(table.name)} (${defs.join(", ")})`);
  const placeholders = columns.map((_, i) => `$${i + 1}`).join(", ");
  for (const row of table.rows) {
    await db.query(
      `INSERT INTO ${ident(table.name)} (${columns.map(ident).join(", ")}) VALUES (${placeholders})`,
      columns.map((c) => row[c]),
    );
  }
}

/** Every row as stored, by id. */
export async function readRows(db: Db, table: DemoTable): Promise<DemoRow[]> {
  return db.query<DemoRow>(`SELECT * FROM ${ident(table.name)} ORDER BY id`);
}

/**
 * Encrypts the table's sensitive columns in place and returns how many cells it wrote. Values that
 * are already cells are left alone, and each UPDATE only applies if the row still holds what was
 * read (compare-and-swap), so a concurrent write by the app is never overwritten.
 */
export async function encryptTable(db: Db, keyring: Keyring, table: DemoTable): Promise<number> {
  let written = 0;
  for (const row of await readRows(db, table)) {
    const columns = table.encryptedColumns.filter((c) => typeof row[c] === "string" && !isCell(row[c]));
    if (columns.length === 0) continue;
    const cells = columns.map((c) => encrypt(keyring, row[c] as string, cellContext(table, row, c)));
    const sets = columns.map((c, i) => `${ident(c)} = $${i + 2}`);
    const checks = columns.map((c, i) => `${ident(c)} = $${i + 2 + columns.length}`);
    const updated = await db.query(
      `UPDATE ${ident(table.name)} SET ${sets.join(", ")} WHERE id = $1 AND ${checks.join(" AND ")} RETURNING id`,
      [row.id, ...cells, ...columns.map((c) => row[c])],
    );
    if (updated.length === 1) written += columns.length;
  }
  return written;
}

/** What the app reads from one cell: its value, or the error code it failed with. */
export type ReadResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Decrypts one stored cell the way the app would read it. */
export function readCell(keyring: Keyring, table: DemoTable, row: DemoRow, column: string): ReadResult {
  try {
    return { ok: true, value: String(decrypt(keyring, String(row[column]), cellContext(table, row, column))) };
  } catch (error) {
    if (isFieldcryptError(error)) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}
