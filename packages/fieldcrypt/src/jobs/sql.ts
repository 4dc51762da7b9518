/**
 * SQL text of the batch statements (keyset page, rows by key, the compare-and-swap UPDATE, range
 * bounds) and the value encoding they bind. The job tables' own statements are in job-sql.ts.
 * Not exported.
 */
import { quoteIdentifier as quote } from "../internal/sql-identifier.js";

/**
 * A value in PostgreSQL's text form: every statement binds `text[]` arrays and casts them to the
 * column types, so that node-postgres and PGlite serialize parameters the same way.
 */
export function toText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array)
    return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export { readColumnTypes as columnTypes } from "../internal/db-port.js";

/** One statement: its text and the values of its `$n` parameters. */
export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

/** The shape of one job's statements. */
export interface BatchPlan {
  readonly table: string;
  /** Primary-key columns, in keyset order. */
  readonly keys: readonly string[];
  /** Columns read for the row context and the transform (keys, scope, targets), without duplicates. */
  readonly read: readonly string[];
  /**
   * Read columns the cells' context is built from that the batch does not write (the scope column,
   * a legacy format's salt or user columns). Read a second time as text, and compared in that form
   * by the compare-and-swap: a row whose scope moved between read and write must not get a cell
   * sealed under the old scope's key. (Primary-key parts are matched by the UPDATE itself.)
   */
  readonly guarded: readonly string[];
  /** SQL type of every column involved. */
  readonly types: ReadonlyMap<string, string>;
  /**
   * Written json/jsonb columns: read as text (parsed by the batch), compared as text (json has no
   * equality operator), written from JSON text.
   */
  readonly json: ReadonlySet<string>;
}

/** Alias of the i-th key column in its text form. */
export const keyAlias = (i: number): string => `__fieldcrypt_k${i}`;

/** Alias of the i-th guarded column in its text form. */
export const guardAlias = (i: number): string => `__fieldcrypt_g${i}`;

/** The select list of a batch read: the read columns, then the keys and guarded columns as text. */
function selectList(plan: BatchPlan): string {
  return [
    ...plan.read.map((c) => (plan.json.has(c) ? `${quote(c)}::text AS ${quote(c)}` : quote(c))),
    ...plan.keys.map((k, i) => `${quote(k)}::text AS ${quote(keyAlias(i))}`),
    ...plan.guarded.map((g, i) => `${quote(g)}::text AS ${quote(guardAlias(i))}`),
  ].join(", ");
}

/**
 * `SELECT … WHERE (k1, k2) > ($1, $2) ORDER BY k1, k2 LIMIT n`: keyset pagination, never OFFSET.
 * Keys and guarded columns come back a second time as text: the cursor and the CAS use that form.
 */
