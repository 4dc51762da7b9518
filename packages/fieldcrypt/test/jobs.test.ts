import { beforeAll, describe, expect, it } from "vitest";
import { createAuditor, ensureAuditTable, verifyAudit } from "../src/audit/index.js";
import { inspectCell, isCell } from "../src/cell/index.js";
import { DecryptionFailed } from "../src/errors/index.js";
import { errorClass } from "../src/jobs/error-code.js";
import {
  ensureJobTables,
  getJob,
  type JobDatabase,
  listJobErrors,
  listJobRuns,
  type Queryable,
  runJob,
  sessionDatabase,
} from "../src/jobs/index.js";
import { BEFORE_WRITE } from "../src/jobs/test-hooks.js";
import { createKeyring, type Keyring } from "../src/keyring/index.js";
import { type EncryptedTable, encryptedTable } from "../src/table/index.js";
import { queryable, type TestDb, useJobTestDb } from "./db.js";
import { assertFieldcryptError, keyBytes, rejection } from "./helpers.js";

const ringV1 = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const ringV2 = createKeyring([
  { id: "v1", secret: keyBytes(1) },
  { id: "v2", secret: keyBytes(2), primary: true },
]);
const ringV9 = createKeyring([{ id: "v9", secret: keyBytes(9), primary: true }]);

