// fieldcrypt/typeorm through the conformance suite: EntitySchema models whose encrypted columns use
// the transformers, the blind-index subscriber, and repositories used the way an app uses them —
// on PGlite (through a node-postgres-shaped driver over the suite's instance) and on the server.
// The entities use EntitySchema rather than decorators: TypeORM's decorators are TypeScript's legacy
// decorators and this repo's tsconfig (which esbuild follows) does not enable experimentalDecorators;
// @EncryptedColumn is exercised below by applying it the way the legacy transform does.
import { EventEmitter } from "node:events";
import type { PGlite } from "@electric-sql/pglite";
import {
  Column,
  DataSource,
  Entity,
  EntitySchema,
  getMetadataArgsStorage,
  In,
  IsNull,
  Like,
  type Logger,
  Not,
  PrimaryColumn,
  QueryFailedError,
  type Repository,
} from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyring, generateKeyString } from "../../src/keyring/index.js";
import { createScopeContext } from "../../src/scope/index.js";
import { type EncryptedTable, encryptedTable } from "../../src/table/index.js";
import {
  blindIndexIn,
  blindIndexSubscriber,
  EncryptedColumn,
  encryptedColumnOptions,
  encryptedTransformer,
} from "../../src/typeorm/index.js";
import { openTestDb, type TestDb } from "../db.js";
import type { ConformanceDriver, DriverFactory, Patient, Visit } from "./conformance.js";
import { conformanceTables, runConformance, SCHEMA_SQL, samplePatient } from "./conformance.js";

// --- The app's model: the code the README's TypeORM guide shows. ---------------------------------

interface PatientEntity extends Patient {
  email_bidx?: string | null;
  visits?: VisitEntity[];
}

interface VisitEntity extends Visit {
  patient?: PatientEntity;
}

/** The entity schemas, built from the encrypted-table configurations (and so after the keyring). */
function entitySchemas(patients: EncryptedTable, visits: EncryptedTable) {
  const Patient = new EntitySchema<PatientEntity>({
    name: "Patient",
    tableName: "patients",
    columns: {
      id: { type: "text", primary: true },
      clinic_id: { type: "text" },
      name: { ...encryptedColumnOptions(patients, "name"), nullable: true },
      email: { ...encryptedColumnOptions(patients, "email"), nullable: true },
      email_bidx: { type: "text", nullable: true },
      profile: { ...encryptedColumnOptions(patients, "profile"), nullable: true },
      born: { ...encryptedColumnOptions(patients, "born"), nullable: true },
      balance: { ...encryptedColumnOptions(patients, "balance"), nullable: true },
      photo: { ...encryptedColumnOptions(patients, "photo"), nullable: true },
      score: { ...encryptedColumnOptions(patients, "score"), nullable: true },
      active: { ...encryptedColumnOptions(patients, "active"), nullable: true },
    },
    relations: {
      visits: { type: "one-to-many", target: "Visit", inverseSide: "patient", cascade: ["insert"] },
    },
  });
  const Visit = new EntitySchema<VisitEntity>({
    name: "Visit",
    tableName: "visits",
    columns: {
      id: { type: "text", primary: true },
      patient_id: { type: "text" },
      clinic_id: { type: "text" },
      summary: { ...encryptedColumnOptions(visits, "summary"), nullable: true },
    },
    relations: {
      patient: { type: "many-to-one", target: "Patient", joinColumn: { name: "patient_id" }, inverseSide: "visits" },
    },
  });
  return { Patient, Visit };
}

/** What TypeORM's insert() and update() take (its deep-partial type trips over `unknown` in JSON). */
type PatientValues = Exclude<Parameters<Repository<PatientEntity>["insert"]>[0], unknown[]>;

// --- Test plumbing. -------------------------------------------------------------------------------

/**
 * node-postgres's Pool shape over an existing PGlite instance, for TypeORM's `driver` option.
 * typeorm-pglite (0.3.4) cannot take one: its PGliteDriver creates a process-wide PGlite from
 * options, and its Pool's end() closes it. The query handling below mirrors its PGlitePool.
 */
