// Private to fieldcrypt/kysely: which tables a query node reads or writes, and what its column
// references point at. Not reachable through any `exports` entry.
import {
  AliasNode,
  ColumnNode,
  type DeleteQueryNode,
  IdentifierNode,
  ListNode,
  type OperationNode,
  ReferenceNode,
  type SelectQueryNode,
  TableNode,
  type UpdateQueryNode,
} from "kysely";
import { InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";

/** The plugin's tables, looked up by the names queries use. */
export class TableLookup {
  readonly #byName = new Map<string, EncryptedTable[]>();
  readonly #byQualifiedName = new Map<string, EncryptedTable>();

  constructor(tables: readonly EncryptedTable[]) {
    for (const table of tables) {
      if (this.#byQualifiedName.has(table.table)) {
        throw new InvalidOption(`FieldcryptPlugin: table ${table.table} is given twice`);
      }
      this.#byQualifiedName.set(table.table, table);
      const bare = bareName(table.table);
      this.#byName.set(bare, [...(this.#byName.get(bare) ?? []), table]);
    }
  }

  /** The table a TableNode names: by schema and name, else by name alone (schemas ignored). */
  find(node: TableNode): EncryptedTable | undefined {
    const name = node.table.identifier.name;
    const schema = node.table.schema?.name;
    if (schema !== undefined) {
      const exact = this.#byQualifiedName.get(`${schema}.${name}`);
      if (exact !== undefined) return exact;
    }
    const candidates = this.#byName.get(name);
    if (candidates === undefined) return undefined;
    if (candidates.length > 1) {
      throw new InvalidOption(
        `FieldcryptPlugin: several encrypted tables are named ${name}; qualify it with its schema`,
      );
    }
    return candidates[0];
  }
}

function bareName(table: string): string {
  const dot = table.lastIndexOf(".");
  return dot === -1 ? table : table.slice(dot + 1);
}

/** A FROM/JOIN item: its name in the query (alias or table name) and its table when encrypted. */
export interface Source {
  /** `undefined` for items with no usable name (raw SQL, unaliased functions). */
  readonly name: string | undefined;
  readonly table: EncryptedTable | undefined;
}

export function sourceOf(node: OperationNode, tables: TableLookup): Source {
  if (TableNode.is(node)) return { name: node.table.identifier.name, table: tables.find(node) };
  if (AliasNode.is(node) && IdentifierNode.is(node.alias)) {
    return { name: node.alias.name, table: TableNode.is(node.node) ? tables.find(node.node) : undefined };
  }
  return { name: undefined, table: undefined };
}

function sourcesOf(nodes: readonly (OperationNode | undefined)[], tables: TableLookup): Source[] {
  const out: Source[] = [];
  for (const node of nodes) {
    if (node === undefined) continue;
    if (ListNode.is(node)) out.push(...sourcesOf(node.items, tables));
    else out.push(sourceOf(node, tables));
  }
  return out;
}

export function selectSources(node: SelectQueryNode, tables: TableLookup): Source[] {
  return sourcesOf([...(node.from?.froms ?? []), ...(node.joins ?? []).map((join) => join.table)], tables);
}

export function updateSources(node: UpdateQueryNode, tables: TableLookup): Source[] {
  return sourcesOf([node.table, ...(node.from?.froms ?? []), ...(node.joins ?? []).map((join) => join.table)], tables);
}

export function deleteSources(node: DeleteQueryNode, tables: TableLookup): Source[] {
  return sourcesOf(
    [...node.from.froms, ...(node.using?.tables ?? []), ...(node.joins ?? []).map((join) => join.table)],
    tables,
  );
}

/** A plain column reference: `name`, `patients.name`, `p.name`. */
export interface ColumnRef {
  readonly column: string;
  /** The table name or alias it is qualified with. */
  readonly qualifier: string | undefined;
}

export function columnRef(node: OperationNode): ColumnRef | undefined {
  if (ColumnNode.is(node)) return { column: node.column.name, qualifier: undefined };
  if (ReferenceNode.is(node) && ColumnNode.is(node.column)) {
    return { column: node.column.column.name, qualifier: node.table?.table.identifier.name };
  }
  return undefined;
}

/** The columns each cell of `table` is bound to besides its own: primary key and scope column. */
export function contextColumns(table: EncryptedTable): string[] {
  const scope = table.scope !== undefined && "column" in table.scope ? [table.scope.column] : [];
  return [...(table.primaryKey ?? []), ...scope];
}

/** The blind-index column of each encrypted column that has one. */
export function blindIndexColumn(table: EncryptedTable, column: string): string | undefined {
  return table.blindIndexes.get(column)?.column;
}

/** True when `column` stores the blind index of one of the table's encrypted columns. */
export function isBlindIndexColumn(table: EncryptedTable, column: string): boolean {
  for (const { column: indexColumn } of table.blindIndexes.values()) if (indexColumn === column) return true;
  return false;
}
