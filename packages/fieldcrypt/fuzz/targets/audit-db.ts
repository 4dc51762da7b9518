/**
 * `fieldcrypt_audit` in memory: the three statements `appendAudit` and `verifyAudit` send (append,
 * last entry, entries after a `seq`), answered the way node-postgres returns the real table's rows,
 * so the audit chain can be built and verified without a database.
 *
 * A stored entry holds what the table's types allow (AUDIT_TABLE_SQL): `seq` a positive bigint
 * (unique), text for actor and action, a nullable scope and key check, a `text[]` whose elements
 * may be NULL, `json` text, `bytea` of any length.
 */
import type { Queryable } from "fieldcrypt/pg";

export interface StoredEntry {
  readonly seq: string;
  readonly at_micros: string;
  readonly actor: string;
  readonly action: string;
  readonly scope: string | null;
  readonly key_ids: readonly unknown[];
  readonly details: string;
  readonly prev_mac: Uint8Array;
  readonly mac: Uint8Array;
  readonly key_check: string | null;
}

const bySeq = (a: StoredEntry, b: StoredEntry): number => {
  const d = BigInt(a.seq) - BigInt(b.seq);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

export class MemoryAuditTable implements Queryable {
  readonly rows: StoredEntry[];

  constructor(rows: readonly StoredEntry[] = []) {
    this.rows = [...rows].sort(bySeq);
  }

  async query(text: string, values: unknown[] = []): Promise<{ rows: unknown[] }> {
    if (text.includes("INSERT INTO fieldcrypt_audit")) return { rows: this.#insert(values) };
    if (text.includes("ORDER BY a.seq DESC LIMIT 1")) return { rows: this.rows.slice(-1) };
    if (text.includes("FROM fieldcrypt_audit a")) {
      const after = text.includes("WHERE a.seq > $1") ? BigInt(values[0] as string) : undefined;
      const limit = /LIMIT (\d+)/.exec(text)?.[1];
      const rows = after === undefined ? this.rows : this.rows.filter((r) => BigInt(r.seq) > after);
      return { rows: limit === undefined ? rows : rows.slice(0, Number(limit)) };
    }
    throw new Error("MemoryAuditTable: unexpected statement");
  }

  #insert(values: unknown[]): unknown[] {
    const [seq, at, actor, action, scope, keyIds, details, prevMac, mac, keyCheck] = values as [
      string,
      string,
      string,
      string,
      string | null,
      string[],
      string,
      Uint8Array,
      Uint8Array,
      string | null,
    ];
    if (this.rows.some((r) => r.seq === seq)) return [];
    this.rows.push({
      seq,
      at_micros: (BigInt(Date.parse(at)) * 1000n).toString(),
      actor,
      action,
      scope,
      key_ids: [...keyIds],
      details,
      prev_mac: Buffer.from(prevMac),
      mac: Buffer.from(mac),
      key_check: keyCheck,
    });
    this.rows.sort(bySeq);
    return [{ seq }];
  }
}
