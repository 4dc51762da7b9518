import { AuditHeadMismatch, AuditKeyMismatch } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { type Auditor, auditKeyOf } from "./auditor.js";
import { computeMac, GENESIS_MAC, macEquals } from "./encode.js";
import { type AuditHead, headOf, toAuditHead } from "./head.js";
import { type AuditRow as Row, readRows } from "./rows.js";

/** How the chain was broken at {@link VerifyAuditResult.firstBadSeq}. */
export type AuditFailure = "edited" | "deleted" | "reordered" | "inserted";

/** Options of {@link verifyAudit}. */
export interface VerifyAuditOptions {
  /**
   * A head kept outside the database (`fieldcrypt-audit-head:v1:…`, or an {@link AuditHead}):
   * the log must still hold that entry, with that MAC. Catches what the chain alone cannot — a
   * tail cut off, the table emptied, numbers reused after a truncation — as `ERR_AUDIT_HEAD_MISMATCH`.
   */
  readonly expect?: AuditHead | string | undefined;
}

/** What {@link verifyAudit} found. */
export interface VerifyAuditResult {
  /** True when every entry verifies and the chain has no gap. */
  readonly ok: boolean;
  /** Entries read. */
  readonly entries: number;
  /** Entries verified before the first bad one (all of them when `ok`). */
  readonly verified: number;
  /** Hex MAC of the last verified entry. */
  readonly headMac: string | undefined;
  /** The last verified entry as a head: `formatAuditHead(head)` is the line to keep elsewhere. */
  readonly head: AuditHead | undefined;
  /** The `seq` where verification stopped (for `"deleted"`, the first missing `seq`). */
  readonly firstBadSeq?: number;
  readonly reason?: AuditFailure;
}

const PAGE = 5000;
/** How far from its stored `seq` a moved entry is looked for. */
const MOVE_WINDOW = 1024n;

/**
 * Verifies the whole audit chain: each entry's MAC, the `seq` numbering and each entry's link to
 * the one before; with `expect`, also that the chain still reaches that head. Exported from
 * `fieldcrypt/audit`.
 *
 * The first break is classified: `"edited"` (an entry's content, MAC or stored key check value
 * changed), `"deleted"` (entries missing), `"reordered"` (genuine entries under other `seq`
 * numbers), `"inserted"` (an entry that was never appended). Deleting entries at the very end
 * leaves a valid, shorter chain: keep a head outside the database (`onHead`, `result.head`) and
 * pass it as `expect` to catch that. Throws `ERR_AUDIT_KEY_MISMATCH` when the auditor's key is
 * not the log's (the stored check value differs and the entry does not verify), and, on an
 * intact chain, `ERR_AUDIT_HEAD_MISMATCH` when it does not reach `expect`.
 *
 * @example
 * ```ts
 * const result = await verifyAudit(pool, auditor, { expect: readFileSync("audit-head.txt", "utf8") });
 * if (!result.ok) alert(`audit log ${result.reason} at seq ${result.firstBadSeq}`);
 * ```
 */
export async function verifyAudit(
  db: Queryable,
  auditor: Auditor,
  options?: VerifyAuditOptions,
): Promise<VerifyAuditResult> {
  const key = auditKeyOf(auditor);
  const expected = options?.expect === undefined ? undefined : toAuditHead(options.expect);
  const mine = auditor.checkValue;
  const selfValid = (row: Row, seq: string): boolean => macEquals(computeMac(key, { ...row, seq }), row.mac);
  let next = 1n;
  let prev: Buffer = GENESIS_MAC;
  let verified = 0;
  let afterSeq: string | undefined;
  let replaced = false;
  for (;;) {
    const page = await readRows(db, afterSeq, PAGE);
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i++) {
      const row = page[i] as Row;
      const keyOk = row.keyCheck === null || row.keyCheck === mine;
      if (row.seq === next.toString() && keyOk && macEquals(row.prevMac, prev) && selfValid(row, row.seq)) {
        prev = row.mac;
        next++;
        verified++;
        if (verified === expected?.seq) replaced = row.mac.toString("base64url") !== expected.mac;
        continue;
      }
      // A break: read the rest of the table (only on this failure path) and classify it.
      const rest = [...page.slice(i), ...(await readRows(db, (page[page.length - 1] as Row).seq, undefined))];
      // Another key verifies nothing; tampering leaves the other entries verifying under this one.
      const stored = rest.find((r) => r.keyCheck !== null)?.keyCheck;
      if (typeof stored === "string" && stored !== mine && verified === 0 && !rest.some((r) => selfValid(r, r.seq))) {
        throw new AuditKeyMismatch(stored, mine);
      }
      const reason = keyOk ? classify(rest, next, prev, selfValid) : "edited";
      const firstBadSeq = Number(reason === "deleted" ? next : BigInt(row.seq));
      const head = verified === 0 ? undefined : headOf(verified, prev);
      const broken = { ok: false, entries: verified + rest.length, verified, headMac: headMac(head), head };
      return { ...broken, firstBadSeq, reason };
    }
    afterSeq = (page[page.length - 1] as Row).seq;
  }
  if (expected !== undefined && verified < expected.seq)
    throw new AuditHeadMismatch("truncated", expected.seq, verified);
  if (replaced) throw new AuditHeadMismatch("replaced", expected?.seq as number, verified);
  const head = verified === 0 ? undefined : headOf(verified, prev);
  return { ok: true, entries: verified, verified, headMac: headMac(head), head };
}

function headMac(head: AuditHead | undefined): string | undefined {
  return head === undefined ? undefined : Buffer.from(head.mac, "base64url").toString("hex");
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
