import {
  type EntityMetadata,
  type EntitySubscriberInterface,
  EventSubscriber,
  type FindOperator,
  In,
  type InsertEvent,
  type ObjectLiteral,
  type UpdateEvent,
} from "typeorm";
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";
import { checkContextBinding, currentScope } from "./binding.js";

/**
 * A `where` operator for a blind-index column: `In(…)` over the index values of `value` under every
 * live key of the scope. Exported from `fieldcrypt/typeorm`.
 *
 * `column` is the encrypted column (`"email"`); put the operator under the property that maps its
 * blind-index column (`email_bidx`). The scope is the caller's current scope, or `context.scope`.
 * Security: a blind index leaks which rows of one scope hold equal values; index only columns the
 * app must search.
 *
 * @example
 * ```ts
 * import { blindIndexIn } from "fieldcrypt/typeorm";
 * const found = await dataSource.getRepository(Patient).find({
 *   where: { clinic_id: clinicId, email_bidx: blindIndexIn(patients, "email", input) },
 * });
 * ```
 */
export function blindIndexIn(
  table: EncryptedTable,
  column: string,
  value: string,
  context?: { readonly scope?: string | undefined },
): FindOperator<string> {
  const field = `${table.table}.${column}`;
  let scope = context?.scope;
  if (scope === undefined && table.scope !== undefined) {
    if (!("current" in table.scope)) {
      throw new InvalidContext(`${field}: the table takes its scope from column ${table.scope.column}: pass the scope`);
    }
    scope = currentScope(table, field);
  }
  return In(table.searchValues(column, value, { scope }));
}

/** Fills the blind-index properties of one entity or patch of `table`, mapped by `metadata`. */
function fillBlindIndexes(table: EncryptedTable, metadata: EntityMetadata, entity: ObjectLiteral): void {
  for (const [name, { column: indexName, index }] of table.blindIndexes) {
    const source = metadata.findColumnWithDatabaseName(name);
    if (source === undefined) continue;
    const value: unknown = source.getEntityValue(entity);
    if (value === undefined) continue;
    const target = metadata.findColumnWithDatabaseName(indexName);
    if (target === undefined) {
      throw new InvalidOption(`${table.table}: the entity maps no column ${indexName} for the blind index of ${name}`);
    }
    const field = `${table.table}.${name}`;
    target.setEntityValue(entity, value === null ? null : index.compute(value as string, currentScope(table, field)));
  }
}

/**
 * A TypeORM entity subscriber class that fills the blind-index columns of the given tables on every
 * insert and update. List it in the data source's `subscribers`. Exported from `fieldcrypt/typeorm`.
 *
 * Entities are matched by table name. Before an insert or update (`save`, `insert`, `update`, and
 * query-builder inserts and updates), every blind-indexed column the entity or patch sets gets its
 * index column filled from the plaintext, under the caller's current scope's primary key; `null`
 * gives `null`. The subscriber writes the index property onto the object TypeORM persists (your
 * entity or patch), as TypeORM subscribers do. Writes that bypass listeners
 * (`callListeners(false)`, `{ listeners: false }`, raw SQL) must fill it themselves.
 *
 * @example
 * ```ts
 * import { DataSource } from "typeorm";
 * import { blindIndexSubscriber } from "fieldcrypt/typeorm";
 * const dataSource = new DataSource({
 *   type: "postgres", url: process.env.DATABASE_URL,
 *   entities: [Patient], subscribers: [blindIndexSubscriber(patients)],
 * });
 * ```
 */
export function blindIndexSubscriber(...tables: EncryptedTable[]): new () => EntitySubscriberInterface<ObjectLiteral> {
  const byName = new Map<string, EncryptedTable>();
  for (const table of tables) {
    checkContextBinding(table);
    byName.set(table.table, table);
  }
  const fill = (metadata: EntityMetadata, entity: ObjectLiteral | undefined): void => {
    if (entity === undefined) return;
    const table = byName.get(metadata.tablePath) ?? byName.get(metadata.tableName);
    if (table !== undefined) fillBlindIndexes(table, metadata, entity);
  };
  class BlindIndexSubscriber implements EntitySubscriberInterface<ObjectLiteral> {
    beforeInsert(event: InsertEvent<ObjectLiteral>): void {
      fill(event.metadata, event.entity);
    }
    beforeUpdate(event: UpdateEvent<ObjectLiteral>): void {
      fill(event.metadata, event.entity);
    }
  }
  // TypeORM instantiates the subscriber classes listed in `subscribers` that carry this decorator.
  EventSubscriber()(BlindIndexSubscriber);
  return BlindIndexSubscriber;
}
