/** The database of `status` and `jobs`: --database-url or DATABASE_URL, a pg.Pool. */
import pg from "pg";
import { configError, operationError } from "../internal/cli-error.js";
import type { Io } from "../internal/io.js";

const URL_HINT =
  "pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (a password is best kept in PGPASSWORD or ~/.pgpass)";

/** The database URL, required: a config error (exit 3) when neither is given. */
export function databaseUrl(flag: string | undefined, io: Io): string {
  const url = flag ?? io.env.DATABASE_URL;
  if (url === undefined || url.trim() === "")
    throw configError("no database: DATABASE_URL is not set and no --database-url was given", URL_HINT);
  return url;
}

/**
 * A pool of `max` connections, checked with one query. Connection errors are reported by their code
 * only: pg's messages can quote the connection string, password included.
 */
export async function openPool(url: string, max: number): Promise<pg.Pool> {
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({ connectionString: url, max });
  } catch {
    throw configError("the database URL is not a valid connection string", URL_HINT);
  }
  // An idle client's error (the server went away) must not crash the process with the URL in it.
  pool.on("error", () => {});
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    const code = (error as { code?: unknown }).code;
    const shown = typeof code === "string" && /^[A-Z0-9_]{1,20}$/.test(code) ? ` (${code})` : "";
    throw operationError(
      `cannot connect to the database${shown}`,
      "check --database-url or DATABASE_URL, and that the server is running",
    );
  }
  return pool;
}

/** The data type of each column of `table` (`schema.table` or a table on the search path). */
export async function columnTypes(pool: pg.Pool, table: string): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ column_name: string; data_type: string }>(
    `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [
      table
        .split(".")
        .map((p) => `"${p}"`)
        .join("."),
    ],
  );
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}
