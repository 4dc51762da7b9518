import type { Queryable } from "../internal/db-port.js";

/**
 * The data-key table: one row per data key, wrapped by the root key `root_key_id`. At most one
 * `primary` per scope (`NULL` scope = keys shared by every scope); a `destroyed` row has no key
 * bytes left. `check_value` is the key's public check value (spec/keys-v1.md), written when the key
 * is created and checked against the unwrapped material on every load (`NULL` in rows written before
 * the column existed, until a root rotation fills it in). Exported from `fieldcrypt/key-store`.
 */
export const KEY_TABLE_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS fieldcrypt_keys (
  id text PRIMARY KEY,
  scope text,
  state text NOT NULL CHECK (state IN ('primary', 'decrypt-only', 'destroyed')),
  root_key_id text NOT NULL,
  wrapped_key bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  destroyed_at timestamptz,
  check_value text,
  CONSTRAINT fieldcrypt_keys_destroyed_has_no_bytes CHECK ((state = 'destroyed') = (wrapped_key IS NULL))
)`,
  // Tables created before check values existed gain the column (no row is rewritten).
  "ALTER TABLE fieldcrypt_keys ADD COLUMN IF NOT EXISTS check_value text",
  `CREATE UNIQUE INDEX IF NOT EXISTS fieldcrypt_keys_one_primary ON fieldcrypt_keys ((coalesce(scope, ''))) WHERE state = 'primary'`,
  "CREATE INDEX IF NOT EXISTS fieldcrypt_keys_scope ON fieldcrypt_keys (scope)",
  "CREATE INDEX IF NOT EXISTS fieldcrypt_keys_root_key ON fieldcrypt_keys (root_key_id, id) WHERE state <> 'destroyed'",
];

/**
 * Creates `fieldcrypt_keys` and its indexes when they do not exist (idempotent: safe on every start). Run it once (a migration, or at
 * startup). Exported from `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * await ensureKeyTable(pool);
 * ```
 */
export async function ensureKeyTable(db: Queryable): Promise<void> {
  for (const statement of KEY_TABLE_SQL) await db.query(statement);
}

/**
 * @deprecated Since 0.3: use {@link ensureKeyTable} (every DDL helper is `ensure*Table` and
 * idempotent). Removed in the next release.
 */
export const createKeyTable: (db: Queryable) => Promise<void> = ensureKeyTable;
