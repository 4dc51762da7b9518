/**
 * The audit log on a real database (PGlite, or the server at DATABASE_URL): an untouched chain
 * verifies, an edited, deleted, reordered or inserted entry is detected and classified, concurrent
 * appends keep one chain, the audit key is redacted and details refuse bytes.
 */
import { inspect } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendAudit, createAuditor, createAuditTable, verifyAudit } from "../src/audit/index.js";
import { createKeyring } from "../src/keyring/index.js";
import type { Queryable } from "../src/pg/index.js";
import { openTestDb, type TestDb } from "./db.js";
import { keyBytes, keyString } from "./helpers.js";

const AUDIT_KEY = keyBytes(0xa7);
let db: TestDb;
let q: Queryable;
let clock = Date.parse("2026-11-23T12:00:00.000Z");
const auditor = createAuditor(AUDIT_KEY, { now: () => new Date(clock++) });

beforeAll(async () => {
  db = await openTestDb();
  q = { query: async (text, values) => ({ rows: await db.query(text, values) }) };
  await createAuditTable(q);
});
afterAll(async () => db?.close());
beforeEach(async () => tamper("DELETE FROM fieldcrypt_audit"));

/** Runs SQL with the append-only triggers off, as the table owner could. */
async function tamper(sql: string): Promise<void> {
  await db.query("ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER");
  try {
    await db.query(sql);
  } finally {
    await db.query("ALTER TABLE fieldcrypt_audit ENABLE TRIGGER USER");
  }
}

async function appendMany(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await appendAudit(q, auditor, {
      actor: `user-${i % 3}`,
      action: i % 2 === 0 ? "key.create" : "key.rewrap",
      scope: i % 4 === 0 ? undefined : `tenant-${i % 5}`,
      keyIds: [`dk-${i}`],
      details: { n: i, root: "local-1" },
    });
  }
}

describe("an untouched chain", () => {
  it("verifies with 1,000 entries", async () => {
    await appendMany(1000);
    const result = await verifyAudit(q, auditor);
    expect(result).toMatchObject({ ok: true, entries: 1000, verified: 1000 });
    expect(result.headMac).toMatch(/^[0-9a-f]{64}$/);
    expect(result.reason).toBeUndefined();
  });

  it("verifies when empty", async () => {
    expect(await verifyAudit(q, auditor)).toEqual({ ok: true, entries: 0, verified: 0, headMac: undefined });
  });

  it("stores details as canonical JSON and seq from 1", async () => {
    await appendAudit(q, auditor, { actor: "ops", action: "job.run", details: { z: 1, a: { y: [1, "x"], b: null } } });
    const rows = await db.query<{ seq: string; details: string }>(
      "SELECT seq::text AS seq, details::text AS details FROM fieldcrypt_audit",
    );
    expect(rows).toEqual([{ seq: "1", details: '{"a":{"b":null,"y":[1,"x"]},"z":1}' }]);
    expect((await verifyAudit(q, auditor)).ok).toBe(true);
  });

  it("fails under another audit key", async () => {
    await appendMany(3);
    const other = createAuditor(keyBytes(0xa8));
    expect(await verifyAudit(q, other)).toMatchObject({ ok: false, firstBadSeq: 1, reason: "edited" });
  });
});