function notesTable(keyring: Keyring): EncryptedTable {
  return encryptedTable(keyring, {
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
}

interface NoteRow extends Record<string, unknown> {
  id: number;
  clinic_id: string;
  body: string | null;
  email: string | null;
  email_bidx: string | null;
}

let tdb: TestDb;
let db: JobDatabase;
useJobTestDb(
  {
    max: 3,
    drop: ["notes", "visits"],
    setup: async (tdb) => {
      await tdb.query(
        "CREATE TABLE notes (id integer PRIMARY KEY, clinic_id text NOT NULL, body text, email text, email_bidx text)",
      );
    },
  },
  (opened) => {
    ({ tdb, db } = opened);
  },
);

beforeAll(async () => {
  await ensureJobTables(db); // idempotent
});

const originals = new Map<number, { body: string | null; email: string | null }>();

/** Rows 1..n: a third plaintext, a third cells under `ring`'s primary, a third with NULLs. */
async function seed(n: number, ring: Keyring = ringV1): Promise<void> {
  originals.clear();
  const table = notesTable(ring);
  for (let id = 1; id <= n; id++) {
    const body = id % 3 === 0 ? null : `note ${id} ✓`;
    const email = id % 3 === 0 ? null : ` User${id}@Example.org`;
    originals.set(id, { body, email });
    const row = { id, clinic_id: `clinic-${id % 2}`, body, email };
    const stored = id % 3 === 1 ? table.encryptRow(row) : { ...row, email_bidx: null };
    await tdb.query("INSERT INTO notes (id, clinic_id, body, email, email_bidx) VALUES ($1, $2, $3, $4, $5)", [
      stored.id,
      stored.clinic_id,
      stored.body,
      stored.email,
      (stored as { email_bidx?: string | null }).email_bidx ?? null,
    ]);
  }
}

const raw = () => tdb.query<NoteRow>("SELECT * FROM notes ORDER BY id");

/** Every value decrypts (under `ring`) to its original; cells where `cells`, NULLs stay NULL. */
async function expectAllEncrypted(ring: Keyring, keyId: string): Promise<void> {
  const table = notesTable(ring);
  for (const row of await raw()) {
    const original = originals.get(row.id);
    for (const column of ["body", "email"] as const) {
      const value = row[column];
      if (original?.[column] === null) {
        expect(value).toBeNull();
        continue;
      }
      expect(isCell(value)).toBe(true);
      expect(inspectCell(value as string).keyId).toBe(keyId);
    }
    expect(table.decryptRow(row)).toMatchObject({ body: original?.body, email: original?.email });
    if (original?.email === null) expect(row.email_bidx).toBeNull();
    else
      expect(row.email_bidx).toBe(table.searchValues("email", original?.email as string, { scope: row.clinic_id })[0]);
  }
}

describe("encrypt", () => {
  it("seals plaintext, skips cells and NULLs, fills blind indexes", async () => {
    await seed(10);
    const before = await raw();
    const result = await runJob(db, notesTable(ringV1), { kind: "encrypt", batchSize: 3 });
    expect(result).toMatchObject({ status: "done", processed: 10, changed: 3, skipped: 0, failed: 0, batches: 4 });
    expect(result.cursor).toEqual(["10"]);
    await expectAllEncrypted(ringV1, "v1");
    const after = await raw();
    // Cells that were there are untouched (same bytes).
    for (const row of before.filter((r) => r.id % 3 === 1)) expect(after[row.id - 1]).toEqual(row);
    const job = await getJob(db, result.jobId as string);
    expect(job).toMatchObject({
      status: "done",
      kind: "encrypt",
      table: "notes",
      columns: ["body", "email"],
      processed: 10,
    });
    expect(job?.finishedAt).toBeInstanceOf(Date);
    // A second pass finds nothing to do.
    expect(await runJob(db, notesTable(ringV1), { kind: "encrypt" })).toMatchObject({ processed: 10, changed: 0 });
  });

  it("one column at a time (phased rollout)", async () => {
    await seed(4);
    const result = await runJob(db, notesTable(ringV1), { kind: "encrypt", columns: ["body"] });
    expect(result.changed).toBe(1);
    const rows = await raw();
    expect(rows.find((r) => r.id === 2)).toMatchObject({ email: " User2@Example.org", email_bidx: null });
    expect(isCell(rows.find((r) => r.id === 2)?.body)).toBe(true);
  });

  it("an empty table: done, nothing read", async () => {
    const result = await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    expect(result).toMatchObject({ status: "done", processed: 0, changed: 0, batches: 0, cursor: null });
    expect(await raw()).toEqual([]);
  });
});

describe("rotate", () => {
  it("moves every cell to the primary key and recomputes blind indexes", async () => {
    await seed(10);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const result = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, batchSize: 4 });
    expect(result).toMatchObject({ status: "done", processed: 10, changed: 7, failed: 0, batches: 3 });
    await expectAllEncrypted(ringV2, "v2");
    for (const row of await raw()) if (row.email_bidx !== null) expect(row.email_bidx.startsWith("bi1:v2:")).toBe(true);
    expect(await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2 })).toMatchObject({ changed: 0 });
  });

  it("leaves plaintext alone and needs the keyring", async () => {
    await seed(3);
    const result = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2 });
    expect(result.changed).toBe(1);
    expect((await raw())[1]?.body).toBe("note 2 ✓");
    assertFieldcryptError(
      await rejection(runJob(db, notesTable(ringV2), { kind: "rotate" })),
      "ERR_INVALID_OPTION",
      "a rotate job needs the keyring",
    );
  });

  it("records a corrupt cell and a cell on a missing key, and finishes the rest", async () => {
    await seed(6);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const rows = await raw();
    const cell = rows[1]?.body as string;
    // Flip one payload character: still a well-formed cell, no longer authentic.
    const corrupt = cell.slice(0, -3) + (cell.at(-3) === "A" ? "B" : "A") + cell.slice(-2);
    await tdb.query("UPDATE notes SET body = $1 WHERE id = 2", [corrupt]);
    const foreign = notesTable(ringV9).encryptRow({ id: 4, clinic_id: "clinic-0", email: "x@example.org" });
    await tdb.query("UPDATE notes SET email = $1 WHERE id = 4", [foreign.email]);

    const result = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, batchSize: 2 });
    expect(result).toMatchObject({ status: "done", processed: 6, failed: 2 });
    const errors = await listJobErrors(db, result.jobId as string);
    expect(errors.map(({ jobId, createdAt, ...e }) => e)).toEqual([
      {
        table: "notes",
        rowKey: ["2"],
        column: "body",
        scope: "clinic-0",
        code: "ERR_DECRYPTION_FAILED",
        errorClass: "DecryptionFailed",
      },
      {
        table: "notes",
        rowKey: ["4"],
        column: "email",
        scope: "clinic-0",
        code: "ERR_KEY_NOT_FOUND",
        errorClass: "KeyNotFound",
      },
    ]);
    // On disk: the scope value (the row's clinic_id, as text) and the class name, never the message.
    const onDisk = await tdb.query<Record<string, unknown>>(
      "SELECT row_key, column_name, scope, code, error_class FROM fieldcrypt_job_errors WHERE job_id = $1 ORDER BY id",
      [result.jobId],
    );
    expect(onDisk).toEqual([
      {
        row_key: '["2"]',
        column_name: "body",
        scope: "clinic-0",
        code: "ERR_DECRYPTION_FAILED",
        error_class: "DecryptionFailed",
      },
      {
        row_key: '["4"]',
        column_name: "email",
        scope: "clinic-0",
        code: "ERR_KEY_NOT_FOUND",
        error_class: "KeyNotFound",
      },
    ]);
    // The errors table holds no data: only identifiers and codes.
    const stored = await tdb.query<Record<string, unknown>>("SELECT * FROM fieldcrypt_job_errors");
    expect(JSON.stringify(stored)).not.toMatch(/decryption failed|is not in the keyring/);
    expect(JSON.stringify(stored)).not.toContain("fc1.");
    expect(JSON.stringify(stored)).not.toMatch(/note \d|example\.org/i);
    const after = await raw();
    expect(after[1]?.body).toBe(corrupt);
    expect(after[3]?.email).toBe(foreign.email);
    expect(inspectCell(after[1]?.email as string).keyId).toBe("v2"); // the row's other cell rotated
    expect(inspectCell(after[3]?.body as string).keyId).toBe("v2");
    for (const row of after.filter((r) => r.id !== 2 && r.id !== 4 && r.body !== null)) {
      expect(inspectCell(row.body as string).keyId).toBe("v2");
    }
    expect((await getJob(db, result.jobId as string))?.failed).toBe(2);
  });
});

describe("decrypt (roll back)", () => {
  it("turns cells back into plaintext", async () => {
    await seed(7);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const result = await runJob(db, notesTable(ringV2), { kind: "decrypt", batchSize: 5 });
    expect(result).toMatchObject({ status: "done", processed: 7, changed: 5, failed: 0 });
    for (const row of await raw()) {
      expect({ body: row.body, email: row.email }).toEqual(originals.get(row.id));
    }
  });
});

