import type { Queryable } from "../internal/db-port.js";
import { cacheRevoke, type KeyCache } from "./cache.js";
import { audit, type KeyEventOptions, scopeParam } from "./internal.js";
import { SHRED_CHANNEL } from "./watch.js";

/** Options of {@link shredScope}. */
export interface ShredScopeOptions extends KeyEventOptions {
  /**
   * This process's key cache: the destroyed keys leave it, and every keyring loaded through it
   * destroys them in place, at once. Other processes learn of the shred through {@link watchShreds}.
   */
  readonly cache?: KeyCache | undefined;
}

/** What {@link shredScope} did. */
export interface ShredScopeResult {
  /** Ids of the data keys destroyed now (keys destroyed earlier are not repeated). */
  readonly destroyed: readonly string[];
  /** Rows of `fieldcrypt_job_errors` of the scope deleted (their row keys name the scope's rows). */
  readonly jobErrorsPurged: number;
}

/**
 * Crypto-shreds a scope (a tenant, a user): every data key of the scope is destroyed — its wrapped
 * bytes set to NULL, its state `destroyed` — so the scope's cells can never be decrypted again,
 * wherever copies of them live. Audited. Exported from `fieldcrypt/key-store`.
 *
 * It reaches live processes: keyrings loaded through `cache` here destroy the keys in place, and a
 * `NOTIFY fieldcrypt_shred` tells every process running {@link watchShreds} to do the same (on a
 * server; with PGlite, or behind a pooler that drops LISTEN, the watcher's poll does it). The job
 * errors recorded for the scope's rows are deleted: their row keys would name the shredded rows.
 *
 * Irreversible by design. What it cannot reach (PostgreSQL keeps the old row version until VACUUM,
 * the WAL and backups keep the wrapped key) is in docs/shredding.md, with what to do about each.
 *
 * @example
 * ```ts
 * await shredScope(pool, `user-${userId}`, { auditor, actor: "gdpr-erasure", cache });
 * ```
 */
export async function shredScope(db: Queryable, scope: string, options?: ShredScopeOptions): Promise<ShredScopeResult> {
  const scopeValue = scopeParam(scope ?? "") as string;
  const { rows } = await db.query(
    `UPDATE fieldcrypt_keys SET state = 'destroyed', wrapped_key = NULL, destroyed_at = now()
      WHERE scope = $1::text AND state <> 'destroyed' RETURNING id`,
    [scopeValue],
  );
  const destroyed = (rows as { id: string }[]).map((r) => r.id).sort();
  if (options?.cache !== undefined) cacheRevoke(options.cache, destroyed);
  if (destroyed.length > 0) await db.query("SELECT pg_notify($1, '')", [SHRED_CHANNEL]);
  const jobErrorsPurged = await purgeJobErrors(db, scopeValue);
  await audit(db, options, "scope.shred", scopeValue, destroyed, { destroyed: destroyed.length, jobErrorsPurged });
  return { destroyed, jobErrorsPurged };
}

/**
 * Deletes the job errors recorded for rows of `scope`, when the job tables exist (they are
 * `fieldcrypt/jobs`', found on the search path like every fieldcrypt table).
 */
async function purgeJobErrors(db: Queryable, scope: string): Promise<number> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('fieldcrypt_job_errors') AND attname = 'scope' AND NOT attisdropped) AS present`,
  );
  if ((rows[0] as { present?: boolean } | undefined)?.present !== true) return 0;
  const deleted = await db.query("DELETE FROM fieldcrypt_job_errors WHERE scope = $1::text RETURNING 1", [scope]);
  return deleted.rows.length;
}
