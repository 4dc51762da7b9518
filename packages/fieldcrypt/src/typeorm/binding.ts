// Internal to fieldcrypt/typeorm: what a per-value TypeORM hook can bind, and the caller's scope. Not re-exported.
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";

/**
 * Refuses a table configuration that asks for more than a transformer can bind: a transformer sees
 * one value and never its row, so neither the row key nor a scope column is available to it.
 */
export function checkContextBinding(table: EncryptedTable): void {
  if (table.primaryKey !== undefined) {
    throw new InvalidOption(
      `${table.table}: a TypeORM transformer sees one value, not its row, so it cannot bind cells to the primary key (configure the table without primaryKey)`,
    );
  }
  const source = table.scope;
  if (source !== undefined && !("current" in source)) {
    throw new InvalidOption(
      `${table.table}: a TypeORM transformer cannot read the scope column ${source.column} (configure the table with scope: { current } from fieldcrypt/scope)`,
    );
  }
}

/**
 * The scope to bind now: `undefined` for a table without scope; the caller's current scope for a
 * table that takes it from a scope context. Fails closed outside any scope rather than writing a
 * cell that no scoped read could open (or reading with the wrong context).
 */
export function currentScope(table: EncryptedTable, field: string): string | undefined {
  const source = table.scope;
  if (source === undefined || !("current" in source)) return undefined;
  const scope = source.current();
  if (scope === undefined) {
    throw new InvalidContext(
      `${field}: no scope is set (the table takes its scope from a scope context: run the query inside its run())`,
    );
  }
  return scope;
}
