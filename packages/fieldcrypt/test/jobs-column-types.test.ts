// The SQL types a job keeps cells in (spec/jobs-v1.md §2.1), on a real database: json/jsonb hold a
// cell as a JSON string (an import in place reads the legacy envelope out of the JSON and writes the
// cell back as JSON; rotate, verify and decrypt read it), varchar(n) holds a cell that fits (one
// that does not fails its row, never truncated), and any other type is refused before the first
// batch with the migration to take. Versioned-JSON envelopes are made by Python's `cryptography`.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { inspectCell, isCell } from "../src/cell/index.js";
import { encryptedColumn } from "../src/column/index.js";
import { type JobDatabase, listJobErrors, runJob } from "../src/jobs/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { versionedJsonFormat } from "../src/legacy/index.js";
import { encryptedTable, type TableColumnOptions } from "../src/table/index.js";
import { type TestDb, useJobTestDb } from "./db.js";
import { assertFieldcryptError, keyBytes, needs, rejection } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "legacy_producer.py");
const pythonCheck = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the versioned-JSON producer of jobs-column-types)",
  "install python3 and `pip install cryptography`",
);

const ring = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const ringV2 = createKeyring([
  { id: "v1", secret: keyBytes(1) },
  { id: "v2", secret: keyBytes(2), primary: true },
]);
const legacyKey = randomBytes(32);
const messages = ["first secret", "second — ✓", ""];

let tdb: TestDb;
let db: JobDatabase;
useJobTestDb({ max: 4, drop: ["vault"] }, (opened) => {
  ({ tdb, db } = opened);
});

/** Versioned-JSON envelopes (JSON text) of `messages`, sealed by Python. */
function envelopes(): string[] {
  const run = spawnSync("python3", [SCRIPT], {
    input: JSON.stringify([{ op: "versioned_json", key_hex: legacyKey.toString("hex"), version: "v1", messages }]),
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { cells: string[] }[])[0]?.cells as string[];
}

function vault(keyring = ring, secret: TableColumnOptions = { type: "string" }) {
  return encryptedTable(keyring, { table: "vault", primaryKey: ["id"], columns: { secret } });
}

const importing = { type: "string", legacy: versionedJsonFormat({ keys: { v1: legacyKey } }) } as const;

/** Jobs of this test: a refusal before the first batch leaves none. */
async function jobCount(): Promise<number> {
  const [row] = await tdb.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM fieldcrypt_jobs WHERE table_name = 'vault'",
  );
  return row?.n as number;
}

describe.skipIf(!hasPython)("json and jsonb: a cell stored as a JSON string", () => {
  for (const type of ["jsonb", "json"] as const) {
    it(`${type}: an import in place reads the envelope out of the JSON and writes the cell back as JSON`, async () => {
      await tdb.query(`CREATE TABLE vault (id integer PRIMARY KEY, secret ${type})`);
      await tdb.query(`INSERT INTO vault SELECT * FROM unnest($1::integer[], $2::${type}[])`, [[1, 2, 3], envelopes()]);
      await tdb.query("INSERT INTO vault VALUES (4, NULL)");
      const result = await runJob(db, vault(ring, importing), { kind: "import" });
      expect(result).toMatchObject({ processed: 4, changed: 3, failed: 0 });
      expect(await listJobErrors(db, result.jobId as string)).toEqual([]);
      // On disk: a JSON string holding a text cell (SQL NULL stays NULL).
      const disk = await tdb.query<{ kind: string | null; cell: string | null }>(
        `SELECT ${type}_typeof(secret) AS kind, secret #>> '{}' AS cell FROM vault ORDER BY id`,
      );
      expect(disk.map((r) => r.kind)).toEqual(["string", "string", "string", null]);
      expect(disk.slice(0, 3).every((r) => isCell(r.cell) && inspectCell(r.cell as string).keyId === "v1")).toBe(true);
      // The app reads it as the driver returns it (parsed: the cell string); the JSON text itself
      // (`"fc1.…"`, read with ::text) is a second spelling of the cell and is refused (spec §3.7).
      const parsed = await tdb.query<{ id: number; secret: unknown }>("SELECT id, secret FROM vault ORDER BY id");
      expect(parsed.map((r) => vault(ring, importing).decryptRow(r).secret)).toEqual([...messages, null]);
      const text = await tdb.query<{ id: number; secret: string | null }>(
        "SELECT id, secret::text AS secret FROM vault ORDER BY id",
      );
      expect(text[0]?.secret?.startsWith('"fc1.')).toBe(true);
      expect(() => vault(ring, importing).decryptRow(text[0] as { id: number; secret: string })).toThrow(
        expect.objectContaining({ code: "ERR_NOT_ENCRYPTED" }),
      );
      // The job's own reads of the JSON cells: a second import, verify and rotate.
      expect(await runJob(db, vault(ring, importing), { kind: "import" })).toMatchObject({ changed: 0, failed: 0 });
      expect(await runJob(db, vault(ring), { kind: "verify" })).toMatchObject({ processed: 4, failed: 0 });
      expect(await runJob(db, vault(ringV2), { kind: "rotate", keyring: ringV2 })).toMatchObject({
        changed: 3,
        failed: 0,
      });
      const rotated = await tdb.query<{ cell: string }>(
        `SELECT secret #>> '{}' AS cell FROM vault WHERE secret IS NOT NULL ORDER BY id`,
      );
      expect(rotated.map((r) => inspectCell(r.cell).keyId)).toEqual(["v2", "v2", "v2"]);
      expect(await runJob(db, vault(ringV2), { kind: "verify" })).toMatchObject({ failed: 0 });
    });
  }
});

