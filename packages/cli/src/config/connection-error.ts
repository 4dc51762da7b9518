/**
 * What a failed connection to PostgreSQL means, in the CLI's words: the cause named from the error's
 * SQLSTATE (or socket code) and the connection's user, database, host and port, never its password
 * and never the server's own message (pg's messages can quote the connection string).
 */
import { type CliError, configError, operationError } from "../internal/cli-error.js";

/** Where the connection went: the parsed URL's parts that are safe to print. */
export interface ConnectionTarget {
  readonly user: string | undefined;
  readonly database: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
}

// An identifier is quoted only when it looks like one: a password pasted in the wrong place does not.
const SAFE_NAME = /^[\p{L}\p{N}_.@$-]{1,63}$/u;
const SAFE_CODE = /^[A-Z0-9_]{1,20}$/;

/**
 * The CLI error for a connection that failed with `error`: a configuration error (exit 3) when the
 * URL names a database or user the server refuses, an operation error (exit 1) otherwise.
 */
export function connectionError(error: unknown, target: ConnectionTarget): CliError {
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === "string" && SAFE_CODE.test(raw) ? raw : undefined;
  const database = quoted(target.database);
  const user = quoted(target.user);
  const server = target.host !== undefined && SAFE_NAME.test(target.host) ? ` at ${where(target)}` : "";
  switch (code) {
    case "3D000":
      return configError(
        `database ${database ?? "(its name)"} does not exist on the server${server}`,
        "check the database name at the end of --database-url or DATABASE_URL (postgres://USER@HOST:5432/DB), or create the database",
      );
    case "28P01":
      return configError(
        `authentication failed for user ${user ?? "(its name)"} (wrong password)`,
        "check the password: it is best kept in PGPASSWORD or ~/.pgpass rather than in the URL",
      );
    case "28000":
      return configError(
        `authentication failed for user ${user ?? "(its name)"}`,
        "check that the role exists and that the server's pg_hba.conf admits it from this host to this database",
      );
    case "42501":
      return configError(
        `user ${user ?? "(its name)"} may not connect to database ${database ?? "(its name)"}`,
        "a superuser can grant it: GRANT CONNECT ON DATABASE … TO …",
      );
    case "53300":
      return operationError(
        `too many connections: the server${server} has no connection slot left`,
        "lower --workers, or try again when other clients have disconnected (max_connections)",
      );
    case "57P03":
      return operationError(
        `the server${server} is not accepting connections now (starting up, shutting down or in recovery)`,
        "try again in a moment",
      );
    default:
      return operationError(
        `cannot connect to the database${code === undefined ? "" : ` (${code})`}`,
        "check --database-url or DATABASE_URL, and that the server is running",
      );
  }
}

function quoted(name: string | undefined): string | undefined {
  return name !== undefined && SAFE_NAME.test(name) ? JSON.stringify(name) : undefined;
}

function where(target: ConnectionTarget): string {
  return target.port === undefined ? `${target.host}` : `${target.host}:${target.port}`;
}
