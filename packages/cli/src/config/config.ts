/**
 * The configuration the app and the CLI share: `fieldcrypt.config.mjs`, whose default export is
 * `{ tables: EncryptedTableOptions[], rootKeys?: RootKeyProvider[], audit?: Auditor | key }`.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Auditor, createAuditor } from "fieldcrypt/audit";
import { isFieldcryptError } from "fieldcrypt/errors";
import { ROOT_KEY_ID_RULE, type RootKeyProvider } from "fieldcrypt/kms";
import type { EncryptedTableOptions } from "fieldcrypt/table";
import { configError, usageError } from "../internal/cli-error.js";

export const DEFAULT_CONFIG = "fieldcrypt.config.mjs";

export interface FieldcryptConfig {
  /** Empty when the config has none and the command does not need them (`keys`, `audit`). */
  readonly tables: readonly EncryptedTableOptions[];
  /** Root-key providers; the first is the current one (new data keys, rotation target). May be empty. */
  readonly rootKeys: readonly RootKeyProvider[];
  /** The auditor of key events and of `fieldcrypt audit verify`, when configured. */
  readonly audit: Auditor | undefined;
}

/** What a command needs from the config. */
export interface ConfigNeeds {
  /** `tables` must be a non-empty array (default true: `status`, `jobs`). */
  readonly tables?: boolean;
}

export const ROOT_KEYS_HINT =
  'add `rootKeys: [localRootKey({ id: "root-2026", key: process.env.FIELDCRYPT_ROOT_KEY })]` (fieldcrypt/kms, or a KMS/HSM provider) to the config\'s default export; the first is the current root key';
export const AUDIT_HINT =
  "add `audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY)` (fieldcrypt/audit), or the audit key string itself, to the config's default export";

const ROOT_KEY_ID = /^[\x21-\x7e]{1,128}$/;

const CONFIG_HINT =
  "write fieldcrypt.config.mjs with `export default { tables: [{ table, primaryKey, scope, columns }] }` (the options the app passes to encryptedTable), or pass --config FILE";

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Loads and validates the config module at `path` (default: ./fieldcrypt.config.mjs). */
export async function loadConfig(
  path: string | undefined,
  cwd: string = process.cwd(),
  needs: ConfigNeeds = {},
): Promise<FieldcryptConfig> {
  const shown = path ?? DEFAULT_CONFIG;
  const file = resolve(cwd, shown);
  if (!existsSync(file)) throw configError(`config file ${shown} does not exist`, CONFIG_HINT);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    // A fieldcrypt error (a bad root key in the environment, say) names ids only: safe to show.
    if (isFieldcryptError(error)) {
      throw configError(`cannot load config file ${shown}: ${error.message}`, "check the keys the config module reads");
    }
    const name = error instanceof Error && /^[A-Za-z]{1,40}$/.test(error.name) ? error.name : "Error";
    throw configError(
      `cannot load config file ${shown} (${name})`,
      "check that it is a valid ES module (node can import it)",
    );
  }
  return validateConfig(module.default, shown, needs);
}

/** Checks the shape of a config's default export; errors name the file and the entry, never values. */
export function validateConfig(value: unknown, shown: string, needs: ConfigNeeds = {}): FieldcryptConfig {
  const bad = (what: string) => configError(`config file ${shown}: ${what}`, CONFIG_HINT);
  if (typeof value !== "object" || value === null) throw bad("its default export must be an object { tables: [...] }");
  const rootKeys = validateRootKeys((value as { rootKeys?: unknown }).rootKeys, shown);
  const audit = validateAudit((value as { audit?: unknown }).audit, shown);
  const tables = (value as { tables?: unknown }).tables;
  if (tables === undefined && needs.tables === false) return { tables: [], rootKeys, audit };
  if (!Array.isArray(tables) || tables.length === 0) throw bad("tables must be a non-empty array");
  const seen = new Set<string>();
  tables.forEach((t: unknown, i) => {
    const at = `tables[${i}]`;
    if (typeof t !== "object" || t === null) throw bad(`${at} must be an object`);
    const entry = t as Record<string, unknown>;
    if (typeof entry.table !== "string" || !NAME.test(entry.table)) {
      throw bad(`${at}.table must be a table name (letters, digits, _ and $, optionally schema.table)`);
    }
    if (seen.has(entry.table)) throw bad(`${at}: table ${entry.table} is configured twice`);
    seen.add(entry.table);
    const columns = entry.columns;
    if (
      typeof columns !== "object" ||
      columns === null ||
      Array.isArray(columns) ||
      Object.keys(columns).length === 0
    ) {
      throw bad(`${at}.columns must be an object with at least one encrypted column`);
    }
    for (const [name, options] of Object.entries(columns)) {
      if (!COLUMN.test(name)) throw bad(`${at}.columns has a key that is not a column name`);
      if (typeof options !== "object" || options === null) throw bad(`${at}.columns.${name} must be an object`);
    }
    const pk = entry.primaryKey;
    if (
      pk !== undefined &&
      (!Array.isArray(pk) || pk.length === 0 || !pk.every((c) => typeof c === "string" && COLUMN.test(c)))
    ) {
      throw bad(`${at}.primaryKey must be a non-empty array of column names`);
    }
    const scope = entry.scope;
    if (scope !== undefined) {
      const s = scope as Record<string, unknown>;
      const ok =
        typeof scope === "object" &&
        scope !== null &&
        ((typeof s.column === "string" && COLUMN.test(s.column)) || typeof s.current === "function");
      if (!ok) throw bad(`${at}.scope must be { column: "name" } or { current: () => string }`);
    }
    // Import jobs: the column holding each encrypted column's legacy values, when not the column itself.
    const from = entry.importFrom;
    if (from !== undefined) {
      const ok =
        typeof from === "object" &&
        from !== null &&
        !Array.isArray(from) &&
        Object.entries(from).every(
          ([to, source]) =>
            Object.hasOwn(columns, to) &&
            typeof source === "string" &&
            COLUMN.test(source) &&
            !Object.hasOwn(columns, source),
        );
      if (!ok) {
        throw bad(
          `${at}.importFrom must map encrypted columns to the (unencrypted) columns holding their legacy values`,
        );
      }
    }
  });
  return { tables: tables as EncryptedTableOptions[], rootKeys, audit };
}

