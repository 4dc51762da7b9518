/**
 * What the extension knows about each Prisma model: its fields and their SQL column names (from
 * `@map`), its relations, and for models with an {@link EncryptedTable} the fields that hold cells,
 * blind indexes and the row's binding (primary key, scope column). Read once from the client's data
 * model and checked against the tables, so that a wrong mapping fails when the client is extended.
 *
 * @internal
 */
import { InvalidOption } from "../../errors/index.js";
import type { EncryptedTable } from "../../table/index.js";

/** A field of the data model Prisma embeds in every generated client. */
export interface RuntimeField {
  readonly name: string;
  readonly kind: string;
  readonly type: string;
  readonly dbName?: string | null | undefined;
}

/** The data model Prisma embeds in every generated client (`client._runtimeDataModel`). */
export interface RuntimeDataModel {
  readonly models: Readonly<
    Record<string, { readonly dbName?: string | null | undefined; readonly fields: readonly RuntimeField[] }>
  >;
}

/** One encrypted model: its table and how its columns map to Prisma fields. */
export interface EncryptedModel {
  readonly table: EncryptedTable;
  /** Encrypted field → SQL column. */
  readonly encrypted: ReadonlyMap<string, string>;
  /** Blind-index field → SQL column. */
  readonly blindIndexes: ReadonlyMap<string, string>;
  /** Fields the cells are bound to (primary key, then the scope column), with their SQL column. */
  readonly binding: ReadonlyMap<string, string>;
  /** Primary-key fields, in order; empty when cells are not bound to their row. */
  readonly primaryKey: readonly string[];
  /** The field holding the scope, when the table takes its scope from a column. */
  readonly scope: string | undefined;
  /** SQL column → field. */
  readonly fieldOf: ReadonlyMap<string, string>;
}

/** One model of the client. */
export interface ModelInfo {
  readonly name: string;
  /** Scalar field names. */
  readonly scalars: ReadonlySet<string>;
  /** Relation field → target model. */
  readonly relations: ReadonlyMap<string, string>;
  /** Present when the model has encrypted columns. */
  readonly encrypted: EncryptedModel | undefined;
  /** Fields the client omits by default (`new PrismaClient({ omit })`). */
  readonly omitted: ReadonlySet<string>;
}

const TEXT_TYPE = "String";
const BINARY_TYPE = "Bytes";

/**
 * Reads the data model and checks every configured table against it. `globalOmit` is the client's
 * `omit` option, keyed like the client's model properties (`patient`).
 */
export function readModels(
  dataModel: RuntimeDataModel,
  tables: Readonly<Record<string, EncryptedTable>>,
  globalOmit: Readonly<Record<string, unknown>>,
): ReadonlyMap<string, ModelInfo> {
  for (const name of Object.keys(tables)) {
    if (dataModel.models[name] === undefined) {
      throw new InvalidOption(`fieldcrypt/prisma: this Prisma client has no model ${name}`);
    }
  }
  const models = new Map<string, ModelInfo>();
  for (const [name, model] of Object.entries(dataModel.models)) {
    const scalars = new Set<string>();
    const relations = new Map<string, string>();
    const byColumn = new Map<string, RuntimeField>();
    for (const field of model.fields) {
      if (field.kind === "object") relations.set(field.name, field.type);
      else if (field.kind === "scalar" || field.kind === "enum") {
        scalars.add(field.name);
        byColumn.set(field.dbName ?? field.name, field);
      }
    }
    const table = tables[name];
    const encrypted = table === undefined ? undefined : encryptedModel(name, model.dbName ?? name, table, byColumn);
    const omit = globalOmit[name.charAt(0).toLowerCase() + name.slice(1)];
    const omitted = new Set<string>();
    if (typeof omit === "object" && omit !== null) {
      for (const [field, on] of Object.entries(omit)) if (on === true) omitted.add(field);
    }
    models.set(name, { name, scalars, relations, encrypted, omitted });
  }
  return models;
}

function encryptedModel(
  model: string,
  dbName: string,
  table: EncryptedTable,
  byColumn: ReadonlyMap<string, RuntimeField>,
): EncryptedModel {
  if (table.table !== dbName && !table.table.endsWith(`.${dbName}`)) {
    throw new InvalidOption(`fieldcrypt/prisma: model ${model} maps to table ${dbName}, not ${table.table}`);
  }
  const fieldOf = new Map<string, string>();
  const field = (column: string, type: string, role: string): string => {
    const found = byColumn.get(column);
    if (found === undefined) {
      throw new InvalidOption(
        `fieldcrypt/prisma: model ${model} has no field for ${role} column ${table.table}.${column}`,
      );
    }
    if (type !== "" && found.type !== type) {
      throw new InvalidOption(
        `fieldcrypt/prisma: ${model}.${found.name} holds ${role === "encrypted" ? "cells" : "a blind index"} of ${table.table}.${column}: declare it ${type}`,
      );
    }
    fieldOf.set(column, found.name);
    return found.name;
  };
  const encrypted = new Map<string, string>();
  for (const [column, spec] of table.columns) {
    encrypted.set(field(column, spec.form === "binary" ? BINARY_TYPE : TEXT_TYPE, "encrypted"), column);
  }
  const blindIndexes = new Map<string, string>();
  for (const { column } of table.blindIndexes.values())
    blindIndexes.set(field(column, TEXT_TYPE, "blind-index"), column);
  const binding = new Map<string, string>();
  const primaryKey = (table.primaryKey ?? []).map((column) => {
    const name = field(column, "", "primary-key");
    binding.set(name, column);
    return name;
  });
  let scope: string | undefined;
  if (table.scope !== undefined && "column" in table.scope) {
    scope = field(table.scope.column, "", "scope");
    binding.set(scope, table.scope.column);
  }
  return { table, encrypted, blindIndexes, binding, primaryKey, scope, fieldOf };
}