describe("json and jsonb: encrypt and decrypt jobs", () => {
  it("jsonb of JSON values: encrypt seals each as a JSON-string cell, decrypt writes the values back", async () => {
    const values = [{ a: 1, b: ["x", null] }, [1, 2, 3], { nested: { ok: true } }];
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret jsonb)");
    await tdb.query("INSERT INTO vault SELECT * FROM unnest($1::integer[], $2::jsonb[])", [
      [1, 2, 3],
      values.map((v) => JSON.stringify(v)),
    ]);
    const table = vault(ring, { type: "json" });
    expect(await runJob(db, table, { kind: "encrypt" })).toMatchObject({ changed: 3, failed: 0 });
    const disk = await tdb.query<{ kind: string; cell: string }>(
      "SELECT jsonb_typeof(secret) AS kind, secret #>> '{}' AS cell FROM vault ORDER BY id",
    );
    expect(disk.every((r) => r.kind === "string" && isCell(r.cell))).toBe(true);
    expect(
      (await tdb.query("SELECT id, secret FROM vault ORDER BY id")).map((r) => table.decryptRow(r).secret),
    ).toEqual(values);
    expect(await runJob(db, table, { kind: "decrypt" })).toMatchObject({ changed: 3, failed: 0 });
    const back = await tdb.query<{ secret: unknown }>("SELECT secret FROM vault ORDER BY id");
    expect(back.map((r) => r.secret)).toEqual(values);
  });
});

