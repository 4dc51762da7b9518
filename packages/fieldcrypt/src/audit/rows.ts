/** Reading stored audit entries (internal to `fieldcrypt/audit`). */
import type { Queryable } from "../internal/db-port.js";
import type { EncodedFields } from "./encode.js";

/** A stored entry: the fields its MAC covers, its MAC, and the key check value stored with it. */
export interface AuditRow extends EncodedFields {
  readonly mac: Buffer;
  /** `auditor.checkValue` of the key that appended it; `null` in entries older than key check values. */
  readonly keyCheck: string | null;
}

const COLUMNS = `seq::text AS seq, floor(extract(epoch FROM at) * 1000000)::bigint::text AS at_micros, actor, action,
            scope, key_ids, details::text AS details, prev_mac, mac, key_check`;

function toRow(r: Record<string, unknown>): AuditRow {
  return {
    seq: r.seq as string,
    atMicros: r.at_micros as string,
    actor: r.actor as string,
    action: r.action as string,
    scope: (r.scope as string | null) ?? null,
    keyIds: keyIdsOf(r.key_ids),
    details: r.details as string,
    prevMac: Buffer.from(r.prev_mac as Uint8Array),
    mac: Buffer.from(r.mac as Uint8Array),
    keyCheck: (r.key_check as string | null) ?? null,
  };
}

/**
 * The stored key ids as strings. `text[]` also holds NULL elements and nested arrays, which
 * appendAudit never writes; they read as "" (a key id appendAudit refuses too), so such an entry
 * fails its MAC — it is reported as edited rather than breaking the encoding.
 */
function keyIdsOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((id: unknown) => (typeof id === "string" ? id : ""));
}

/** Entries after `afterSeq` (all when `undefined`) in `seq` order, at most `limit`. */
export async function readRows(
  db: Queryable,
  afterSeq: string | undefined,
  limit: number | undefined,
): Promise<AuditRow[]> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS}
       FROM fieldcrypt_audit a ${afterSeq === undefined ? "" : "WHERE a.seq > $1::bigint"}
      ORDER BY a.seq ${limit === undefined ? "" : `LIMIT ${limit}`}`,
    afterSeq === undefined ? [] : [afterSeq],
  );
  return (rows as Record<string, unknown>[]).map(toRow);
}

/** The entry with the highest `seq`, or `undefined` for an empty log. */
export async function readLastRow(db: Queryable): Promise<AuditRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM fieldcrypt_audit a ORDER BY a.seq DESC LIMIT 1`);
  const row = rows[0] as Record<string, unknown> | undefined;
  return row === undefined ? undefined : toRow(row);
}
