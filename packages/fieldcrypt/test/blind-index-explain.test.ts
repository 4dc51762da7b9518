// A blind index is searchable for real: 100,000 rows of encrypted e-mails with a btree-indexed
// blind-index column, and EXPLAIN (FORMAT JSON) shows `email_bidx = ANY($1::text[])` served by that
// index, never by a sequential scan. The rows found are exactly the expected ones and decrypt to the
// searched value; after a key rotation, candidates() finds rows written under the old and new keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBlindIndex } from "../src/blind-index/index.js";
import { inspectCell } from "../src/cell/index.js";
import { encryptedColumn } from "../src/column/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { openTestDb, type TestDb } from "./db.js";
import { keyBytes } from "./helpers.js";

const ROWS = 100_000;
const BATCH = 10_000;
const SCOPES = 10;
const INDEX_NAME = "patients_email_bidx_idx";
const OPTIONS = { table: "patients", column: "email" } as const;
const NORMALIZE = ["trim", "lowercase", "nfc"] as const;

const v1 = createKeyring([{ id: "v1", secret: keyBytes(0x51), primary: true }]);
const v2 = createKeyring([
  { id: "v1", secret: keyBytes(0x51) },
  { id: "v2", secret: keyBytes(0x52), primary: true },
]);

const scopeOf = (id: number) => `clinic-${id % SCOPES}`;
/** The e-mail of row `id`, spelled differently from row to row (case, white space): normalization must match them. */
function emailOf(id: number): string {
  // Planted duplicates: three rows of clinic-0 and one of clinic-1 hold the same address.
  if (id === 50_000) return " Shared@Example.com";
  if (id === 50_010) return "shared@example.com";
  if (id === 50_020) return "SHARED@EXAMPLE.COM\t";
  if (id === 50_001) return "shared@example.com";
  const local = `patient${id}`;
  switch (id % 4) {
    case 0:
      return `${local}@example.com`;
    case 1:
      return `${local.toUpperCase()}@Example.com`;
    case 2:
      return `  ${local}@example.com `;
    default:
      return `${local}@EXAMPLE.COM`;
  }
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

/** Every node of an EXPLAIN (FORMAT JSON) plan tree. */
function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

describe(`blind index search over ${ROWS} rows (${process.env.DATABASE_URL ? "PostgreSQL server" : "PGlite"})`, () => {
  let db: TestDb;

  beforeAll(async () => {
    db = await openTestDb();
    await db.query(
      `CREATE TABLE patients (
         id integer PRIMARY KEY,
         scope text NOT NULL,
         email text NOT NULL,
         email_bidx text NOT NULL
       )`,
    );
    await db.query(`CREATE INDEX ${INDEX_NAME} ON patients (email_bidx)`);

    // Rows are sealed and indexed in JS, with the real column codec and blind index, under v1.
    const email = encryptedColumn(v1, { ...OPTIONS, type: "string" });
    const index = createBlindIndex(v1, { ...OPTIONS, normalize: NORMALIZE });
    for (let start = 1; start <= ROWS; start += BATCH) {
      const ids: number[] = [];
      const scopes: string[] = [];
      const cells: string[] = [];
      const bidx: string[] = [];
      for (let id = start; id < start + BATCH; id++) {
        const scope = scopeOf(id);
        ids.push(id);
        scopes.push(scope);
        cells.push(email.encrypt(emailOf(id), { scope, rowKey: id }) as string);
        bidx.push(index.compute(emailOf(id), scope));
      }
      await db.query(
        "INSERT INTO patients (id, scope, email, email_bidx) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])",
        [ids, scopes, cells, bidx],
      );
    }
    await db.query("ANALYZE patients");
  }, 180_000);

  afterAll(async () => {
    await db?.close();
  });

  async function explain(sql: string, params: unknown[]): Promise<PlanNode[]> {
    const rows = await db.query<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    const raw = rows[0]?.["QUERY PLAN"];
    const plan = (typeof raw === "string" ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
    return planNodes(plan[0]!.Plan);
  }

  /** Asserts the plan reads patients through the blind-index index only. */
  async function expectIndexScan(candidates: string[]): Promise<void> {
    const nodes = await explain("SELECT id, scope, email FROM patients WHERE email_bidx = ANY($1::text[])", [
      candidates,
    ]);
    const summary = JSON.stringify(nodes.map((n) => [n["Node Type"], n["Relation Name"], n["Index Name"]]));
    const scans = nodes.filter((n) => ["Index Scan", "Index Only Scan", "Bitmap Index Scan"].includes(n["Node Type"]));
    expect(
      scans.some((n) => n["Index Name"] === INDEX_NAME),
      summary,
    ).toBe(true);
    expect(
      nodes.filter((n) => n["Node Type"] === "Seq Scan"),
      summary,
    ).toEqual([]);
    // No scan of any other index of the table (the primary key) either.
    expect(
      scans.every((n) => n["Index Name"] === INDEX_NAME),
      summary,
    ).toBe(true);
  }

  async function find(candidates: string[]): Promise<{ id: number; scope: string; email: string }[]> {
    return db.query("SELECT id, scope, email FROM patients WHERE email_bidx = ANY($1::text[]) ORDER BY id", [
      candidates,
    ]);
  }

  it("the table holds 100,000 rows of ciphertext and v1 index values; equal values collide only within a scope", async () => {
    const [count] = await db.query<{ n: string | number; distinct_bidx: string | number }>(
      "SELECT count(*) AS n, count(DISTINCT email_bidx) AS distinct_bidx FROM patients",
    );
    expect(Number(count?.n)).toBe(ROWS);
    // The three planted clinic-0 rows share one value; the clinic-1 copy of the address does not.
    expect(Number(count?.distinct_bidx)).toBe(ROWS - 2);
    const sample = await db.query<{ email: string; email_bidx: string }>(
      "SELECT email, email_bidx FROM patients WHERE id = ANY($1::int[])",
      [[1, 2, 50_000, 77_777]],
    );
    for (const row of sample) {
      expect(inspectCell(row.email)).toMatchObject({ keyId: "v1", type: "string", form: "text" });
      expect(row.email.toLowerCase()).not.toContain("example.com");
      expect(row.email_bidx).toMatch(/^bi1:v1:[A-Za-z0-9_-]{22}$/);
    }
  });

  it("EXPLAIN: one candidate is looked up through the blind-index btree, not a Seq Scan", async () => {
    const index = createBlindIndex(v1, { ...OPTIONS, normalize: NORMALIZE });
    await expectIndexScan(index.candidates("patient77777@example.com", scopeOf(77_777)));
  });

  it("finds exactly the searched row, which decrypts to the searched value", async () => {
    const index = createBlindIndex(v1, { ...OPTIONS, normalize: NORMALIZE });
    const email = encryptedColumn(v1, { ...OPTIONS, type: "string" });
    for (const [id, query] of [
      [77_777, "  PATIENT77777@example.com"],
      [1, "patient1@example.com"],
      [ROWS, "Patient100000@Example.Com"],
      [40_002, "patient40002@example.com"],
    ] as const) {
      const rows = await find(index.candidates(query, scopeOf(id)));
      expect(rows.map((r) => r.id)).toEqual([id]);
      const row = rows[0]!;
      const plain = email.decrypt(row.email, { scope: row.scope, rowKey: row.id }) as string;
      expect(plain).toBe(emailOf(id));
      expect(plain.trim().toLowerCase()).toBe(query.trim().toLowerCase());
    }
  });

  it("finds every row of the scope holding the value, and none of another scope", async () => {
    const index = createBlindIndex(v1, { ...OPTIONS, normalize: NORMALIZE });
    const email = encryptedColumn(v1, { ...OPTIONS, type: "string" });
    const rows = await find(index.candidates("shared@example.com", "clinic-0"));
    expect(rows.map((r) => r.id)).toEqual([50_000, 50_010, 50_020]);
    for (const row of rows) {
      expect(row.scope).toBe("clinic-0");
      const plain = email.decrypt(row.email, { scope: row.scope, rowKey: row.id }) as string;
      expect(plain.trim().toLowerCase()).toBe("shared@example.com");
    }
    expect((await find(index.candidates("shared@example.com", "clinic-1"))).map((r) => r.id)).toEqual([50_001]);
    // The right value in the wrong scope finds nothing.
    expect(await find(index.candidates("patient77777@example.com", "clinic-8"))).toEqual([]);
    expect(await find(index.candidates("nobody@example.com", "clinic-0"))).toEqual([]);
  });

  it("after rotating to v2: candidates() finds the v1 rows and the v2 rows, through the same index", async () => {
    // New rows are written under v2, the primary of the rotated keyring.
    const email = encryptedColumn(v2, { ...OPTIONS, type: "string" });
    const index = createBlindIndex(v2, { ...OPTIONS, normalize: NORMALIZE });
    const added = [
      { id: ROWS + 1, scope: "clinic-0", value: "Shared@example.com " },
      { id: ROWS + 2, scope: "clinic-7", value: "patient77777@example.com" },
      { id: ROWS + 3, scope: "clinic-3", value: "newcomer@example.com" },
    ];
    for (const row of added) {
      await db.query("INSERT INTO patients (id, scope, email, email_bidx) VALUES ($1, $2, $3, $4)", [
        row.id,
        row.scope,
        email.encrypt(row.value, { scope: row.scope, rowKey: row.id }),
        index.compute(row.value, row.scope),
      ]);
    }

    const candidates = index.candidates("shared@example.com", "clinic-0");
    expect(candidates.map((c) => c.split(":")[1])).toEqual(["v2", "v1"]);
    await expectIndexScan(candidates);
    const rows = await find(candidates);
    expect(rows.map((r) => r.id)).toEqual([50_000, 50_010, 50_020, ROWS + 1]);
    for (const row of rows) {
      expect(inspectCell(row.email).keyId).toBe(row.id > ROWS ? "v2" : "v1");
      // The rotated keyring opens both generations of cells.
      const plain = email.decrypt(row.email, { scope: row.scope, rowKey: row.id }) as string;
      expect(plain.trim().toLowerCase()).toBe("shared@example.com");
    }

    // compute() alone (the v2 value) finds only the new row: old rows need candidates().
    expect((await find([index.compute("shared@example.com", "clinic-0")])).map((r) => r.id)).toEqual([ROWS + 1]);
    expect((await find(index.candidates(" PATIENT77777@example.com", "clinic-7"))).map((r) => r.id)).toEqual([
      77_777,
      ROWS + 2,
    ]);
    expect((await find(index.candidates("newcomer@example.com", "clinic-3"))).map((r) => r.id)).toEqual([ROWS + 3]);
    // The v1-only keyring, which knows nothing of v2, does not find the new row.
    const old = createBlindIndex(v1, { ...OPTIONS, normalize: NORMALIZE });
    expect(await find(old.candidates("newcomer@example.com", "clinic-3"))).toEqual([]);
  });
});
