// TypeORM (fieldcrypt/typeorm): column transformers on EntitySchema columns. A transformer sees one
// value and never its entity, so each cell is bound to table, column and the async context's scope.
import { DataSource, EntitySchema } from "typeorm";
import { encryptedTable } from "../../packages/fieldcrypt/dist/table/index.js";
import { blindIndexIn, encryptedColumnOptions } from "../../packages/fieldcrypt/dist/typeorm/index.js";
import { typeormPgliteDriver } from "./pglite.mjs";
import { BATCH, COLUMNS } from "./shared.mjs";

export async function open(env) {
  const { keyring, scopes } = env;
  const notes = encryptedTable(keyring, {
    table: "typeorm_notes",
    scope: { current: scopes.current },
    columns: Object.fromEntries(COLUMNS.map((c) => [c, { type: "string" }])),
  });
  const people = env.people.context;
  const Note = new EntitySchema({
    name: "Note",
    tableName: "typeorm_notes",
    columns: {
      id: { type: "int", primary: true },
      tenant: { type: "text" },
      ...Object.fromEntries(COLUMNS.map((c) => [c, { ...encryptedColumnOptions(notes, c), nullable: true }])),
    },
  });
  const NotePlain = new EntitySchema({
    name: "NotePlain",
    tableName: "typeorm_notes_plain",
    columns: {
      id: { type: "int", primary: true },
      tenant: { type: "text" },
      ...Object.fromEntries(COLUMNS.map((c) => [c, { type: "text", nullable: true }])),
    },
  });
  // The encrypted table read without the adapter (plain text columns): the cells as they come back.
  const NoteCells = new EntitySchema({
    name: "NoteCells",
    tableName: "typeorm_notes",
    columns: {
      id: { type: "int", primary: true },
      tenant: { type: "text" },
      ...Object.fromEntries(COLUMNS.map((c) => [c, { type: "text", nullable: true }])),
    },
  });
  // people_ctx is filled by the bench with raw SQL, so no blindIndexSubscriber is needed for reads.
  const Person = new EntitySchema({
    name: "Person",
    tableName: "people_ctx",
    columns: {
      id: { type: "int", primary: true },
      email: { ...encryptedColumnOptions(people, "email"), nullable: true },
      email_bidx: { type: "text", nullable: true },
    },
  });
  const PersonPlain = new EntitySchema({
    name: "PersonPlain",
    tableName: "people_plain",
    columns: { id: { type: "int", primary: true }, email: { type: "text", nullable: true } },
  });
  const common = { entities: [Note, NotePlain, NoteCells, Person, PersonPlain], synchronize: false, logging: false };
  const dataSource =
    env.pglite !== undefined
      ? new DataSource({ type: "postgres", driver: typeormPgliteDriver(env.pglite), ...common })
      : new DataSource({ type: "postgres", url: env.connectionString, poolSize: 1, ...common });
  await dataSource.initialize();
  const notesRepo = dataSource.getRepository(Note);
  const plainRepo = dataSource.getRepository(NotePlain);
  const cellsRepo = dataSource.getRepository(NoteCells);
  const personRepo = dataSource.getRepository(Person);
  const personPlainRepo = dataSource.getRepository(PersonPlain);
  const insertAll = async (repo, rows) => {
    for (let i = 0; i < rows.length; i += BATCH) await repo.insert(rows.slice(i, i + BATCH));
  };
  return {
    name: "TypeORM (fieldcrypt/typeorm)",
    binding: "table, column, scope from the async context (no row key)",
    plainTable: "typeorm_notes_plain",
    encTable: "typeorm_notes",
    peopleTable: "people_ctx",
    // Both variants run inside a request scope, as an app's queries would.
    run: (fn) => scopes.run(env.scope, fn),
    insertPlain: (rows) => insertAll(plainRepo, rows),
    insertEncrypted: (rows) => insertAll(notesRepo, rows),
    selectPlain: () => plainRepo.find(),
    selectCells: () => cellsRepo.find(),
    selectEncrypted: () => notesRepo.find(),
    contextOf: () => ({ scope: env.scope }),
    lookupPlain: (email) => personPlainRepo.find({ where: { email } }),
    lookupBlind: (email) => personRepo.find({ where: { email_bidx: blindIndexIn(people, "email", email) } }),
    scan: async (email) => (await personRepo.find()).filter((r) => r.email === email),
    close: () => dataSource.destroy(),
  };
}
