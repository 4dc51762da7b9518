// Bench-only glue for running ORMs on an in-process PGlite (when DATABASE_URL is not set):
// a Kysely dialect and a node-postgres-shaped Pool for TypeORM, both over one PGlite instance.
// Ports of the test suite's helpers (test/adapters/kysely-pglite-dialect.ts, typeorm.test.ts).
import { EventEmitter } from "node:events";
import { CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";

/** A Kysely dialect over an existing PGlite (one session: connections are handed out one at a time). */
export class PGliteDialect {
  #pglite;
  constructor(pglite) {
    this.#pglite = pglite;
  }
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver() {
    const pglite = this.#pglite;
    let queue = Promise.resolve();
    return {
      async init() {},
      async acquireConnection() {
        let release;
        const previous = queue;
        queue = new Promise((resolve) => {
          release = resolve;
        });
        await previous;
        return {
          release,
          async executeQuery(query) {
            const result = await pglite.query(query.sql, [...query.parameters]);
            return result.affectedRows === undefined
              ? { rows: result.rows }
              : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) };
          },
          // biome-ignore lint/correctness/useYield: streaming is not supported here
          async *streamQuery() {
            throw new Error("PGliteDialect does not stream");
          },
        };
      },
      async beginTransaction(connection) {
        await connection.executeQuery(CompiledQuery.raw("begin"));
      },
      async commitTransaction(connection) {
        await connection.executeQuery(CompiledQuery.raw("commit"));
      },
      async rollbackTransaction(connection) {
        await connection.executeQuery(CompiledQuery.raw("rollback"));
      },
      async releaseConnection(connection) {
        connection.release();
      },
      async destroy() {},
    };
  }
  createIntrospector(db) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

/** node-postgres's driver shape ({ Pool }) over an existing PGlite, for TypeORM's `driver` option. */
export function typeormPgliteDriver(pglite) {
  class Pool extends EventEmitter {
    connect(callback) {
      callback(null, this, () => {});
    }
    async query(text, values, callback) {
      const done = typeof values === "function" ? values : callback;
      const params = typeof values === "function" ? undefined : values;
      try {
        const result =
          params !== undefined && params.length > 0
            ? await pglite.query(text, params)
            : ((await pglite.exec(text)).at(-1) ?? { rows: [] });
        done?.(null, result);
        return result;
      } catch (error) {
        done?.(error, null);
        throw error;
      }
    }
    // The bench owns (and closes) the database.
    end(callback) {
      callback?.(null);
    }
  }
  return { Pool };
}
