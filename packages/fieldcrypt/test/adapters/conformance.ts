/**
 * One conformance suite for every ORM adapter, on a real PostgreSQL (PGlite by default, the server
 * at DATABASE_URL). An adapter test file supplies a driver — the same operations written with its
 * ORM the way an app would — and calls `runConformance`. Every test checks both what the ORM returns
 * (plaintext) and the raw row on disk (a cell, never the plaintext), read with plain SQL.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCell, isCell } from "../../src/cell/index.js";
import type { ColumnMode } from "../../src/column/index.js";
import type { FieldcryptError } from "../../src/errors/index.js";
import { createKeyring, generateKeyString, type Keyring } from "../../src/keyring/index.js";
import { createScopeContext, type ScopeContext } from "../../src/scope/index.js";
import { type EncryptedTable, encryptedTable } from "../../src/table/index.js";
import { openTestDb, type TestDb } from "../db.js";

export interface Patient {
  id: string;
  clinic_id: string;
  name: string | null;
  email: string | null;
  profile: { [key: string]: unknown } | unknown[] | null;
  born: Date | null;
  balance: bigint | null;
  photo: Uint8Array | null;
  score: number | null;
  active: boolean | null;
}

export interface Visit {
  id: string;
  patient_id: string;
  clinic_id: string;
  summary: string | null;
}

/** The operations an app does, written with one ORM. */
export interface ConformanceDriver {
  insert(patient: Patient): Promise<void>;
  insertMany(patients: Patient[]): Promise<void>;
  findById(id: string): Promise<Patient | null>;
  /** Equality search through the blind index on email, within a clinic. */
  findByEmail(clinicId: string, email: string): Promise<Patient[]>;
  /** Updates some encrypted columns of one row (the row's id and clinic are known). */
  update(id: string, clinicId: string, patch: Partial<Omit<Patient, "id" | "clinic_id">>): Promise<void>;
  remove(id: string): Promise<void>;
  insertVisit(visit: Visit): Promise<void>;
  /** A relation read, where the ORM has relations. */
  findPatientWithVisits?(id: string): Promise<(Patient & { visits: Visit[] }) | null>;
  close(): Promise<void>;
}

/**
 * What an adapter can bind. Row-level adapters (node-postgres helpers, Kysely, Prisma) see whole
 * rows and bind the row key and a scope column; column-type adapters (a Drizzle customType, a
 * TypeORM transformer) see one value at a time and take the scope from the async context.
 */
export interface Binding {
  /** Cells are bound to their row's primary key. */
  readonly rowKey: boolean;
  /** `"column"`: the scope is the row's clinic_id. `"context"`: the scope is `scopes.current()`. */
  readonly scope: "column" | "context";
}

export interface DriverEnvironment {
  readonly db: TestDb;
  readonly keyring: Keyring;
  /** The shared configuration: what the adapter must encrypt, and how. */
  readonly patients: EncryptedTable;
  readonly visits: EncryptedTable;
  readonly mode: ColumnMode;
  /** The scope context the suite runs each operation in (with the row's clinic as scope). */
  readonly scopes: ScopeContext;
}

export interface DriverFactory {
  readonly name: string;
  readonly binding: Binding;
  open(env: DriverEnvironment): Promise<ConformanceDriver>;
}

export const SCHEMA_SQL = `
CREATE TABLE patients (
  id text PRIMARY KEY,
  clinic_id text NOT NULL,
  name text,
  email text,
  email_bidx text,
  profile text,
  born bytea,
  balance text,
  photo bytea,
  score text,
  active text
);
CREATE INDEX patients_email_bidx ON patients (email_bidx);
CREATE TABLE visits (
  id text PRIMARY KEY,
  patient_id text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  clinic_id text NOT NULL,
  summary text
);`;

