// fieldcrypt/drizzle through the conformance suite: a Drizzle schema with encrypted column types,
// queried the way an app does — drizzle-orm/pglite on PGlite, drizzle-orm/node-postgres on the server.
import { and, asc, eq, relations } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { getTableConfig, type PgDatabase, type PgQueryResultHKT, pgTable, text } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCell } from "../../src/cell/index.js";
import { encryptedColumns } from "../../src/drizzle/index.js";
import type { FieldcryptError } from "../../src/errors/index.js";
import { createKeyring, generateKeyString } from "../../src/keyring/index.js";
import { createScopeContext } from "../../src/scope/index.js";
import { type EncryptedTable, encryptedTable } from "../../src/table/index.js";
import { openTestDb, type TestDb } from "../db.js";
import type { ConformanceDriver, DriverFactory, Patient } from "./conformance.js";
import { conformanceTables, runConformance, SCHEMA_SQL, samplePatient } from "./conformance.js";

/** The app's schema file: Drizzle tables over the shared table configurations. */
function defineSchema(patientsConfig: EncryptedTable, visitsConfig: EncryptedTable) {
  const patientCells = encryptedColumns(patientsConfig);
  const visitCells = encryptedColumns(visitsConfig);
  const patients = pgTable("patients", {
    id: text("id").primaryKey(),
    clinicId: text("clinic_id").notNull(),
    name: patientCells.string("name"),
    email: patientCells.string("email"),
    emailBidx: text("email_bidx"),
    profile: patientCells.json("profile"),
    born: patientCells.date("born"),
    balance: patientCells.bigint("balance"),
    photo: patientCells.bytes("photo"),
    score: patientCells.number("score"),
    active: patientCells.boolean("active"),
  });
  const visits = pgTable("visits", {
    id: text("id").primaryKey(),
    patientId: text("patient_id")
      .notNull()
      .references(() => patients.id, { onDelete: "cascade" }),
    clinicId: text("clinic_id").notNull(),
    summary: visitCells.string("summary"),
  });
  const patientsRelations = relations(patients, ({ many }) => ({ visits: many(visits) }));
  const visitsRelations = relations(visits, ({ one }) => ({
    patient: one(patients, { fields: [visits.patientId], references: [patients.id] }),
  }));
  return { schema: { patients, visits, patientsRelations, visitsRelations }, patientCells };
}

type Schema = ReturnType<typeof defineSchema>["schema"];
type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** drizzle-orm/pglite on PGlite, drizzle-orm/node-postgres (a pg Pool) on the server. */
function connect(db: TestDb, schema: Schema): { orm: Db; close: () => Promise<void> } {
  if (db.pglite !== undefined) return { orm: drizzlePglite({ client: db.pglite, schema }), close: async () => {} };
  const pool = new pg.Pool({ connectionString: db.connectionString, max: 2 });
  return { orm: drizzleNodePg({ client: pool, schema }), close: () => pool.end() };
}

type PatientRow = Schema["patients"]["$inferSelect"];

function toPatient(row: PatientRow): Patient {
  const { clinicId, emailBidx: _index, ...rest } = row;
  return { ...rest, clinic_id: clinicId };
}

const drizzleFactory: DriverFactory = {
  name: "Drizzle (fieldcrypt/drizzle)",
  binding: { rowKey: false, scope: "context" },
  async open(env) {
    const { schema, patientCells } = defineSchema(env.patients, env.visits);
    const { patients, visits } = schema;
    const { orm, close } = connect(env.db, schema);
    const row = ({ clinic_id, ...rest }: Patient) =>
      patientCells.withBlindIndexes(patients, { ...rest, clinicId: clinic_id });
    const driver: ConformanceDriver = {
      async insert(patient) {
        await orm.insert(patients).values(row(patient));
      },
      async insertMany(list) {
        await orm.insert(patients).values(list.map(row));
      },
      async findById(id) {
        const [found] = await orm.select().from(patients).where(eq(patients.id, id));
        return found === undefined ? null : toPatient(found);
      },
      async findByEmail(clinicId, email) {
        const found = await orm
          .select()
          .from(patients)
          .where(and(eq(patients.clinicId, clinicId), patientCells.matchesBlindIndex(patients.email, email)))
          .orderBy(patients.id);
        return found.map(toPatient);
      },
      async update(id, clinicId, patch) {
        await orm
          .update(patients)
          .set(patientCells.withBlindIndexes(patients, patch))
          .where(and(eq(patients.id, id), eq(patients.clinicId, clinicId)));
      },
      async remove(id) {
        await orm.delete(patients).where(eq(patients.id, id));
      },
      async insertVisit({ patient_id, clinic_id, ...rest }) {
        await orm.insert(visits).values({ ...rest, patientId: patient_id, clinicId: clinic_id });
      },
      async findPatientWithVisits(id) {
        const found = await orm.query.patients.findFirst({
          where: eq(patients.id, id),
          with: { visits: { orderBy: [asc(visits.id)] } },
        });
        if (found === undefined) return null;
        const { visits: list, ...patient } = found;
        return {
          ...toPatient(patient),
          visits: list.map(({ patientId, clinicId, ...v }) => ({ ...v, patient_id: patientId, clinic_id: clinicId })),
        };
      },
      close,
    };
    return driver;
  },
};

