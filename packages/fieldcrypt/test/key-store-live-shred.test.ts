/**
 * Shredding reaches live processes (issue 12, item 5): a keyring loaded before shredScope stops
 * decrypting the scope's cells at once — in this process through its cache, in other processes
 * through watchShreds (LISTEN/NOTIFY on the server, the poll on PGlite) — and the job errors that
 * name the scope's rows are deleted by the shred.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decrypt, encrypt } from "../src/cell/index.js";
import { ensureJobTables, runJob } from "../src/jobs/index.js";
import { createDataKey, createKeyCache, loadKeyring, shredScope, watchShreds } from "../src/key-store/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { localRootKey } from "../src/kms/index.js";
import type { Queryable } from "../src/pg/index.js";
import { encryptedTable } from "../src/table/index.js";
import { type TestDb, useTestDb } from "./db.js";
import { caught } from "./helpers.js";
import { type PgliteWire, startPgliteWire } from "./pglite-wire.js";

const WATCHER = fileURLToPath(new URL("./fixtures/shred-watcher.mjs", import.meta.url));
const ROOT_KEY = randomBytes(32);
const root = localRootKey({ id: "root-live", key: ROOT_KEY });
const ctx = (scope: string, rowKey = 1) => ({ scope, table: "notes", column: "body", rowKey });

let db: TestDb;
let q: Queryable;
let n = 0;
/** A fresh scope per test: shreds are forever. */
const freshScope = () => `tenant-${++n}-${randomBytes(3).toString("hex")}`;

useTestDb(["keys"], (opened) => {
  ({ db, q } = opened);
});

describe("in this process: the cache the shred is given", () => {
  it("destroys the keys in place in every keyring loaded through it, the fast path included", async () => {
    const [a, b] = [freshScope(), freshScope()];
    await createDataKey(q, root, a);
    await createDataKey(q, root, b);
    const cache = createKeyCache();
    const ring = await loadKeyring(q, root, { scopes: [a, b], shared: false, cache });
    const sameProcess = await loadKeyring(q, root, { scopes: [a], shared: false, cache });
    const cellA = encrypt(ring, "erase me", ctx(a));
    const cellB = encrypt(ring, "keep me", ctx(b));
    // Warm decrypt's per-keyring fast path on the very cell.
    expect(decrypt(ring, cellA, ctx(a))).toBe("erase me");
    expect(decrypt(sameProcess, cellA, ctx(a))).toBe("erase me");

    const { destroyed } = await shredScope(q, a, { cache });
    expect(destroyed).toHaveLength(1);
    for (const keyring of [ring, sameProcess]) {
      expect(await caught(() => decrypt(keyring, cellA, ctx(a)))).toMatchObject({
        code: "ERR_KEY_DESTROYED",
        keyId: destroyed[0],
      });
      expect(keyring.isDestroyed(destroyed[0] as string)).toBe(true);
    }
    // The scope cannot write under its destroyed primary; the other scope is untouched.
    expect(await caught(() => encrypt(ring, "new", ctx(a, 2)))).toMatchObject({ code: "ERR_KEY_DESTROYED" });
    expect(decrypt(ring, cellB, ctx(b))).toBe("keep me");
    expect(ring.list().map((k) => k.scope)).toEqual([b]);
  });

  it("a keyring not loaded through that cache is untouched until it is reloaded", async () => {
    const a = freshScope();
    await createDataKey(q, root, a);
    const ring = await loadKeyring(q, root, { scopes: [a], shared: false });
    const cell = encrypt(ring, "x", ctx(a));
    await shredScope(q, a, { cache: createKeyCache() });
    expect(decrypt(ring, cell, ctx(a))).toBe("x"); // why watchShreds exists
    const reloaded = await loadKeyring(q, root, { scopes: [a], shared: false });
    expect(await caught(() => decrypt(reloaded, cell, ctx(a)))).toMatchObject({ code: "ERR_KEY_DESTROYED" });
  });
});

