import { createSecretKey, randomBytes } from "node:crypto";
import type { Queryable } from "../internal/db-port.js";
import { checkValueOf } from "../keyring/check-value.js";
import type { RootKeyProvider } from "../kms/provider.js";
import { audit, callProvider, dataKeyAad, type KeyEventOptions, scopeParam } from "./internal.js";

/** What {@link createDataKey} did. */
export interface CreateDataKeyResult {
  /** Id of the new primary data key (what cells will carry). */
  readonly id: string;
  readonly scope: string | undefined;
  readonly rootKeyId: string;
  /** The new key's public check value (`key.checkValue` of the keyrings that load it). */
  readonly checkValue: string;
  /** Ids of the keys that were primary for the scope and are now decrypt-only. */
  readonly retired: readonly string[];
}

/**
 * Creates a random 256-bit data key for `scope` (`undefined`: the shared keys), wraps it with the
 * root key, and makes it the scope's primary; the previous primary becomes decrypt-only, so its
 * cells stay readable until the jobs engine re-encrypts them. Creation is explicit: a scope
 * without keys has none until this is called. Exported from `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * import { createDataKey } from "fieldcrypt/key-store";
 * const { id } = await createDataKey(pool, root, "tenant-42", { auditor, actor: "signup" });
 * ```
 */
export async function createDataKey(
  db: Queryable,
  provider: RootKeyProvider,
  scope: string | undefined,
  options?: KeyEventOptions,
): Promise<CreateDataKeyResult> {
  const scopeValue = scopeParam(scope);
  const id = `dk-${randomBytes(12).toString("base64url")}`;
  const material = randomBytes(32);
  let wrapped: Uint8Array;
  let checkValue: string;
  try {
    checkValue = checkValueOf(createSecretKey(material));
    wrapped = await callProvider(provider, () => provider.wrap(material, dataKeyAad(id, scopeValue)));
  } finally {
    material.fill(0);
  }
  // One statement: the old primary is retired before the new one is inserted. The unique index
  // allows one primary per scope: a create that loses a race to a concurrent one retries.
  const text = `WITH retired AS (
       UPDATE fieldcrypt_keys SET state = 'decrypt-only', retired_at = now()
        WHERE scope IS NOT DISTINCT FROM $2::text AND state = 'primary' RETURNING id)
     INSERT INTO fieldcrypt_keys (id, scope, state, root_key_id, wrapped_key, check_value)
     SELECT $1::text, $2::text, 'primary', $3::text, $4::bytea, $5::text FROM (SELECT count(*) FROM retired) AS r
     RETURNING (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM retired) AS retired`;
  const values = [id, scopeValue, provider.id, Buffer.from(wrapped), checkValue];
  let rows: unknown[];
  for (let attempt = 1; ; attempt++) {
    try {
      ({ rows } = await db.query(text, values));
      break;
    } catch (error) {
      // A concurrent create for the scope committed its primary first: retire it in turn.
      const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
      const lostRace =
        e.code === "23505" &&
        (e.constraint === "fieldcrypt_keys_one_primary" || String(e.message).includes("fieldcrypt_keys_one_primary"));
      if (!lostRace || attempt >= 5) throw error;
    }
  }
  const retired = ((rows[0] as { retired: string[] | null } | undefined)?.retired ?? []) as string[];
  await audit(db, options, "key.create", scopeValue, [id], { rootKeyId: provider.id, checkValue, retired });
  return { id, scope: scopeValue ?? undefined, rootKeyId: provider.id, checkValue, retired };
}
