// fieldcrypt/kysely through the conformance suite, and what the plugin refuses. Kysely runs on
// PGlite through a test dialect, or on the server through Kysely's PostgresDialect over a pg Pool.
import { type ColumnType, type Generated, Kysely, type LogEvent, PostgresDialect } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFieldcryptError } from "../../src/errors/index.js";
import { createKeyring, generateKeyString } from "../../src/keyring/index.js";
import { FieldcryptPlugin, matchBlindIndex } from "../../src/kysely/index.js";
import { createScopeContext } from "../../src/scope/index.js";
import type { EncryptedTable } from "../../src/table/index.js";
import { openTestDb, type TestDb } from "../db.js";
import type { ConformanceDriver, DriverFactory, Patient, Visit } from "./conformance.js";
import { conformanceTables, runConformance, SCHEMA_SQL, samplePatient } from "./conformance.js";
import { PGliteDialect } from "./kysely-pglite-dialect.js";

// The app's view of its tables: plaintext types; the plugin stores cells and fills email_bidx.
interface PatientsTable {
  id: string;
  clinic_id: string;
  name: string | null;
  email: string | null;
  email_bidx: Generated<string | null>;
  profile: ColumnType<Patient["profile"]>;
  born: Date | null;
  balance: bigint | null;
  photo: Uint8Array | null;
  score: number | null;
  active: boolean | null;
}
interface VisitsTable {
  id: string;
  patient_id: string;
  clinic_id: string;
  summary: string | null;
}
interface Database {
  patients: PatientsTable;
  visits: VisitsTable;
}

function openKysely(db: TestDb, tables: readonly EncryptedTable[], log?: (event: LogEvent) => void): Kysely<Database> {
  const dialect =
    db.pglite !== undefined
      ? new PGliteDialect(db.pglite)
      : new PostgresDialect({ pool: new pg.Pool({ connectionString: db.connectionString, max: 2 }) });
  return new Kysely<Database>({
    dialect,
    plugins: [new FieldcryptPlugin({ tables })],
    ...(log === undefined ? {} : { log }),
  });
}

/** The conformance operations, written with Kysely as an app would. */
function kyselyDriver(db: Kysely<Database>, patients: EncryptedTable): ConformanceDriver {
  return {
    async insert(patient) {
      await db.insertInto("patients").values(patient).execute();
    },
    async insertMany(list) {
      await db.insertInto("patients").values(list).execute();
    },
    async findById(id) {
      const row = await db.selectFrom("patients").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : toPatient(row);
    },
    async findByEmail(clinicId, email) {
      const rows = await db
        .selectFrom("patients")
        .selectAll()
        .where("clinic_id", "=", clinicId)
        .where(matchBlindIndex(patients, "email", email, { scope: clinicId }))
        .orderBy("id")
        .execute();
      return rows.map(toPatient);
    },
    async update(id, clinicId, patch) {
      await db.updateTable("patients").set(patch).where("id", "=", id).where("clinic_id", "=", clinicId).execute();
    },
    async remove(id) {
      await db.deleteFrom("patients").where("id", "=", id).execute();
    },
    async insertVisit(visit) {
      await db.insertInto("visits").values(visit).execute();
    },
    async findPatientWithVisits(id) {
      // Kysely has no relations: one join, each visit's key and clinic aliased next to its summary.
      const rows = await db
        .selectFrom("patients")
        .leftJoin("visits", "visits.patient_id", "patients.id")
        .selectAll("patients")
        .select(["visits.id as visit_id", "visits.clinic_id as visit_clinic_id", "visits.summary"])
        .where("patients.id", "=", id)
        .orderBy("visits.id")
        .execute();
      const first = rows[0];
      if (first === undefined) return null;
      const { visit_id: _v, visit_clinic_id: _c, summary: _s, ...patient } = first;
      const visits: Visit[] = rows.flatMap((row) =>
        row.visit_id === null || row.visit_clinic_id === null
          ? []
          : [{ id: row.visit_id, patient_id: id, clinic_id: row.visit_clinic_id, summary: row.summary }],
      );
      return { ...toPatient(patient), visits };
    },
    close: () => db.destroy(),
  };
}