describe("verify", () => {
  it("decrypts every cell, counts failures, writes nothing", async () => {
    await seed(6);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    await tdb.query("UPDATE notes SET body = 'fc1.AAAA' WHERE id = 5");
    const before = await raw();
    const result = await runJob(db, notesTable(ringV2), { kind: "verify" });
    expect(result).toMatchObject({ status: "done", processed: 6, changed: 0, failed: 1 });
    expect(await raw()).toEqual(before);
    const errors = await listJobErrors(db, result.jobId as string);
    expect(errors.map((e) => [e.rowKey, e.column, e.code])).toEqual([[["5"], "body", "ERR_INVALID_CELL"]]);
  });

  it("in a strict column, plaintext and legacy values fail the row (ERR_NOT_ENCRYPTED); in transition mode they are left alone", async () => {
    await seed(4);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    await tdb.query("UPDATE notes SET body = 'still plaintext' WHERE id = 2");
    await tdb.query("UPDATE notes SET body = 'gAAAAAB-a-legacy-fernet-token' WHERE id = 3");
    const strict = encryptedTable(ringV1, {
      table: "notes",
      primaryKey: ["id"],
      scope: { column: "clinic_id" },
      columns: { body: { type: "string" } },
    });
    const result = await runJob(db, strict, { kind: "verify" });
    expect(result).toMatchObject({ status: "done", processed: 4, changed: 0, failed: 2 });
    const errors = await listJobErrors(db, result.jobId as string);
    expect(errors.map((e) => [e.rowKey, e.code])).toEqual([
      [["2"], "ERR_NOT_ENCRYPTED"],
      [["3"], "ERR_NOT_ENCRYPTED"],
    ]);
    // The transition-mode table of these tests: the same rows verify with no failure.
    expect(await runJob(db, notesTable(ringV1), { kind: "verify" })).toMatchObject({ failed: 0, processed: 4 });
  });

  it("a sample reads and decrypts about that fraction of the rows, in key order, across batches", async () => {
    await tdb.query(
      "INSERT INTO notes (id, clinic_id, body) SELECT g, 'clinic-' || (g % 2), 'note ' || g FROM generate_series(1, 2000) g",
    );
    await runJob(db, notesTable(ringV1), { kind: "encrypt", batchSize: 1000 });
    // Every row is damaged: each sampled row fails, so the errors are exactly the sample.
    await tdb.query("UPDATE notes SET body = 'fc1.' || repeat('A', 80)");
    const seen: number[] = [];
    const result = await runJob(db, notesTable(ringV1), {
      kind: "verify",
      sample: 0.1,
      batchSize: 50,
      [BEFORE_WRITE]: ({ keys }) => {
        seen.push(...keys.map((k) => Number(k[0])));
      },
    });
    // Binomial(2000, 0.1): mean 200, standard deviation ~13.4; 120..280 is six deviations each way.
    expect(result.processed).toBeGreaterThan(120);
    expect(result.processed).toBeLessThan(280);
    expect(result.failed).toBe(result.processed);
    expect(seen).toHaveLength(result.processed);
    expect(seen).toEqual([...seen].sort((x, y) => x - y)); // forward only, no row twice
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.at(-1)).toBeGreaterThan(1600); // the sample spans the whole table
    expect((await listJobErrors(db, result.jobId as string)).length).toBe(result.processed);
    // sample: 1 is every row; bad values and other kinds are refused.
    expect(await runJob(db, notesTable(ringV1), { kind: "verify", sample: 1 })).toMatchObject({ processed: 2000 });
    for (const [kind, sample, message] of [
      ["verify", 0, "sample must be a number greater than 0 and at most 1"],
      ["verify", 1.5, "sample must be a number greater than 0 and at most 1"],
      ["encrypt", 0.5, "sample is an option of verify jobs only"],
    ] as const) {
      assertFieldcryptError(
        await rejection(runJob(db, notesTable(ringV1), { kind, sample })),
        "ERR_INVALID_OPTION",
        message,
      );
    }
  });
});

describe("dry run", () => {
  it("computes everything and changes nothing", async () => {
    await seed(9);
    const before = await raw();
    const encrypt = await runJob(db, notesTable(ringV1), { kind: "encrypt", dryRun: true, batchSize: 4 });
    expect(encrypt).toMatchObject({ jobId: null, dryRun: true, status: "done", processed: 9, changed: 3, batches: 3 });
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const encrypted = await raw();
    const rotate = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, dryRun: true });
    expect(rotate).toMatchObject({ changed: 6 });
    expect(await raw()).toEqual(encrypted);
    expect(encrypted).not.toEqual(before);
    expect(await tdb.query("SELECT * FROM fieldcrypt_jobs WHERE kind = 'rotate'")).toEqual([]);
  });
});

