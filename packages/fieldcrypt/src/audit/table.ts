import type { Queryable } from "../pg/index.js";

/**
 * The audit table. `seq` numbers entries 1, 2, 3, … with no gap; `mac` commits to the entry and,
 * through `prev_mac`, to every entry before it. `details` is `json` (not `jsonb`) so the exact text
 * that was MACed is kept. Exported from `fieldcrypt/audit`.
 */
export const AUDIT_TABLE_SQL = `CREATE TABLE IF NOT EXISTS fieldcrypt_audit (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  scope text,
  key_ids text[] NOT NULL DEFAULT '{}',
  details json NOT NULL DEFAULT '{}',
  prev_mac bytea NOT NULL,
  mac bytea NOT NULL
)`;

/**
 * Creates `fieldcrypt_audit` when it does not exist. Run it once (a migration, or at startup before
 * the first append). Exported from `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * await createAuditTable(pool);
 * ```
 */
export async function createAuditTable(db: Queryable): Promise<void> {
  await db.query(AUDIT_TABLE_SQL);
}
