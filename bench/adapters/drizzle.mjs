// Drizzle ORM (fieldcrypt/drizzle): encrypted customType columns. A column type sees one value and
// never its row, so each cell is bound to table, column and the scope of the async context.
import { eq } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { integer, pgTable, text } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";
import { encryptedColumns } from "../../packages/fieldcrypt/dist/drizzle/index.js";
import { encryptedTable } from "../../packages/fieldcrypt/dist/table/index.js";
import { BATCH, COLUMNS } from "./shared.mjs";

export async function open(env) {
  const { keyring, scopes } = env;
  const cells = encryptedColumns(
    encryptedTable(keyring, {
      table: "drizzle_notes",
      scope: { current: scopes.current },
      columns: Object.fromEntries(COLUMNS.map((c) => [c, { type: "string" }])),
    }),
  );
  const notes = pgTable("drizzle_notes", {
    id: integer("id").primaryKey(),
    tenant: text("tenant").notNull(),
    title: cells.string("title"),
    body: cells.string("body"),
    author: cells.string("author"),
  });
  const notesPlain = pgTable("drizzle_notes_plain", {
    id: integer("id").primaryKey(),
    tenant: text("tenant").notNull(),
    title: text("title"),
    body: text("body"),
    author: text("author"),
  });
  // The encrypted table read without the adapter (plain text columns): the cells as they come back.
  const notesCells = pgTable("drizzle_notes", {
    id: integer("id").primaryKey(),
    tenant: text("tenant").notNull(),
    title: text("title"),
    body: text("body"),
    author: text("author"),
  });
  const personCells = encryptedColumns(env.people.context);
  const people = pgTable("people_ctx", {
    id: integer("id").primaryKey(),
    email: personCells.string("email"),
    emailBidx: text("email_bidx"),
  });
  const peoplePlain = pgTable("people_plain", { id: integer("id").primaryKey(), email: text("email") });

  let orm;
  let close = async () => {};
  if (env.pglite !== undefined) orm = drizzlePglite({ client: env.pglite });
  else {
    const pool = new pg.Pool({ connectionString: env.connectionString, max: 1 });
    orm = drizzleNodePg({ client: pool });
    close = () => pool.end();
  }
  const insertAll = async (table, rows) => {
    for (let i = 0; i < rows.length; i += BATCH) await orm.insert(table).values(rows.slice(i, i + BATCH));
  };
  return {
    name: "Drizzle (fieldcrypt/drizzle)",
    binding: "table, column, scope from the async context (no row key)",
    plainTable: "drizzle_notes_plain",
    encTable: "drizzle_notes",
    peopleTable: "people_ctx",
    // Both variants run inside a request scope, as an app's queries would.
    run: (fn) => scopes.run(env.scope, fn),
    insertPlain: (rows) => insertAll(notesPlain, rows),
    insertEncrypted: (rows) => insertAll(notes, rows),
    selectPlain: () => orm.select().from(notesPlain),
    selectCells: () => orm.select().from(notesCells),
    selectEncrypted: () => orm.select().from(notes),
    contextOf: () => ({ scope: env.scope }),
    lookupPlain: (email) => orm.select().from(peoplePlain).where(eq(peoplePlain.email, email)),
    lookupBlind: (email) => orm.select().from(people).where(personCells.matchesBlindIndex(people.email, email)),
    scan: async (email) => (await orm.select().from(people)).filter((r) => r.email === email),
    close,
  };
}
