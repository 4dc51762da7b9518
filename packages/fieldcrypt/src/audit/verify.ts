import type { Queryable } from "../internal/db-port.js";
import { type Auditor, auditKeyOf } from "./auditor.js";
import { computeMac, type EncodedFields, GENESIS_MAC, macEquals } from "./encode.js";

/** How the chain was broken at {@link VerifyAuditResult.firstBadSeq}. */
export type AuditFailure = "edited" | "deleted" | "reordered" | "inserted";

/** What {@link verifyAudit} found. */
export interface VerifyAuditResult {
  /** True when every entry verifies and the chain has no gap. */
  readonly ok: boolean;
  /** Entries read. */
  readonly entries: number;
  /** Entries verified before the first bad one (all of them when `ok`). */
  readonly verified: number;
  /** Hex MAC of the last verified entry: keep it elsewhere to detect a truncated tail later. */
  readonly headMac: string | undefined;
  /** The `seq` where verification stopped (for `"deleted"`, the first missing `seq`). */
  readonly firstBadSeq?: number;
  readonly reason?: AuditFailure;
}

interface Row extends EncodedFields {
  readonly mac: Buffer;
}

const PAGE = 5000;
/** How far from its stored `seq` a moved entry is looked for. */
const MOVE_WINDOW = 1024n;

async function readRows(db: Queryable, afterSeq: string | undefined, limit: number | undefined): Promise<Row[]> {
  const { rows } = await db.query(
    `SELECT seq::text AS seq, floor(extract(epoch FROM at) * 1000000)::bigint::text AS at_micros, actor, action,
            scope, key_ids, details::text AS details, prev_mac, mac
       FROM fieldcrypt_audit a ${afterSeq === undefined ? "" : "WHERE a.seq > $1::bigint"}
      ORDER BY a.seq ${limit === undefined ? "" : `LIMIT ${limit}`}`,
    afterSeq === undefined ? [] : [afterSeq],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    seq: r.seq as string,
    atMicros: r.at_micros as string,
    actor: r.actor as string,
    action: r.action as string,
    scope: (r.scope as string | null) ?? null,
    keyIds: (r.key_ids as string[] | null) ?? [],
    details: r.details as string,
    prevMac: Buffer.from(r.prev_mac as Uint8Array),
    mac: Buffer.from(r.mac as Uint8Array),
  }));
}

/**
 * Verifies the whole audit chain: each entry's MAC, the `seq` numbering and each entry's link to
 * the one before. Exported from `fieldcrypt/audit`.
 *
 * The first break is classified: `"edited"` (an entry's content or MAC changed), `"deleted"`
 * (entries missing), `"reordered"` (genuine entries under other `seq` numbers), `"inserted"` (an
 * entry that was never appended). Deleting entries at the very end leaves a valid, shorter chain:
 * compare `entries`/`headMac` with a copy kept outside the database to catch that.
 *
 * @example
 * ```ts
 * const result = await verifyAudit(pool, auditor);
 * if (!result.ok) alert(`audit log ${result.reason} at seq ${result.firstBadSeq}`);
 * ```
 */
export async function verifyAudit(db: Queryable, auditor: Auditor): Promise<VerifyAuditResult> {
  const key = auditKeyOf(auditor);
  const selfValid = (row: Row, seq: string): boolean => macEquals(computeMac(key, { ...row, seq }), row.mac);
  let expected = 1n;
  let prev: Buffer = GENESIS_MAC;
  let verified = 0;
  let afterSeq: string | undefined;
  for (;;) {
    const page = await readRows(db, afterSeq, PAGE);
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i++) {
      const row = page[i] as Row;
      if (row.seq === expected.toString() && macEquals(row.prevMac, prev) && selfValid(row, row.seq)) {
        prev = row.mac;
        expected++;
        verified++;
        continue;
      }
      // A break: read the rest of the table (only on this failure path) and classify it.
      const rest = [...page.slice(i), ...(await readRows(db, (page[page.length - 1] as Row).seq, undefined))];
      const total = verified + rest.length;
      const reason = classify(rest, expected, prev, selfValid);
      const firstBadSeq = Number(reason === "deleted" ? expected : BigInt(row.seq));
      return { ok: false, entries: total, verified, headMac: headHex(verified, prev), firstBadSeq, reason };
    }
    afterSeq = (page[page.length - 1] as Row).seq;
  }
  return { ok: true, entries: verified, verified, headMac: headHex(verified, prev) };
}

function headHex(verified: number, prev: Buffer): string | undefined {
  return verified === 0 ? undefined : prev.toString("hex");
}

function classify(
  rest: readonly Row[],
  expected: bigint,
  prev: Buffer,
  selfValid: (row: Row, seq: string) => boolean,
): AuditFailure {
  const row = rest[0] as Row;
  const stored = BigInt(row.seq);
  if (selfValid(row, row.seq)) {
    // A genuine entry, but its predecessors are not there.
    return stored > expected ? "deleted" : "reordered";
  }
  for (let s = stored - MOVE_WINDOW; s <= stored + MOVE_WINDOW; s++) {
    if (s < 1n || s === stored || !selfValid(row, s.toString())) continue;
    // A genuine entry moved to another seq: its predecessor appearing later means a reorder.
    const predecessorLater = rest.some((later) => macEquals(later.mac, row.prevMac));
    return predecessorLater || s < expected ? "reordered" : "deleted";
  }
  const next = rest[1];
  if (next !== undefined && macEquals(next.prevMac, prev)) return "inserted";
  return "edited";
}