describe("tampering is detected", () => {
  beforeEach(async () => appendMany(10));

  it.each([
    ["actor", "UPDATE fieldcrypt_audit SET actor = 'someone-else' WHERE seq = 4"],
    ["action", "UPDATE fieldcrypt_audit SET action = 'tampered' WHERE seq = 4"],
    ["scope", "UPDATE fieldcrypt_audit SET scope = 'tenant-x' WHERE seq = 4"],
    ["key ids", "UPDATE fieldcrypt_audit SET key_ids = '{dk-other}' WHERE seq = 4"],
    ["details", `UPDATE fieldcrypt_audit SET details = '{"n":4,"root":"local-2"}' WHERE seq = 4`],
    ["at", "UPDATE fieldcrypt_audit SET at = at + interval '1 microsecond' WHERE seq = 4"],
    ["mac", "UPDATE fieldcrypt_audit SET mac = prev_mac WHERE seq = 4"],
    ["prev_mac", "UPDATE fieldcrypt_audit SET prev_mac = mac WHERE seq = 4"],
  ])("an edited entry (%s)", async (_, sql) => {
    await tamper(sql);
    expect(await verifyAudit(q, auditor)).toMatchObject({
      ok: false,
      entries: 10,
      verified: 3,
      firstBadSeq: 4,
      reason: "edited",
    });
  });

  it("an edited last entry", async () => {
    await tamper("UPDATE fieldcrypt_audit SET actor = 'x' WHERE seq = 10");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, firstBadSeq: 10, reason: "edited" });
  });

  it("a deleted entry", async () => {
    await tamper("DELETE FROM fieldcrypt_audit WHERE seq = 4");
    expect(await verifyAudit(q, auditor)).toMatchObject({
      ok: false,
      entries: 9,
      verified: 3,
      firstBadSeq: 4,
      reason: "deleted",
    });
  });

  it("a deleted first entry", async () => {
    await tamper("DELETE FROM fieldcrypt_audit WHERE seq = 1");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, verified: 0, firstBadSeq: 1, reason: "deleted" });
  });

  it("deleted entries with the rest renumbered to close the gap", async () => {
    await tamper("DELETE FROM fieldcrypt_audit WHERE seq IN (4, 5)");
    // Through a high range: the primary key is checked row by row, so a one-step shift can collide.
    await tamper("UPDATE fieldcrypt_audit SET seq = seq + 1000000 WHERE seq > 5");
    await tamper("UPDATE fieldcrypt_audit SET seq = seq - 1000002 WHERE seq > 1000000");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, firstBadSeq: 4, reason: "deleted" });
  });

  it("a reordered entry (two entries swap places)", async () => {
    await tamper("UPDATE fieldcrypt_audit SET seq = 1000 WHERE seq = 4");
    await tamper("UPDATE fieldcrypt_audit SET seq = 4 WHERE seq = 5");
    await tamper("UPDATE fieldcrypt_audit SET seq = 5 WHERE seq = 1000");
    expect(await verifyAudit(q, auditor)).toMatchObject({
      ok: false,
      entries: 10,
      verified: 3,
      firstBadSeq: 4,
      reason: "reordered",
    });
  });

  it("a reordered entry (moved later by its timestamp order and seq)", async () => {
    await tamper("UPDATE fieldcrypt_audit SET seq = 100 WHERE seq = 2");
    await tamper("UPDATE fieldcrypt_audit SET seq = seq + 1000000 WHERE seq BETWEEN 3 AND 10");
    await tamper("UPDATE fieldcrypt_audit SET seq = seq - 1000001 WHERE seq > 1000000");
    await tamper("UPDATE fieldcrypt_audit SET seq = 10 WHERE seq = 100");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, firstBadSeq: 2, reason: "reordered" });
  });

  it("an inserted entry (copying the previous entry's MAC as its prev_mac)", async () => {
    await tamper("UPDATE fieldcrypt_audit SET seq = seq + 100 WHERE seq >= 5");
    await tamper("UPDATE fieldcrypt_audit SET seq = seq - 99 WHERE seq >= 105");
    await tamper(
      `INSERT INTO fieldcrypt_audit (seq, at, actor, action, scope, key_ids, details, prev_mac, mac)
       SELECT 5, at, 'attacker', 'key.create', 'tenant-1', '{dk-fake}', '{}', mac, mac FROM fieldcrypt_audit WHERE seq = 4`,
    );
    expect(await verifyAudit(q, auditor)).toMatchObject({
      ok: false,
      entries: 11,
      verified: 4,
      firstBadSeq: 5,
      reason: "inserted",
    });
  });

  it("an inserted copy of a genuine entry (a replay)", async () => {
    await tamper("UPDATE fieldcrypt_audit SET seq = seq + 100 WHERE seq >= 5");
    await tamper("UPDATE fieldcrypt_audit SET seq = seq - 99 WHERE seq >= 105");
    await tamper(
      `INSERT INTO fieldcrypt_audit (seq, at, actor, action, scope, key_ids, details, prev_mac, mac)
       SELECT 5, at, actor, action, scope, key_ids, details, prev_mac, mac FROM fieldcrypt_audit WHERE seq = 3`,
    );
    const result = await verifyAudit(q, auditor);
    expect(result).toMatchObject({ ok: false, firstBadSeq: 5 });
    expect(["inserted", "reordered"]).toContain(result.reason);
  });
});