runConformance(drizzleFactory);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as FieldcryptError).code;
  }
  return undefined;
}

/** What awaiting `query` throws (Drizzle builds the query, and encrypts, inside `then`). */
async function rejectionOf(query: PromiseLike<unknown>): Promise<unknown> {
  try {
    await query;
  } catch (error) {
    return error;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

describe("fieldcrypt/drizzle specifics", () => {
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
  const scopes = createScopeContext();
  const binding = { rowKey: false, scope: "context" } as const;
  const tables = conformanceTables(keyring, "strict", binding, scopes);
  const { schema, patientCells } = defineSchema(tables.patients, tables.visits);
  const { patients } = schema;
  let db: TestDb;
  let orm: Db;
  let close: () => Promise<void>;

  beforeAll(async () => {
    db = await openTestDb();
    for (const statement of SCHEMA_SQL.split(";").filter((s) => s.trim() !== "")) await db.query(statement);
    ({ orm, close } = connect(db, schema));
  });
  afterAll(async () => {
    await close?.();
    await db?.close();
  });

  it("column SQL types come from the configured form: text, or bytea for binary cells", () => {
    const types = Object.fromEntries(getTableConfig(patients).columns.map((c) => [c.name, c.getSQLType()]));
    expect(types).toEqual({
      id: "text",
      clinic_id: "text",
      name: "text",
      email: "text",
      email_bidx: "text",
      profile: "text",
      born: "bytea",
      balance: "text",
      photo: "bytea",
      score: "text",
      active: "text",
    });
  });

  it("refuses a configuration it cannot bind: a row key or a scope column", () => {
    const rowBound = conformanceTables(keyring, "strict", { rowKey: true, scope: "context" }, scopes).patients;
    expect(codeOf(() => encryptedColumns(rowBound))).toBe("ERR_INVALID_OPTION");
    expect(messageOf(() => encryptedColumns(rowBound))).toBe(
      "patients: a Drizzle column type sees one value, not its row, so it cannot bind cells to the primary key (configure the table without primaryKey)",
    );
    const columnScoped = conformanceTables(keyring, "strict", { rowKey: false, scope: "column" }, scopes).patients;
    expect(messageOf(() => encryptedColumns(columnScoped))).toBe(
      "patients: a Drizzle column type cannot read the scope column clinic_id (configure the table with scope: { current } from fieldcrypt/scope)",
    );
  });

  it("refuses a builder for an unknown column or of another declared type", () => {
    expect(codeOf(() => patientCells.string("nickname"))).toBe("ERR_INVALID_OPTION");
    expect(messageOf(() => patientCells.string("nickname"))).toBe(
      "patients.nickname is not an encrypted column of the table",
    );
    expect(codeOf(() => patientCells.string("born"))).toBe("ERR_INVALID_OPTION");
    expect(messageOf(() => patientCells.string("born"))).toBe("patients.born is declared date: build it with .date()");
  });

  it("blind-index helpers: fill on write, refuse other tables and unindexed columns", () => {
    const filled = scopes.run("clinic-7", () => patientCells.withBlindIndexes(patients, { email: "Ada@Example.org " }));
    expect(filled.email).toBe("Ada@Example.org ");
    expect(filled.emailBidx).toBe(
      scopes.run("clinic-7", () => patientCells.searchValues(patients.email, "ada@example.org"))[0],
    );
    expect(patientCells.withBlindIndexes(patients, { email: null })).toEqual({ email: null, emailBidx: null });
    expect(patientCells.withBlindIndexes(patients, { name: "x" })).toEqual({ name: "x" });
    expect(messageOf(() => patientCells.withBlindIndexes(schema.visits, { summary: "x" }))).toBe(
      "the Drizzle table visits is not patients, which these columns encrypt",
    );
    expect(messageOf(() => patientCells.matchesBlindIndex(patients.name, "x"))).toBe(
      "patients.name has no blind index",
    );
    const noIndexColumn = pgTable("patients", { email: patientCells.string("email") });
    expect(messageOf(() => patientCells.matchesBlindIndex(noIndexColumn.email, "x"))).toBe(
      "patients: the Drizzle table has no column email_bidx for the blind index of email",
    );
  });

  it("Drizzle only ever sees cells: built SQL, query errors and where clauses carry no plaintext", async () => {
    const canary = "CANARY-Plaintext-4f1d";
    const patient = samplePatient("clinic-7", { name: canary, email: `${canary}@example.org` });
    await scopes.run("clinic-7", async () => {
      const values = patientCells.withBlindIndexes(patients, { ...patient, clinicId: patient.clinic_id });
      const built = orm.insert(patients).values(values).toSQL();
      expect(JSON.stringify(built)).not.toContain(canary);
      expect(built.params.filter((p) => isCell(p))).toHaveLength(8);
      await orm.insert(patients).values(values);
      // A duplicate key: Drizzle's error prints the SQL and every bound parameter.
      let caught: unknown;
      try {
        await orm.insert(patients).values(values);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(Error);
      expect((caught as Error).message).toContain("params:");
      expect((caught as Error).message).not.toContain(canary);
      // Comparing an encrypted column binds a fresh cell: it never matches, and never leaks.
      const query = orm.select().from(patients).where(eq(patients.name, canary));
      expect(JSON.stringify(query.toSQL())).not.toContain(canary);
      expect(await query).toEqual([]);
      const [found] = await orm
        .select()
        .from(patients)
        .where(patientCells.matchesBlindIndex(patients.email, `${canary}@EXAMPLE.org`));
      expect(found?.name).toBe(canary);
    });
  });

  it("relational queries: a nested row (Drizzle nests it as JSON, bytea as hex) decrypts too", async () => {
    const patient = samplePatient("clinic-9");
    await scopes.run("clinic-9", async () => {
      await orm
        .insert(patients)
        .values(patientCells.withBlindIndexes(patients, { ...patient, clinicId: patient.clinic_id }));
      await orm
        .insert(schema.visits)
        .values({ id: `${patient.id}-v`, patientId: patient.id, clinicId: patient.clinic_id, summary: "nested" });
      const visit = await orm.query.visits.findFirst({
        where: eq(schema.visits.id, `${patient.id}-v`),
        with: { patient: true },
      });
      expect(visit?.summary).toBe("nested");
      expect(visit?.patient.born?.getTime()).toBe(patient.born?.getTime());
      expect(Buffer.from(visit?.patient.photo ?? [])).toEqual(Buffer.from(patient.photo ?? []));
      expect(visit?.patient.balance).toBe(patient.balance);
      expect(visit?.patient.profile).toEqual(patient.profile);
    });
  });

  it("a scoped table refuses to write, read or search outside a scope (ERR_INVALID_CONTEXT)", async () => {
    const patient = samplePatient("clinic-7");
    const values = { ...patient, clinicId: patient.clinic_id };
    const message = "patients: no current scope (run the query, and await it, inside the scope context's run)";
    expect(messageOf(() => patientCells.withBlindIndexes(patients, values))).toBe(message);
    expect(codeOf(() => patientCells.matchesBlindIndex(patients.email, "a@example.org"))).toBe("ERR_INVALID_CONTEXT");
    // The builder returned from run() is lazy: it encrypts when awaited, here outside the scope.
    const { emailBidx } = scopes.run("clinic-7", () => patientCells.withBlindIndexes(patients, values));
    const lazy = scopes.run("clinic-7", () => orm.insert(patients).values({ ...values, emailBidx }));
    expect(await rejectionOf(lazy)).toMatchObject({ code: "ERR_INVALID_CONTEXT", message });
    await scopes.run("clinic-7", async () => {
      await orm.insert(patients).values({ ...values, emailBidx });
    });
    expect(await rejectionOf(orm.select().from(patients).where(eq(patients.id, patient.id)))).toMatchObject({
      code: "ERR_INVALID_CONTEXT",
    });
    const [found] = await scopes.run("clinic-7", async () =>
      orm.select().from(patients).where(eq(patients.id, patient.id)),
    );
    expect(found?.name).toBe(patient.name);
  });

  it("a table without scope binds table and column only", async () => {
    const unscoped = encryptedTable(keyring, { table: "visits", columns: { summary: { type: "string" } } });
    const cells = encryptedColumns(unscoped);
    const visits = pgTable("visits", {
      id: text("id").primaryKey(),
      patientId: text("patient_id").notNull(),
      clinicId: text("clinic_id").notNull(),
      summary: cells.string("summary"),
    });
    const patient = samplePatient("clinic-7");
    await scopes.run("clinic-7", async () => {
      await orm
        .insert(patients)
        .values(patientCells.withBlindIndexes(patients, { ...patient, clinicId: patient.clinic_id }));
    });
    await orm
      .insert(visits)
      .values({ id: `${patient.id}-u`, patientId: patient.id, clinicId: "clinic-7", summary: "unscoped" });
    const [found] = await orm
      .select()
      .from(visits)
      .where(eq(visits.id, `${patient.id}-u`));
    expect(found?.summary).toBe("unscoped");
  });
});
