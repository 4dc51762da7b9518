import type { Queryable } from "../internal/db-port.js";

/** One data key in the inventory: ids, scope, state and dates — never material. */
export interface DataKeyInfo {
  readonly id: string;
  readonly scope: string | undefined;
  readonly state: "primary" | "decrypt-only" | "destroyed";
  readonly rootKeyId: string;
  /** The key's public check value (spec/keys-v1.md); `undefined` for rows written before it was stored. */
  readonly checkValue: string | undefined;
  readonly createdAt: Date;
  readonly retiredAt: Date | undefined;
  readonly destroyedAt: Date | undefined;
}

/**
 * The data-key inventory (for operators and auditors), optionally for some scopes only. Never
 * reads the wrapped key bytes. Exported from `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * for (const key of await listDataKeys(pool, { scopes: ["tenant-42"] })) report(key.id, key.state);
 * ```
 */
export async function listDataKeys(db: Queryable, options?: { scopes?: readonly string[] }): Promise<DataKeyInfo[]> {
  const scopes = options?.scopes;
  const { rows } = await db.query(
    `SELECT id, scope, state, root_key_id, check_value, created_at, retired_at, destroyed_at FROM fieldcrypt_keys
      ${scopes === undefined ? "" : "WHERE scope = ANY($1::text[])"} ORDER BY scope NULLS FIRST, created_at, id`,
    scopes === undefined ? [] : [[...scopes]],
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    id: r.id as string,
    scope: (r.scope as string | null) ?? undefined,
    state: r.state as DataKeyInfo["state"],
    rootKeyId: r.root_key_id as string,
    checkValue: (r.check_value as string | null) ?? undefined,
    createdAt: new Date(r.created_at as Date),
    retiredAt: r.retired_at === null ? undefined : new Date(r.retired_at as Date),
    destroyedAt: r.destroyed_at === null ? undefined : new Date(r.destroyed_at as Date),
  }));
}
