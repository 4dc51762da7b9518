// fieldcrypt/prisma through the conformance suite, then what only Prisma has: select/omit shapes,
// nested writes, fluent relation reads, upsert, updateMany, filters, misconfiguration. The client
// is generated from prisma/schema.prisma before the first test (prisma/generate.ts); the tables
// are created by the suite's plain SQL, never by `prisma migrate`.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCell } from "../../src/cell/index.js";
import type { FieldcryptError } from "../../src/errors/index.js";
import { createKeyring, generateKeyString } from "../../src/keyring/index.js";
import { blindIndexIn, fieldcryptExtension } from "../../src/prisma/index.js";
import { createScopeContext } from "../../src/scope/index.js";
import { type EncryptedTable, encryptedTable } from "../../src/table/index.js";
import { openTestDb, type TestDb } from "../db.js";
import type { Binding, ConformanceDriver, DriverFactory, Patient, Visit } from "./conformance.js";
import { conformanceTables, runConformance, SCHEMA_SQL, samplePatient } from "./conformance.js";
import { ensurePrismaClient } from "./prisma/generate.js";
// Types only, erased: the module is imported once generated. `npm run typecheck` may run before any
// test has generated it; the types are then `any` rather than a missing-module error.
// biome-ignore lint/suspicious/noTsIgnore: @ts-expect-error would fail whenever the client exists.
// @ts-ignore
import type { Prisma, PrismaClient } from "./prisma/generated/client.js";

/** Imports the generated client, generating it first when needed (a failure fails every test). */
async function loadClient(): Promise<{ PrismaClient: typeof PrismaClient }> {
  return import(await ensurePrismaClient());
}

beforeAll(async () => {
  await loadClient();
}, 120_000);

/** The driver adapter for the test database: PGlite in-process, or node-postgres on the server. */
function driverAdapter(db: TestDb): PrismaPGlite | PrismaPg {
  if (db.pglite !== undefined) return new PrismaPGlite(db.pglite);
  const connectionString = db.connectionString as string;
  // Prisma qualifies table names with the adapter's schema: the one the test db's search_path names.
  const schema = /search_path=(\w+)/.exec(new URL(connectionString).searchParams.get("options") ?? "")?.[1];
  return new PrismaPg({ connectionString }, { schema: schema ?? "public" });
}

/** The app's client: the generated PrismaClient, extended with fieldcrypt. */
async function openClient(db: TestDb, patients: EncryptedTable, visits: EncryptedTable) {
  const { PrismaClient } = await loadClient();
  const base = new PrismaClient({ adapter: driverAdapter(db) });
  const prisma = base.$extends(fieldcryptExtension({ models: { Patient: patients, Visit: visits } }));
  return { base, prisma };
}

// Prisma types each field by its storage (String for text cells, Bytes for binary cells); the app
// writes and reads the declared value types, so the boundary casts between the two.
type PatientInput = Prisma.PatientUncheckedCreateInput;

function patientData(patient: Patient): PatientInput {
  const { clinic_id, ...rest } = patient;
  return { ...rest, clinicId: clinic_id } as unknown as PatientInput;
}

function toPatient(record: Record<string, unknown>): Patient {
  const { clinicId, emailBidx: _bidx, visits: _visits, ...rest } = record;
  return { ...rest, clinic_id: clinicId } as unknown as Patient;
}

function toVisit(record: Record<string, unknown>): Visit {
  const { patientId, clinicId, ...rest } = record;
  return { ...rest, patient_id: patientId, clinic_id: clinicId } as unknown as Visit;
}

