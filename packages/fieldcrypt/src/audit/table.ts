import type { Queryable } from "../internal/db-port.js";

/**
 * The audit table and its append-only guard. `seq` numbers entries 1, 2, 3, … with no gap; `mac`
 * commits to the entry and, through `prev_mac`, to every entry before it. `details` is `json` (not
 * `jsonb`) so the exact text that was MACed is kept; `key_check` holds the audit key's check value.
 * Triggers refuse UPDATE, DELETE and TRUNCATE:
 * a defence in depth only — the table owner can disable them, which is what the MAC chain is for.
 * Exported from `fieldcrypt/audit`.
 */
export const AUDIT_TABLE_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS fieldcrypt_audit (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  scope text,
  key_ids text[] NOT NULL DEFAULT '{}',
  details json NOT NULL DEFAULT '{}',
  prev_mac bytea NOT NULL,
  mac bytea NOT NULL
)`,
  // The check value of the audit key that appended the entry (spec/audit-v1.md §4): tells a wrong
  // audit key from tampering. Added in place to tables made before it; older entries keep NULL.
  `ALTER TABLE fieldcrypt_audit ADD COLUMN IF NOT EXISTS key_check text`,
  `CREATE OR REPLACE FUNCTION fieldcrypt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'fieldcrypt_audit is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$`,
  `CREATE OR REPLACE TRIGGER fieldcrypt_audit_no_change BEFORE UPDATE OR DELETE ON fieldcrypt_audit
  FOR EACH ROW EXECUTE FUNCTION fieldcrypt_audit_append_only()`,
  `CREATE OR REPLACE TRIGGER fieldcrypt_audit_no_truncate BEFORE TRUNCATE ON fieldcrypt_audit
  FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_audit_append_only()`,
];

/**
 * Creates `fieldcrypt_audit` and its append-only triggers when they do not exist. Run it once (a
 * migration, or at startup before the first append). Exported from `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * await ensureAuditTable(pool);
 * ```
 */
export async function ensureAuditTable(db: Queryable): Promise<void> {
  for (const statement of AUDIT_TABLE_SQL) await db.query(statement);
}

/**
 * @deprecated Since 0.3: use {@link ensureAuditTable} (every DDL helper is `ensure*Table` and
 * idempotent). Removed in the next release.
 */
export const createAuditTable: (db: Queryable) => Promise<void> = ensureAuditTable;
