// node-postgres helpers (fieldcrypt/pg): hand-written SQL, rows sealed with the table configuration
// and opened with decryptRows. Every cell is bound to its row (primary key) and its scope column.
import { decryptRows } from "../../packages/fieldcrypt/dist/pg/index.js";
import { encryptedTable } from "../../packages/fieldcrypt/dist/table/index.js";
import { BATCH, COLUMNS } from "./shared.mjs";

/** Multi-row INSERT, BATCH rows per statement: the same statements for both variants. */
export async function insertAll(db, table, rows) {
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const columns = Object.keys(batch[0]);
    const values = [];
    const tuples = batch.map((_, r) => `(${columns.map((_c, k) => `$${r * columns.length + k + 1}`).join(", ")})`);
    for (const row of batch) for (const c of columns) values.push(row[c]);
    await db.query(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`, values);
  }
}

export async function open(env) {
  const { db, keyring } = env;
  const notes = encryptedTable(keyring, {
    table: "pg_notes",
    primaryKey: ["id"],
    scope: { column: "tenant" },
    columns: Object.fromEntries(COLUMNS.map((c) => [c, { type: "string" }])),
  });
  const people = env.people.rowBound;
  return {
    name: "node-postgres (fieldcrypt/pg)",
    binding: "table, column, row key (id), scope column (tenant)",
    plainTable: "pg_notes_plain",
    encTable: "pg_notes",
    peopleTable: "people",
    run: (fn) => fn(),
    insertPlain: (rows) => insertAll(db, "pg_notes_plain", rows),
    insertEncrypted: (rows) =>
      insertAll(
        db,
        "pg_notes",
        rows.map((row) => notes.encryptRow(row)),
      ),
    selectPlain: async () => (await db.query("SELECT * FROM pg_notes_plain")).rows,
    selectCells: async () => (await db.query("SELECT * FROM pg_notes")).rows,
    selectEncrypted: async () => decryptRows(notes, (await db.query("SELECT * FROM pg_notes")).rows),
    contextOf: (row) => ({ scope: row.tenant, rowKey: row.id }),
    lookupPlain: async (email) => (await db.query("SELECT * FROM people_plain WHERE email = $1", [email])).rows,
    lookupBlind: async (email) =>
      decryptRows(
        people,
        (
          await db.query("SELECT * FROM people WHERE email_bidx = ANY($1::text[])", [
            people.searchValues("email", email),
          ])
        ).rows,
      ),
    scan: async (email) =>
      decryptRows(people, (await db.query("SELECT * FROM people")).rows).filter((r) => r.email === email),
    close: async () => {},
  };
}
