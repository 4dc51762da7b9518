// fieldcrypt/jobs leases and parallel workers, on PGlite (workers run one after the other) and on
// the server at DATABASE_URL (workers and runners truly concurrent).
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { inspectCell, isCell } from "../src/cell/index.js";
import { ensureJobTables, getJob, JobBusy, type JobDatabase, runJob } from "../src/jobs/index.js";
import { BEFORE_WRITE } from "../src/jobs/test-hooks.js";
import { createKeyring } from "../src/keyring/index.js";
import { type EncryptedTable, encryptedTable } from "../src/table/index.js";
import { type TestDb, useJobTestDb } from "./db.js";
import { assertFieldcryptError, keyBytes, rejection } from "./helpers.js";

const ringV1 = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);

const items: EncryptedTable = encryptedTable(ringV1, {
  table: "items",
  primaryKey: ["id"],
  columns: { body: { type: "string", mode: "transition" } },
});

let tdb: TestDb;
let db: JobDatabase;
let pool: pg.Pool | undefined;
useJobTestDb(
  {
    max: 8,
    drop: ["items"],
    setup: async (tdb) => {
      await tdb.query("CREATE TABLE items (id integer PRIMARY KEY, body text)");
    },
  },
  (opened) => {
    ({ tdb, db, pool } = opened);
  },
);

const seed = (n: number) =>
  tdb.query("INSERT INTO items (id, body) SELECT g, 'item ' || g FROM generate_series(1, $1::integer) g", [n]);

/** Every row is a v1 cell holding `item <id>`, and there are n rows. */
async function expectEncrypted(n: number): Promise<void> {
  const rows = await tdb.query<{ id: number; body: string }>("SELECT id, body FROM items ORDER BY id");
  expect(rows).toHaveLength(n);
  for (const row of rows) {
    expect(isCell(row.body)).toBe(true);
    expect(inspectCell(row.body).keyId).toBe("v1");
    expect(items.decryptRow(row).body).toBe(`item ${row.id}`);
  }
}

/** The job's id after one committed batch, then stopped (its lease released). */
async function stoppedJob(options: { workers?: number; abortAt?: number } = {}): Promise<string> {
  const controller = new AbortController();
  const stopped = await runJob(db, items, {
    kind: "encrypt",
    batchSize: 10,
    signal: controller.signal,
    workers: options.workers,
    onProgress: (p) => {
      if (p.batches >= (options.abortAt ?? 1)) controller.abort();
    },
  });
  expect(stopped.status).toBe("stopped");
  return stopped.jobId as string;
}

describe("lease", () => {
  it("a running job refuses a second runner with ERR_JOB_BUSY", async () => {
    await seed(50);
    let attempt: Promise<unknown> | undefined;
    let job: Awaited<ReturnType<typeof getJob>>;
    const first = await runJob(db, items, {
      kind: "encrypt",
      batchSize: 10,
      // Slow batches: the job is still running when the second runner tries.
      [BEFORE_WRITE]: () => new Promise((resolve) => setTimeout(resolve, 20)),
      onProgress: (p) => {
        if (p.batches !== 1) return;
        attempt = (async () => {
          job = await getJob(db, p.jobId as string);
          return rejection(runJob(db, items, { kind: "encrypt", jobId: p.jobId as string }));
        })();
      },
    });
    const second = await attempt;
    expect(job?.owner).toMatch(/^.+\/\d+\/[0-9a-f]{8}$/);
    expect(job?.leaseUntil?.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(first).toMatchObject({ status: "done", processed: 50, changed: 50 });
    expect(second).toBeInstanceOf(JobBusy);
    assertFieldcryptError(
      second,
      "ERR_JOB_BUSY" as never,
      `job ${JSON.stringify(first.jobId)} is running in another worker (its lease has not expired)`,
    );
    // Done: the lease is released.
    expect(await getJob(db, first.jobId as string)).toMatchObject({ status: "done", owner: null, leaseUntil: null });
    await expectEncrypted(50);
  });

  it("a killed worker's lease blocks a resume until it expires, then the job resumes", async () => {
    await seed(40);
    const jobId = await stoppedJob();
    // What a kill -9 leaves behind: status running, a foreign owner, a lease still valid.
    await tdb.query(
      "UPDATE fieldcrypt_jobs SET status = 'running', owner = 'dead-host/1/00000000', lease_until = now() + interval '1 minute' WHERE id = $1",
      [jobId],
    );
    assertFieldcryptError(
      await rejection(runJob(db, items, { kind: "encrypt", jobId })),
      "ERR_JOB_BUSY" as never,
      `job ${JSON.stringify(jobId)} is running in another worker (its lease has not expired)`,
    );
    expect(await getJob(db, jobId)).toMatchObject({ status: "running", owner: "dead-host/1/00000000", processed: 10 });
    await tdb.query("UPDATE fieldcrypt_jobs SET lease_until = now() - interval '1 second' WHERE id = $1", [jobId]);
    const resumed = await runJob(db, items, { kind: "encrypt", jobId, batchSize: 10 });
    expect(resumed).toMatchObject({ status: "done", processed: 40, changed: 40, batches: 4 });
    await expectEncrypted(40);
  });

  it("ensureJobTables adds the lease columns to a job table of the first version", async () => {
    await tdb.query("ALTER TABLE fieldcrypt_jobs DROP COLUMN owner, DROP COLUMN lease_until");
    await ensureJobTables(db);
    await seed(5);
    expect(await runJob(db, items, { kind: "encrypt" })).toMatchObject({ status: "done", changed: 5 });
    const columns = await tdb.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'fieldcrypt_jobs' AND column_name IN ('owner', 'lease_until') AND table_schema = current_schema() ORDER BY 1",
    );
    expect(columns.map((c) => c.column_name)).toEqual(["lease_until", "owner"]);
  });

  it("refuses bad lease, workers and ranges options", async () => {
    for (const [options, message] of [
      [{ leaseSeconds: 0 }, "leaseSeconds must be a positive number"],
      [{ workers: 0 }, "workers must be an integer from 1 to 64"],
      [{ ranges: 1.5 }, "ranges must be an integer from 1 to 10000"],
    ] as const) {
      assertFieldcryptError(
        await rejection(runJob(db, items, { kind: "encrypt", ...options })),
        "ERR_INVALID_OPTION",
        message,
      );
    }
  });
});

