// Transform threads (RunJobOptions.threads) on a real database (PGlite, or the server at
// DATABASE_URL). A worker thread runs built JavaScript, so this file imports the BUILT package by
// name (`npm test` builds it first), like an app would.
import { inspectCell, isCell } from "fieldcrypt/cell";
import { isFieldcryptError } from "fieldcrypt/errors";
import { type JobDatabase, listJobErrors, runJob } from "fieldcrypt/jobs";
import { createKeyring } from "fieldcrypt/keyring";
import { fernetFormat } from "fieldcrypt/legacy";
import { encryptedTable } from "fieldcrypt/table";
import { describe, expect, it } from "vitest";
import { keyringData, TransformThreads } from "../dist/jobs/threads.js";
import { type TestDb, useJobTestDb } from "./db.js";
import { keyBytes, rejection } from "./helpers.js";

/** The built package's errors are not the source's classes: check by code and message. */
function assertFieldcryptError(error: unknown, code: string, message: string): void {
  expect(isFieldcryptError(error, code as Parameters<typeof isFieldcryptError>[1])).toBe(true);
  expect((error as Error).message).toBe(message);
}

const ringV1 = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const ringV2 = createKeyring([
  { id: "v1", secret: keyBytes(1) },
  { id: "v2", secret: keyBytes(2), primary: true },
]);
const notes = (ring: typeof ringV1) =>
  encryptedTable(ring, {
    table: "notes",
    primaryKey: ["id"],
    scope: { column: "clinic_id" },
    columns: {
      body: { type: "string", mode: "transition" },
      email: {
        type: "string",
        mode: "transition",
        blindIndex: { column: "email_bidx", normalize: ["trim", "lowercase"] },
      },
    },
  });

let tdb: TestDb;
let db: JobDatabase;
useJobTestDb(
  {
    max: 4,
    drop: ["notes"],
    setup: async (tdb) => {
      await tdb.query(
        "CREATE TABLE notes (id integer PRIMARY KEY, clinic_id text, body text, email text, email_bidx text)",
      );
      await tdb.query(
        `INSERT INTO notes (id, clinic_id, body, email)
       SELECT g, 'clinic-' || (g % 3), 'note ' || g, ' User' || g || '@Example.org' FROM generate_series(1, 600) g`,
      );
    },
  },
  (opened) => {
    ({ tdb, db } = opened);
  },
);