describe("watchShreds: a shred made elsewhere", () => {
  it("the poll destroys the keys in place within pollMs, and reports them", async () => {
    const a = freshScope();
    await createDataKey(q, root, a);
    const cache = createKeyCache();
    const ring = await loadKeyring(q, root, { scopes: [a], shared: false, cache });
    const cell = encrypt(ring, "x", ctx(a));
    const reported: string[][] = [];
    const watcher = await watchShreds(q, { cache, pollMs: 50, onShred: (ids) => reported.push([...ids]) });
    try {
      const { destroyed } = await shredScope(q, a); // as another process would: no cache
      const started = Date.now();
      while (ring.has(destroyed[0] as string) && Date.now() - started < 2_000) await sleep(10);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await caught(() => decrypt(ring, cell, ctx(a)))).toMatchObject({ code: "ERR_KEY_DESTROYED" });
      expect(reported).toEqual([destroyed]);
      expect(await watcher.check()).toEqual([]); // nothing left to destroy
    } finally {
      await watcher.close();
    }
  });

  it("LISTEN makes it immediate: with a poll of a minute the keys go within a second", async () => {
    const a = freshScope();
    await createDataKey(q, root, a);
    const cache = createKeyCache();
    const ring = await loadKeyring(q, root, { scopes: [a], shared: false, cache });
    const listener = db.pglite ?? new pg.Client({ connectionString: db.connectionString as string });
    if (listener instanceof pg.Client) await listener.connect();
    const watcher = await watchShreds(q, { cache, listen: listener, pollMs: 60_000 });
    try {
      const { destroyed } = await shredScope(q, a);
      const started = Date.now();
      while (ring.has(destroyed[0] as string) && Date.now() - started < 2_000) await sleep(5);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(ring.isDestroyed(destroyed[0] as string)).toBe(true);
    } finally {
      await watcher.close();
      if (listener instanceof pg.Client) await listener.end();
    }
  });

  it("refuses options without a cache and a poll under 50 ms", async () => {
    const cache = createKeyCache();
    await expect(watchShreds(q, {} as never)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(watchShreds(q, { cache, pollMs: 10 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("two processes", () => {
  // The server: the other process LISTENs (a poll of a minute cannot be what reaches it). On
  // PGlite, one process owns the database, so the other reaches it over the wire protocol and
  // its poll does the work (PGlite delivers NOTIFY to in-process listeners only).
  let wire: PgliteWire | undefined;
  beforeAll(async () => {
    if (db.pglite !== undefined) wire = await startPgliteWire(db.pglite);
  });
  afterAll(async () => wire?.close());

  it("shred in process A → decrypt in process B fails with ERR_KEY_DESTROYED within 1 s", async () => {
    const a = freshScope();
    await createDataKey(q, root, a);
    const ring = await loadKeyring(q, root, { scopes: [a], shared: false });
    const cell = encrypt(ring, "erase me", ctx(a)) as string;
    const onServer = wire === undefined;
    const child = spawn(process.execPath, [WATCHER], {
      env: {
        PATH: process.env.PATH ?? "",
        WATCH_DATABASE_URL: onServer ? (db.connectionString as string) : (wire as PgliteWire).url,
        WATCH_LISTEN: onServer ? "1" : "0",
        WATCH_POLL_MS: onServer ? "60000" : "100",
        WATCH_ROOT_KEY: ROOT_KEY.toString("hex"),
        WATCH_SCOPE: a,
        WATCH_CELL: cell,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    try {
      const ready = await lines.next();
      expect(stderr).toBe("");
      expect(JSON.parse(ready.value as string)).toEqual({ ready: true });
      const shredAt = Date.now();
      await shredScope(q, a);
      const ended = await lines.next();
      const { destroyedAt, code } = JSON.parse(ended.value as string) as { destroyedAt: number; code: string };
      expect(code).toBe("ERR_KEY_DESTROYED");
      expect(destroyedAt - shredAt).toBeLessThan(1_000);
    } finally {
      child.kill();
    }
  }, 30_000);
});

describe("job errors of a shredded scope", () => {
  beforeEach(async () => {
    await ensureJobTables(q);
    await db.query("DROP TABLE IF EXISTS shred_notes");
    await db.query("CREATE TABLE shred_notes (id int PRIMARY KEY, tenant text NOT NULL, body text)");
  });

  it("are deleted by the shred, with their row keys; other scopes' errors stay", async () => {
    const [a, b] = [freshScope(), freshScope()];
    // Cells that cannot open under the job's keyring: a failure recorded per row, with the row's scope.
    const foreign = createKeyring([{ id: "gone", secret: randomBytes(32), primary: true }]);
    const table = (keyring: ReturnType<typeof createKeyring>) =>
      encryptedTable(keyring, {
        table: "shred_notes",
        primaryKey: ["id"],
        scope: { column: "tenant" },
        columns: { body: { type: "string", mode: "transition" } },
      });
    const writer = table(foreign);
    for (const [id, scope] of [
      [1, a],
      [2, a],
      [3, b],
    ] as const) {
      const body = writer.encryptRow({ id, tenant: scope, body: "secret" }).body;
      await db.query("INSERT INTO shred_notes VALUES ($1, $2, $3)", [id, scope, body]);
    }
    const keyring = createKeyring([{ id: "v2", secret: randomBytes(32), primary: true }]);
    const pool = db.pglite === undefined ? new pg.Pool({ connectionString: db.connectionString, max: 2 }) : undefined;
    try {
      const run = await runJob(db.pglite ?? (pool as pg.Pool), table(keyring), {
        kind: "rotate",
        keyring,
        batchSize: 10,
      });
      expect(run.failed).toBe(3);
    } finally {
      await pool?.end();
    }
    const errors = () =>
      db.query<{ scope: string }>(
        "SELECT scope FROM fieldcrypt_job_errors WHERE table_name = 'shred_notes' ORDER BY row_key",
      );
    expect((await errors()).map((r) => r.scope)).toEqual([a, a, b]);

    await createDataKey(q, root, a);
    const { jobErrorsPurged } = await shredScope(q, a);
    expect(jobErrorsPurged).toBe(2);
    expect((await errors()).map((r) => r.scope)).toEqual([b]);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