describe("parallel workers", () => {
  it("splits the job into key ranges; every row is processed exactly once", async () => {
    const n = tdb.kind === "server" ? 20_000 : 3_000;
    await seed(n);
    const seen: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const result = await runJob(db, items, {
      kind: "encrypt",
      workers: 3,
      batchSize: 500,
      [BEFORE_WRITE]: async ({ keys }) => {
        seen.push(...keys.map((k) => Number(k[0])));
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
      },
    });
    expect(result).toMatchObject({ status: "done", processed: n, changed: n, skipped: 0, failed: 0 });
    expect(seen).toHaveLength(n);
    expect(new Set(seen).size).toBe(n);
    if (tdb.kind === "server") expect(maxInFlight).toBeGreaterThan(1);
    const job = await getJob(db, result.jobId as string);
    expect(job).toMatchObject({ status: "done", ranges: 12, processed: n, changed: n });
    const ranges = await tdb.query<{
      status: string;
      owner: string | null;
      processed: string;
      lower_key: string | null;
    }>(
      "SELECT status, owner, processed::text, lower_key FROM fieldcrypt_job_ranges WHERE job_id = $1 ORDER BY range_no",
      [result.jobId],
    );
    expect(ranges).toHaveLength(12);
    expect(ranges.every((r) => r.status === "done" && r.owner === null)).toBe(true);
    expect(ranges.reduce((sum, r) => sum + Number(r.processed), 0)).toBe(n);
    expect(ranges[0]?.lower_key).toBeNull();
    await expectEncrypted(n);
  });

  it("two runners on the same job id share its ranges", async () => {
    const n = tdb.kind === "server" ? 20_000 : 3_000;
    await seed(n);
    const jobId = await stoppedJob({ workers: 2, abortAt: 0 });
    const before = await getJob(db, jobId);
    expect(before).toMatchObject({ status: "stopped", ranges: 8 });
    const doneBefore = before?.processed ?? 0;
    const seenA: number[] = [];
    const seenB: number[] = [];
    const run = (seen: number[]) =>
      runJob(db, items, {
        kind: "encrypt",
        jobId,
        batchSize: 250,
        [BEFORE_WRITE]: async ({ keys }) => {
          seen.push(...keys.map((k) => Number(k[0])));
          await new Promise((resolve) => setTimeout(resolve, 1));
        },
      });
    const [a, b] = await Promise.all([run(seenA), run(seenB)]);
    expect(a.status).toBe("done");
    expect(b.status).toBe("done");
    const all = [...seenA, ...seenB];
    expect(all.length + doneBefore).toBe(n);
    expect(new Set(all).size).toBe(all.length);
    if (tdb.kind === "server") {
      expect(seenA.length).toBeGreaterThan(0);
      expect(seenB.length).toBeGreaterThan(0);
    }
    expect(await getJob(db, jobId)).toMatchObject({ status: "done", processed: n, changed: n });
    await expectEncrypted(n);
  });

  it("a dead worker's range is taken over once its lease expires", async () => {
    await seed(400);
    const jobId = await stoppedJob({ workers: 2, abortAt: 0 });
    // A worker that was killed mid-range: its range is running, leased, with a committed cursor.
    await tdb.query(
      `UPDATE fieldcrypt_job_ranges SET status = 'running', owner = 'dead-host/1/00000000/0',
         lease_until = now() + interval '1 second' WHERE job_id = $1 AND range_no = 0`,
      [jobId],
    );
    const started = Date.now();
    const result = await runJob(db, items, { kind: "encrypt", jobId, batchSize: 30, leaseSeconds: 1 });
    expect(result).toMatchObject({ status: "done", processed: 400, changed: 400 });
    // The others were done first; range 0 only after the dead lease ran out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    await expectEncrypted(400);
  });

  it("a failing worker stops the others, releases its ranges and marks the job failed; a resume finishes", async () => {
    await seed(1_000);
    let batches = 0;
    const error = await rejection(
      runJob(db, items, {
        kind: "encrypt",
        workers: 2,
        batchSize: 50,
        [BEFORE_WRITE]: () => {
          if (++batches === 5) throw new Error("killed");
        },
      }),
    );
    expect((error as Error).message).toBe("killed");
    const [job] = await tdb.query<{ id: string; status: string }>("SELECT id, status FROM fieldcrypt_jobs");
    expect(job?.status).toBe("failed");
    const held = await tdb.query("SELECT 1 FROM fieldcrypt_job_ranges WHERE owner IS NOT NULL");
    expect(held).toEqual([]);
    const resumed = await runJob(db, items, { kind: "encrypt", jobId: job?.id as string, workers: 2, batchSize: 50 });
    expect(resumed).toMatchObject({ status: "done", processed: 1_000, changed: 1_000, failed: 0 });
    await expectEncrypted(1_000);
  });

  it("a composite key splits into ranges too, and an empty table is one range", async () => {
    await tdb.query("DROP TABLE IF EXISTS visits");
    await tdb.query("CREATE TABLE visits (tenant text, n integer, note text, PRIMARY KEY (tenant, n))");
    await tdb.query("INSERT INTO visits SELECT 't' || (g % 7), g, 'note ' || g FROM generate_series(1, 700) g");
    const visits = encryptedTable(ringV1, {
      table: "visits",
      primaryKey: ["tenant", "n"],
      scope: { column: "tenant" },
      columns: { note: { type: "string", mode: "transition" } },
    });
    const result = await runJob(db, visits, { kind: "encrypt", workers: 2, ranges: 5, batchSize: 60 });
    expect(result).toMatchObject({ status: "done", processed: 700, changed: 700 });
    const rows = await tdb.query<{ tenant: string; n: number; note: string }>("SELECT * FROM visits");
    for (const row of rows) expect(visits.decryptRow(row).note).toBe(`note ${row.n}`);
    await tdb.query("DROP TABLE visits");
    const empty = await runJob(db, items, { kind: "encrypt", workers: 2 });
    expect(empty).toMatchObject({ status: "done", processed: 0 });
    expect((await getJob(db, empty.jobId as string))?.ranges).toBe(1);
  });
});