/** Rows come back with the types PatientsTable declares; bytea may be a Buffer or a Uint8Array. */
function toPatient(row: Patient & { email_bidx: string | null }): Patient {
  const { email_bidx: _bidx, ...patient } = row;
  return patient;
}

const kyselyFactory: DriverFactory = {
  name: "Kysely (fieldcrypt/kysely)",
  binding: { rowKey: true, scope: "column" },
  async open({ db, patients, visits }) {
    return kyselyDriver(openKysely(db, [patients, visits]), patients);
  },
};

runConformance(kyselyFactory);

// The plugin binds from the context too, when the tables take their scope from it.
runConformance({ ...kyselyFactory, name: "Kysely, scope from context", binding: { rowKey: false, scope: "context" } });

async function caught(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isFieldcryptError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a fieldcrypt error");
}

describe(`fieldcrypt/kysely specifics (${process.env.DATABASE_URL ? "PostgreSQL server" : "PGlite"})`, () => {
  let testDb: TestDb;
  let db: Kysely<Database>;
  let patients: EncryptedTable;
  const logged: string[] = [];
  const scopes = createScopeContext();
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);

  beforeAll(async () => {
    testDb = await openTestDb();
    for (const statement of SCHEMA_SQL.split(";").filter((s) => s.trim() !== "")) await testDb.query(statement);
    const tables = conformanceTables(keyring, "strict", { rowKey: true, scope: "column" }, scopes);
    patients = tables.patients;
    db = openKysely(testDb, [tables.patients, tables.visits], (event) => {
      logged.push(JSON.stringify([event.query.sql, event.query.parameters], (_k, v) => String(v)));
    });
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.close();
  });

  const raw = async (id: string) => (await testDb.query("SELECT * FROM patients WHERE id = $1", [id]))[0];

  it("the driver only sees cells and blind-index values", async () => {
    logged.length = 0;
    const p = samplePatient("clinic-7", { name: "Canary Name 7d1e", email: "canary.7d1e@example.org" });
    await db.insertInto("patients").values(p).execute();
    await db
      .updateTable("patients")
      .set({ name: "Canary Renamed 7d1e" })
      .where("id", "=", p.id)
      .where("clinic_id", "=", p.clinic_id)
      .execute();
    await db
      .selectFrom("patients")
      .selectAll()
      .where(matchBlindIndex(patients, "email", "canary.7d1e@example.org", { scope: "clinic-7" }))
      .execute();
    expect(logged).toHaveLength(3);
    for (const line of logged) expect(line).not.toMatch(/Canary|canary|NOTE-/);
  });

  it("returning() comes back decrypted", async () => {
    const p = samplePatient("clinic-7");
    const inserted = await db.insertInto("patients").values(p).returningAll().executeTakeFirstOrThrow();
    expect(inserted.name).toBe(p.name);
    expect(inserted.email_bidx).toMatch(/^bi1:v1:/);
    const updated = await db
      .updateTable("patients")
      .set({ email: "returned@example.org" })
      .where("id", "=", p.id)
      .where("clinic_id", "=", p.clinic_id)
      .returning(["id", "clinic_id", "email", "email_bidx"])
      .executeTakeFirstOrThrow();
    expect(updated.email).toBe("returned@example.org");
    const deleted = await db.deleteFrom("patients").where("id", "=", p.id).returningAll().executeTakeFirstOrThrow();
    expect(deleted.score).toBe(p.score);
  });

  it("multi-row inserts with missing columns: defaults stay defaults, blind indexes follow", async () => {
    const a = samplePatient("clinic-7");
    const b = samplePatient("clinic-7");
    const { email: _e, ...bWithoutEmail } = b;
    await db.insertInto("patients").values([a, bWithoutEmail]).execute();
    expect((await raw(a.id))?.email_bidx).toMatch(/^bi1:/);
    expect((await raw(b.id))?.email).toBeNull();
    expect((await raw(b.id))?.email_bidx).toBeNull();
    const found = await db.selectFrom("patients").selectAll().where("id", "in", [a.id, b.id]).orderBy("id").execute();
    expect(found.map((r) => r.name).sort()).toEqual([a.name, b.name].sort());
  });

  it("a data-modifying CTE is sealed too", async () => {
    const p = samplePatient("clinic-7");
    await db
      .with("inserted", (qc) => qc.insertInto("patients").values(p).returning("id"))
      .selectFrom("inserted")
      .select("id")
      .execute();
    expect(String((await raw(p.id))?.name).startsWith("fc1.")).toBe(true);
    // Built with `db`, the inner insert passes through the plugins twice: sealed once.
    const q = samplePatient("clinic-7");
    await db
      .with("inserted", () => db.insertInto("patients").values(q).returning("id"))
      .selectFrom("inserted")
      .select("id")
      .execute();
    const row = await db.selectFrom("patients").selectAll().where("id", "=", q.id).executeTakeFirstOrThrow();
    expect(row.name).toBe(q.name);
  });

  it("moving a row to another clinic re-encrypts every column, or is refused", async () => {
    const p = samplePatient("clinic-7");
    await db.insertInto("patients").values(p).execute();
    expect(
      await caught(
        db
          .updateTable("patients")
          .set({ clinic_id: "clinic-9" })
          .where("id", "=", p.id)
          .where("clinic_id", "=", "clinic-7")
          .execute(),
      ),
    ).toEqual({
      code: "ERR_INVALID_OPTION",
      message:
        "patients: changing clinic_id re-binds the row's cells; set every encrypted column (name, email, profile, born, balance, photo, score, active) in the same update",
    });
    const { id: _id, ...all } = p;
    await db
      .updateTable("patients")
      .set({ ...all, clinic_id: "clinic-9" })
      .where("id", "=", p.id)
      .execute();
    const moved = await db.selectFrom("patients").selectAll().where("id", "=", p.id).executeTakeFirstOrThrow();
    expect(moved.clinic_id).toBe("clinic-9");
    expect(moved.name).toBe(p.name);
  });

  it.each([
    {
      what: "an update that does not pin the row's key and clinic",
      run: () => db.updateTable("patients").set({ name: "x" }).where("email_bidx", "is", null).execute(),
      code: "ERR_INVALID_CONTEXT",
      message:
        "patients: an update of encrypted columns must address its row with id = value and clinic_id = value in WHERE (its cells are bound to them)",
    },
    {
      what: "an update pinned only inside an OR",
      run: () =>
        db
          .updateTable("patients")
          .set({ name: "x" })
          .where((eb) => eb.or([eb("id", "=", "a"), eb("clinic_id", "=", "clinic-7")]))
          .execute(),
      code: "ERR_INVALID_CONTEXT",
      message:
        "patients: an update of encrypted columns must address its row with id = value and clinic_id = value in WHERE (its cells are bound to them)",
    },
    {
      what: "comparing an encrypted column with a value",
      run: () => db.selectFrom("patients").selectAll().where("email", "=", "ada@example.org").execute(),
      code: "ERR_INVALID_OPTION",
      message: "patients.email is encrypted: a query cannot compare it with a plaintext value (search its blind index)",
    },
    {
      what: "an IN list on an encrypted column, qualified",
      run: () => db.selectFrom("patients as p").select("p.id").where("p.name", "in", ["Ada", "Grace"]).execute(),
      code: "ERR_INVALID_OPTION",
      message: "patients.name is encrypted: a query cannot compare it with a plaintext value (search its blind index)",
    },
    {
      what: "comparing the blind-index column with plaintext",
      run: () => db.selectFrom("patients").select("id").where("email_bidx", "=", "ada@example.org").execute(),
      code: "ERR_INVALID_OPTION",
      message: "patients.email_bidx holds blind-index values: compare it with matchBlindIndex(), not a plaintext value",
    },
    {
      what: "selecting encrypted columns without the key they are bound to",
      run: () => db.selectFrom("patients").select(["name", "clinic_id"]).execute(),
      code: "ERR_INVALID_CONTEXT",
      message: "patients: select id with its encrypted columns (its cells are bound to them)",
    },
    {
      what: "select * over a join",
      run: () =>
        db.selectFrom("patients").innerJoin("visits", "visits.patient_id", "patients.id").selectAll().execute(),
      code: "ERR_INVALID_OPTION",
      message:
        "patients: select * over a join returns columns of the same name from several tables; select patients.* and name the other columns",
    },
    {
      what: "two result columns of the same name",
      run: () =>
        db
          .selectFrom("patients")
          .innerJoin("visits", "visits.patient_id", "patients.id")
          .selectAll("patients")
          .select("visits.id")
          .execute(),
      code: "ERR_INVALID_OPTION",
      message:
        "two selected columns are both named id, and one of them is encrypted or bound to cells; alias one of them",
    },
    {
      what: "a union over encrypted columns",
      run: () =>
        db
          .selectFrom("patients")
          .selectAll()
          .union((eb) => eb.selectFrom("patients").selectAll())
          .execute(),
      code: "ERR_INVALID_OPTION",
      message: "union, intersect and except over encrypted columns are not supported; run the queries separately",
    },
    {
      what: "an SQL expression written to an encrypted column",
      run: () =>
        db
          .updateTable("patients")
          .set((eb) => ({ name: eb.ref("email") }))
          .where("id", "=", "a")
          .where("clinic_id", "=", "clinic-7")
          .execute(),
      code: "ERR_INVALID_OPTION",
      message: "patients.name is encrypted: write a value to it, not an SQL expression",
    },
    {
      what: "INSERT … SELECT into encrypted columns",
      run: () =>
        db
          .insertInto("patients")
          .columns(["id", "clinic_id", "name"])
          .expression((eb) => eb.selectFrom("visits").select(["id", "clinic_id", "summary"]))
          .execute(),
      code: "ERR_INVALID_OPTION",
      message: "patients: insert encrypted columns with values(), not INSERT … SELECT",
    },
    {
      what: "ON CONFLICT DO UPDATE of an encrypted column",
      run: () =>
        db
          .insertInto("patients")
          .values(samplePatient("clinic-7"))
          .onConflict((oc) => oc.column("id").doUpdateSet((eb) => ({ name: eb.ref("excluded.name") })))
          .execute(),
      code: "ERR_INVALID_OPTION",
      message:
        "patients.name: ON CONFLICT DO UPDATE cannot write encrypted columns or the columns their cells are bound to (update the row with updateTable)",
    },
    {
      what: "an insert whose key is an SQL expression",
      run: () =>
        db
          .insertInto("patients")
          .values((eb) => ({ ...samplePatient("clinic-7"), id: eb.fn<string>("gen_random_uuid", []) }))
          .execute(),
      code: "ERR_INVALID_CONTEXT",
      message: "patients: id must be written as a value, not an SQL expression (the row's cells are bound to it)",
    },
  ])("refuses $what, before the query runs", async ({ run, code, message }) => {
    logged.length = 0;
    expect(await caught(run())).toEqual({ code, message });
    expect(logged).toEqual([]);
  });

  it("an aliased update pins its row through the alias", async () => {
    const p = samplePatient("clinic-9");
    await db.insertInto("patients").values(p).execute();
    await db
      .updateTable("patients as p")
      .set({ name: "Aliased Update" })
      .where((eb) =>
        eb.and([eb("p.clinic_id", "=", "clinic-9"), eb("p.id", "=", p.id), eb("p.active", "is not", null)]),
      )
      .execute();
    const row = await db.selectFrom("patients").selectAll().where("id", "=", p.id).executeTakeFirstOrThrow();
    expect(row.name).toBe("Aliased Update");
  });

  it("a blind-index search within an aliased table", async () => {
    const p = samplePatient("clinic-7", { email: "aliased@example.org" });
    await db.insertInto("patients").values(p).execute();
    const found = await db
      .selectFrom("patients as p")
      .select(["p.id", "p.clinic_id", "p.email"])
      .where(matchBlindIndex(patients, "email", "ALIASED@example.org", { scope: "clinic-7", alias: "p" }))
      .execute();
    expect(found).toEqual([{ id: p.id, clinic_id: "clinic-7", email: "aliased@example.org" }]);
    expect(await caught(Promise.resolve().then(() => matchBlindIndex(patients, "name", "x")))).toEqual({
      code: "ERR_INVALID_OPTION",
      message: "patients.name has no blind index",
    });
  });
});
