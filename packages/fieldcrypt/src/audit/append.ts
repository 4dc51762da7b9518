import { AuditKeyMismatch, InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { describeType } from "../internal/describe-type.js";
import { ACTOR_RULE, resolveActor } from "./actor.js";
import { type Auditor, auditKeyOf } from "./auditor.js";
import { canonicalJson, computeMac, GENESIS_MAC, macEquals } from "./encode.js";
import { type AuditHead, headOf } from "./head.js";
import { type AuditRow, readLastRow } from "./rows.js";

/** One audit entry. Identifiers and counts only: never key material, plaintext or cell payloads. */
export interface AuditEntry {
  /** Who did it: a user id, a service name, `"fieldcrypt-cli"`. */
  readonly actor: string;
  /** What happened, e.g. `"key.create"`, `"key.rewrap"`, `"scope.shred"`, `"job.run"`. */
  readonly action: string;
  /** The scope (tenant/subject) the event concerns, when it concerns one. */
  readonly scope?: string | undefined;
  /** Ids of the keys the event concerns (safe to print). */
  readonly keyIds?: readonly string[] | undefined;
  /** More about the event as JSON (counts, root key ids, job ids). Stored canonically (sorted keys). */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** What {@link appendAudit} wrote. */
export interface AppendAuditResult {
  readonly seq: number;
  readonly at: Date;
  /** The log's new head (this entry): see `formatAuditHead`. */
  readonly head: AuditHead;
}

/** Gives up after this many lost races (a caller inside a REPEATABLE READ transaction never sees newer rows). */
const MAX_ATTEMPTS = 1000;

function requireText(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidOption(`audit entry ${name} must be a non-empty string (got ${describeType(value)})`);
  }
  return value;
}

/**
 * Appends one entry to `fieldcrypt_audit`, chained to the last one by its MAC. Exported from
 * `fieldcrypt/audit`.
 *
 * Concurrent appends (any number of processes) never fork the chain: the entry takes the next
 * `seq` with `INSERT … ON CONFLICT (seq) DO NOTHING`, and an append that lost the race to that
 * `seq` reads the new last entry and tries again. This needs no transaction of its own, so it works
 * the same through a `pg.Pool` (where `BEGIN` and `SELECT … FOR UPDATE` could land on different
 * connections), a `pg.Client` (also inside the caller's transaction) and PGlite.
 *
 * Each entry stores `auditor.checkValue`; an append onto a log written with another audit key is
 * refused with `ERR_AUDIT_KEY_MISMATCH` before anything is written. The result carries the new
 * head, which the auditor's `onHead` sink (if any) also receives.
 *
 * @example
 * ```ts
 * await appendAudit(pool, auditor, { actor: "ops@example.org", action: "scope.shred", scope: "tenant-9", keyIds: ["dk-…"] });
 * ```
 */
export async function appendAudit(db: Queryable, auditor: Auditor, entry: AuditEntry): Promise<AppendAuditResult> {
  const key = auditKeyOf(auditor);
  if (typeof entry !== "object" || entry === null) {
    throw new InvalidOption(`audit entry must be an object { actor, action, scope?, keyIds?, details? }`);
  }
  // An audit entry names its actor explicitly: no OS-user default here.
  if (entry.actor === undefined) throw new InvalidOption(`audit entry actor must be ${ACTOR_RULE}`);
  const actor = resolveActor(entry.actor, "audit entry actor");
  const action = requireText(entry.action, "action");
  const scope = entry.scope === undefined ? null : requireText(entry.scope, "scope");
  const keyIds = entry.keyIds ?? [];
  if (!Array.isArray(keyIds)) throw new InvalidOption("audit entry keyIds must be an array of strings");
  for (const [i, id] of keyIds.entries()) requireText(id, `keyIds[${i}]`);
  const details = canonicalJson(entry.details ?? {});
  if (!details.startsWith("{")) throw new InvalidOption("audit entry details must be an object");
  const at = auditor.now();
  if (!(at instanceof Date) || Number.isNaN(at.getTime()))
    throw new InvalidOption("the auditor's clock gave no valid Date");
  const atMicros = (BigInt(at.getTime()) * 1000n).toString();

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const last = await readLastRow(db);
    if (last !== undefined) requireSameKey(last, auditor);
    const seq = (last === undefined ? 1n : BigInt(last.seq) + 1n).toString();
    const prevMac = last === undefined ? GENESIS_MAC : last.mac;
    const mac = computeMac(key, { seq, atMicros, actor, action, scope, keyIds, details, prevMac });
    const inserted = await db.query(
      `INSERT INTO fieldcrypt_audit (seq, at, actor, action, scope, key_ids, details, prev_mac, mac, key_check)
       VALUES ($1::bigint, $2::timestamptz, $3, $4, $5, $6::text[], $7::json, $8::bytea, $9::bytea, $10)
       ON CONFLICT (seq) DO NOTHING RETURNING seq`,
      [seq, at.toISOString(), actor, action, scope, [...keyIds], details, prevMac, mac, auditor.checkValue],
    );
    if (inserted.rows.length === 1) {
      const head = headOf(seq, mac);
      await auditor.onHead?.(head);
      return { seq: Number(seq), at, head };
    }
  }
  throw new InvalidOption(
    `audit append lost the race for the next entry ${MAX_ATTEMPTS} times (inside a REPEATABLE READ transaction?)`,
  );
}

/**
 * Refuses to chain onto a log written with another audit key (`ERR_AUDIT_KEY_MISMATCH`): the last
 * entry's stored check value differs and its MAC does not verify under this key. An entry older
 * than check values passes on its MAC alone, so the first append to an older log records the
 * check value only after proving the key is the log's.
 */
function requireSameKey(last: AuditRow, auditor: Auditor): void {
  if (last.keyCheck === auditor.checkValue) return;
  if (macEquals(computeMac(auditKeyOf(auditor), last), last.mac)) return;
  throw new AuditKeyMismatch(last.keyCheck ?? undefined, auditor.checkValue);
}