describe("transform threads", () => {
  it("encrypt then rotate on 2 threads: every cell on the primary, blind indexes recomputed, failures recorded", async () => {
    const encrypted = await runJob(db, notes(ringV1), { kind: "encrypt", threads: 2, workers: 2, batchSize: 50 });
    expect(encrypted).toMatchObject({ status: "done", processed: 600, changed: 600, failed: 0 });
    // Row 7: a corrupt cell; row 8: a row whose scope is missing (its context cannot be computed).
    await tdb.query("UPDATE notes SET body = 'fc1.' || repeat('A', 80) WHERE id = 7");
    await tdb.query("UPDATE notes SET clinic_id = NULL WHERE id = 8");

    const result = await runJob(db, notes(ringV2), { kind: "rotate", keyring: ringV2, threads: 2, batchSize: 64 });
    expect(result).toMatchObject({ status: "done", processed: 600, failed: 2 });
    const errors = (await listJobErrors(db, result.jobId as string)).map((e) => [
      e.rowKey[0],
      e.column,
      e.scope,
      e.code,
      e.errorClass,
    ]);
    // The class crosses back from the thread with the code; row 8 has no scope to record.
    expect(errors).toEqual([
      ["7", "body", "clinic-1", "ERR_INVALID_CELL", "InvalidCell"],
      ["8", "body", null, "ERR_INVALID_CONTEXT", "InvalidContext"],
      ["8", "email", null, "ERR_INVALID_CONTEXT", "InvalidContext"],
    ]);
    const table = notes(ringV2);
    const rows = await tdb.query<{ id: number; clinic_id: string; body: string; email: string; email_bidx: string }>(
      "SELECT * FROM notes WHERE id NOT IN (7, 8) ORDER BY id",
    );
    expect(rows).toHaveLength(598);
    for (const row of rows) {
      expect(isCell(row.body) && isCell(row.email)).toBe(true);
      expect(inspectCell(row.body).keyId).toBe("v2");
      expect(table.decryptRow(row)).toMatchObject({ body: `note ${row.id}`, email: ` User${row.id}@Example.org` });
      expect(row.email_bidx).toBe(
        table.searchValues("email", `user${row.id}@example.org`, { scope: row.clinic_id })[0],
      );
    }
    // The same job without threads agrees: nothing left to rotate.
    expect(await runJob(db, notes(ringV2), { kind: "rotate", keyring: ringV2 })).toMatchObject({ changed: 0 });
  });

  it("verify and decrypt run on threads too", async () => {
    await runJob(db, notes(ringV1), { kind: "encrypt" });
    expect(await runJob(db, notes(ringV1), { kind: "verify", threads: 1 })).toMatchObject({
      processed: 600,
      failed: 0,
    });
    const back = await runJob(db, notes(ringV1), { kind: "decrypt", threads: 1, batchSize: 128 });
    expect(back).toMatchObject({ changed: 600, failed: 0 });
    const [row] = await tdb.query<{ body: string; email: string }>("SELECT body, email FROM notes WHERE id = 5");
    expect(row).toEqual({ body: "note 5", email: " User5@Example.org" });
  });

  it("refuses what cannot cross to a thread: legacy formats, custom normalizers, import jobs, bad counts", async () => {
    const legacy = encryptedTable(ringV1, {
      table: "notes",
      primaryKey: ["id"],
      columns: { body: { legacy: fernetFormat({ key: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=" }) } },
    });
    assertFieldcryptError(
      await rejection(runJob(db, legacy, { kind: "rotate", keyring: ringV1, threads: 1 })),
      "ERR_INVALID_OPTION",
      "notes.body: threads are not available for columns with a legacy format",
    );
    assertFieldcryptError(
      await rejection(runJob(db, legacy, { kind: "import", threads: 1 })),
      "ERR_INVALID_OPTION",
      "threads are not available for import jobs: legacy formats run on the main thread",
    );
    const custom = encryptedTable(ringV1, {
      table: "notes",
      primaryKey: ["id"],
      columns: { email: { blindIndex: { column: "email_bidx", normalize: [(v: string) => v.trim()] } } },
    });
    assertFieldcryptError(
      await rejection(runJob(db, custom, { kind: "encrypt", threads: 1 })),
      "ERR_INVALID_OPTION",
      "notes.email: threads are not available for blind indexes with custom normalizer functions",
    );
    assertFieldcryptError(
      await rejection(runJob(db, notes(ringV1), { kind: "encrypt", threads: 65 })),
      "ERR_INVALID_OPTION",
      "threads must be an integer from 0 to 64",
    );
    // Nothing was written by the refused jobs.
    const [{ n }] = (await tdb.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM notes WHERE body LIKE 'fc1.%'",
    )) as [{ n: string }];
    expect(n).toBe("0");
  });

  it("a thread that dies fails its batch and every later one, instead of hanging", async () => {
    // A column option the thread cannot build a column from: the thread throws while starting.
    const threads = new TransformThreads(1, {
      kind: "rotate",
      tableKeyring: keyringData(ringV1),
      jobKeyring: undefined,
      targets: [{ name: "body", table: "notes", options: { type: "no-such-type" }, blindIndex: undefined }],
    });
    const batch = { scopes: ["a"], rowKeys: ["1"], contextErrors: [undefined], stored: [["x"]], storedIndex: [[]] };
    await expect(threads.transform(batch)).rejects.toThrow();
    await expect(threads.transform(batch)).rejects.toThrow();
    await threads.close();
  });
});
