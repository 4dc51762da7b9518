// Crash test (issues 4 and 6): a rotate job, and an import job of Fernet tokens under per-user
// PBKDF2 keys (made by Python's `cryptography`), each over 200,000 rows, run in a child process (the
// BUILT library, test/jobs/crash-worker.mjs) that is killed with SIGKILL at random moments and
// resumed with the same job id until done. On the server (DATABASE_URL) with 200,000 rows; on
// PGlite (plain `npm test`) on a data directory that only the worker has open while it runs — the
// test process closes it first and reopens it to check — with 40,000 rows, so that the test stays
// within a few minutes on PGlite's single session. Each SIGKILL there also tests that PGlite
// recovers a data directory whose process died mid-transaction.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCell } from "../src/cell/index.js";
import { ensureJobTables, getJob, listJobErrors, type Queryable } from "../src/jobs/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { encryptedTable } from "../src/table/index.js";
import { openTestDb } from "./db.js";
import { keyBytes } from "./helpers.js";

const server = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "";
const ROWS = server ? 200_000 : 40_000;
const KILLS = 12;
const WORKER = fileURLToPath(new URL("./jobs/crash-worker.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../dist/jobs/index.js", import.meta.url));

const ringV1 = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const ringV2 = createKeyring([
  { id: "v1", secret: keyBytes(1) },
  { id: "v2", secret: keyBytes(2), primary: true },
]);
const crashRows = (ring: typeof ringV1, table = "crash_rows") =>
  encryptedTable(ring, {
    table,
    primaryKey: ["id"],
    columns: { body: { type: "string", mode: "transition" } },
  });
const PRODUCER = fileURLToPath(new URL("./interop/legacy_producer.py", import.meta.url));
const FERNET = { master: "crash-master-key", salt: "crash-static-salt:", iterations: 1000, users: 500 };

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");
/** ~150 bytes, different for every row. */
const plaintext = (id: number) => `row ${id} ${sha256(String(id)).repeat(3)}`.slice(0, 150);

/**
 * The test's side of the database: the server schema of openTestDb (kept open), or a PGlite data
 * directory that is open here only between `reopen()` and `suspend()` (never while a worker runs).
 */