/** `rootKeys`: providers with a valid, unique id and wrap/unwrap methods. Errors name indexes and ids only. */
function validateRootKeys(value: unknown, shown: string): RootKeyProvider[] {
  if (value === undefined) return [];
  const bad = (what: string) => configError(`config file ${shown}: ${what}`, ROOT_KEYS_HINT);
  if (!Array.isArray(value) || value.length === 0)
    throw bad("rootKeys must be a non-empty array of root-key providers");
  const seen = new Set<string>();
  value.forEach((p: unknown, i) => {
    const at = `rootKeys[${i}]`;
    const provider = p as Partial<RootKeyProvider> | null;
    if (
      typeof provider !== "object" ||
      provider === null ||
      typeof provider.wrap !== "function" ||
      typeof provider.unwrap !== "function"
    ) {
      throw bad(`${at} is not a root-key provider (an object with id, wrap and unwrap)`);
    }
    if (typeof provider.id !== "string" || !ROOT_KEY_ID.test(provider.id)) {
      throw bad(`${at}.id must be ${ROOT_KEY_ID_RULE}`);
    }
    if (seen.has(provider.id)) throw bad(`${at}: root key ${provider.id} is configured twice`);
    seen.add(provider.id);
  });
  return value as RootKeyProvider[];
}

/** `audit`: an Auditor, or an audit key (a key string or 32 bytes) made into one. Never echoes the value. */
function validateAudit(value: unknown, shown: string): Auditor | undefined {
  if (value === undefined) return undefined;
  const bad = (what: string) => configError(`config file ${shown}: ${what}`, AUDIT_HINT);
  if (value instanceof Auditor) return value;
  if (typeof value === "string" || value instanceof Uint8Array) {
    try {
      return createAuditor(value);
    } catch {
      throw bad(
        "audit is not a valid audit key (a FIELDCRYPT-SECRET-KEY-1-… key string or 32 bytes; make one with `fieldcrypt keygen`)",
      );
    }
  }
  if (
    typeof value === "object" &&
    value !== null &&
    (value as { constructor?: { name?: unknown } }).constructor?.name === "Auditor"
  ) {
    throw bad("audit is an Auditor from another installed copy of fieldcrypt than the CLI's");
  }
  throw bad("audit must be an Auditor (createAuditor from fieldcrypt/audit) or an audit key string");
}

/** The config's root keys, required: the first is the current one. */
export function requireRootKeys(config: FieldcryptConfig, shown: string | undefined): readonly RootKeyProvider[] {
  if (config.rootKeys.length === 0) {
    throw configError(`config file ${shown ?? DEFAULT_CONFIG} has no rootKeys`, ROOT_KEYS_HINT);
  }
  return config.rootKeys;
}

/** The config's auditor, required. */
export function requireAudit(config: FieldcryptConfig, shown: string | undefined): Auditor {
  if (config.audit === undefined)
    throw configError(`config file ${shown ?? DEFAULT_CONFIG} has no audit key`, AUDIT_HINT);
  return config.audit;
}

/** The configured tables, or just `--table T` (a usage error when T is not configured). */
export function selectTables(
  config: FieldcryptConfig,
  table: string | undefined,
  command: string,
): EncryptedTableOptions[] {
  if (table === undefined) return [...config.tables];
  const found = config.tables.find((t) => t.table === table);
  if (found === undefined) {
    throw usageError(
      "--table names a table that is not in the config",
      `the configured tables are ${config.tables.map((t) => t.table).join(", ")}; run \`fieldcrypt ${command} --help\``,
    );
  }
  return [found];
}
