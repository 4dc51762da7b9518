/**
 * The audit chain (spec/audit-v1.md) against spec/vectors/audit/chain-v1.json, whose MACs, check
 * values and heads were computed by scripts/audit-vectors.py with Python's hmac, hashlib and
 * cryptography's HKDF, not by fieldcrypt: the entry encoding and MAC, the audit key derived from a
 * keyring key, canonical details, the head line — and, on a real database, the bytes appendAudit
 * stores and a verifyAudit of rows written by the other implementation.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { auditKeyOf } from "../src/audit/auditor.js";
import { canonicalJson, computeMac } from "../src/audit/encode.js";
import { appendAudit, createAuditor, formatAuditHead, parseAuditHead, verifyAudit } from "../src/audit/index.js";
import { createKeyring } from "../src/keyring/index.js";
import type { Queryable } from "../src/pg/index.js";
import { type TestDb, useTestDb } from "./db.js";

interface VectorEntry {
  readonly seq: string;
  readonly atMicros: string;
  readonly actor: string;
  readonly action: string;
  readonly scope: string | null;
  readonly keyIds: string[];
  readonly details: string;
  readonly prevMac: string;
  readonly mac: string;
}
interface Chain {
  readonly name: string;
  readonly keyMaterial: string;
  readonly derived: boolean;
  readonly auditKeyCheckValue: string;
  readonly entries: readonly VectorEntry[];
  readonly head: string;
}

const { chains } = JSON.parse(
  readFileSync(new URL("../../../spec/vectors/audit/chain-v1.json", import.meta.url), "utf8"),
) as { chains: readonly Chain[] };

function auditorOf(chain: Chain, now?: () => Date) {
  const material = Buffer.from(chain.keyMaterial, "hex");
  if (!chain.derived) return createAuditor(new Uint8Array(material), { now });
  const ring = createKeyring([{ id: "k1", secret: new Uint8Array(material), primary: true }]);
  return createAuditor(ring.get("k1") as NonNullable<ReturnType<typeof ring.get>>, { now });
}

describe("audit chain vectors (made by Python's hmac and cryptography)", () => {
  it("has a derived-key chain and an explicit-key chain of three entries", () => {
    expect(chains.map((c) => [c.derived, c.entries.length])).toEqual([
      [true, 2],
      [false, 3],
    ]);
  });

  for (const chain of chains) {
    it(`${chain.name}: the audit key's check value, every entry's MAC and link, canonical details, the head`, () => {
      const auditor = auditorOf(chain);
      expect(auditor.checkValue).toBe(chain.auditKeyCheckValue);
      let prev = Buffer.alloc(32);
      for (const e of chain.entries) {
        expect(e.prevMac).toBe(prev.toString("hex"));
        const fields = { ...e, prevMac: Buffer.from(e.prevMac, "hex") };
        expect(computeMac(auditKeyOf(auditor), fields).toString("hex")).toBe(e.mac);
        expect(canonicalJson(JSON.parse(e.details))).toBe(e.details);
        prev = Buffer.from(e.mac, "hex");
      }
      const head = parseAuditHead(chain.head);
      expect(head).toEqual({ seq: chain.entries.length, mac: prev.toString("base64url") });
      expect(formatAuditHead(head)).toBe(chain.head);
    });
  }
});

describe("audit chain vectors on a real database", () => {
  let db: TestDb;
  let q: Queryable;
  useTestDb(["audit"], (opened) => {
    ({ db, q } = opened);
  });

  async function emptyTable(): Promise<void> {
    await db.query("ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER");
    await db.query("DELETE FROM fieldcrypt_audit");
    await db.query("ALTER TABLE fieldcrypt_audit ENABLE TRIGGER USER");
  }

  it("appendAudit stores exactly the vector's MACs and key check value (derived-key chain)", async () => {
    await emptyTable();
    const chain = chains[0] as Chain;
    const times = chain.entries.map((e) => new Date(Number(BigInt(e.atMicros) / 1000n)));
    const auditor = auditorOf(chain, () => times.shift() as Date);
    let last: string | undefined;
    for (const e of chain.entries) {
      const details = JSON.parse(e.details) as Record<string, unknown>;
      const result = await appendAudit(q, auditor, {
        actor: e.actor,
        action: e.action,
        ...(e.scope === null ? {} : { scope: e.scope }),
        keyIds: e.keyIds,
        details,
      });
      last = formatAuditHead(result.head);
    }
    expect(last).toBe(chain.head);
    const stored = await db.query<{ seq: string; mac: Uint8Array; prev_mac: Uint8Array; key_check: string }>(
      "SELECT seq::text AS seq, mac, prev_mac, key_check FROM fieldcrypt_audit ORDER BY seq",
    );
    expect(
      stored.map((r) => [r.seq, Buffer.from(r.prev_mac).toString("hex"), Buffer.from(r.mac).toString("hex")]),
    ).toEqual(chain.entries.map((e) => [e.seq, e.prevMac, e.mac]));
    expect(new Set(stored.map((r) => r.key_check))).toEqual(new Set([chain.auditKeyCheckValue]));
  });

  it("verifyAudit accepts rows written from the vectors (microsecond times, NULL and empty scope), to the vector's head", async () => {
    await emptyTable();
    const chain = chains[1] as Chain;
    for (const e of chain.entries) {
      await db.query(
        `INSERT INTO fieldcrypt_audit (seq, at, actor, action, scope, key_ids, details, prev_mac, mac, key_check)
         VALUES ($1::bigint, 'epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3, $4, $5, $6::text[],
                 $7::json, decode($8, 'hex'), decode($9, 'hex'), $10)`,
        [
          e.seq,
          e.atMicros,
          e.actor,
          e.action,
          e.scope,
          e.keyIds,
          e.details,
          e.prevMac,
          e.mac,
          chain.auditKeyCheckValue,
        ],
      );
    }
    const result = await verifyAudit(q, auditorOf(chain), { expect: chain.head });
    expect(result.ok).toBe(true);
    expect(result.verified).toBe(chain.entries.length);
    expect(formatAuditHead(result.head as NonNullable<typeof result.head>)).toBe(chain.head);
    // The vector's last entry with one microsecond more no longer verifies.
    await db.query("ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER");
    await db.query("UPDATE fieldcrypt_audit SET at = at + interval '1 microsecond' WHERE seq = 3");
    await db.query("ALTER TABLE fieldcrypt_audit ENABLE TRIGGER USER");
    const edited = await verifyAudit(q, auditorOf(chain));
    expect([edited.ok, edited.reason, edited.firstBadSeq]).toEqual([false, "edited", 3]);
  });
});