describe("varchar(n)", () => {
  it("too short for any cell: refused before the first batch, naming the column and the length needed", async () => {
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret varchar(40))");
    await tdb.query("INSERT INTO vault VALUES (1, 'x')");
    assertFieldcryptError(
      await rejection(runJob(db, vault(), { kind: "encrypt" })),
      "ERR_INVALID_OPTION",
      'vault.secret is character varying(40), too short for any cell (at least 66 characters, more for longer values): migrate with ALTER TABLE "vault" ALTER COLUMN "secret" TYPE text',
    );
    expect(await jobCount()).toBe(0);
    expect(await tdb.query("SELECT secret FROM vault")).toEqual([{ secret: "x" }]);
  });

  it("a cell longer than n fails its row (ERR_VALUE_TOO_LARGE), never truncated; the others are sealed", async () => {
    // An XAES-256-GCM cell under key "v1" is 67 characters for an empty string, +4 per 3 bytes.
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret varchar(90))");
    await tdb.query("INSERT INTO vault VALUES (1, 'short'), (2, $1), (3, 'tiny')", ["y".repeat(60)]);
    const result = await runJob(db, vault(), { kind: "encrypt" });
    expect(result).toMatchObject({ processed: 3, changed: 2, failed: 1 });
    const errors = await listJobErrors(db, result.jobId as string);
    expect(errors.map((e) => [e.rowKey, e.column, e.code])).toEqual([[["2"], "secret", "ERR_VALUE_TOO_LARGE"]]);
    const rows = await tdb.query<{ id: number; secret: string }>("SELECT id, secret FROM vault ORDER BY id");
    expect(rows[1]?.secret).toBe("y".repeat(60));
    expect([rows[0], rows[2]].every((r) => isCell(r?.secret) && (r?.secret.length as number) <= 90)).toBe(true);
    expect([rows[0], rows[2]].map((r) => vault().decryptRow(r as Record<string, unknown>).secret)).toEqual([
      "short",
      "tiny",
    ]);
  });

  it("long enough: an import and an encrypt write whole cells", async () => {
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret varchar(200))");
    await tdb.query("INSERT INTO vault VALUES (1, 'plain'), (2, NULL)");
    expect(await runJob(db, vault(), { kind: "encrypt" })).toMatchObject({ changed: 1, failed: 0 });
    const [row] = await tdb.query<{ id: number; secret: string }>("SELECT id, secret FROM vault WHERE id = 1");
    expect(isCell(row?.secret)).toBe(true);
    expect(vault().decryptRow(row as Record<string, unknown>).secret).toBe("plain");
    expect(await runJob(db, vault(), { kind: "verify" })).toMatchObject({ failed: 0 });
  });

  it("the error of a cell that does not fit names the column and the length needed, not the value", async () => {
    const { checkColumnTypes, checkFits } = await import("../src/jobs/column-types.js");
    const column = encryptedColumn(ring, { table: "vault", column: "secret" });
    const storage = checkColumnTypes(
      "vault",
      [{ name: "secret", column }],
      new Map([["secret", "character varying(90)"]]),
    );
    const cell = column.encrypt("y".repeat(60)) as string;
    let error: unknown;
    try {
      checkFits(storage, "vault", "secret", cell);
    } catch (e) {
      error = e;
    }
    assertFieldcryptError(
      error,
      "ERR_VALUE_TOO_LARGE",
      `vault.secret: the new value needs ${cell.length} characters, but the column is character varying(90)`,
    );
  });
});

describe("other column types are refused before the first batch", () => {
  it("integer: names the column, its type and the migration", async () => {
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret integer)");
    await tdb.query("INSERT INTO vault VALUES (1, 5)");
    assertFieldcryptError(
      await rejection(runJob(db, vault(ring, { type: "number" }), { kind: "encrypt" })),
      "ERR_INVALID_OPTION",
      'vault.secret is integer, which cannot hold cells (text, varchar, json, jsonb; bytea for form "binary"): migrate with ALTER TABLE "vault" ALTER COLUMN "secret" TYPE text USING "secret"::text',
    );
    expect(await jobCount()).toBe(0);
    expect(await tdb.query("SELECT secret FROM vault")).toEqual([{ secret: 5 }]);
  });

  it("uuid with form binary: the bytea migration", async () => {
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret uuid)");
    assertFieldcryptError(
      await rejection(runJob(db, vault(ring, { form: "binary" }), { kind: "verify" })),
      "ERR_INVALID_OPTION",
      `vault.secret is uuid, which cannot hold cells (text, varchar, json, jsonb; bytea for form "binary"): migrate with ALTER TABLE "vault" ALTER COLUMN "secret" TYPE bytea USING convert_to("secret"::text, 'UTF8')`,
    );
  });

  it("a form that does not match the column: text cells in bytea, binary cells in text", async () => {
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret bytea)");
    assertFieldcryptError(
      await rejection(runJob(db, vault(), { kind: "encrypt" })),
      "ERR_INVALID_OPTION",
      'vault.secret is bytea, which holds binary cells: declare the column with form "binary" (or, while it holds no cells, migrate with ALTER TABLE "vault" ALTER COLUMN "secret" TYPE text)',
    );
    await tdb.query("DROP TABLE vault");
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret text)");
    assertFieldcryptError(
      await rejection(runJob(db, vault(ring, { form: "binary" }), { kind: "encrypt" })),
      "ERR_INVALID_OPTION",
      'vault.secret is text, which holds text cells: declare the column with form "text" (or, while it holds no cells, migrate with ALTER TABLE "vault" ALTER COLUMN "secret" TYPE bytea)',
    );
    expect(await jobCount()).toBe(0);
  });
});
