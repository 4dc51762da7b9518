/**
 * The audit log on a real database (PGlite, or the server at DATABASE_URL): an untouched chain
 * verifies, an edited, deleted, reordered or inserted entry is detected and classified, concurrent
 * appends keep one chain, the audit key is redacted and details refuse bytes.
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditHead,
  appendAudit,
  createAuditor,
  ensureAuditTable,
  formatAuditHead,
  parseAuditHead,
  readAuditHead,
  verifyAudit,
} from "../src/audit/index.js";
import { createKeyring } from "../src/keyring/index.js";
import type { Queryable } from "../src/pg/index.js";
import { openTestDb, queryable, type TestDb } from "./db.js";
import { keyBytes, keyString, rejection } from "./helpers.js";

const AUDIT_KEY = keyBytes(0xa7);
let db: TestDb;
let q: Queryable;
let clock = Date.parse("2026-11-23T12:00:00.000Z");
const auditor = createAuditor(AUDIT_KEY, { now: () => new Date(clock++) });

beforeAll(async () => {
  db = await openTestDb();
  q = queryable(db);
  await ensureAuditTable(q);
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

/** The key check value of spec/keys-v1.md, written out independently of the library. */
function kcv(key: Uint8Array): string {
  const mac = createHmac("sha256", key).update("fieldcrypt-v1-key-check-value").digest();
  return `kcv1:${mac.subarray(0, 16).toString("base64url")}`;
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

  it("fails under another audit key with ERR_AUDIT_KEY_MISMATCH, not as an edited entry", async () => {
    await appendMany(3);
    const other = createAuditor(keyBytes(0xa8));
    const e = await rejection(verifyAudit(q, other));
    expect(e).toMatchObject({
      code: "ERR_AUDIT_KEY_MISMATCH",
      name: "AuditKeyMismatch",
      message: `the audit key (${kcv(keyBytes(0xa8))}) is not the key the audit log was written with (${kcv(AUDIT_KEY)})`,
    });
  });
});

