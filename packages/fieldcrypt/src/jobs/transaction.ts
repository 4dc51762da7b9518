/** One transaction on either kind of database handle the jobs accept. Not exported. */
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";

/** A handle that runs a callback in a transaction: PGlite (`db.transaction(async (tx) => …)`). */
export interface TransactionQueryable extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

/** A pool that lends a session: pg.Pool (`BEGIN`/`COMMIT` on the lent client, then `release()`). */
export interface PoolQueryable extends Queryable {
  connect(): Promise<Queryable & { release(): void }>;
}

/**
 * The database a job runs on: PGlite, or a pg.Pool. A single pg.Client is not a pool (its
 * `connect()` opens the connection): wrap it with {@link sessionDatabase}.
 */
export type JobDatabase = TransactionQueryable | PoolQueryable;

/**
 * Turns one session (a pg.Client, a pg.PoolClient) into a {@link JobDatabase}: transactions are
 * `BEGIN`/`COMMIT` on that session, so nothing else may use it while a job runs. Exported from
 * `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * const client = new pg.Client(url); await client.connect();
 * await runJob(sessionDatabase(client), patients, { kind: "encrypt" });
 * ```
 */
export function sessionDatabase(session: Queryable): TransactionQueryable {
  return {
    query: (text, values) => session.query(text, values),
    transaction: (fn) => inSession(session, fn),
  };
}

async function inSession<T>(session: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  await session.query("BEGIN");
  try {
    const result = await fn(session);
    await session.query("COMMIT");
    return result;
  } catch (error) {
    await session.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/** Runs `fn` in one transaction of `db`. */
export async function withTransaction<T>(db: JobDatabase, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  if ("transaction" in db && typeof db.transaction === "function") return db.transaction(fn);
  if ("connect" in db && typeof db.connect === "function") {
    const client = await db.connect();
    if (typeof client?.query !== "function" || typeof client.release !== "function") {
      throw new InvalidOption("the job database's connect() must lend a client with query() and release()");
    }
    try {
      return await inSession(client, fn);
    } finally {
      client.release();
    }
  }
  throw new InvalidOption("the job database needs transaction(fn) (PGlite) or connect() (pg.Pool)");
}