function pgliteDriver(db: PGlite) {
  type Callback = (error: unknown, result: unknown) => void;
  class Pool extends EventEmitter {
    connect(callback: (error: unknown, client: Pool, release: () => void) => void): void {
      callback(null, this, () => {});
    }
    async query(text: string, values?: unknown[] | Callback, callback?: Callback): Promise<unknown> {
      const done = typeof values === "function" ? values : callback;
      const params = typeof values === "function" ? undefined : values;
      try {
        const result =
          params !== undefined && params.length > 0
            ? await db.query(text, params)
            : ((await db.exec(text)).at(-1) ?? { rows: [] });
        done?.(null, result);
        return result;
      } catch (error) {
        done?.(error, null);
        throw error;
      }
    }
    // The suite owns (and closes) the database.
    end(callback: (error: unknown) => void): void {
      callback(null);
    }
  }
  return { Pool };
}

/** A data source on the test database: the suite's PGlite, or the server (tables made by the suite). */
function testDataSource(db: TestDb, options: { entities: unknown[]; subscribers: unknown[]; logger?: Logger }) {
  const common = {
    entities: options.entities as EntitySchema[],
    subscribers: options.subscribers as (new () => unknown)[],
    synchronize: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  };
  return db.pglite !== undefined
    ? new DataSource({ type: "postgres", driver: pgliteDriver(db.pglite), ...common })
    : new DataSource({ type: "postgres", url: db.connectionString as string, poolSize: 2, ...common });
}

const typeormFactory: DriverFactory = {
  name: "TypeORM (fieldcrypt/typeorm transformers)",
  binding: { rowKey: false, scope: "context" },
  async open({ db, patients, visits }) {
    const { Patient, Visit } = entitySchemas(patients, visits);
    const dataSource = testDataSource(db, {
      entities: [Patient, Visit],
      subscribers: [blindIndexSubscriber(patients)],
    });
    await dataSource.initialize();
    const patientRepo = dataSource.getRepository(Patient);
    const visitRepo = dataSource.getRepository(Visit);
    const driver: ConformanceDriver = {
      async insert(patient) {
        await patientRepo.save({ ...patient });
      },
      async insertMany(list) {
        await patientRepo.insert(list.map((patient) => ({ ...patient })) as PatientValues[]);
      },
      async findById(id) {
        return patientRepo.findOneBy({ id });
      },
      async findByEmail(clinicId, email) {
        return patientRepo.find({
          where: { clinic_id: clinicId, email_bidx: blindIndexIn(patients, "email", email) },
          order: { id: "ASC" },
        });
      },
      async update(id, clinicId, patch) {
        await patientRepo.update({ id, clinic_id: clinicId }, { ...patch } as PatientValues);
      },
      async remove(id) {
        await patientRepo.delete({ id });
      },
      async insertVisit(visit) {
        await visitRepo.save({ ...visit });
      },
      async findPatientWithVisits(id) {
        const found = await patientRepo.findOne({
          where: { id },
          relations: { visits: true },
          order: { visits: { id: "ASC" } },
        });
        return found === null ? null : { ...found, visits: found.visits ?? [] };
      },
      close: () => dataSource.destroy(),
    };
    return driver;
  },
};

runConformance(typeormFactory);

// --- What the conformance suite does not cover: TypeORM-specific paths and refusals. ----------

