import { readFile, stat } from "node:fs/promises";
import { InvalidKeyring, KeyFilePermissions, NoPrimaryKey } from "../errors/index.js";
import { isValidKeyId, KEY_ID_RULE } from "../internal/format.js";
import { createKeyring, type Keyring, type KeyringEntry } from "./keyring.js";

/**
 * Parses the keyring text format shared by `FIELDCRYPT_KEYS` and key files:
 * entries `id=FIELDCRYPT-SECRET-KEY-1-…` and at most one `primary=id`, separated by commas,
 * spaces or newlines; in files `#` starts a comment. With a single key and no primary named,
 * that key is the primary. Messages name entries by position and never quote them, because a
 * mistyped entry may be a secret; only the ids of well-formed key entries are quoted.
 */
function parseKeyringText(
  text: string,
  source: string,
  primaryFromEnv: string | undefined,
  requirePrimary: boolean,
): Keyring {
  const entries: { id: string; secret: string }[] = [];
  let primary: string | undefined;
  // Who named the primary, for the message when it names no key: the variable or the entry.
  let primaryNamedBy = "the primary= entry";
  const tokens = text.split(/[\s,]+/).filter((t) => t.length > 0);
  tokens.forEach((token, index) => {
    const where = `${source} entry #${index + 1}`;
    const eq = token.indexOf("=");
    if (eq <= 0) throw new InvalidKeyring(`${where} is not of the form id=FIELDCRYPT-SECRET-KEY-1-… or primary=id`);
    const name = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (name === "primary") {
      if (primary !== undefined) throw new InvalidKeyring(`${where}: primary is named more than once`);
      if (!isValidKeyId(value)) throw new InvalidKeyring(`${where}: primary must name a key id (${KEY_ID_RULE})`);
      primary = value;
      return;
    }
    if (!isValidKeyId(name)) throw new InvalidKeyring(`${where}: key id must be ${KEY_ID_RULE}`);
    const previous = entries.findIndex((e) => e.id === name);
    if (previous >= 0) throw new InvalidKeyring(`${where} repeats the key id of an earlier entry`);
    entries.push({ id: name, secret: value });
  });
  if (entries.length === 0) throw new InvalidKeyring(`${source} holds no keys`);
  if (primaryFromEnv !== undefined && primaryFromEnv !== "") {
    if (primary !== undefined && primary !== primaryFromEnv) {
      throw new InvalidKeyring(`FIELDCRYPT_PRIMARY_KEY and the primary= entry of ${source} disagree`);
    }
    if (!isValidKeyId(primaryFromEnv))
      throw new InvalidKeyring(`FIELDCRYPT_PRIMARY_KEY must be a key id (${KEY_ID_RULE})`);
    primary = primaryFromEnv;
    primaryNamedBy = "FIELDCRYPT_PRIMARY_KEY";
  }
  if (primary === undefined) {
    if (entries.length === 1) primary = entries[0]?.id;
    else if (requirePrimary) throw new NoPrimaryKey(false);
  }
  if (primary !== undefined && !entries.some((e) => e.id === primary)) {
    // The unknown id is not quoted: a short secret pasted in the wrong place is also a valid key
    // id. The ids of the entries are, so the message still says what would have been accepted.
    const ids = entries.slice(0, 8).map((e) => JSON.stringify(e.id));
    if (entries.length > 8) ids.push("…");
    throw new InvalidKeyring(
      `${primaryNamedBy} names a key id that is not among the keys of ${source} (its key ids: ${ids.join(", ")})`,
    );
  }
  // createKeyring's key-string errors name the key id, which is safe: ids were validated above.
  return createKeyring(entries.map((e): KeyringEntry => ({ id: e.id, secret: e.secret, primary: e.id === primary })));
}

/** Options of {@link loadKeyringFromEnv} and {@link loadKeyringFile}. */
export interface LoadLocalKeyringOptions {
  /**
   * Refuse several keys with no primary named (default `true`). Pass `false` for a decrypt-only
   * keyring, e.g. an auditor's tool; encrypting with it then fails with `ERR_NO_PRIMARY_KEY`.
   */
  readonly requirePrimary?: boolean | undefined;
}

/** Environment variables read by {@link loadKeyringFromEnv}. */
export interface KeyringEnv {
  readonly FIELDCRYPT_KEYS?: string | undefined;
  readonly FIELDCRYPT_PRIMARY_KEY?: string | undefined;
  readonly [name: string]: string | undefined;
}

/**
 * Loads a keyring from `FIELDCRYPT_KEYS` (`v1=FIELDCRYPT-SECRET-KEY-1-…,v2=…`) with the primary
 * named by `FIELDCRYPT_PRIMARY_KEY` or a `primary=v2` entry (a single key is primary by itself).
 * All keys are shared by every scope. Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * // FIELDCRYPT_KEYS="v1=FIELDCRYPT-SECRET-KEY-1-…,v2=FIELDCRYPT-SECRET-KEY-1-…" FIELDCRYPT_PRIMARY_KEY=v2
 * const keyring = loadKeyringFromEnv();
 * ```
 */
export function loadKeyringFromEnv(env: KeyringEnv = process.env, options?: LoadLocalKeyringOptions): Keyring {
  const text = env.FIELDCRYPT_KEYS;
  if (text === undefined || text.trim() === "") {
    throw new InvalidKeyring("FIELDCRYPT_KEYS is not set (expected id=FIELDCRYPT-SECRET-KEY-1-… entries)");
  }
  return parseKeyringText(text, "FIELDCRYPT_KEYS", env.FIELDCRYPT_PRIMARY_KEY, options?.requirePrimary ?? true);
}

/**
 * Loads a keyring from a key file in the same format as `FIELDCRYPT_KEYS` (one entry per line,
 * `#` comments). Refuses a file that group or others can access (`ERR_KEY_FILE_PERMISSIONS`),
 * like ssh does. `FIELDCRYPT_PRIMARY_KEY` is not consulted: name the primary in the file.
 * Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * const keyring = await loadKeyringFile("/run/secrets/fieldcrypt.keys");
 * ```
 */
export async function loadKeyringFile(path: string, options?: LoadLocalKeyringOptions): Promise<Keyring> {
  const info = await stat(path);
  if (process.platform !== "win32" && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new KeyFilePermissions(
      `key file ${path} is accessible by group or others (mode ${mode}); run: chmod 600 ${path}`,
    );
  }
  const text = (await readFile(path, "utf8")).replace(/#[^\n]*/g, "");
  return parseKeyringText(text, `key file ${path}`, undefined, options?.requirePrimary ?? true);
}