describe("composite primary key", () => {
  it("pages by (tenant, n) and binds cells to both", async () => {
    await tdb.query("CREATE TABLE visits (tenant text, n integer, note text, PRIMARY KEY (tenant, n))");
    const visits = (ring: Keyring) =>
      encryptedTable(ring, {
        table: "visits",
        primaryKey: ["tenant", "n"],
        scope: { column: "tenant" },
        columns: { note: { type: "string", mode: "transition" } },
      });
    const expected: [string, number, string | null][] = [];
    for (const tenant of ["a", "b", "c"]) {
      for (let n = 1; n <= 4; n++) {
        const note = n === 4 ? null : `${tenant}${n}`;
        expected.push([tenant, n, note]);
        await tdb.query("INSERT INTO visits VALUES ($1, $2, $3)", [tenant, n, note]);
      }
    }
    const seen: string[] = [];
    const encrypted = await runJob(db, visits(ringV1), {
      kind: "encrypt",
      batchSize: 5,
      [BEFORE_WRITE]: ({ keys }) => {
        seen.push(...keys.map((k) => k.join("/")));
      },
    });
    expect(encrypted).toMatchObject({ processed: 12, changed: 9, batches: 3, cursor: ["c", "4"] });
    expect(seen).toEqual(expected.map(([t, n]) => `${t}/${n}`));
    const rotated = await runJob(db, visits(ringV2), { kind: "rotate", keyring: ringV2, batchSize: 2 });
    expect(rotated).toMatchObject({ processed: 12, changed: 9, batches: 6 });
    const rows = await tdb.query<{ tenant: string; n: number; note: string | null }>(
      "SELECT * FROM visits ORDER BY tenant, n",
    );
    const table = visits(ringV2);
    rows.forEach((row, i) => {
      expect(table.decryptRow(row).note).toBe(expected[i]?.[2]);
      if (row.note !== null) expect(inspectCell(row.note).keyId).toBe("v2");
    });
  });
});

describe("key check values in the run record", () => {
  it("refuses to resume with other material under the same key id, before writing a row", async () => {
    await seed(20);
    const controller = new AbortController();
    const first = await runJob(db, notesTable(ringV1), {
      kind: "encrypt",
      batchSize: 3,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.batches === 2) controller.abort();
      },
    });
    expect(first).toMatchObject({ status: "stopped", processed: 6 });
    const before = await raw();
    // A newly generated key that was given the same id.
    const regenerated = createKeyring([{ id: "v1", secret: keyBytes(7), primary: true }]);
    const v1 = ringV1.get("v1")?.checkValue as string;
    const other = regenerated.get("v1")?.checkValue as string;
    expect(other).not.toBe(v1);
    const error = await rejection(
      runJob(db, notesTable(regenerated), { kind: "encrypt", jobId: first.jobId as string }),
    );
    assertFieldcryptError(
      error,
      "ERR_KEY_MISMATCH",
      `key "v1" (${other}) is not the key "v1" that an earlier run of this job used (${v1})`,
    );
    expect(error).toMatchObject({ keyId: "v1", expectedCheckValue: v1, actualCheckValue: other });
    expect(await raw()).toEqual(before); // nothing written
    expect(await getJob(db, first.jobId as string)).toMatchObject({ processed: 6, cursor: ["6"] });
    // The run record says which material wrote which part of the job.
    const runs = await listJobRuns(db, { jobId: first.jobId as string });
    expect(runs.filter((r) => r.event === "start").map((r) => r.keys)).toEqual([
      [{ id: "v1", scope: undefined, state: "primary", checkValue: v1 }],
    ]);
    // With the original key, the job finishes.
    const resumed = await runJob(db, notesTable(ringV1), { kind: "encrypt", jobId: first.jobId as string });
    expect(resumed).toMatchObject({ status: "done", processed: 20, failed: 0 });
    await expectAllEncrypted(ringV1, "v1");
  });
});

describe("scope-safe compare-and-swap", () => {
  it("skips a row whose scope moved between read and write; the next pass binds it to its new scope", async () => {
    await tdb.query("CREATE TABLE moved (id integer PRIMARY KEY, clinic_id text, body text)");
    for (let id = 1; id <= 4; id++)
      await tdb.query("INSERT INTO moved VALUES ($1, 'clinic-a', $2)", [id, `note ${id}`]);
    const moved = encryptedTable(ringV1, {
      table: "moved",
      primaryKey: ["id"],
      scope: { column: "clinic_id" },
      columns: { body: { type: "string", mode: "transition" } },
    });
    let raced = false;
    const first = await runJob(db, moved, {
      kind: "encrypt",
      [BEFORE_WRITE]: async ({ tx }) => {
        if (raced) return;
        raced = true; // the app moves row 2 to another clinic while the batch is in flight
        await tx.query("UPDATE moved SET clinic_id = 'clinic-b' WHERE id = 2");
      },
    });
    expect(first).toMatchObject({ processed: 4, changed: 3, skipped: 1, failed: 0 });
    const afterFirst = await tdb.query<{ id: number; clinic_id: string; body: string }>(
      "SELECT * FROM moved ORDER BY id",
    );
    // On disk: row 2 kept its plaintext and its new clinic; no cell sealed under clinic-a's context.
    expect(afterFirst[1]).toEqual({ id: 2, clinic_id: "clinic-b", body: "note 2" });
    expect(afterFirst.filter((r) => isCell(r.body)).map((r) => r.id)).toEqual([1, 3, 4]);
    const second = await runJob(db, moved, { kind: "encrypt" });
    expect(second).toMatchObject({ changed: 1, skipped: 0, failed: 0 });
    const [row2] = await tdb.query<{ id: number; clinic_id: string; body: string }>("SELECT * FROM moved WHERE id = 2");
    expect(isCell(row2?.body)).toBe(true);
    expect(moved.decryptRow(row2 as Record<string, unknown>).body).toBe("note 2");
    // Bound to clinic-b: presented as clinic-a's row, it does not open.
    expect(() => moved.decryptRow({ ...row2, clinic_id: "clinic-a" })).toThrow(
      expect.objectContaining({ code: "ERR_DECRYPTION_FAILED" }),
    );
  });
});