describe("tampering is detected", () => {
  beforeEach(async () => appendMany(10));

  it.each([
    ["actor", "UPDATE fieldcrypt_audit SET actor = 'someone-else' WHERE seq = 4"],
    ["action", "UPDATE fieldcrypt_audit SET action = 'tampered' WHERE seq = 4"],
    ["scope", "UPDATE fieldcrypt_audit SET scope = 'tenant-x' WHERE seq = 4"],
    ["key ids", "UPDATE fieldcrypt_audit SET key_ids = '{dk-other}' WHERE seq = 4"],
    // text[] allows NULL elements and more dimensions; appendAudit never writes either (found by npm run fuzz).
    ["key ids with a NULL", "UPDATE fieldcrypt_audit SET key_ids = key_ids || ARRAY[NULL::text] WHERE seq = 4"],
    ["key ids only NULL", "UPDATE fieldcrypt_audit SET key_ids = '{NULL}' WHERE seq = 4"],
    ["key ids in two dimensions", "UPDATE fieldcrypt_audit SET key_ids = '{{dk-1,dk-2},{dk-3,NULL}}' WHERE seq = 4"],
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
    await ensureAuditTable(q); // idempotent
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
    expect(derived.checkValue).not.toBe(auditor.checkValue);
    expect(await rejection(verifyAudit(q, auditor))).toMatchObject({ code: "ERR_AUDIT_KEY_MISMATCH" });
  });

  it("redacts the audit key", () => {
    const hex = AUDIT_KEY.toString("hex");
    for (const text of [inspect(auditor), JSON.stringify(auditor), String(auditor)]) {
      expect(text).toContain("redacted");
      expect(text).not.toContain(hex);
      expect(text).not.toContain(AUDIT_KEY.toString("base64url"));
    }
    expect(inspect(auditor)).toBe(`Auditor { source: "explicit", checkValue: "${kcv(AUDIT_KEY)}", key: [redacted] }`);
    expect(JSON.parse(JSON.stringify(auditor))).toEqual({
      source: "explicit",
      checkValue: kcv(AUDIT_KEY),
      key: "[redacted]",
    });
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

describe("the audit head (anchoring the end of the chain)", () => {
  const HEAD = /^fieldcrypt-audit-head:v1:[1-9][0-9]*:[A-Za-z0-9_-]{43}$/;
  const truncated = (seq: number, entries: number) => ({
    code: "ERR_AUDIT_HEAD_MISMATCH",
    name: "AuditHeadMismatch",
    reason: "truncated",
    message: `audit log truncated: the expected head is entry ${seq}, the log has ${entries} entries`,
  });

  it("is returned by every append, by verifyAudit and readAuditHead, and round-trips as one line", async () => {
    await appendMany(4);
    const { head } = await appendAudit(q, auditor, { actor: "ops", action: "key.create" });
    const [row] = await db.query<{ mac: Uint8Array }>("SELECT mac FROM fieldcrypt_audit WHERE seq = 5");
    expect(head).toEqual({ seq: 5, mac: Buffer.from(row!.mac).toString("base64url") });
    expect(formatAuditHead(head)).toMatch(HEAD);
    expect(formatAuditHead(head)).toBe(`fieldcrypt-audit-head:v1:5:${head.mac}`);
    expect(parseAuditHead(` ${formatAuditHead(head)}\n`)).toEqual(head);
    expect((await verifyAudit(q, auditor)).head).toEqual(head);
    expect(await readAuditHead(q)).toEqual(head);
    // A head that is still in the chain verifies, whether or not entries came after it.
    expect(await verifyAudit(q, auditor, { expect: formatAuditHead(head) })).toMatchObject({ ok: true, entries: 5 });
    await appendMany(2);
    expect(await verifyAudit(q, auditor, { expect: head })).toMatchObject({ ok: true, entries: 7 });
  });

  it("stores the audit key's check value in every entry", async () => {
    await appendMany(3);
    const rows = await db.query<{ key_check: string }>("SELECT key_check FROM fieldcrypt_audit ORDER BY seq");
    expect(rows.map((r) => r.key_check)).toEqual([kcv(AUDIT_KEY), kcv(AUDIT_KEY), kcv(AUDIT_KEY)]);
    expect(auditor.checkValue).toBe(kcv(AUDIT_KEY));
  });

  it("catches a tail cut off, which the chain alone does not", async () => {
    await appendMany(6);
    const head = (await verifyAudit(q, auditor)).head as AuditHead;
    await tamper("DELETE FROM fieldcrypt_audit WHERE seq > 4");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 4 });
    expect(await rejection(verifyAudit(q, auditor, { expect: head }))).toMatchObject(truncated(6, 4));
  });

  it("catches a deleted scope.shred record at the end", async () => {
    await appendMany(3);
    const { head } = await appendAudit(q, auditor, { actor: "gdpr", action: "scope.shred", scope: "user-42" });
    await tamper("DELETE FROM fieldcrypt_audit WHERE action = 'scope.shred'");
    expect(await rejection(verifyAudit(q, auditor, { expect: formatAuditHead(head) }))).toMatchObject(truncated(4, 3));
  });

  it("catches an emptied table", async () => {
    await appendMany(3);
    const head = await readAuditHead(q);
    await tamper("DELETE FROM fieldcrypt_audit");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 0 });
    expect(await rejection(verifyAudit(q, auditor, { expect: head as AuditHead }))).toMatchObject(truncated(3, 0));
  });

  it("catches sequence numbers reused after a truncation", async () => {
    await appendMany(5);
    const head = (await verifyAudit(q, auditor)).head as AuditHead;
    await tamper("DELETE FROM fieldcrypt_audit WHERE seq > 3");
    await appendMany(3); // seq 4, 5, 6 again: a valid chain of 6 entries
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 6 });
    expect(await rejection(verifyAudit(q, auditor, { expect: head }))).toMatchObject({
      code: "ERR_AUDIT_HEAD_MISMATCH",
      reason: "replaced",
      message: "audit log rewritten: entry 5 is not the expected head (6 entries)",
    });
  });

  it("publishes each new head to the auditor's onHead sink", async () => {
    const heads: string[] = [];
    const publishing = createAuditor(AUDIT_KEY, { onHead: (h) => void heads.push(formatAuditHead(h)) });
    const a = await appendAudit(q, publishing, { actor: "ops", action: "key.create" });
    const b = await appendAudit(q, publishing, { actor: "ops", action: "key.rewrap" });
    expect(heads).toEqual([formatAuditHead(a.head), formatAuditHead(b.head)]);
    expect(() => createAuditor(AUDIT_KEY, { onHead: "file.txt" as never })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: "auditor onHead must be a function" }),
    );
  });

  it("refuses a malformed expected head before reading the log", async () => {
    const rule = "an audit head must be fieldcrypt-audit-head:v1:<seq>:<43 base64url characters>";
    for (const [bad, got] of [
      ["fieldcrypt-audit-head:v1:0:AAAA", "a string of 31 characters"],
      [`fieldcrypt-audit-head:v2:1:${"A".repeat(43)}`, "a string of 70 characters"],
      [42, "number"],
    ] as const) {
      expect(() => parseAuditHead(bad)).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_OPTION", message: `${rule} (got ${got})` }),
      );
    }
    expect(await rejection(verifyAudit(q, auditor, { expect: "nope" }))).toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("a wrong audit key", () => {
  const other = createAuditor(keyBytes(0xa8));

  it("cannot append: ERR_AUDIT_KEY_MISMATCH, nothing written", async () => {
    await appendMany(2);
    expect(await rejection(appendAudit(q, other, { actor: "ops", action: "key.create" }))).toMatchObject({
      code: "ERR_AUDIT_KEY_MISMATCH",
      expectedCheckValue: kcv(AUDIT_KEY),
      actualCheckValue: kcv(keyBytes(0xa8)),
    });
    expect(await db.query("SELECT 1 FROM fieldcrypt_audit")).toHaveLength(2);
  });

  it("an edited key_check under the right key is tampering (edited), not a key mismatch", async () => {
    await appendMany(4);
    await tamper(`UPDATE fieldcrypt_audit SET key_check = '${kcv(keyBytes(0xa8))}' WHERE seq = 3`);
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, firstBadSeq: 3, reason: "edited" });
    await tamper(`UPDATE fieldcrypt_audit SET key_check = '${kcv(keyBytes(0xa8))}' WHERE seq = 1`);
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: false, firstBadSeq: 1, reason: "edited" });
  });

  it("an older log without stored check values gets them on the first append, after its MAC checks", async () => {
    await appendMany(3);
    await tamper("UPDATE fieldcrypt_audit SET key_check = NULL");
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 3 });
    expect(await rejection(appendAudit(q, other, { actor: "ops", action: "key.create" }))).toMatchObject({
      code: "ERR_AUDIT_KEY_MISMATCH",
      message: `the audit key (${kcv(keyBytes(0xa8))}) does not verify the last entry of the audit log, which has no stored key check value`,
    });
    await appendAudit(q, auditor, { actor: "ops", action: "key.create" });
    const rows = await db.query<{ key_check: string | null }>("SELECT key_check FROM fieldcrypt_audit ORDER BY seq");
    expect(rows.map((r) => r.key_check)).toEqual([null, null, null, kcv(AUDIT_KEY)]);
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 4 });
    expect(await rejection(verifyAudit(q, other))).toMatchObject({ code: "ERR_AUDIT_KEY_MISMATCH" });
  });
});

describe("the README error table", () => {
  it("lists the audit error codes", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    for (const code of ["ERR_AUDIT_KEY_MISMATCH", "ERR_AUDIT_HEAD_MISMATCH"]) {
      expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\| `, "m"));
    }
  });
});
