/**
 * The DDL helpers have one verb, `ensure*Table`, and are idempotent: each runs twice on one
 * database (as an app that calls it at every start does) and leaves one table. The old
 * `create*Table` names are deprecated aliases of the same functions, for one release.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditTable, ensureAuditTable } from "../src/audit/index.js";
import { ensureJobTables } from "../src/jobs/index.js";
import { createKeyTable, ensureKeyTable } from "../src/key-store/index.js";
import { openTestDb, type TestDb } from "./db.js";

let tdb: TestDb;
beforeAll(async () => {
  tdb = await openTestDb();
});
afterAll(async () => {
  await tdb?.close();
});

const tables = async (): Promise<string[]> =>
  (
    await tdb.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c
        WHERE c.relkind = 'r' AND c.relname LIKE 'fieldcrypt\\_%' AND pg_table_is_visible(c.oid) ORDER BY 1`,
    )
  ).map((r) => r.name);

describe("ensure*Table", () => {
  it("runs twice without error and creates each table once", async () => {
    const q = { query: (text: string, values?: unknown[]) => tdb.query(text, values).then((rows) => ({ rows })) };
    for (let i = 0; i < 2; i++) {
      await ensureAuditTable(q);
      await ensureKeyTable(q);
      await ensureJobTables(q);
    }
    expect(await tables()).toEqual([
      "fieldcrypt_audit",
      "fieldcrypt_job_errors",
      "fieldcrypt_job_ranges",
      "fieldcrypt_job_runs",
      "fieldcrypt_jobs",
      "fieldcrypt_keys",
    ]);
  });

  it("keeps the old create*Table names as aliases of the same functions", () => {
    expect(createAuditTable).toBe(ensureAuditTable);
    expect(createKeyTable).toBe(ensureKeyTable);
  });
});