describe("the append-only guard", () => {
  it("refuses UPDATE, DELETE and TRUNCATE", async () => {
    await appendMany(2);
    for (const [sql, op] of [
      ["UPDATE fieldcrypt_audit SET actor = 'x' WHERE seq = 1", "UPDATE"],
      ["DELETE FROM fieldcrypt_audit WHERE seq = 2", "DELETE"],
      ["TRUNCATE fieldcrypt_audit", "TRUNCATE"],
    ]) {
      const error = await db.query(sql as string).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as Error).message).toBe(`fieldcrypt_audit is append-only (${op} refused)`);
    }
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 2 });
    await createAuditTable(q); // idempotent
  });
});

describe("concurrent appends", () => {
  it("50 appends at once keep one valid chain", async () => {
    let appenders: Queryable[];
    let pool: pg.Pool | undefined;
    if (db.kind === "server") {
      pool = new pg.Pool({ connectionString: db.connectionString, max: 10 });
      appenders = [pool];
    } else {
      appenders = [q]; // PGlite runs one query at a time; the appends still interleave query by query.
    }
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          appendAudit(appenders[0] as Queryable, auditor, { actor: `worker-${i}`, action: "job.run" }),
        ),
      );
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 50 });
    } finally {
      await pool?.end();
    }
  });
});

describe("keys and entries", () => {
  it("derives the audit key from a keyring key with its own label", async () => {
    const keyring = createKeyring([{ id: "v1", secret: keyString(AUDIT_KEY), primary: true }]);
    const derived = createAuditor(keyring.primary());
    expect(derived.source).toBe("key:v1");
    await appendAudit(q, derived, { actor: "ops", action: "key.create" });
    expect((await verifyAudit(q, derived)).ok).toBe(true);
    // The same bytes used directly are another key: the derivation separates the purposes.
    expect((await verifyAudit(q, auditor)).ok).toBe(false);
  });

  it("redacts the audit key", () => {
    const hex = AUDIT_KEY.toString("hex");
    for (const text of [inspect(auditor), JSON.stringify(auditor), String(auditor)]) {
      expect(text).toContain("redacted");
      expect(text).not.toContain(hex);
      expect(text).not.toContain(AUDIT_KEY.toString("base64url"));
    }
    expect(inspect(auditor)).toBe('Auditor { source: "explicit", key: [redacted] }');
  });

  it("refuses bytes and non-JSON values in details, and empty fields", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { actor: "a", action: "x", details: { key: Buffer.from("secret") } },
        "audit details.key must be a JSON value (got Buffer)",
      ],
      [{ actor: "a", action: "x", details: { n: Number.NaN } }, "audit details.n must be a finite number"],
      [{ actor: "", action: "x" }, "audit entry actor must be 1 to 200 printable ASCII characters"],
      [{ actor: "a", action: 7 }, "audit entry action must be a non-empty string (got number)"],
    ];
    for (const [entry, message] of cases) {
      const error = await appendAudit(q, auditor, entry as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect((error as Error).message.startsWith(message.slice(0, 30))).toBe(true);
      expect((error as Error).message).not.toContain("secret");
    }
    expect(await db.query("SELECT 1 FROM fieldcrypt_audit")).toHaveLength(0);
  });
});
