// Private to fieldcrypt/kysely: which result columns of a query hold cells of which table, and
// where each of those rows' primary key and scope column come back. Not reachable through `exports`.
import {
  AliasNode,
  ColumnNode,
  IdentifierNode,
  type OperationNode,
  ReferenceNode,
  type RootOperationNode,
  SelectAllNode,
  type SelectionNode,
  type UnknownRow,
} from "kysely";
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";
import {
  columnRef,
  contextColumns,
  deleteSources,
  type Source,
  selectSources,
  sourceOf,
  type TableLookup,
  updateSources,
} from "./sources.js";

/** One FROM/JOIN item of an encrypted table whose cells come back in the result. */
interface PlannedSource {
  readonly table: EncryptedTable;
  /** [result column, encrypted column] pairs. */
  readonly cells: readonly (readonly [string, string])[];
  /** [bound column (primary key, scope column), result column] pairs. */
  readonly context: readonly (readonly [string, string])[];
}

/** How to decrypt the rows of one query. */
export type ResultPlan = readonly PlannedSource[];

/** What a result column holds. */
interface Output {
  readonly source: Source | undefined;
  readonly column: string | undefined;
  readonly kind: "cell" | "context" | "other";
}

function selectionsOf(
  node: RootOperationNode,
  tables: TableLookup,
): { selections: readonly SelectionNode[]; sources: Source[] } | undefined {
  switch (node.kind) {
    case "SelectQueryNode":
      if (node.explain !== undefined || node.selections === undefined) return undefined;
      return { selections: node.selections, sources: selectSources(node, tables) };
    case "InsertQueryNode":
      if (node.returning === undefined || node.into === undefined) return undefined;
      return { selections: node.returning.selections, sources: [sourceOf(node.into, tables)] };
    case "UpdateQueryNode":
      if (node.returning === undefined) return undefined;
      return { selections: node.returning.selections, sources: updateSources(node, tables) };
    case "DeleteQueryNode":
      if (node.returning === undefined) return undefined;
      return { selections: node.returning.selections, sources: deleteSources(node, tables) };
    default:
      return undefined;
  }
}

/**
 * The plan for a query's result, or `undefined` when it returns no cells. Refuses (before the
 * query runs) selections whose cells could not be decrypted reliably: a cell column without the
 * columns it is bound to, two result columns of the same name, `*` over a join, set operations.
 */
export function planResult(node: RootOperationNode, tables: TableLookup): ResultPlan | undefined {
  const found = selectionsOf(node, tables);
  if (found === undefined) return undefined;
  const { selections, sources } = found;
  if (!sources.some((s) => s.table !== undefined)) return undefined;

  const outputs = new Map<string, Output[]>();
  let unknownColumns = false; // a `*` whose column names this plugin cannot know
  const add = (name: string, output: Output): void => {
    const list = outputs.get(name) ?? [];
    if (!list.some((o) => o.source === output.source && o.column === output.column)) list.push(output);
    outputs.set(name, list);
  };
  const describe = (source: Source | undefined, column: string): Output => {
    const table = source?.table;
    if (table?.columns.has(column)) return { source, column, kind: "cell" };
    if (table !== undefined && contextColumns(table).includes(column)) return { source, column, kind: "context" };
    return { source, column, kind: "other" };
  };
  const addAll = (source: Source): void => {
    const table = source.table;
    if (table === undefined) {
      unknownColumns = true;
      return;
    }
    for (const column of [...table.columns.keys(), ...contextColumns(table)]) add(column, describe(source, column));
  };
  const resolve = (node: OperationNode): { source: Source | undefined; column: string } | undefined => {
    const ref = columnRef(node);
    if (ref === undefined) return undefined;
    if (ref.qualifier !== undefined)
      return { source: sources.find((s) => s.name === ref.qualifier), column: ref.column };
    if (sources.length === 1) return { source: sources[0], column: ref.column };
    // Unqualified over several tables: PostgreSQL resolves it only if one table has the column.
    const owners = sources.filter((s) => s.table?.columns.has(ref.column));
    return { source: owners.length === 1 ? owners[0] : undefined, column: ref.column };
  };

  for (const { selection } of selections) {
    if (SelectAllNode.is(selection)) {
      if (sources.length === 1 && sources[0] !== undefined) addAll(sources[0]);
      else {
        const table = sources.find((s) => s.table !== undefined)?.table;
        throw new InvalidOption(
          `${table?.table}: select * over a join returns columns of the same name from several tables; select ${table?.table}.* and name the other columns`,
        );
      }
    } else if (ReferenceNode.is(selection) && SelectAllNode.is(selection.column)) {
      const qualifier = selection.table?.table.identifier.name;
      const source = sources.find((s) => s.name === qualifier);
      if (source === undefined) unknownColumns = true;
      else addAll(source);
    } else if (AliasNode.is(selection) && IdentifierNode.is(selection.alias)) {
      const target = resolve(selection.node);
      add(
        selection.alias.name,
        target === undefined
          ? { source: undefined, column: undefined, kind: "other" }
          : describe(target.source, target.column),
      );
    } else if (ColumnNode.is(selection) || ReferenceNode.is(selection)) {
      const target = resolve(selection);
      if (target !== undefined) add(target.column, describe(target.source, target.column));
    }
  }

  const plan: PlannedSource[] = [];
  const cellSources = new Set<Source>();
  for (const [name, list] of outputs) {
    const bound = list.filter((o) => o.kind !== "other");
    if (bound.length > 0 && list.length > 1) {
      throw new InvalidOption(
        `two selected columns are both named ${name}, and one of them is encrypted or bound to cells; alias one of them`,
      );
    }
    for (const output of bound)
      if (output.kind === "cell" && output.source !== undefined) cellSources.add(output.source);
  }
  if (cellSources.size === 0) return undefined;
  if (node.kind === "SelectQueryNode" && (node.setOperations?.length ?? 0) > 0) {
    throw new InvalidOption(
      "union, intersect and except over encrypted columns are not supported; run the queries separately",
    );
  }
  if (unknownColumns) {
    throw new InvalidOption(
      "a selection of * from a table this plugin does not know may hide encrypted columns of the same name; select its columns by name",
    );
  }
  for (const source of cellSources) {
    const table = source.table as EncryptedTable;
    const cells: [string, string][] = [];
    const context: [string, string][] = [];
    for (const [name, list] of outputs) {
      const output = list[0];
      if (output?.source !== source || output.column === undefined) continue;
      if (output.kind === "cell") cells.push([name, output.column]);
      else if (output.kind === "context") context.push([output.column, name]);
    }
    const missing = contextColumns(table).filter((column) => !context.some(([c]) => c === column));
    if (missing.length > 0) {
      throw new InvalidContext(
        `${table.table}: select ${missing.join(", ")} with its encrypted columns (its cells are bound to them)`,
      );
    }
    plan.push({ table, cells, context });
  }
  return plan;
}

/** Decrypts the planned columns of each row (copies; other columns pass through). */
export function decryptRows(plan: ResultPlan, rows: readonly UnknownRow[]): UnknownRow[] {
  return rows.map((row) => {
    const out: UnknownRow = { ...row };
    for (const { table, cells, context } of plan) {
      let ctx: ReturnType<EncryptedTable["rowContext"]> | undefined;
      for (const [name, column] of cells) {
        const stored = row[name];
        if (stored === null || stored === undefined) continue;
        ctx ??= table.rowContext(Object.fromEntries(context.map(([bound, result]) => [bound, row[result]])));
        out[name] = table.columns.get(column)?.decrypt(stored, ctx, row);
      }
    }
    return out;
  });
}