describe("resume", () => {
  it("an aborted job resumes after its last committed batch; each row is processed once", async () => {
    await seed(20);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const table = notesTable(ringV2);
    const seen: string[] = [];
    const controller = new AbortController();
    const first = await runJob(db, table, {
      kind: "rotate",
      keyring: ringV2,
      batchSize: 3,
      signal: controller.signal,
      [BEFORE_WRITE]: ({ keys }) => {
        seen.push(...keys.map((k) => k[0] as string));
      },
      onProgress: (p) => {
        expect(p.rowsPerSecond).toBeGreaterThan(0);
        if (p.batches === 2) controller.abort();
      },
    });
    expect(first).toMatchObject({ status: "stopped", processed: 6, batches: 2, cursor: ["6"] });
    expect(await getJob(db, first.jobId as string)).toMatchObject({ status: "stopped", cursor: ["6"], processed: 6 });
    const keyIds = (await raw()).map((r) => (r.body === null ? null : inspectCell(r.body).keyId));
    expect(keyIds.slice(0, 6).filter((k) => k === "v1")).toEqual([]);
    expect(keyIds.slice(6).filter((k) => k === "v2")).toEqual([]);

    const second = await runJob(db, table, {
      kind: "rotate",
      keyring: ringV2,
      batchSize: 3,
      jobId: first.jobId as string,
      [BEFORE_WRITE]: ({ keys }) => {
        seen.push(...keys.map((k) => k[0] as string));
      },
    });
    expect(second).toMatchObject({ jobId: first.jobId, status: "done", processed: 20, batches: 7, failed: 0 });
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    await expectAllEncrypted(ringV2, "v2");
    // A finished job resumed again does nothing.
    expect(await runJob(db, table, { kind: "rotate", keyring: ringV2, jobId: first.jobId as string })).toMatchObject({
      status: "done",
      processed: 20,
    });
    assertFieldcryptError(
      await rejection(runJob(db, table, { kind: "encrypt", jobId: first.jobId as string })),
      "ERR_INVALID_OPTION",
    );
  });
});

describe("compare-and-swap", () => {
  it("a write between the batch's read and its update is kept and counted as skipped", async () => {
    await seed(6);
    // The app's concurrent write: on a server through another connection, on PGlite (one session)
    // through the batch's transaction.
    const writer = (tx: Queryable) => (tdb.kind === "server" ? { query: tdb.query } : tx);
    let once = false;
    const result = await runJob(db, notesTable(ringV1), {
      kind: "encrypt",
      batchSize: 10,
      [BEFORE_WRITE]: async ({ tx }) => {
        if (once) return;
        once = true;
        await writer(tx).query("UPDATE notes SET body = 'written by the app' WHERE id = 2");
      },
    });
    expect(result).toMatchObject({ processed: 6, changed: 1, skipped: 1, failed: 0 });
    const row2 = (await raw())[1];
    expect(row2?.body).toBe("written by the app");
    expect(row2?.email).toBe(" User2@Example.org"); // the whole row was left for the next pass
    const next = await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    expect(next).toMatchObject({ changed: 1, skipped: 0 });
    const row = (await raw())[1] as NoteRow;
    expect(notesTable(ringV1).decryptRow(row).body).toBe("written by the app");
  });

  it("a rotate never overwrites a cell the app rewrote", async () => {
    await seed(3);
    await runJob(db, notesTable(ringV1), { kind: "encrypt" });
    const appCell = notesTable(ringV2).encryptRow({ id: 1, clinic_id: "clinic-1", body: "new" }).body;
    const result = await runJob(db, notesTable(ringV2), {
      kind: "rotate",
      keyring: ringV2,
      [BEFORE_WRITE]: async ({ tx }) => {
        const w = tdb.kind === "server" ? { query: tdb.query } : tx;
        await w.query("UPDATE notes SET body = $1 WHERE id = 1", [appCell]);
      },
    });
    expect(result.skipped).toBe(1);
    expect((await raw())[0]?.body).toBe(appCell);
  });
});