export function selectBatch(
  plan: BatchPlan,
  after: readonly string[] | null,
  limit: number,
  upTo: readonly string[] | null = null,
  sample: number | undefined = undefined,
): Statement {
  const keys = plan.keys.map(quote);
  const values: unknown[] = [];
  const bound = (key: readonly string[]): string =>
    plan.keys
      .map((name, i) => {
        values.push(key[i]);
        return `$${values.length}::text::${plan.types.get(name)}`;
      })
      .join(", ");
  const conditions: string[] = [];
  if (after !== null) conditions.push(`(${keys.join(", ")}) > (${bound(after)})`);
  // A range's upper bound is inclusive: its last key is the next range's exclusive lower bound.
  if (upTo !== null) conditions.push(`(${keys.join(", ")}) <= (${bound(upTo)})`);
  // A sampled verify: each row read with probability `sample`, decided by the server as it scans
  // the key order, so the batch still holds `limit` rows and the cursor still only moves forward.
  if (sample !== undefined && sample < 1) {
    values.push(sample);
    conditions.push(`random() < $${values.length}::double precision`);
  }
  const where = conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`;
  values.push(limit);
  return {
    text: `SELECT ${selectList(plan)} FROM ${quote(plan.table)}${where} ORDER BY ${keys.join(", ")} LIMIT $${values.length}`,
    values,
  };
}

/**
 * `SELECT … WHERE (k1, k2) IN (SELECT … FROM unnest($1::text[], $2::text[])) ORDER BY k1, k2`: the
 * rows with these primary keys (text form), for retrying recorded errors. Missing rows are absent.
 */
export function selectByKeys(plan: BatchPlan, rowKeys: readonly (readonly string[])[]): Statement {
  const keys = plan.keys.map(quote);
  const values = plan.keys.map((_, i) => rowKeys.map((key) => key[i] ?? null));
  const casts = plan.keys.map((name, i) => `v.k${i}::${plan.types.get(name)}`);
  const aliases = plan.keys.map((_, i) => `k${i}`);
  return {
    text:
      `SELECT ${selectList(plan)} FROM ${quote(plan.table)} WHERE (${keys.join(", ")}) IN ` +
      `(SELECT ${casts.join(", ")} FROM unnest(${values.map((_, i) => `$${i + 1}::text[]`).join(", ")}) AS v(${aliases.join(", ")})) ` +
      `ORDER BY ${keys.join(", ")}`,
    values,
  };
}

/**
 * The one write of a batch:
 *
 *   UPDATE t SET c = v.n0::type, … FROM unnest($1::text[], …) AS v(k0, …, o0, n0, …, g0, …)
 *   WHERE t.k = v.k0::type AND … AND t.c IS NOT DISTINCT FROM v.o0::type AND …
 *     AND t.s::text IS NOT DISTINCT FROM v.g0 AND …
 *
 * Every written column, and every guarded column (the scope, legacy salt columns), is compared with
 * the value the batch read (compare-and-swap): a row that a concurrent writer changed in between
 * matches nothing and keeps the writer's values; the job counts it skipped.
 */
export function updateBatch(
  plan: BatchPlan,
  columns: readonly string[],
  rows: readonly {
    readonly keys: readonly string[];
    readonly old: readonly (string | null)[];
    readonly next: readonly (string | null)[];
    /** The guarded columns' values as read, text form ({@link BatchPlan.guarded}). */
    readonly guard: readonly (string | null)[];
  }[],
): Statement {
  const values: unknown[] = [];
  const aliases: string[] = [];
  const param = (alias: string, data: unknown[]): string => {
    values.push(data);
    aliases.push(quote(alias));
    return `$${values.length}::text[]`;
  };
  const unnest: string[] = [];
  plan.keys.forEach((_, i) => {
    unnest.push(
      param(
        `k${i}`,
        rows.map((r) => r.keys[i]),
      ),
    );
  });
  columns.forEach((_, i) => {
    unnest.push(
      param(
        `o${i}`,
        rows.map((r) => r.old[i]),
      ),
    );
    unnest.push(
      param(
        `n${i}`,
        rows.map((r) => r.next[i]),
      ),
    );
  });
  plan.guarded.forEach((_, i) => {
    unnest.push(
      param(
        `g${i}`,
        rows.map((r) => r.guard[i]),
      ),
    );
  });
  const type = (name: string): string => plan.types.get(name) as string;
  // Into varchar(n) by assignment, not an explicit cast: a value too long fails instead of being cut.
  const setType = (name: string): string => (/^character varying\(/.test(type(name)) ? "text" : type(name));
  const sets = columns.map((name, i) => `${quote(name)} = v."n${i}"::${setType(name)}`);
  const match = plan.keys.map((name, i) => `t.${quote(name)} = v."k${i}"::${type(name)}`);
  const cas = [
    ...columns.map((name, i) =>
      plan.json.has(name)
        ? `t.${quote(name)}::text IS NOT DISTINCT FROM v."o${i}"`
        : `t.${quote(name)} IS NOT DISTINCT FROM v."o${i}"::${type(name)}`,
    ),
    ...plan.guarded.map((name, i) => `t.${quote(name)}::text IS NOT DISTINCT FROM v."g${i}"`),
  ];
  return {
    text:
      `UPDATE ${quote(plan.table)} AS t SET ${sets.join(", ")} ` +
      `FROM unnest(${unnest.join(", ")}) AS v(${aliases.join(", ")}) ` +
      `WHERE ${[...match, ...cas].join(" AND ")} RETURNING 1`,
    values,
  };
}

/**
 * The key (text form) of every `step`-th row of the table in key order, before its last row: the
 * inclusive upper bounds of all ranges but the last, which is open. One pass over the primary-key
 * index in order (a window `row_number`, no sort), when a parallel job is created; never used for
 * paging. `rows` is the table's row count, read just before in the same transaction.
 */
export function rangeBounds(plan: BatchPlan, step: number, rows: number): Statement {
  const keys = plan.keys.map(quote);
  const texts = keys.map((k, i) => `${k}::text AS ${quote(keyAlias(i))}`);
  return {
    text:
      `SELECT ${texts.join(", ")} FROM (SELECT ${keys.join(", ")}, row_number() OVER (ORDER BY ${keys.join(", ")}) AS rn ` +
      `FROM ${quote(plan.table)}) AS s WHERE rn % $1::bigint = 0 AND rn < $2::bigint ORDER BY rn`,
    values: [step, rows],
  };
}

/** The table's row count (`n`), read when a parallel job is split into ranges. */
export function countRows(plan: BatchPlan): Statement {
  return { text: `SELECT count(*)::bigint AS n FROM ${quote(plan.table)}`, values: [] };
}