/** The one configuration every adapter is given. */
export function conformanceTables(
  keyring: Keyring,
  mode: ColumnMode,
  binding: Binding,
  scopes: ScopeContext,
): { patients: EncryptedTable; visits: EncryptedTable } {
  const primaryKey = binding.rowKey ? ["id"] : undefined;
  const scope = binding.scope === "column" ? { column: "clinic_id" } : { current: scopes.current };
  const patients = encryptedTable(keyring, {
    table: "patients",
    primaryKey,
    scope,
    columns: {
      name: { type: "string", mode },
      email: { type: "string", mode, blindIndex: { column: "email_bidx", normalize: ["trim", "lowercase", "nfc"] } },
      profile: { type: "json", mode },
      born: { type: "date", form: "binary", mode },
      balance: { type: "bigint", mode },
      photo: { type: "bytes", form: "binary", mode },
      score: { type: "number", mode },
      active: { type: "boolean", mode },
    },
  });
  const visits = encryptedTable(keyring, {
    table: "visits",
    primaryKey,
    scope,
    columns: { summary: { type: "string", mode } },
  });
  return { patients, visits };
}

let counter = 0;
/** A patient with every value type filled, and a recognizable plaintext in each text column. */
export function samplePatient(clinicId: string, overrides: Partial<Patient> = {}): Patient {
  counter += 1;
  const n = `${process.pid}-${counter}`;
  return {
    id: `p-${n}`,
    clinic_id: clinicId,
    name: `Patient Name ${n}`,
    email: `patient.${n}@example.org`,
    profile: { allergies: ["penicillin"], notes: `NOTE-${n}`, visits: 3 },
    born: new Date(Date.UTC(1961, 4, 17, 8, 30)),
    balance: -12345678901234567890n,
    photo: new Uint8Array([0, 1, 2, 253, 254, 255]),
    score: 98.6,
    active: true,
    ...overrides,
  };
}

const ENCRYPTED = ["name", "email", "profile", "born", "balance", "photo", "score", "active"] as const;
const BINARY = new Set(["born", "photo"]);

async function rawRow(db: TestDb, id: string): Promise<Record<string, unknown>> {
  const rows = await db.query("SELECT * FROM patients WHERE id = $1", [id]);
  expect(rows).toHaveLength(1);
  return rows[0] as Record<string, unknown>;
}