const prismaFactory: DriverFactory = {
  name: "Prisma (fieldcrypt/prisma)",
  binding: { rowKey: true, scope: "column" },
  async open({ db, patients, visits }) {
    const { base, prisma } = await openClient(db, patients, visits);
    const driver: ConformanceDriver = {
      async insert(patient) {
        await prisma.patient.create({ data: patientData(patient) });
      },
      async insertMany(list) {
        await prisma.patient.createMany({ data: list.map(patientData) });
      },
      async findById(id) {
        const found = await prisma.patient.findUnique({ where: { id } });
        return found === null ? null : toPatient(found);
      },
      async findByEmail(clinicId, email) {
        const found = await prisma.patient.findMany({
          where: { clinicId, emailBidx: blindIndexIn(patients, "email", email, { scope: clinicId }) },
          orderBy: { id: "asc" },
        });
        return found.map(toPatient);
      },
      async update(id, clinicId, patch) {
        // The unique where names the row's id and clinic: the values its cells are bound to.
        await prisma.patient.update({ where: { id, clinicId }, data: patch as Prisma.PatientUpdateInput });
      },
      async remove(id) {
        await prisma.patient.delete({ where: { id } });
      },
      async insertVisit(visit) {
        await prisma.visit.create({
          data: { id: visit.id, patientId: visit.patient_id, clinicId: visit.clinic_id, summary: visit.summary },
        });
      },
      async findPatientWithVisits(id) {
        const found = await prisma.patient.findUnique({
          where: { id },
          include: { visits: { orderBy: { id: "asc" } } },
        });
        return found === null ? null : { ...toPatient(found), visits: found.visits.map(toVisit) };
      },
      close: () => base.$disconnect(),
    };
    return driver;
  },
};

runConformance(prismaFactory);

// Without row keys and with the scope from the async context: the extension's other binding.
runConformance({ ...prismaFactory, name: "Prisma, scope from context", binding: { rowKey: false, scope: "context" } });

async function expectError(promise: Promise<unknown>, code: string, message: string): Promise<FieldcryptError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeDefined();
  expect((error as FieldcryptError).code).toBe(code);
  expect((error as FieldcryptError).message).toBe(message);
  return error as FieldcryptError;
}

