import { loadKeyring } from "fieldcrypt/key-store";
import type { Keyring } from "fieldcrypt/keyring";
import type { FieldcryptConfig } from "../../config/config.js";
import type { CliDatabase } from "../../config/database.js";
import { operationError } from "../../internal/cli-error.js";
import type { Io } from "../../internal/io.js";
import { loadKeys } from "../../internal/load-keys.js";

/**
 * The environment keys (`--keys-file` or FIELDCRYPT_KEYS): the job's keyring in simple mode, where
 * they are required. With rootKeys in the config (key-table mode) they are optional and only
 * decrypt — the cells a rotate job moves from simple mode to the key table.
 */
export async function environmentKeys(
  keysFile: string | undefined,
  io: Io,
  config: FieldcryptConfig,
  requirePrimary: boolean,
): Promise<Keyring | undefined> {
  if (config.rootKeys.length === 0) return (await loadKeys(keysFile, io, { requirePrimary })).keyring;
  if (keysFile === undefined && process.env.FIELDCRYPT_KEYS === undefined) return undefined;
  return (await loadKeys(keysFile, io, { requirePrimary: false })).keyring;
}

/** The job's keyring: the environment keys in simple mode, the key table's (plus those) otherwise. */
export async function jobKeyring(
  config: FieldcryptConfig,
  pool: CliDatabase,
  envKeys: Keyring | undefined,
): Promise<Keyring> {
  if (config.rootKeys.length === 0) return envKeys as Keyring;
  return keyTableKeys(config, pool, envKeys);
}

/**
 * Key-table mode: every live data key of fieldcrypt_keys, each unwrapped once by the config's
 * rootKeys, and the environment keys (if any) decrypt-only.
 */
export async function keyTableKeys(
  config: FieldcryptConfig,
  pool: CliDatabase,
  include: Keyring | undefined,
): Promise<Keyring> {
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass('fieldcrypt_keys')::text AS t");
  if (exists.rows[0]?.t == null) {
    throw operationError(
      "the config has rootKeys but the database has no fieldcrypt_keys table",
      "create data keys with `fieldcrypt keys create --scope S`, or pass environment keys (FIELDCRYPT_KEYS)",
    );
  }
  const { rows } = await pool.query<{ scope: string }>(
    "SELECT DISTINCT scope FROM fieldcrypt_keys WHERE scope IS NOT NULL AND state <> 'destroyed' ORDER BY scope",
  );
  return loadKeyring(pool, config.rootKeys, {
    scopes: rows.map((r) => r.scope),
    include,
    auditor: config.audit,
    actor: "fieldcrypt-cli",
  });
}