describe("live writes", () => {
  it("rotation under concurrent writers loses no update and ends with every cell on the primary key", async () => {
    await tdb.query(
      "INSERT INTO notes (id, clinic_id, body) SELECT g, 'clinic-' || (g % 3), NULL FROM generate_series(1, 300) g",
    );
    const v1 = notesTable(ringV1);
    const v2 = notesTable(ringV2);
    const last = new Map<number, string>();
    const write = async (table: EncryptedTable, id: number, value: string) => {
      const cell = table.encryptRow({ id, clinic_id: `clinic-${id % 3}`, body: value }).body;
      await tdb.query("UPDATE notes SET body = $1 WHERE id = $2", [cell, id]);
      last.set(id, value);
    };
    for (let id = 1; id <= 300; id++) await write(v1, id, `initial ${id}`);
    let running = true;
    let writes = 0;
    const writer = (async () => {
      while (running) {
        const id = 1 + Math.floor(Math.random() * 300);
        await write(v2, id, `update ${++writes}`); // the app writes under the new primary
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    })();
    let result: Awaited<ReturnType<typeof runJob>>;
    try {
      result = await runJob(db, v2, { kind: "rotate", keyring: ringV2, batchSize: 10 });
    } finally {
      running = false;
      await writer;
    }
    expect(result.processed).toBe(300);
    expect(writes).toBeGreaterThan(0);
    // Rows skipped by the compare-and-swap were rewritten by the app under v2 already; a second
    // pass has nothing left to rotate.
    expect(await runJob(db, v2, { kind: "rotate", keyring: ringV2 })).toMatchObject({ changed: 0, failed: 0 });
    const rows = await tdb.query<NoteRow>("SELECT id, clinic_id, body FROM notes ORDER BY id");
    expect(rows).toHaveLength(300);
    for (const row of rows) {
      expect(inspectCell(row.body as string).keyId).toBe("v2");
      expect(v2.decryptRow(row).body).toBe(last.get(row.id));
    }
  });
});

describe("transactions", () => {
  it("a batch that fails rolls back whole; the job is marked failed and resumes from its checkpoint", async () => {
    await seed(9);
    let batches = 0;
    const error = await rejection(
      runJob(db, notesTable(ringV1), {
        kind: "encrypt",
        batchSize: 3,
        [BEFORE_WRITE]: () => {
          if (++batches === 2) throw new Error("killed");
        },
      }),
    );
    expect((error as Error).message).toBe("killed");
    const [job] = await tdb.query<{ id: string; status: string; cursor: string; processed: string }>(
      "SELECT id, status, cursor, processed::text FROM fieldcrypt_jobs",
    );
    expect(job).toMatchObject({ status: "failed", cursor: '["3"]', processed: "3" });
    const rows = await raw();
    expect(isCell(rows[1]?.body)).toBe(true); // batch 1 committed
    expect(rows[4]?.body).toBe("note 5 ✓"); // batch 2 rolled back
    const resumed = await runJob(db, notesTable(ringV1), { kind: "encrypt", batchSize: 3, jobId: job?.id as string });
    expect(resumed).toMatchObject({ status: "done", processed: 9, changed: 3, batches: 3 });
    await expectAllEncrypted(ringV1, "v1");
  });

  it("runs on one session with BEGIN/COMMIT (sessionDatabase)", async () => {
    await seed(5);
    const session = sessionDatabase(queryable(tdb));
    const result = await runJob(session, notesTable(ringV1), { kind: "encrypt", batchSize: 2 });
    expect(result).toMatchObject({ status: "done", processed: 5, changed: 2, batches: 3 });
    await expectAllEncrypted(ringV1, "v1");
  });
});

describe("options", () => {
  it("refuses bad options with typed errors", async () => {
    const table = notesTable(ringV1);
    for (const [options, message] of [
      [{ kind: "shred" }, "job kind must be one of encrypt, rotate, decrypt, verify, import"],
      [{ kind: "encrypt", batchSize: 0 }, "batchSize must be an integer from 1 to 100000"],
      [{ kind: "encrypt", maxRowsPerSecond: -1 }, "maxRowsPerSecond must be a positive number"],
      [{ kind: "encrypt", columns: ["nope"] }, "notes.nope is not an encrypted column"],
      [{ kind: "encrypt", jobId: "missing" }, 'job "missing" does not exist'],
    ] as const) {
      assertFieldcryptError(await rejection(runJob(db, table, options as never)), "ERR_INVALID_OPTION", message);
    }
    const unkeyed = encryptedTable(ringV1, { table: "notes", columns: { body: {} } });
    assertFieldcryptError(await rejection(runJob(db, unkeyed, { kind: "encrypt" })), "ERR_INVALID_OPTION");
  });

  it("runs the write hook only under its internal symbol, not as a public beforeWrite option", async () => {
    await seed(3);
    const calls: string[] = [];
    const options = { kind: "verify", beforeWrite: () => void calls.push("public") } as const;
    await runJob(db, notesTable(ringV1), options as never);
    expect(calls).toEqual([]);
    await runJob(db, notesTable(ringV1), { kind: "verify", [BEFORE_WRITE]: () => void calls.push("internal") });
    expect(calls).toEqual(["internal"]);
  });

  it("throttles to maxRowsPerSecond", async () => {
    await seed(6);
    const started = Date.now();
    await runJob(db, notesTable(ringV1), { kind: "verify", batchSize: 2, maxRowsPerSecond: 20 });
    // 6 rows at 20/s: the third batch starts no earlier than 200 ms in.
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
  });
});

/** Row 2's body corrupt, row 4's email sealed under v9 (not in ringV2): a rotate records both. */
async function seedTwoFailures(): Promise<void> {
  await seed(6);
  await runJob(db, notesTable(ringV1), { kind: "encrypt" });
  const cell = (await raw())[1]?.body as string;
  const corrupt = cell.slice(0, -3) + (cell.at(-3) === "A" ? "B" : "A") + cell.slice(-2);
  await tdb.query("UPDATE notes SET body = $1 WHERE id = 2", [corrupt]);
  const foreign = notesTable(ringV9).encryptRow({ id: 4, clinic_id: "clinic-0", email: "x@example.org" });
  await tdb.query("UPDATE notes SET email = $1 WHERE id = 4", [foreign.email]);
}

describe("retry of recorded errors", () => {
  it("reads only the failed rows again; fixed rows leave the errors table, the rest stay", async () => {
    await seedTwoFailures();
    const first = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, batchSize: 2 });
    expect(first).toMatchObject({ processed: 6, failed: 2 });
    const jobId = first.jobId as string;
    const before = await raw();

    // The operator loads the missing key v9 and retries: only rows 2 and 4 are read.
    const ring = ringV2.withKey({ id: "v9", secret: keyBytes(9) });
    const touched: string[][] = [];
    const retried = await runJob(db, notesTable(ring), {
      kind: "rotate",
      keyring: ring,
      jobId,
      retryErrors: true,
      batchSize: 1,
      [BEFORE_WRITE]: ({ keys }) => {
        touched.push(...keys.map((k) => [...k]));
      },
    });
    expect(touched).toEqual([["2"], ["4"]]);
    expect(retried).toMatchObject({ status: "done", processed: 8, failed: 1 });
    // The retry's own numbers, beside the job's totals: 2 rows retried, row 4 fixed, row 2 failed again.
    expect(retried.retry).toEqual({ retried: 2, succeeded: 1, failed: 1, missing: 0, changed: 1, skipped: 0 });
    expect(first.retry).toBeNull();
    expect((await listJobErrors(db, jobId)).map((e) => [e.rowKey, e.column, e.code])).toEqual([
      [["2"], "body", "ERR_DECRYPTION_FAILED"],
    ]);
    const after = await raw();
    expect(inspectCell(after[3]?.email as string).keyId).toBe("v2"); // row 4 rotated now
    expect(after[1]?.body).toBe(before[1]?.body); // the corrupt cell is left as it was
    for (const i of [0, 2, 4, 5]) expect(after[i]).toEqual(before[i]); // no other row touched
    const job = await getJob(db, jobId);
    expect(job).toMatchObject({ status: "done", failed: 1, owner: null });

    // A row deleted since: its errors go, nothing else happens.
    await tdb.query("DELETE FROM notes WHERE id = 2");
    const again = await runJob(db, notesTable(ring), { kind: "rotate", keyring: ring, jobId, retryErrors: true });
    expect(again).toMatchObject({ failed: 0, processed: 8 });
    expect(again.retry).toEqual({ retried: 1, succeeded: 0, failed: 0, missing: 1, changed: 0, skipped: 0 });
    expect(await listJobErrors(db, jobId)).toEqual([]);
  });

  it("a dry run of a retry changes nothing; retryErrors needs a job id", async () => {
    await seedTwoFailures();
    const first = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2 });
    const ring = ringV2.withKey({ id: "v9", secret: keyBytes(9) });
    const before = await raw();
    const dry = await runJob(db, notesTable(ring), {
      kind: "rotate",
      keyring: ring,
      jobId: first.jobId as string,
      retryErrors: true,
      dryRun: true,
    });
    expect(dry).toMatchObject({ dryRun: true, changed: first.changed + 1, failed: first.failed - 1 });
    // What the retry would do: row 4 would be fixed, row 2 (corrupt) would fail again.
    expect(dry.retry).toEqual({ retried: 2, succeeded: 1, failed: 1, missing: 0, changed: 1, skipped: 0 });
    expect(await raw()).toEqual(before);
    expect(await listJobErrors(db, first.jobId as string)).toHaveLength(2);
    assertFieldcryptError(
      await rejection(runJob(db, notesTable(ring), { kind: "rotate", keyring: ring, retryErrors: true })),
      "ERR_INVALID_OPTION",
      "retryErrors needs the jobId whose errors to retry",
    );
  });
});