describe("live writes with parallel workers", () => {
  it("rotating with 2 workers under 3 concurrent writers loses no update; every row ends on the primary", async () => {
    const ringV2 = createKeyring([
      { id: "v1", secret: keyBytes(1) },
      { id: "v2", secret: keyBytes(2), primary: true },
    ]);
    const itemsV2 = encryptedTable(ringV2, {
      table: "items",
      primaryKey: ["id"],
      columns: { body: { type: "string", mode: "transition" } },
    });
    const n = tdb.kind === "server" ? 6_000 : 1_500;
    await seed(n);
    await runJob(db, items, { kind: "encrypt", batchSize: 1000 });
    // Each writer owns the ids ≡ w (mod 3), so each row's writes are sequential and its last value known.
    const last = new Map<number, string>();
    let running = true;
    let writes = 0;
    const writer = async (w: number) => {
      const client = pool === undefined ? undefined : await pool.connect();
      try {
        while (running) {
          const id = 3 * Math.floor(Math.random() * (n / 3)) + w + 1;
          if (id > n) continue;
          const value = `update ${++writes} of ${id}`;
          const cell = itemsV2.encryptRow({ id, body: value }).body; // the app writes under the new primary
          await (client ?? db).query("UPDATE items SET body = $1 WHERE id = $2", [cell, id]);
          last.set(id, value);
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      } finally {
        client?.release();
      }
    };
    const writers = [0, 1, 2].map(writer);
    let result: Awaited<ReturnType<typeof runJob>>;
    try {
      result = await runJob(db, itemsV2, { kind: "rotate", keyring: ringV2, workers: 2, batchSize: 100 });
      // Keep writing a little after the job: later writes must survive too.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      running = false;
      await Promise.all(writers);
    }
    expect(result).toMatchObject({ status: "done", processed: n, failed: 0 });
    expect(writes).toBeGreaterThan(0);
    expect(result.changed + result.skipped).toBeLessThanOrEqual(n);
    const rows = await tdb.query<{ id: number; body: string }>("SELECT id, body FROM items ORDER BY id");
    expect(rows).toHaveLength(n);
    for (const row of rows) {
      expect(inspectCell(row.body).keyId).toBe("v2");
      expect(itemsV2.decryptRow(row).body).toBe(last.get(row.id) ?? `item ${row.id}`);
    }
  });
});
