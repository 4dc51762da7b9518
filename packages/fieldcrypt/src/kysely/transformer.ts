// Private to fieldcrypt/kysely: rewrites a query tree so that the driver only ever receives cells
// and blind-index values for the plugin's encrypted columns. Not reachable through `exports`.
import {
  AndNode,
  BinaryOperationNode,
  ColumnNode,
  ColumnUpdateNode,
  DefaultInsertValueNode,
  type DeleteQueryNode,
  type InsertQueryNode,
  type MergeQueryNode,
  type OperationNode,
  OperationNodeTransformer,
  OperatorNode,
  ParensNode,
  PrimitiveValueListNode,
  type QueryId,
  type SelectQueryNode,
  type UpdateQueryNode,
  ValueListNode,
  ValueNode,
  ValuesNode,
} from "kysely";
import { isCell } from "../cell/inspect.js";
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";
import {
  blindIndexColumn,
  columnRef,
  contextColumns,
  deleteSources,
  isBlindIndexColumn,
  type Source,
  selectSources,
  sourceOf,
  type TableLookup,
  updateSources,
} from "./sources.js";

/** Marks a value in a sealed row whose column was given an SQL expression rather than a value. */
const EXPRESSION: unique symbol = Symbol("expression");

export class FieldcryptTransformer extends OperationNodeTransformer {
  readonly #tables: TableLookup;
  /** FROM/JOIN items of the queries enclosing the node being visited, innermost last. */
  readonly #scopes: Source[][] = [];
  /** Write queries already sealed: a subquery built with `db` passes through the plugins twice. */
  readonly #sealed = new WeakSet<OperationNode>();

  constructor(tables: TableLookup) {
    super();
    this.#tables = tables;
  }

  protected override transformSelectQuery(node: SelectQueryNode, queryId?: QueryId): SelectQueryNode {
    return this.#within(selectSources(node, this.#tables), () => super.transformSelectQuery(node, queryId));
  }

  protected override transformDeleteQuery(node: DeleteQueryNode, queryId?: QueryId): DeleteQueryNode {
    return this.#within(deleteSources(node, this.#tables), () => super.transformDeleteQuery(node, queryId));
  }