interface CrashDb {
  readonly env: Record<string, string>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** What getJob and listJobErrors read. */
  readonly jobs: Queryable;
  suspend(): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

async function openCrashDb(): Promise<CrashDb> {
  if (server) {
    const tdb = await openTestDb();
    const pool = new pg.Pool({ connectionString: tdb.connectionString, max: 2 });
    return {
      env: { CRASH_DATABASE_URL: tdb.connectionString as string },
      query: (sql, params) => tdb.query(sql, params),
      jobs: pool,
      suspend: async () => {},
      reopen: async () => {},
      close: async () => {
        await pool.end();
        await tdb.close();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-crash-"));
  let db: PGlite | undefined = await PGlite.create(dir);
  const open = (): PGlite => {
    if (db === undefined) throw new Error("the crash test's PGlite is suspended while a worker runs");
    return db;
  };
  return {
    env: { CRASH_PGLITE_DIR: dir },
    query: async <T>(sql: string, params?: unknown[]) => (await open().query<T>(sql, params)).rows,
    jobs: { query: (text, values) => open().query(text, values as unknown[]) } as Queryable,
    suspend: async () => {
      await db?.close();
      db = undefined;
    },
    reopen: async () => {
      db ??= await PGlite.create(dir);
    },
    close: async () => {
      await db?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fernet tokens of `plaintext(id)` for rows 1..ROWS, user id = id mod FERNET.users, made by Python. */
function fernetTokens(): string[] {
  const rows = Array.from({ length: ROWS }, (_, i) => ({ user_id: (i + 1) % FERNET.users, message: plaintext(i + 1) }));
  const run = spawnSync("python3", [PRODUCER], {
    input: JSON.stringify([
      {
        op: "fernet_pbkdf2_static",
        master: FERNET.master,
        static_salt_hex: Buffer.from(FERNET.salt).toString("hex"),
        iterations: FERNET.iterations,
        hash: "sha256",
        rows,
      },
    ]),
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { tokens: string[] }[])[0]?.tokens as string[];
}

for (const kind of ["rotate", "import"] as const) {
  const TABLE = kind === "rotate" ? "crash_rows" : "crash_import";
  describe(`crash test (${kind}, ${server ? "server" : "PGlite"}): SIGKILL at random moments, resume until done`, () => {
    let tdb: CrashDb;
    const checksums = new Map<number, string>();

    beforeAll(async () => {
      if (!existsSync(BUILT)) throw new Error("build the package first (npx tsc -b packages/fieldcrypt)");
      tdb = await openCrashDb();
      await ensureJobTables(tdb.jobs);
      await tdb.query(`CREATE TABLE ${TABLE} (id integer PRIMARY KEY, user_id integer NOT NULL, body text NOT NULL)`);
      // Seed: cells under v1 generated here (rotate) or Python's Fernet tokens (import), inserted
      // with unnest 10,000 rows at a time.
      const v1 = crashRows(ringV1, TABLE);
      const tokens = kind === "import" ? fernetTokens() : [];
      for (let from = 1; from <= ROWS; from += 10_000) {
        const ids: number[] = [];
        const users: number[] = [];
        const bodies: string[] = [];
        for (let id = from; id < from + 10_000 && id <= ROWS; id++) {
          const value = plaintext(id);
          checksums.set(id, sha256(value));
          ids.push(id);
          users.push(id % FERNET.users);
          bodies.push(kind === "import" ? (tokens[id - 1] as string) : v1.encryptRow({ id, body: value }).body);
        }
        await tdb.query(`INSERT INTO ${TABLE} SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`, [
          ids,
          users,
          bodies,
        ]);
      }
    }, 180_000);

    afterAll(async () => {
      await tdb?.close();
    });

    it(`${kind === "rotate" ? "a rotate" : "an import"} of ${ROWS} rows killed ${KILLS} times loses nothing and ends on the primary key`, async () => {
      const started = Date.now();
      let jobId: string | undefined;
      let kills = 0;
      let runs = 0;
      let finished = false;
      const progressAtKill: number[] = [];
      await tdb.suspend();
      while (!finished) {
        runs++;
        const child: ChildProcess = spawn(process.execPath, [WORKER], {
          env: {
            ...process.env,
            ...tdb.env,
            CRASH_JOB_ID: jobId ?? "",
            CRASH_KIND: kind,
            CRASH_TABLE: TABLE,
            CRASH_MASTER: FERNET.master,
            CRASH_SALT: FERNET.salt,
            CRASH_ITERATIONS: String(FERNET.iterations),
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr?.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        let lastProcessed = 0;
        let firstProgress: () => void = () => {};
        const progressed = new Promise<void>((resolve) => {
          firstProgress = resolve;
        });
        let buffered = "";
        child.stdout?.on("data", (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) {
            const message = JSON.parse(line) as { jobId: string; processed: number; done?: string };
            jobId ??= message.jobId;
            lastProcessed = message.processed;
            if (message.done === "done") finished = true;
            firstProgress();
          }
        });
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
          child.on("exit", (code, signal) => resolve({ code, signal }));
        });
        if (kills < KILLS) {
          // Most kills land mid-batch after some progress; every third one at a random moment of
          // start-up (connecting, waiting for the dead worker's leases to expire).
          if (kills % 3 === 2 && jobId !== undefined) {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 800));
          } else {
            // Kills spread over the whole job: the i-th after a random point of the i-th slice of
            // it, then a random moment inside a batch.
            const target = (ROWS * (kills + Math.random())) / (KILLS + 1);
            await progressed;
            while (lastProcessed < target && child.exitCode === null) {
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
          }
          child.kill("SIGKILL");
          const exit = await exited;
          if (exit.signal === "SIGKILL") {
            kills++;
            progressAtKill.push(Math.max(lastProcessed, progressAtKill.at(-1) ?? 0));
          } else {
            expect(exit, stderr).toMatchObject({ code: 0 });
          }
        } else {
          const exit = await exited;
          expect(exit, stderr).toMatchObject({ code: 0, signal: null });
          expect(finished).toBe(true);
        }
      }
      await tdb.reopen();
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `crash test (${kind}): ${ROWS} rows, ${kills} SIGKILLs, ${runs - 1} resumes, ${seconds.toFixed(1)} s; processed (as last reported) at each kill: ${progressAtKill.join(", ")}`,
      );
      expect(kills).toBeGreaterThanOrEqual(10);

      const job = await getJob(tdb.jobs, jobId as string);
      // Each row was rotated by exactly one committed batch: killed batches rolled back uncounted.
      expect(job).toMatchObject({ status: "done", processed: ROWS, changed: ROWS, skipped: 0, failed: 0 });
      expect(await listJobErrors(tdb.jobs, jobId as string)).toEqual([]);
      const ranges = await tdb.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM fieldcrypt_job_ranges WHERE job_id = $1 AND status <> 'done'",
        [jobId],
      );
      expect(ranges[0]?.n).toBe("0");

      // Nothing lost: every row is there, on v2, and decrypts to the value whose checksum was taken.
      const v2 = crashRows(ringV2, TABLE);
      const rows = await tdb.query<{ id: number; body: string }>(`SELECT id, body FROM ${TABLE} ORDER BY id`);
      expect(rows).toHaveLength(ROWS);
      let wrong = 0;
      for (const [i, row] of rows.entries()) {
        if (
          row.id !== i + 1 ||
          inspectCell(row.body).keyId !== "v2" ||
          sha256(v2.decryptRow(row).body) !== checksums.get(row.id)
        ) {
          wrong++;
        }
      }
      expect(wrong).toBe(0);
    }, 240_000);
  });
}
