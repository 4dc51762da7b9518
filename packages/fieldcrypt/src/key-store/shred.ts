import type { Queryable } from "../internal/db-port.js";
import type { KeyCache } from "./cache.js";
import { audit, type KeyEventOptions, scopeParam } from "./internal.js";

/** Options of {@link shredScope}. */
export interface ShredScopeOptions extends KeyEventOptions {
  /** This process's key cache: the destroyed keys are dropped from it at once. */
  readonly cache?: KeyCache | undefined;
}

/** What {@link shredScope} did. */
export interface ShredScopeResult {
  /** Ids of the data keys destroyed now (keys destroyed earlier are not repeated). */
  readonly destroyed: readonly string[];
}

/**
 * Crypto-shreds a scope (a tenant, a user): every data key of the scope is destroyed — its wrapped
 * bytes set to NULL, its state `destroyed` — so the scope's cells can never be decrypted again,
 * wherever copies of them live. Audited. Exported from `fieldcrypt/key-store`.
 *
 * Irreversible by design. Caveats: other processes keep a loaded key until their keyring is
 * dropped and their cache entry expires (the TTL); PostgreSQL keeps the old row version until
 * VACUUM, and backups keep the wrapped key — rotate the root key and retire the old one to finish
 * the shredding in backups too.
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
  options?.cache?.delete(destroyed);
  await audit(db, options, "scope.shred", scopeValue, destroyed, { destroyed: destroyed.length });
  return { destroyed };
}