describe("error class", () => {
  it("is a fieldcrypt error's class, another error's plain name, else Error; never the message", () => {
    expect(errorClass(new DecryptionFailed())).toBe("DecryptionFailed");
    expect(errorClass(new TypeError("private note 1"))).toBe("TypeError");
    const odd = new Error("private note 2");
    odd.name = "private note 2";
    expect(errorClass(odd)).toBe("Error");
    const forged = Object.assign(new DecryptionFailed(), { name: "a b" });
    expect(errorClass(forged)).toBe("FieldcryptError");
    expect(errorClass("private note 3")).toBe("Error");
    expect(errorClass(undefined)).toBe("Error");
  });
});

describe("errors table of an older version", () => {
  it("ensureJobTables adds scope and error_class; old rows list them as null, new rows fill them in", async () => {
    await seedTwoFailures();
    const first = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2 });
    const jobId = first.jobId as string;
    // What a table of the first version holds: no scope, no error class.
    await tdb.query("ALTER TABLE fieldcrypt_job_errors DROP COLUMN scope, DROP COLUMN error_class");
    await ensureJobTables(db);
    await ensureJobTables(db); // idempotent
    expect((await listJobErrors(db, jobId)).map((e) => [e.rowKey, e.scope, e.code, e.errorClass])).toEqual([
      [["2"], null, "ERR_DECRYPTION_FAILED", null],
      [["4"], null, "ERR_KEY_NOT_FOUND", null],
    ]);
    // A retry replaces them with rows that carry both.
    await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, jobId, retryErrors: true });
    expect((await listJobErrors(db, jobId)).map((e) => [e.rowKey, e.scope, e.code, e.errorClass])).toEqual([
      [["2"], "clinic-0", "ERR_DECRYPTION_FAILED", "DecryptionFailed"],
      [["4"], "clinic-0", "ERR_KEY_NOT_FOUND", "KeyNotFound"],
    ]);
  });
});

