import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";
import type { EncryptedTable } from "../table/index.js";
import { decryptRows, planResult, type ResultPlan } from "./result-plan.js";
import { TableLookup } from "./sources.js";
import { FieldcryptTransformer } from "./transformer.js";

/**
 * Options of {@link FieldcryptPlugin}. Exported from `fieldcrypt/kysely`.
 *
 * @example
 * ```ts
 * new FieldcryptPlugin({ tables: [patients, visits] }); // each built with encryptedTable(keyring, …)
 * ```
 */
export interface FieldcryptPluginOptions {
  /**
   * The encrypted tables, built with `encryptedTable` from `fieldcrypt/table` (with their loaded
   * keyring). Queries name them by `table` (a schema in the query or the config is matched if given).
   */
  readonly tables: readonly EncryptedTable[];
}

/**
 * A Kysely plugin that encrypts the declared columns of the given tables on the way in and
 * decrypts them on the way out. Exported from `fieldcrypt/kysely`.
 *
 * Writes: `insertInto(t).values(…)` (one row or many) and `updateTable(t).set(…)` hand Kysely's
 * driver cells instead of plaintext, and fill each encrypted column's blind-index column. Each cell
 * is bound to its table and column, its row's scope column and its primary key (as the table
 * declares them): an insert carries them in the row; an update must pin them with
 * `where(pk, "=", value)` (and `where(scopeColumn, "=", value)`), else it is refused
 * (`ERR_INVALID_CONTEXT`) before anything reaches the database.
 *
 * Reads: plain column references to encrypted columns in `select`, `selectAll` and `returning` come
 * back decrypted; the row's primary key and scope column must be selected with them.
 *
 * Refused (`ERR_INVALID_OPTION`), because plaintext would reach the driver or a cell could not be
 * bound: comparing an encrypted column with a value (search its blind index with
 * `matchBlindIndex`), SQL expressions written to encrypted columns, INSERT … SELECT and
 * ON CONFLICT DO UPDATE into encrypted columns, MERGE into an encrypted table, `select *` over a join.
 * Raw `sql` queries are not seen: use `fieldcrypt/pg` for those.
 *
 * @example
 * ```ts
 * import { Kysely, PostgresDialect } from "kysely";
 * import { FieldcryptPlugin } from "fieldcrypt/kysely";
 * const db = new Kysely<Database>({
 *   dialect: new PostgresDialect({ pool }),
 *   plugins: [new FieldcryptPlugin({ tables: [patients, visits] })],
 * });
 * await db.insertInto("patients").values({ id, clinic_id: "clinic-7", name: "Ada", email: "ada@example.org" }).execute();
 * ```
 */
export class FieldcryptPlugin implements KyselyPlugin {
  readonly #transformer: FieldcryptTransformer;
  readonly #tables: TableLookup;
  readonly #plans = new WeakMap<QueryId, ResultPlan>();

  constructor(options: FieldcryptPluginOptions) {
    this.#tables = new TableLookup(options.tables);
    this.#transformer = new FieldcryptTransformer(this.#tables);
  }

  /** Seals the query's writes and plans the decryption of its result. Called by Kysely. */
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const plan = planResult(args.node, this.#tables);
    const node = this.#transformer.transformNode(args.node, args.queryId);
    if (plan !== undefined) this.#plans.set(args.queryId, plan);
    return node;
  }

  /** Decrypts the result's planned columns. Called by Kysely. */
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const plan = this.#plans.get(args.queryId);
    if (plan === undefined || args.result.rows.length === 0) return args.result;
    return { ...args.result, rows: decryptRows(plan, args.result.rows) };
  }
}
