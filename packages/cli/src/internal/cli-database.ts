/**
 * The database port of the CLI's commands: what they need of a database, whether it is a pg.Pool,
 * a PGlite data directory or one a test injected through {@link Io.openDatabase}.
 */
import type { JobDatabase } from "fieldcrypt/jobs";

/**
 * What the commands need of a database: typed queries, a handle jobs run on (pg.Pool lends
 * sessions, PGlite runs transactions), and end().
 */
export type CliDatabase = JobDatabase & {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
};

/** Opens the database at `url` with up to `max` connections. */
export type OpenDatabase = (url: string, max: number) => Promise<CliDatabase>;