describe(`fieldcrypt/prisma (${process.env.DATABASE_URL ? "PostgreSQL server" : "PGlite"})`, () => {
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
  const scopes = createScopeContext();
  const binding: Binding = { rowKey: true, scope: "column" };
  const { patients, visits } = conformanceTables(keyring, "strict", binding, scopes);
  let db: TestDb;
  let client: Awaited<ReturnType<typeof openClient>>;
  let prisma: Awaited<ReturnType<typeof openClient>>["prisma"];

  const raw = async (table: string, id: string) =>
    (await db.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE id = $1`, [id]))[0];
  const insert = async (overrides: Partial<Patient> = {}) => {
    const patient = samplePatient("clinic-7", overrides);
    await prisma.patient.create({ data: patientData(patient) });
    return patient;
  };

  beforeAll(async () => {
    db = await openTestDb();
    for (const statement of SCHEMA_SQL.split(";").filter((s) => s.trim() !== "")) await db.query(statement);
    client = await openClient(db, patients, visits);
    prisma = client.prisma;
  });
  afterAll(async () => {
    await client?.base.$disconnect();
    await db?.close();
  });

  it("select returns exactly the fields asked for, decrypted (the binding fields are fetched and stripped)", async () => {
    const patient = await insert();
    expect(await prisma.patient.findUnique({ where: { id: patient.id }, select: { name: true } })).toEqual({
      name: patient.name,
    });
    const omitted = await prisma.patient.findFirst({ where: { id: patient.id }, omit: { clinicId: true, id: true } });
    expect(omitted).not.toHaveProperty("clinicId");
    expect(omitted).not.toHaveProperty("id");
    expect(omitted?.email).toBe(patient.email);
    // Selecting no encrypted field adds nothing.
    expect(await prisma.patient.findUnique({ where: { id: patient.id }, select: { emailBidx: true } })).toEqual({
      emailBidx: (await raw("patients", patient.id))?.email_bidx,
    });
  });

  it("nested creates are encrypted; include with a nested select, and fluent reads, are decrypted", async () => {
    const patient = samplePatient("clinic-7");
    const summaries = ["First visit", "Second visit"];
    await prisma.patient.create({
      data: {
        ...patientData(patient),
        visits: {
          create: summaries.map((summary, i) => ({ id: `${patient.id}-n${i}`, clinicId: "clinic-7", summary })),
        },
      },
    });
    for (const i of [0, 1]) expect(String((await raw("visits", `${patient.id}-n${i}`))?.summary)).toMatch(/^fc1\./);
    const found = await prisma.patient.findUnique({
      where: { id: patient.id },
      select: { name: true, visits: { select: { summary: true }, orderBy: { id: "asc" } } },
    });
    expect(found).toEqual({ name: patient.name, visits: summaries.map((summary) => ({ summary })) });
    const fluent = await prisma.patient.findUnique({ where: { id: patient.id } }).visits({ orderBy: { id: "asc" } });
    expect(fluent?.map((v: { summary: string | null }) => v.summary)).toEqual(summaries);
    const back = await prisma.visit.findUnique({ where: { id: `${patient.id}-n0` }, include: { patient: true } });
    // A to-one relation, every value type (bytes included) decrypted at the nested level.
    const nested = back === null ? null : toPatient(back.patient);
    expect(nested === null ? null : { ...nested, photo: new Uint8Array(nested.photo as Uint8Array) }).toEqual(patient);
  });

  it("nested updates bind to the unique where of the related row", async () => {
    const patient = await insert();
    await prisma.visit.create({
      data: { id: `${patient.id}-u`, patientId: patient.id, clinicId: "clinic-7", summary: "a" },
    });
    await expectError(
      prisma.patient.update({
        where: { id: patient.id, clinicId: "clinic-7" },
        data: { visits: { update: { where: { id: `${patient.id}-u` }, data: { summary: "b" } } } },
      }),
      "ERR_INVALID_CONTEXT",
      "fieldcrypt/prisma: Patient.visits.update writes encrypted fields, so its where must give clinicId (a plain value): the scope the cells are bound to",
    );
    await prisma.patient.update({
      where: { id: patient.id, clinicId: "clinic-7" },
      data: { visits: { update: { where: { id: `${patient.id}-u`, clinicId: "clinic-7" }, data: { summary: "b" } } } },
    });
    expect((await prisma.visit.findUnique({ where: { id: `${patient.id}-u` } }))?.summary).toBe("b");
    await expectError(
      prisma.visit.update({
        where: { id: `${patient.id}-u` },
        data: { patient: { update: { name: "To-one" } } },
      }),
      "ERR_INVALID_CONTEXT",
      "fieldcrypt/prisma: Visit.patient.update writes encrypted fields, so its where must give id (a plain value): the primary key the cells are bound to",
    );
    await prisma.visit.update({
      where: { id: `${patient.id}-u` },
      data: { patient: { update: { where: { id: patient.id, clinicId: "clinic-7" }, data: { name: "To-one" } } } },
    });
    expect((await prisma.patient.findUnique({ where: { id: patient.id } }))?.name).toBe("To-one");
  });

  it("upsert encrypts both branches; createManyAndReturn returns plaintext", async () => {
    const patient = samplePatient("clinic-7");
    const upsert = (name: string) =>
      prisma.patient.upsert({
        where: { id: patient.id, clinicId: "clinic-7" },
        create: patientData({ ...patient, name }),
        update: { name },
      });
    expect((await upsert("Created"))?.name).toBe("Created");
    expect((await upsert("Updated"))?.name).toBe("Updated");
    expect(String((await raw("patients", patient.id))?.name)).toMatch(/^fc1\./);
    const list = [samplePatient("clinic-7"), samplePatient("clinic-7")];
    const returned = await prisma.patient.createManyAndReturn({ data: list.map(patientData), select: { email: true } });
    expect(returned).toEqual(list.map((p) => ({ email: p.email })));
  });

  it("writes that cannot bind their cells are refused, and write nothing", async () => {
    const patient = await insert();
    const before = await raw("patients", patient.id);
    await expectError(
      prisma.patient.updateMany({ where: { clinicId: "clinic-7" }, data: { name: "Everyone" } }),
      "ERR_INVALID_CONTEXT",
      "fieldcrypt/prisma: Patient.updateMany cannot bind encrypted cells to each row's primary key; update the rows one at a time",
    );
    await expectError(
      prisma.patient.update({ where: { id: patient.id }, data: { name: "No clinic" } }),
      "ERR_INVALID_CONTEXT",
      "fieldcrypt/prisma: Patient.update writes encrypted fields, so its where must give clinicId (a plain value): the scope the cells are bound to",
    );
    await expectError(
      prisma.patient.update({ where: { id: patient.id, clinicId: "clinic-7" }, data: { clinicId: "clinic-9" } }),
      "ERR_INVALID_OPTION",
      "fieldcrypt/prisma: Patient.update sets clinicId, which the encrypted cells are bound to: name the same value in its where, or write every encrypted field in the same update",
    );
    await expectError(
      prisma.patient.create({ data: { clinicId: "clinic-7", name: "No id" } as unknown as PatientInput }),
      "ERR_INVALID_CONTEXT",
      "fieldcrypt/prisma: Patient.create writes encrypted fields, so its data must give id (a plain value): the primary key the cells are bound to",
    );
    expect(await raw("patients", patient.id)).toEqual(before);
    // Moving a row to another clinic re-encrypts every cell under the new scope.
    const moved = { ...patient, clinic_id: "clinic-9" };
    const { id: _id, ...all } = patientData(moved);
    await prisma.patient.update({ where: { id: patient.id, clinicId: "clinic-7" }, data: all });
    const read = await prisma.patient.findUnique({ where: { id: patient.id } });
    expect(read === null ? null : { ...toPatient(read), photo: new Uint8Array(read.photo as Uint8Array) }).toEqual(
      moved,
    );
  });

  it("filters on encrypted fields are refused without echoing the value; null tests pass", async () => {
    const patient = await insert({ email: null });
    const error = await expectError(
      prisma.patient.findMany({ where: { OR: [{ email: "secret.value@example.org" }] } }),
      "ERR_INVALID_OPTION",
      "fieldcrypt/prisma: Patient.email is encrypted; a filter on it can only test for null (search through a blind index instead)",
    );
    expect(String(error.stack)).not.toContain("secret.value");
    await expectError(
      prisma.visit.findMany({ where: { patient: { is: { name: { contains: "x" } } } } }),
      "ERR_INVALID_OPTION",
      "fieldcrypt/prisma: Patient.name is encrypted; a filter on it can only test for null (search through a blind index instead)",
    );
    const nulls = await prisma.patient.findMany({ where: { id: patient.id, email: null }, select: { id: true } });
    expect(nulls).toEqual([{ id: patient.id }]);
  });

  it("Prisma's own errors carry cells, never plaintext", async () => {
    const patient = await insert();
    const error = await prisma.patient
      .create({ data: patientData({ ...patient, name: "Duplicate Plaintext Name" }) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message) + String((error as Error).stack)).not.toContain("Duplicate Plaintext");
  });

  it("transactions: batch and interactive", async () => {
    const [a, b] = [samplePatient("clinic-7"), samplePatient("clinic-7")];
    const [, found] = await prisma.$transaction([
      prisma.patient.create({ data: patientData(a) }),
      prisma.patient.findUnique({ where: { id: a.id }, select: { name: true } }),
    ]);
    expect(found).toEqual({ name: a.name });
    const read = await prisma.$transaction(async (tx: Pick<typeof prisma, "patient">) => {
      await tx.patient.create({ data: patientData(b) });
      return tx.patient.findUnique({ where: { id: b.id } });
    });
    expect(read?.email).toBe(b.email);
    expect(inspectCell(String((await raw("patients", b.id))?.email)).keyId).toBe("v1");
  });

  it("works on a client that is already extended, and is exported as fieldcrypt/prisma", async () => {
    const built = await import("fieldcrypt/prisma");
    expect(Object.keys(built).sort()).toEqual(["blindIndexIn", "fieldcryptExtension"]);
    const { PrismaClient } = await loadClient();
    const base = new PrismaClient({ adapter: driverAdapter(db) });
    const logged: string[] = [];
    type QueryParams = { operation: string; args: unknown; query: (args: never) => Promise<unknown> };
    const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    // Prisma runs query extensions in the order they were added: fieldcrypt first, so that the
    // extensions after it (here a query logger) see only cells, in arguments and in results.
    const chained = base
      // src tables handed to the built module: the same shape, but their Keyring's #private is nominal.
      .$extends(built.fieldcryptExtension({ models: { Patient: patients, Visit: visits } } as never))
      .$extends({
        query: {
          $allOperations: async ({ operation, args, query }: QueryParams) => {
            const result = await query(args as never);
            logged.push(`${operation} ${json(args)} ${json(result)}`);
            return result;
          },
        },
      });
    const patient = samplePatient("clinic-7", { name: "Logged Plaintext Name" });
    await chained.patient.create({ data: patientData(patient) });
    expect((await chained.patient.findUnique({ where: { id: patient.id } }))?.name).toBe(patient.name);
    expect(logged).toHaveLength(2);
    expect(logged.join("\n")).toContain("fc1.");
    expect(logged.join("\n")).not.toContain("Logged Plaintext");
    await base.$disconnect();
  });

  it("a client that omits the binding fields by default still decrypts, and still omits them", async () => {
    const { PrismaClient } = await loadClient();
    const base = new PrismaClient({ adapter: driverAdapter(db), omit: { patient: { clinicId: true, id: true } } });
    const omitting = base.$extends(fieldcryptExtension({ models: { Patient: patients, Visit: visits } }));
    const patient = samplePatient("clinic-7");
    const created = await omitting.patient.create({ data: patientData(patient) });
    expect(created).not.toHaveProperty("clinicId");
    expect(created.name).toBe(patient.name);
    const found = await omitting.patient.findUnique({ where: { id: patient.id }, omit: { clinicId: false } });
    expect(found).not.toHaveProperty("id");
    expect(found?.clinicId).toBe("clinic-7");
    expect(found?.email).toBe(patient.email);
    await base.$disconnect();
  });

  it("a table that does not fit the schema is refused at $extends", async () => {
    const { PrismaClient } = await loadClient();
    const base = new PrismaClient({ adapter: driverAdapter(db) });
    const extend = (models: Record<string, EncryptedTable>) => () => base.$extends(fieldcryptExtension({ models }));
    const fails = (models: Record<string, EncryptedTable>, message: string) => {
      expect(extend(models)).toThrow(message);
      try {
        extend(models)();
      } catch (error) {
        expect((error as FieldcryptError).code).toBe("ERR_INVALID_OPTION");
      }
    };
    fails({ Doctor: patients }, "fieldcrypt/prisma: this Prisma client has no model Doctor");
    fails({ Visit: patients }, "fieldcrypt/prisma: model Visit maps to table visits, not patients");
    const wrongForm = encryptedTable(keyring, { table: "patients", columns: { photo: { type: "bytes" } } });
    fails({ Patient: wrongForm }, "fieldcrypt/prisma: Patient.photo holds cells of patients.photo: declare it String");
    const noColumn = encryptedTable(keyring, { table: "visits", columns: { notes: { type: "string" } } });
    fails({ Visit: noColumn }, "fieldcrypt/prisma: model Visit has no field for encrypted column visits.notes");
    const noScope = encryptedTable(keyring, { table: "visits", scope: { column: "clinic" }, columns: {} });
    fails({ Visit: noScope }, "fieldcrypt/prisma: model Visit has no field for scope column visits.clinic");
    await base.$disconnect();
  });
});
