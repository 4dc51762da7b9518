import { createSecretKey } from "node:crypto";
import { InvalidOption, KeyUnwrapFailed } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { checkValueOf } from "../keyring/check-value.js";
import type { RootKeyProvider } from "../kms/provider.js";
import { audit, callProvider, dataKeyAad, type KeyEventOptions } from "./internal.js";

/** Options of {@link rotateRootKey}. */
export interface RotateRootKeyOptions extends KeyEventOptions {
  /** Data keys rewrapped per batch (one UPDATE and one audit entry per batch). Default 500. */
  readonly batchSize?: number | undefined;
  /** Called after each batch with the number of data keys rewrapped so far (a progress display). */
  readonly onProgress?: ((rewrapped: number) => void) | undefined;
}

/** What {@link rotateRootKey} did. */
export interface RotateRootKeyResult {
  readonly rewrapped: number;
}

/**
 * Rewraps every live data key wrapped by `from` under `to`: the data keys, and therefore every cell,
 * stay the same — no row of application data is touched. Batches go by key id (keyset pagination)
 * and each UPDATE only changes rows still under `from`, so a stopped rotation resumes by running it
 * again. Destroyed keys stay destroyed. Each unwrapped key is checked against its stored check value,
 * and rows from before check values were stored get theirs filled in. Exported from `fieldcrypt/key-store`.
 *
 * Old copies of wrapped keys under `from` remain in backups: destroy the old root key once the
 * backups that need it have expired.
 *
 * @example
 * ```ts
 * await rotateRootKey(pool, localRootKey({ id: "root-2025", key: oldKey }), localRootKey({ id: "root-2026", key: newKey }), { auditor });
 * ```
 */
export async function rotateRootKey(
  db: Queryable,
  from: RootKeyProvider,
  to: RootKeyProvider,
  options?: RotateRootKeyOptions,
): Promise<RotateRootKeyResult> {
  if (from.id === to.id) throw new InvalidOption("rotateRootKey needs two different root key ids");
  const batchSize = options?.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidOption("batchSize must be a positive integer");
  let rewrapped = 0;
  let after = "";
  for (;;) {
    const { rows } = await db.query(
      `SELECT id, scope, wrapped_key, check_value FROM fieldcrypt_keys
        WHERE root_key_id = $1 AND state <> 'destroyed' AND id > $2 ORDER BY id LIMIT ${batchSize}`,
      [from.id, after],
    );
    if (rows.length === 0) break;
    const batch = rows as { id: string; scope: string | null; wrapped_key: Uint8Array; check_value: string | null }[];
    after = (batch[batch.length - 1] as { id: string }).id;
    const rewraps = await Promise.all(
      batch.map(async (row) => {
        const aad = dataKeyAad(row.id, row.scope);
        let material: Uint8Array;
        let checkValue: string;
        try {
          material = await callProvider(from, () => from.unwrap(row.wrapped_key, aad));
          checkValue = checkValueOf(createSecretKey(material));
          if (row.check_value !== null && row.check_value !== checkValue) {
            material.fill(0);
            throw new KeyUnwrapFailed(from.id);
          }
        } catch (error) {
          await audit(db, options, "key.unwrap-failed", row.scope, [row.id], {
            rootKeyId: from.id,
            code: (error as { code?: string }).code ?? "error",
          });
          throw error;
        }
        try {
          const wrapped = Buffer.from(await callProvider(to, () => to.wrap(material, aad))).toString("hex");
          return { wrapped, checkValue };
        } finally {
          material.fill(0);
        }
      }),
    );
    const updated = await db.query(
      `UPDATE fieldcrypt_keys AS k SET root_key_id = $1, wrapped_key = decode(u.w, 'hex'),
              check_value = coalesce(k.check_value, u.c)
         FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, w, c)
        WHERE k.id = u.id AND k.root_key_id = $5 AND k.state <> 'destroyed'
        RETURNING k.id`,
      [to.id, batch.map((r) => r.id), rewraps.map((r) => r.wrapped), rewraps.map((r) => r.checkValue), from.id],
    );
    const ids = (updated.rows as { id: string }[]).map((r) => r.id).sort();
    rewrapped += ids.length;
    if (ids.length > 0) await audit(db, options, "key.rewrap", null, ids, { from: from.id, to: to.id });
    options?.onProgress?.(rewrapped);
  }
  return { rewrapped };
}
