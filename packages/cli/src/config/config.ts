/** The configuration the app and the CLI share: `fieldcrypt.config.mjs`, `{ tables: EncryptedTableOptions[] }`. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { EncryptedTableOptions } from "fieldcrypt/table";
import { configError, usageError } from "../internal/cli-error.js";

export const DEFAULT_CONFIG = "fieldcrypt.config.mjs";

export interface FieldcryptConfig {
  readonly tables: readonly EncryptedTableOptions[];
}

const CONFIG_HINT =
  "write fieldcrypt.config.mjs with `export default { tables: [{ table, primaryKey, scope, columns }] }` (the options the app passes to encryptedTable), or pass --config FILE";

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Loads and validates the config module at `path` (default: ./fieldcrypt.config.mjs). */
export async function loadConfig(path: string | undefined, cwd: string = process.cwd()): Promise<FieldcryptConfig> {
  const shown = path ?? DEFAULT_CONFIG;
  const file = resolve(cwd, shown);
  if (!existsSync(file)) throw configError(`config file ${shown} does not exist`, CONFIG_HINT);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const name = error instanceof Error && /^[A-Za-z]{1,40}$/.test(error.name) ? error.name : "Error";
    throw configError(
      `cannot load config file ${shown} (${name})`,
      "check that it is a valid ES module (node can import it)",
    );
  }
  return validateConfig(module.default, shown);
}

/** Checks the shape of a config's default export; errors name the file and the entry, never values. */
export function validateConfig(value: unknown, shown: string): FieldcryptConfig {
  const bad = (what: string) => configError(`config file ${shown}: ${what}`, CONFIG_HINT);
  if (typeof value !== "object" || value === null) throw bad("its default export must be an object { tables: [...] }");
  const tables = (value as { tables?: unknown }).tables;
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
  });
  return { tables: tables as EncryptedTableOptions[] };
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

/** Quotes a table name ("schema"."table") or a column name; names were validated above. */
export function quoteName(name: string): string {
  return name
    .split(".")
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join(".");
}