  protected override transformInsertQuery(node: InsertQueryNode, queryId?: QueryId): InsertQueryNode {
    if (this.#sealed.has(node) || node.into === undefined) return node;
    const source = sourceOf(node.into, this.#tables);
    const sealed = source.table === undefined ? node : sealInsert(node, source.table);
    const out = this.#within([source], () => super.transformInsertQuery(sealed, queryId));
    this.#sealed.add(out);
    return out;
  }

  protected override transformUpdateQuery(node: UpdateQueryNode, queryId?: QueryId): UpdateQueryNode {
    if (this.#sealed.has(node)) return node;
    const sources = updateSources(node, this.#tables);
    const target = sources[0];
    const sealed = target?.table === undefined ? node : sealUpdate(node, target, target.table);
    const out = this.#within(sources, () => super.transformUpdateQuery(sealed, queryId));
    this.#sealed.add(out);
    return out;
  }

  protected override transformMergeQuery(node: MergeQueryNode, queryId?: QueryId): MergeQueryNode {
    const target = sourceOf(node.into, this.#tables).table;
    if (target !== undefined) {
      throw new InvalidOption(
        `${target.table}: MERGE into an encrypted table is not supported (use insertInto/updateTable)`,
      );
    }
    return super.transformMergeQuery(node, queryId);
  }

  /** Refuses a comparison of an encrypted or blind-index column with a plaintext value. */
  protected override transformBinaryOperation(node: BinaryOperationNode, queryId?: QueryId): BinaryOperationNode {
    this.#guard(node.leftOperand, node.rightOperand);
    this.#guard(node.rightOperand, node.leftOperand);
    return super.transformBinaryOperation(node, queryId);
  }

  #within<T>(sources: Source[], fn: () => T): T {
    this.#scopes.push(sources);
    try {
      return fn();
    } finally {
      this.#scopes.pop();
    }
  }

  #guard(columnSide: OperationNode, valueSide: OperationNode): void {
    const ref = columnRef(columnSide);
    if (ref === undefined) return;
    const values = plainValues(valueSide);
    if (values.length === 0) return;
    for (const table of this.#tablesOf(ref.column, ref.qualifier)) {
      if (table.columns.has(ref.column) && values.some((v) => v !== null && !isCell(v))) {
        throw new InvalidOption(
          `${table.table}.${ref.column} is encrypted: a query cannot compare it with a plaintext value (search its blind index)`,
        );
      }
      if (
        isBlindIndexColumn(table, ref.column) &&
        values.some((v) => v !== null && !(typeof v === "string" && v.startsWith("bi1:")))
      ) {
        throw new InvalidOption(
          `${table.table}.${ref.column} holds blind-index values: compare it with matchBlindIndex(), not a plaintext value`,
        );
      }
    }
  }

  /** The encrypted tables a column reference may point at, from the enclosing queries' sources. */
  #tablesOf(column: string, qualifier: string | undefined): EncryptedTable[] {
    if (qualifier !== undefined) {
      for (let i = this.#scopes.length - 1; i >= 0; i--) {
        const source = this.#scopes[i]?.find((s) => s.name === qualifier);
        if (source !== undefined) return source.table === undefined ? [] : [source.table];
      }
      return [];
    }
    // Unqualified: it may be any enclosing table's column (correlated subqueries); be conservative.
    const out: EncryptedTable[] = [];
    for (const scope of this.#scopes) {
      for (const { table } of scope) {
        if (table !== undefined && (table.columns.has(column) || isBlindIndexColumn(table, column))) out.push(table);
      }
    }
    return out;
  }
}

/** The literal values on one side of a comparison (`= $1`, `in ($1, $2)`). */
function plainValues(node: OperationNode): unknown[] {
  if (ValueNode.is(node)) return [node.value];
  if (PrimitiveValueListNode.is(node)) return [...node.values];
  if (ValueListNode.is(node)) return node.values.flatMap(plainValues);
  if (ParensNode.is(node)) return plainValues(node.node);
  return [];
}

/** What an insert or update gives a column: a value, or an SQL expression. */
function givenValue(node: OperationNode | undefined): unknown {
  if (node === undefined || DefaultInsertValueNode.is(node)) return undefined;
  return ValueNode.is(node) ? node.value : EXPRESSION;
}

/**
 * Encrypts one row of `table` given as { column: value | EXPRESSION }. Encrypted columns must be
 * values; so must the columns their cells are bound to, when any encrypted column is written.
 */
function sealRow(table: EncryptedTable, row: Record<string, unknown>): Record<string, unknown> {
  let writesCells = false;
  for (const [column, value] of Object.entries(row)) {
    if (!table.columns.has(column) || value === undefined) continue;
    if (value === EXPRESSION) {
      throw new InvalidOption(`${table.table}.${column} is encrypted: write a value to it, not an SQL expression`);
    }
    writesCells = true;
  }
  if (!writesCells) return row;
  for (const column of contextColumns(table)) {
    if (row[column] === EXPRESSION) {
      throw new InvalidContext(
        `${table.table}: ${column} must be written as a value, not an SQL expression (the row's cells are bound to it)`,
      );
    }
  }
  return table.encryptRow(row);
}

/** INSERT … VALUES: encrypted columns become cells, and their blind-index columns are filled. */
function sealInsert(node: InsertQueryNode, table: EncryptedTable): InsertQueryNode {
  refuseConflictWrites(node, table);
  const columns = (node.columns ?? []).map((c) => c.column.name);
  const encrypted = columns.filter((c) => table.columns.has(c));
  if (encrypted.length === 0) return node;
  if (node.values === undefined || !ValuesNode.is(node.values)) {
    throw new InvalidOption(`${table.table}: insert encrypted columns with values(), not INSERT … SELECT`);
  }
  const added: string[] = [];
  for (const column of encrypted) {
    const index = blindIndexColumn(table, column);
    if (index !== undefined && !columns.includes(index) && !added.includes(index)) added.push(index);
  }
  const all = [...columns, ...added];
  const rows = node.values.values.map((item) => {
    const given: Record<string, unknown> = Object.create(null);
    columns.forEach((column, i) => {
      given[column] = PrimitiveValueListNode.is(item) ? item.values[i] : givenValue(item.values[i]);
    });
    const sealed = sealRow(table, given);
    if (PrimitiveValueListNode.is(item)) {
      return PrimitiveValueListNode.create(all.map((column) => sealed[column]));
    }
    // The columns sealed in this row: encrypted columns given a value, and their blind indexes.
    const written = encrypted.filter((column) => given[column] !== undefined);
    const owned = new Set([...written, ...written.map((column) => blindIndexColumn(table, column))]);
    return ValueListNode.create(
      all.map((column, i) =>
        owned.has(column) ? ValueNode.create(sealed[column]) : (item.values[i] ?? DefaultInsertValueNode.create()),
      ),
    );
  });
  return Object.freeze({
    ...node,
    columns: Object.freeze(all.map((c, i) => node.columns?.[i] ?? ColumnNode.create(c))),
    values: ValuesNode.create(rows),
  });
}

/**
 * ON CONFLICT DO UPDATE cannot bind: the conflicting row's key and scope are not the inserted
 * row's. Refuse writes there to encrypted columns, their blind indexes and the columns they bind to.
 */
function refuseConflictWrites(node: InsertQueryNode, table: EncryptedTable): void {
  for (const update of node.onConflict?.updates ?? []) {
    const column = columnRef(update.column)?.column;
    if (column === undefined) continue;
    if (table.columns.has(column) || isBlindIndexColumn(table, column) || contextColumns(table).includes(column)) {
      throw new InvalidOption(
        `${table.table}.${column}: ON CONFLICT DO UPDATE cannot write encrypted columns or the columns their cells are bound to (update the row with updateTable)`,
      );
    }
  }
}

/**
 * UPDATE … SET: encrypted columns become cells bound to the row, whose primary key and scope
 * column come from the SET values or from `column = value` conjuncts of the WHERE clause.
 */
function sealUpdate(node: UpdateQueryNode, target: Source, table: EncryptedTable): UpdateQueryNode {
  const updates = node.updates ?? [];
  const names = updates.map((u) => columnRef(u.column)?.column);
  const bound = contextColumns(table);
  const rebinds = names.filter((n): n is string => n !== undefined && bound.includes(n));
  if (rebinds.length > 0 && table.columns.size > 0) {
    const missing = [...table.columns.keys()].filter((c) => !names.includes(c));
    if (missing.length > 0) {
      throw new InvalidOption(
        `${table.table}: changing ${rebinds.join(", ")} re-binds the row's cells; set every encrypted column (${missing.join(", ")}) in the same update`,
      );
    }
  }
  if (!names.some((n) => n !== undefined && table.columns.has(n))) return node;

  const row: Record<string, unknown> = Object.create(null);
  const pinned = pinnedValues(node.where?.where, target);
  for (const column of bound) if (pinned.has(column)) row[column] = pinned.get(column);
  updates.forEach((update, i) => {
    const name = names[i];
    if (name !== undefined) row[name] = givenValue(update.value);
  });
  const missing = bound.filter((column) => row[column] === undefined || row[column] === null);
  if (missing.length > 0) {
    throw new InvalidContext(
      `${table.table}: an update of encrypted columns must address its row with ${missing.map((c) => `${c} = value`).join(" and ")} in WHERE (its cells are bound to them)`,
    );
  }
  const sealed = sealRow(table, row);
  const written = new Set(names.filter((n): n is string => n !== undefined && table.columns.has(n)));
  const indexes = new Set([...written].map((c) => blindIndexColumn(table, c)).filter((c) => c !== undefined));
  const out = updates.map((update, i) => {
    const name = names[i];
    if (name === undefined || !(written.has(name) || indexes.has(name))) return update;
    return ColumnUpdateNode.create(update.column, ValueNode.create(sealed[name]));
  });
  for (const index of indexes) {
    if (!names.includes(index))
      out.push(ColumnUpdateNode.create(ColumnNode.create(index), ValueNode.create(sealed[index])));
  }
  return Object.freeze({ ...node, updates: Object.freeze(out) });
}

/**
 * `column = value` conjuncts at the top of a WHERE clause, for columns of the target table: every
 * row the statement touches has those values, so they can bind its cells.
 */
function pinnedValues(where: OperationNode | undefined, target: Source): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const visit = (node: OperationNode): void => {
    if (AndNode.is(node)) {
      visit(node.left);
      visit(node.right);
    } else if (ParensNode.is(node)) {
      visit(node.node);
    } else if (BinaryOperationNode.is(node) && OperatorNode.is(node.operator) && node.operator.operator === "=") {
      for (const [left, right] of [
        [node.leftOperand, node.rightOperand],
        [node.rightOperand, node.leftOperand],
      ] as const) {
        const ref = columnRef(left);
        if (ref === undefined || !ValueNode.is(right) || right.value === null || right.value === undefined) continue;
        if (ref.qualifier !== undefined && ref.qualifier !== target.name) continue;
        if (!out.has(ref.column)) out.set(ref.column, right.value);
      }
    }
  };
  if (where !== undefined) visit(where);
  return out;
}