/** The raw row holds a cell of the right form in every non-null encrypted column, and no plaintext. */
async function expectCellsOnDisk(db: TestDb, patient: Patient): Promise<void> {
  const raw = await rawRow(db, patient.id);
  for (const column of ENCRYPTED) {
    const stored = raw[column];
    if (patient[column] === null) {
      expect(stored, column).toBeNull();
      continue;
    }
    if (BINARY.has(column)) {
      const bytes = Buffer.from(stored as Uint8Array);
      expect(bytes[0], column).toBe(0xfc);
      expect(isCell(bytes), column).toBe(true);
    } else {
      expect(typeof stored, column).toBe("string");
      expect((stored as string).startsWith("fc1."), column).toBe(true);
      expect(inspectCell(stored as string).keyId).toMatch(/^v\d$/);
    }
  }
  const dump = JSON.stringify(raw, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  for (const plaintext of [patient.name, patient.email, (patient.profile as { notes?: string } | null)?.notes]) {
    if (plaintext) expect(dump).not.toContain(plaintext);
  }
  if (patient.email !== null) expect(String(raw.email_bidx)).toMatch(/^bi1:v\d:/);
}

function expectSamePatient(actual: Patient | null, expected: Patient): void {
  expect(actual).not.toBeNull();
  const a = actual as Patient;
  expect(a.id).toBe(expected.id);
  expect(a.clinic_id).toBe(expected.clinic_id);
  expect(a.name).toBe(expected.name);
  expect(a.email).toBe(expected.email);
  expect(a.profile).toEqual(expected.profile);
  expect(a.born === null ? null : (a.born as Date).getTime()).toBe(
    expected.born === null ? null : expected.born.getTime(),
  );
  expect(a.balance).toBe(expected.balance);
  expect(a.photo === null ? null : Buffer.from(a.photo)).toEqual(
    expected.photo === null ? null : Buffer.from(expected.photo),
  );
  expect(a.score).toBe(expected.score);
  expect(a.active).toBe(expected.active);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<FieldcryptError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect((caught as FieldcryptError).code).toBe(code);
  return caught as FieldcryptError;
}

/** Runs the whole suite for one adapter. */
export function runConformance(factory: DriverFactory): void {
  const where = process.env.DATABASE_URL ? "PostgreSQL server" : "PGlite";
  describe(`${factory.name} adapter conformance (${where})`, () => {
    let db: TestDb;
    let driver: ConformanceDriver;
    let transition: ConformanceDriver;
    const v1 = generateKeyString();
    const v2 = generateKeyString();
    const keyring = createKeyring([{ id: "v1", secret: v1, primary: true }]);
    const scopes = createScopeContext();
    const binding = factory.binding;
    /** Runs an operation as the app would inside a request of that clinic. */
    const as = <T>(clinicId: string, fn: () => Promise<T>): Promise<T> => scopes.run(clinicId, fn);
    const open = (ring: Keyring, mode: ColumnMode) =>
      factory.open({ db, keyring: ring, mode, scopes, ...conformanceTables(ring, mode, binding, scopes) });

    beforeAll(async () => {
      db = await openTestDb();
      for (const statement of SCHEMA_SQL.split(";").filter((s) => s.trim() !== "")) await db.query(statement);
      driver = await open(keyring, "strict");
      transition = await open(keyring, "transition");
    });
    afterAll(async () => {
      await driver?.close();
      await transition?.close();
      await db?.close();
    });

    it("insert, then read: the ORM returns every value type as written; the row on disk holds cells", async () => {
      const patient = samplePatient("clinic-7");
      await as(patient.clinic_id, () => driver.insert(patient));
      expectSamePatient(await as(patient.clinic_id, () => driver.findById(patient.id)), patient);
      await expectCellsOnDisk(db, patient);
    });

    it("NULLs stay NULL, empty values are encrypted", async () => {
      const patient = samplePatient("clinic-7", {
        name: "",
        email: null,
        profile: [],
        born: null,
        balance: 0n,
        photo: new Uint8Array(0),
        score: null,
        active: false,
      });
      await as(patient.clinic_id, () => driver.insert(patient));
      expectSamePatient(await as(patient.clinic_id, () => driver.findById(patient.id)), patient);
      await expectCellsOnDisk(db, patient);
      const raw = await rawRow(db, patient.id);
      expect(raw.email_bidx).toBeNull();
    });

    it("bulk insert", async () => {
      const patients = Array.from({ length: 25 }, () => samplePatient("clinic-9"));
      await as("clinic-9", () => driver.insertMany(patients));
      for (const patient of patients) {
        expectSamePatient(await as("clinic-9", () => driver.findById(patient.id)), patient);
        await expectCellsOnDisk(db, patient);
      }
    });

    it("update re-encrypts the changed columns; delete removes the row", async () => {
      const patient = samplePatient("clinic-9");
      await as(patient.clinic_id, () => driver.insert(patient));
      const before = await rawRow(db, patient.id);
      const patch = { name: "Renamed Person", email: "new.address@example.org", score: -1.5 };
      await as(patient.clinic_id, () => driver.update(patient.id, patient.clinic_id, patch));
      const updated = { ...patient, ...patch };
      expectSamePatient(await as(patient.clinic_id, () => driver.findById(patient.id)), updated);
      await expectCellsOnDisk(db, updated);
      const after = await rawRow(db, patient.id);
      expect(after.name).not.toBe(before.name);
      expect(after.email_bidx).not.toBe(before.email_bidx);
      expect(after.balance).toBe(before.balance);
      await as(patient.clinic_id, () => driver.remove(patient.id));
      expect(await as(patient.clinic_id, () => driver.findById(patient.id))).toBeNull();
    });

    it("search by blind index: normalized, scoped to the clinic", async () => {
      const a = samplePatient("clinic-7", { email: "Search.Me@Example.org" });
      const b = samplePatient("clinic-9", { email: "search.me@example.org" });
      await as("clinic-7", () => driver.insert(a));
      await as("clinic-9", () => driver.insert(b));
      const found = await as("clinic-7", () => driver.findByEmail("clinic-7", "  search.me@EXAMPLE.org "));
      expect(found.map((p) => p.id)).toEqual([a.id]);
      expectSamePatient(found[0] ?? null, a);
      const other = await as("clinic-9", () => driver.findByEmail("clinic-9", "SEARCH.ME@example.org"));
      expect(other.map((p) => p.id)).toEqual([b.id]);
      expect(await as("clinic-7", () => driver.findByEmail("clinic-7", "nobody@example.org"))).toEqual([]);
      await expectCellsOnDisk(db, a);
      await expectCellsOnDisk(db, b);
      const [rawA, rawB] = [await rawRow(db, a.id), await rawRow(db, b.id)];
      expect(rawA.email_bidx).not.toBe(rawB.email_bidx); // equal emails, different clinics: no cross-tenant equality
    });

    it("a cell moved to another row (where the adapter binds rows), column or clinic is refused", async () => {
      const a = samplePatient("clinic-7");
      const b = samplePatient("clinic-7");
      const c = samplePatient("clinic-9");
      await as("clinic-7", () => driver.insertMany([a, b]));
      await as("clinic-9", () => driver.insert(c));
      for (const patient of [a, b, c]) await expectCellsOnDisk(db, patient);
      const copyName = (from: string, to: string) =>
        db.query("UPDATE patients SET name = (SELECT name FROM patients WHERE id = $1) WHERE id = $2", [from, to]);
      await copyName(a.id, b.id);
      if (binding.rowKey)
        await expectCode(
          as("clinic-7", () => driver.findById(b.id)),
          "ERR_DECRYPTION_FAILED",
        );
      else expect((await as("clinic-7", () => driver.findById(b.id)))?.name).toBe(a.name); // documented: not bound
      await copyName(a.id, c.id);
      await expectCode(
        as("clinic-9", () => driver.findById(c.id)),
        "ERR_DECRYPTION_FAILED",
      );
      await db.query("UPDATE patients SET email = name WHERE id = $1", [a.id]);
      await expectCode(
        as("clinic-7", () => driver.findById(a.id)),
        "ERR_DECRYPTION_FAILED",
      );
      // The row moved to another clinic: read as that clinic, its cells no longer open.
      const d = samplePatient("clinic-7");
      await as("clinic-7", () => driver.insert(d));
      await db.query("UPDATE patients SET clinic_id = 'clinic-9' WHERE id = $1", [d.id]);
      await expectCode(
        as("clinic-9", () => driver.findById(d.id)),
        "ERR_DECRYPTION_FAILED",
      );
    });

    it("strict mode refuses plaintext on disk; transition mode reads it; both always write cells", async () => {
      const patient = samplePatient("clinic-7");
      await as("clinic-7", () => driver.insert(patient));
      await db.query("UPDATE patients SET name = 'Legacy Plaintext Name' WHERE id = $1", [patient.id]);
      await expectCode(
        as("clinic-7", () => driver.findById(patient.id)),
        "ERR_NOT_ENCRYPTED",
      );
      const read = await as("clinic-7", () => transition.findById(patient.id));
      expect(read?.name).toBe("Legacy Plaintext Name");
      expect(read?.email).toBe(patient.email);
      await as("clinic-7", () => transition.update(patient.id, patient.clinic_id, { name: "Now Encrypted" }));
      expect(String((await rawRow(db, patient.id)).name).startsWith("fc1.")).toBe(true);
      expect((await as("clinic-7", () => driver.findById(patient.id)))?.name).toBe("Now Encrypted");
    });

    it("a value is never encrypted twice", async () => {
      const first = samplePatient("clinic-7");
      await as("clinic-7", () => driver.insert(first));
      const cell = (await rawRow(db, first.id)).name as string;
      const again = samplePatient("clinic-7", { name: cell });
      await expectCode(
        as("clinic-7", () => driver.insert(again)),
        "ERR_ALREADY_ENCRYPTED",
      );
      expect(await db.query("SELECT id FROM patients WHERE id = $1", [again.id])).toEqual([]);
      await expectCellsOnDisk(db, first);
    });

    it("an ORM query error never shows the plaintext (the driver only ever had cells)", async () => {
      const patient = samplePatient("clinic-7", { name: "CANARY-NAME-9c41e", email: "canary.9c41e@example.org" });
      await as("clinic-7", () => driver.insert(patient));
      let caught: unknown;
      try {
        await as("clinic-7", () => driver.insertMany([{ ...patient }])); // duplicate primary key (a plain INSERT)
      } catch (error) {
        caught = error;
      }
      expect(caught, "a duplicate insert must fail").toBeDefined();
      const seen = [
        String(caught),
        (caught as Error).stack ?? "",
        inspect(caught, { depth: 8, showHidden: true }),
        JSON.stringify(caught, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "",
      ].join("\n");
      expect(seen).not.toContain("CANARY-NAME-9c41e");
      expect(seen).not.toContain("canary.9c41e");
      await expectCellsOnDisk(db, patient);
    });

    it("a unique index on the blind-index column refuses an equal value in the same clinic", async () => {
      await db.query("CREATE UNIQUE INDEX IF NOT EXISTS patients_email_unique ON patients (clinic_id, email_bidx)");
      try {
        const first = samplePatient("clinic-7", { email: "Unique.Person@example.org" });
        await as("clinic-7", () => driver.insert(first));
        const twin = samplePatient("clinic-7", { email: "  unique.person@EXAMPLE.org" });
        await expect(as("clinic-7", () => driver.insert(twin))).rejects.toBeDefined();
        expect(await as("clinic-7", () => driver.findById(twin.id))).toBeNull();
        const elsewhere = samplePatient("clinic-9", { email: "unique.person@example.org" });
        await as("clinic-9", () => driver.insert(elsewhere));
        expectSamePatient(await as("clinic-9", () => driver.findById(elsewhere.id)), elsewhere);
        await expectCellsOnDisk(db, first);
        await expectCellsOnDisk(db, elsewhere);
      } finally {
        await db.query("DROP INDEX patients_email_unique");
      }
    });

    it("relations: a patient with its visits, every level decrypted", async (ctx) => {
      if (driver.findPatientWithVisits === undefined) {
        ctx.skip();
        return;
      }
      const patient = samplePatient("clinic-9");
      await as("clinic-9", () => driver.insert(patient));
      const visits = [1, 2].map((i) => ({
        id: `${patient.id}-v${i}`,
        patient_id: patient.id,
        clinic_id: patient.clinic_id,
        summary: `Visit summary ${i} for ${patient.id}`,
      }));
      for (const visit of visits) await as("clinic-9", () => driver.insertVisit(visit));
      const withVisits = driver.findPatientWithVisits.bind(driver);
      const found = await as("clinic-9", () => withVisits(patient.id));
      expectSamePatient(found, patient);
      await expectCellsOnDisk(db, patient);
      expect(found?.visits.map((v) => v.summary).sort()).toEqual(visits.map((v) => v.summary).sort());
      const raw = await db.query<{ summary: string }>("SELECT summary FROM visits WHERE patient_id = $1", [patient.id]);
      for (const row of raw) expect(row.summary.startsWith("fc1.")).toBe(true);
    });

    it("after a key rotation old rows still read and search finds old and new rows", async () => {
      const old = samplePatient("clinic-7", { email: "rotating@example.org" });
      await as("clinic-7", () => driver.insert(old));
      const rotated = createKeyring([
        { id: "v1", secret: v1 },
        { id: "v2", secret: v2, primary: true },
      ]);
      const next = await open(rotated, "strict");
      try {
        const fresh = samplePatient("clinic-7", { email: "rotating@example.org" });
        await as("clinic-7", () => next.insert(fresh));
        expect(inspectCell((await rawRow(db, fresh.id)).name as string).keyId).toBe("v2");
        expectSamePatient(await as("clinic-7", () => next.findById(old.id)), old);
        const found = (await as("clinic-7", () => next.findByEmail("clinic-7", "rotating@example.org")))
          .map((p) => p.id)
          .sort();
        expect(found).toEqual([old.id, fresh.id].sort());
      } finally {
        await next.close();
      }
    });
  });
}