describe("record of job runs", () => {
  it("appends a start and an end row per run, with who, keys and counts; never data", async () => {
    await seedTwoFailures();
    const result = await runJob(db, notesTable(ringV2), { kind: "rotate", keyring: ringV2, actor: "ops@example.test" });
    const runs = await listJobRuns(db, { jobId: result.jobId as string });
    expect(runs.map((r) => [r.event, r.status])).toEqual([
      ["start", null],
      ["end", "done"],
    ]);
    const [start, end] = runs;
    expect(start).toMatchObject({
      kind: "rotate",
      table: "notes",
      columns: ["body", "email"],
      actor: "ops@example.test",
      pid: process.pid,
      counts: null,
    });
    expect(start?.keys).toEqual([
      { id: "v1", scope: undefined, state: "decrypt-only", checkValue: ringV2.get("v1")?.checkValue },
      { id: "v2", scope: undefined, state: "primary", checkValue: ringV2.get("v2")?.checkValue },
    ]);
    expect(end).toMatchObject({ runId: start?.runId, counts: { processed: 6, failed: 2 }, errorCode: null });
    expect(Number(end?.at.getTime())).toBeGreaterThanOrEqual(Number(start?.at.getTime()));
    const stored = JSON.stringify(await tdb.query("SELECT * FROM fieldcrypt_job_runs"));
    expect(stored).not.toMatch(/fc1\.|note \d|example\.org/);
  });

  it("is append-only, records failed runs by code, and skips dry runs", async () => {
    await seed(4);
    const failing = await rejection(
      runJob(db, notesTable(ringV1), {
        kind: "encrypt",
        [BEFORE_WRITE]: () => {
          throw new Error("secret plaintext in an unexpected error");
        },
      }),
    );
    expect((failing as Error).message).toContain("unexpected");
    const [job] = await tdb.query<{ id: string }>("SELECT id FROM fieldcrypt_jobs");
    const runs = await listJobRuns(db, { jobId: job?.id as string });
    expect(runs.map((r) => [r.event, r.status, r.errorCode])).toEqual([
      ["start", null, null],
      ["end", "failed", "ERR_UNEXPECTED"],
    ]);
    expect(JSON.stringify(runs)).not.toContain("secret plaintext");
    const count = async () => (await listJobRuns(db, { limit: 1000 })).length;
    const n = await count();
    await runJob(db, notesTable(ringV1), { kind: "encrypt", dryRun: true });
    expect(await count()).toBe(n);
    for (const statement of [
      "UPDATE fieldcrypt_job_runs SET actor = 'someone else'",
      "DELETE FROM fieldcrypt_job_runs",
      "TRUNCATE fieldcrypt_job_runs",
    ]) {
      await expect(tdb.query(statement)).rejects.toThrow(/append-only/);
    }
    expect(await count()).toBe(n);
  });

  it("goes to the hash-chained audit log too when an auditor is given", async () => {
    await ensureAuditTable(db);
    const auditor = createAuditor(keyBytes(7));
    await seed(3);
    const result = await runJob(db, notesTable(ringV1), { kind: "encrypt", auditor, actor: "migration-bot" });
    const entries = await tdb.query<{
      action: string;
      actor: string;
      key_ids: string[];
      details: Record<string, unknown>;
    }>("SELECT action, actor, key_ids, details FROM fieldcrypt_audit WHERE details->>'jobId' = $1 ORDER BY seq", [
      result.jobId,
    ]);
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ["job.start", "migration-bot"],
      ["job.end", "migration-bot"],
    ]);
    expect(entries[0]?.key_ids).toEqual(["v1"]);
    expect(entries[1]?.details).toMatchObject({
      kind: "encrypt",
      table: "notes",
      status: "done",
      processed: 3,
      changed: 1,
    });
    expect((await verifyAudit(db, auditor)).ok).toBe(true);
  });
});