describe("fieldcrypt/typeorm", () => {
  let db: TestDb;
  let dataSource: DataSource;
  const logged: unknown[] = [];
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
  const scopes = createScopeContext();
  const binding = { rowKey: false, scope: "context" } as const;
  const { patients, visits } = conformanceTables(keyring, "strict", binding, scopes);
  const { Patient, Visit } = entitySchemas(patients, visits);
  const as = <T>(clinicId: string, fn: () => Promise<T>): Promise<T> => scopes.run(clinicId, fn);
  const logger: Logger = {
    logQuery: (query, parameters) => logged.push(query, parameters),
    logQueryError: (error, query, parameters) => logged.push(String(error), query, parameters),
    logQuerySlow: () => {},
    logSchemaBuild: () => {},
    logMigration: () => {},
    log: (_level, message) => logged.push(message),
  };
  const dump = (value: unknown) =>
    JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? "bytes" : v));

  beforeAll(async () => {
    db = await openTestDb();
    for (const statement of SCHEMA_SQL.split(";").filter((s) => s.trim() !== "")) await db.query(statement);
    dataSource = testDataSource(db, {
      entities: [Patient, Visit],
      subscribers: [blindIndexSubscriber(patients)],
      logger,
    });
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.close();
  });

  it("save() of a loaded entity rewrites every encrypted property, refills the blind index, leaves the entity in plaintext", async () => {
    const repo = dataSource.getRepository(Patient);
    const patient = samplePatient("clinic-7");
    await as("clinic-7", () => repo.save({ ...patient }));
    const select = "SELECT name, email, email_bidx, balance FROM patients WHERE id = $1";
    const [before] = await db.query<{ name: string; balance: string }>(select, [patient.id]);
    const loaded = (await as("clinic-7", () => repo.findOneBy({ id: patient.id }))) as PatientEntity;
    loaded.email = "changed@example.org";
    await as("clinic-7", () => repo.save(loaded));
    expect(loaded.email).toBe("changed@example.org");
    expect(loaded.name).toBe(patient.name);
    const [raw] = await db.query<{ name: string; email: string; email_bidx: string; balance: string }>(select, [
      patient.id,
    ]);
    expect(raw?.email.startsWith("fc1.")).toBe(true);
    // TypeORM compares transformed values, and two encryptions never compare equal: unchanged columns
    // are rewritten too (with the same plaintext). update() writes only the columns it is given.
    expect(raw?.name).not.toBe(before?.name);
    expect(raw?.balance).not.toBe(before?.balance);
    expect(raw?.email_bidx).toBe(patients.searchValues("email", "changed@example.org", { scope: "clinic-7" })[0]);
    const found = await as("clinic-7", () =>
      repo.findBy({ email_bidx: blindIndexIn(patients, "email", "CHANGED@example.org") }),
    );
    expect(found.map((p) => p.id)).toEqual([patient.id]);
  });

  it("TypeORM sees only cells and blind-index values: in its query log and in its query errors", async () => {
    const repo = dataSource.getRepository(Patient);
    const patient = samplePatient("clinic-7", { name: "Canary Plaintext Name", email: "canary@example.org" });
    logged.length = 0;
    await as("clinic-7", () => repo.save({ ...patient }));
    await as("clinic-7", () => repo.update({ id: patient.id }, { name: "Canary Updated Name" }));
    await as("clinic-7", () => repo.findBy({ email_bidx: blindIndexIn(patients, "email", "canary@example.org") }));
    let caught: unknown;
    try {
      await as("clinic-7", () => repo.insert({ ...patient } as PatientValues));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(QueryFailedError);
    expect(logged.length).toBeGreaterThan(0);
    const text = dump([logged, caught, (caught as QueryFailedError).parameters]);
    for (const plaintext of ["Canary Plaintext Name", "Canary Updated Name", "canary@example.org", "NOTE-"]) {
      expect(text).not.toContain(plaintext);
    }
  });

  it("where on an encrypted column: the value is encrypted, so it matches nothing; IsNull() works", async () => {
    const repo = dataSource.getRepository(Patient);
    const patient = samplePatient("clinic-9", { email: null });
    await as("clinic-9", () => repo.save({ ...patient }));
    logged.length = 0;
    expect(await as("clinic-9", () => repo.findBy({ name: patient.name as string }))).toEqual([]);
    expect(dump(logged)).not.toContain(patient.name);
    const nulls = await as("clinic-9", () => repo.findBy({ clinic_id: "clinic-9", email: IsNull() }));
    expect(nulls.map((p) => p.id)).toContain(patient.id);
    const others = await as("clinic-9", () => repo.findBy({ clinic_id: "clinic-9", email: Not(IsNull()) }));
    expect(others.map((p) => p.id)).not.toContain(patient.id);
    expect(await as("clinic-9", () => repo.findBy({ name: Like("%Patient%") }))).toEqual([]);
  });

  it("relations: visits inserted by cascade with their patient decrypt in the same scope", async () => {
    const repo = dataSource.getRepository(Patient);
    const patient = samplePatient("clinic-9");
    const visit = {
      id: `${patient.id}-v1`,
      patient_id: patient.id,
      clinic_id: "clinic-9",
      summary: "Cardiology follow-up",
    };
    await as("clinic-9", () => repo.save({ ...patient, visits: [visit] }));
    const found = await as("clinic-9", () => repo.findOne({ where: { id: patient.id }, relations: { visits: true } }));
    expect(found?.visits?.map((v) => v.summary)).toEqual(["Cardiology follow-up"]);
    const [raw] = await db.query<{ summary: string }>("SELECT summary FROM visits WHERE id = $1", [visit.id]);
    expect(raw?.summary.startsWith("fc1.")).toBe(true);
  });

  it("outside any scope, reads, writes and searches fail closed", async () => {
    const repo = dataSource.getRepository(Patient);
    const patient = samplePatient("clinic-7");
    await as("clinic-7", () => repo.save({ ...patient }));
    const message = "no scope is set (the table takes its scope from a scope context: run the query inside its run())";
    await expect(repo.save({ ...samplePatient("clinic-7") })).rejects.toMatchObject({
      code: "ERR_INVALID_CONTEXT",
      message: `patients.email: ${message}`,
    });
    await expect(repo.findOneBy({ id: patient.id })).rejects.toMatchObject({
      code: "ERR_INVALID_CONTEXT",
      message: `patients.name: ${message}`,
    });
    expect(() => blindIndexIn(patients, "email", "a@example.org")).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_CONTEXT", message: `patients.email: ${message}` }),
    );
    expect(blindIndexIn(patients, "email", "a@example.org", { scope: "clinic-7" }).value).toEqual(
      patients.searchValues("email", "a@example.org", { scope: "clinic-7" }),
    );
  });

  it("a value that is already a cell is refused, before anything reaches TypeORM's query", async () => {
    const repo = dataSource.getRepository(Patient);
    const cell = patients.columns.get("name")?.encrypt("x", { scope: "clinic-7" }) as string;
    logged.length = 0;
    await expect(as("clinic-7", () => repo.update({ id: "nobody" }, { name: cell }))).rejects.toMatchObject({
      code: "ERR_ALREADY_ENCRYPTED",
    });
    expect(dump(logged)).not.toContain(cell);
  });

  it("refuses a configuration a transformer cannot honour", () => {
    const config = (extra: object) =>
      encryptedTable(keyring, { table: "patients", columns: { name: { type: "string" } }, ...extra });
    expect(() => encryptedTransformer(config({ primaryKey: ["id"] }), "name")).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message:
          "patients: a TypeORM transformer sees one value, not its row, so it cannot bind cells to the primary key (configure the table without primaryKey)",
      }),
    );
    expect(() => encryptedColumnOptions(config({ scope: { column: "clinic_id" } }), "name")).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message:
          "patients: a TypeORM transformer cannot read the scope column clinic_id (configure the table with scope: { current } from fieldcrypt/scope)",
      }),
    );
    expect(() => blindIndexSubscriber(config({ primaryKey: ["id"] }))).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION" }),
    );
    expect(() => encryptedTransformer(config({}), "email")).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: "patients.email is not an encrypted column of the table",
      }),
    );
  });

  it("a blind index whose column the entity does not map is refused on write", async () => {
    const Partial = new EntitySchema<PatientEntity>({
      name: "PatientWithoutIndex",
      tableName: "patients",
      columns: {
        id: { type: "text", primary: true },
        clinic_id: { type: "text" },
        email: { ...encryptedColumnOptions(patients, "email"), nullable: true },
      },
    });
    const other = testDataSource(db, { entities: [Partial], subscribers: [blindIndexSubscriber(patients)] });
    await other.initialize();
    try {
      await expect(
        as("clinic-7", () => other.getRepository(Partial).insert({ id: "p-x", clinic_id: "clinic-7", email: "x@y.z" })),
      ).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: "patients: the entity maps no column email_bidx for the blind index of email",
      });
    } finally {
      await other.destroy();
    }
  });

  it("migrating plaintext rows: transition mode reads them, save() rewrites them as cells with blind indexes", async () => {
    const legacy = [
      { id: "legacy-1", clinic_id: "clinic-7", name: "Legacy One", email: "One@Example.org" },
      { id: "legacy-2", clinic_id: "clinic-9", name: "Legacy Two", email: null },
    ];
    for (const row of legacy) {
      await db.query("INSERT INTO patients (id, clinic_id, name, email) VALUES ($1, $2, $3, $4)", [
        row.id,
        row.clinic_id,
        row.name,
        row.email,
      ]);
    }
    const tables = conformanceTables(keyring, "transition", binding, scopes);
    const schemas = entitySchemas(tables.patients, tables.visits);
    const migration = testDataSource(db, {
      entities: [schemas.Patient, schemas.Visit],
      subscribers: [blindIndexSubscriber(tables.patients)],
    });
    await migration.initialize();
    try {
      const repo = migration.getRepository(schemas.Patient);
      const ids = legacy.map((row) => row.id);
      const clinics = await migration.query<{ clinic_id: string }[]>(
        "SELECT DISTINCT clinic_id FROM patients WHERE id = ANY($1)",
        [ids],
      );
      for (const { clinic_id } of clinics) {
        await scopes.run(clinic_id, async () => {
          const rows = await repo.findBy({ clinic_id, id: In(ids) });
          await repo.save(rows);
        });
      }
    } finally {
      await migration.destroy();
    }
    const raw = await db.query<{ id: string; name: string; email: string | null; email_bidx: string | null }>(
      "SELECT id, name, email, email_bidx FROM patients WHERE id = ANY($1) ORDER BY id",
      [legacy.map((row) => row.id)],
    );
    expect(raw.map((row) => row.name.startsWith("fc1."))).toEqual([true, true]);
    expect(raw.map((row) => row.email === null || row.email.startsWith("fc1."))).toEqual([true, true]);
    expect(raw.map((row) => row.email_bidx === null)).toEqual([false, true]);
    const repo = dataSource.getRepository(Patient);
    const found = await as("clinic-7", () =>
      repo.findBy({ email_bidx: blindIndexIn(patients, "email", "one@example.org") }),
    );
    expect(found.map((p) => [p.id, p.name, p.email])).toEqual([["legacy-1", "Legacy One", "One@Example.org"]]);
  });

  it("@EncryptedColumn: a decorated entity class round-trips (decorators applied as TypeScript's legacy transform does)", async () => {
    class DecoratedPatient {
      id!: string;
      clinic_id!: string;
      fullName!: string | null;
      born!: Date | null;
    }
    PrimaryColumn({ type: "text" })(DecoratedPatient.prototype, "id");
    Column({ type: "text" })(DecoratedPatient.prototype, "clinic_id");
    EncryptedColumn(patients, "name", { nullable: true })(DecoratedPatient.prototype, "fullName");
    EncryptedColumn(patients, "born", { nullable: true })(DecoratedPatient.prototype, "born");
    Entity("patients")(DecoratedPatient);
    const args = getMetadataArgsStorage().columns.filter((c) => c.target === DecoratedPatient);
    expect(args.map((c) => [c.propertyName, c.options.name, c.options.type, c.options.nullable])).toEqual([
      ["id", undefined, "text", undefined],
      ["clinic_id", undefined, "text", undefined],
      ["fullName", "name", "text", true],
      ["born", "born", "bytea", true],
    ]);

    const other = testDataSource(db, { entities: [DecoratedPatient as unknown as EntitySchema], subscribers: [] });
    await other.initialize();
    try {
      const repo = other.getRepository(DecoratedPatient);
      const born = new Date(Date.UTC(1990, 0, 2));
      await as("clinic-7", () => repo.insert({ id: "p-decorated", clinic_id: "clinic-7", fullName: "Grace", born }));
      const found = await as("clinic-7", () => repo.findOneBy({ id: "p-decorated" }));
      expect(found?.fullName).toBe("Grace");
      expect(found?.born?.getTime()).toBe(born.getTime());
      // The same cells read through the EntitySchema model: same table, column and scope.
      const same = await as("clinic-7", () => dataSource.getRepository(Patient).findOneBy({ id: "p-decorated" }));
      expect(same?.name).toBe("Grace");
      const [raw] = await db.query<{ name: string; born: Uint8Array }>(
        "SELECT name, born FROM patients WHERE id = $1",
        ["p-decorated"],
      );
      expect(raw?.name.startsWith("fc1.")).toBe(true);
      expect(Buffer.from(raw?.born as Uint8Array)[0]).toBe(0xfc);
    } finally {
      await other.destroy();
    }
  });
});
