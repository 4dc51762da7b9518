// Kysely (fieldcrypt/kysely): FieldcryptPlugin seals values(…) rows and decrypts results. It sees
// whole rows, so each cell is bound to table, column, row key (id) and scope column (tenant).
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { FieldcryptPlugin, matchBlindIndex } from "../../packages/fieldcrypt/dist/kysely/index.js";
import { encryptedTable } from "../../packages/fieldcrypt/dist/table/index.js";
import { PGliteDialect } from "./pglite.mjs";
import { BATCH, COLUMNS } from "./shared.mjs";

export async function open(env) {
  const notes = encryptedTable(env.keyring, {
    table: "kysely_notes",
    primaryKey: ["id"],
    scope: { column: "tenant" },
    columns: Object.fromEntries(COLUMNS.map((c) => [c, { type: "string" }])),
  });
  const people = env.people.rowBound;
  const dialect =
    env.pglite !== undefined
      ? new PGliteDialect(env.pglite)
      : new PostgresDialect({ pool: new pg.Pool({ connectionString: env.connectionString, max: 1 }) });
  // The plaintext variant: the same Kysely without the plugin (withPlugin shares the driver).
  const plain = new Kysely({ dialect });
  const db = plain.withPlugin(new FieldcryptPlugin({ tables: [notes, people] }));
  const insertAll = async (k, table, rows) => {
    for (let i = 0; i < rows.length; i += BATCH)
      await k
        .insertInto(table)
        .values(rows.slice(i, i + BATCH))
        .execute();
  };
  return {
    name: "Kysely (fieldcrypt/kysely)",
    binding: "table, column, row key (id), scope column (tenant)",
    plainTable: "kysely_notes_plain",
    encTable: "kysely_notes",
    peopleTable: "people",
    run: (fn) => fn(),
    insertPlain: (rows) => insertAll(plain, "kysely_notes_plain", rows),
    insertEncrypted: (rows) => insertAll(db, "kysely_notes", rows),
    selectPlain: () => plain.selectFrom("kysely_notes_plain").selectAll().execute(),
    selectCells: () => plain.selectFrom("kysely_notes").selectAll().execute(),
    selectEncrypted: () => db.selectFrom("kysely_notes").selectAll().execute(),
    contextOf: (row) => ({ scope: row.tenant, rowKey: row.id }),
    lookupPlain: (email) => plain.selectFrom("people_plain").selectAll().where("email", "=", email).execute(),
    lookupBlind: (email) =>
      db
        .selectFrom("people")
        .selectAll()
        .where(matchBlindIndex(people, "email", email))
        .execute(),
    scan: async (email) => (await db.selectFrom("people").selectAll().execute()).filter((r) => r.email === email),
    close: () => plain.destroy(),
  };
}
