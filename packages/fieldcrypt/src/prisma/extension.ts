import { InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";
import { type ModelInfo, type RuntimeDataModel, readModels } from "./internal/models.js";
import { followDataPath, openResult, planRead } from "./internal/reads.js";
import { isRecord } from "./internal/values.js";
import { checkWhere } from "./internal/where.js";
import { sealCreate, sealUpdate } from "./internal/writes.js";

/** Options of {@link fieldcryptExtension}. */
export interface FieldcryptExtensionOptions {
  /**
   * The encrypted tables, by Prisma model name as written in schema.prisma (`Patient`, not
   * `patient`). Column names in the tables are SQL names; `@map` is followed to find each field.
   */
  readonly models: Readonly<Record<string, EncryptedTable>>;
}

type NoArgs = Record<never, never>;

/**
 * A Prisma client extension, for `prisma.$extends(…)`. It adds no methods and changes no types:
 * it only rewrites the arguments and results of model queries.
 */
export type FieldcryptPrismaExtension = (client: unknown) => {
  $extends: { extArgs: { result: NoArgs; model: NoArgs; query: NoArgs; client: NoArgs } };
};

/** The part of a Prisma client the extension uses. */
interface PrismaClientLike {
  readonly _runtimeDataModel?: unknown;
  readonly _globalOmit?: unknown;
  $extends(extension: object): unknown;
}

/** What Prisma passes to a `$allOperations` query extension. */
interface QueryParams {
  readonly model: string;
  readonly operation: string;
  readonly args: unknown;
  readonly query: (args: unknown) => Promise<unknown>;
  readonly __internalParams?: { readonly dataPath?: unknown } | undefined;
}

/** Operations whose result is records of the model (or null), shaped by select/include/omit. */
const RETURNS_RECORDS = new Set([
  "findUnique",
  "findUniqueOrThrow",
  "findFirst",
  "findFirstOrThrow",
  "findMany",
  "create",
  "createManyAndReturn",
  "update",
  "updateManyAndReturn",
  "upsert",
  "delete",
]);

/** Operations that only filter (or return counts and aggregates, which hold no plaintext). */
const FILTERS_ONLY = new Set(["deleteMany", "count", "aggregate", "groupBy"]);

/**
 * A Prisma client extension that encrypts the encrypted fields of every write and decrypts them in
 * every read. Exported from `fieldcrypt/prisma`.
 *
 * Writes (`create`, `createMany(AndReturn)`, `update`, `updateMany(AndReturn)`, `upsert`, and nested
 * `create`/`createMany`/`connectOrCreate`/`update`/`updateMany`/`upsert`) hand Prisma only cells and
 * blind-index values. Each cell is bound to its table, column, the row's primary key and its scope
 * column, as the {@link EncryptedTable} names them: a create must carry them in its data, an update
 * in its unique `where`. A write that cannot bind its cells (`updateMany` of encrypted fields on a
 * table bound to row keys, a nested to-one update whose where does not name the row) throws
 * `ERR_INVALID_CONTEXT` and writes nothing. Reads (`find*`, the records that writes return,
 * relations and fluent calls) are decrypted; when a `select` or `omit` (or the client's default
 * `omit`) leaves out the primary key or scope column, the extension asks for them and strips them
 * from the result. Filters on encrypted fields (other than null tests) throw `ERR_INVALID_OPTION`:
 * search through the blind index with {@link blindIndexIn}.
 *
 * The field ↔ column mapping (`@map`) and the relations are read from the data model Prisma
 * generates into the client; a table whose columns have no field of the right type (`String` for
 * text cells and blind indexes, `Bytes` for binary cells) throws `ERR_INVALID_OPTION` at `$extends`.
 * Prisma runs query extensions in the order they were added: add this one first, so that the
 * extensions after it (loggers, auditing) see only cells.
 *
 * @example
 * ```ts
 * import { PrismaPg } from "@prisma/adapter-pg";
 * import { fieldcryptExtension } from "fieldcrypt/prisma";
 * import { PrismaClient } from "./generated/prisma/client.js";
 *
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) }).$extends(
 *   fieldcryptExtension({ models: { Patient: patients, Visit: visits } }),
 * );
 * await prisma.patient.create({ data: { id: randomUUID(), clinicId: "clinic-7", name: "Ada", email: "ada@example.org" } });
 * ```
 */
export function fieldcryptExtension(options: FieldcryptExtensionOptions): FieldcryptPrismaExtension {
  const tables = options.models;
  return (client) => {
    const prisma = client as PrismaClientLike;
    const dataModel = prisma._runtimeDataModel;
    if (!isRecord(dataModel) || !isRecord(dataModel.models)) {
      throw new InvalidOption(
        "fieldcrypt/prisma: this Prisma client has no data model (Prisma 7 or later is required)",
      );
    }
    const globalOmit = isRecord(prisma._globalOmit) ? prisma._globalOmit : {};
    const models = readModels(dataModel as unknown as RuntimeDataModel, tables, globalOmit);
    return prisma.$extends({
      name: "fieldcrypt",
      query: { $allModels: { $allOperations: (params: QueryParams) => runQuery(models, params) } },
    }) as ReturnType<FieldcryptPrismaExtension>;
  };
}

async function runQuery(models: ReadonlyMap<string, ModelInfo>, params: QueryParams): Promise<unknown> {
  const { model, operation, query } = params;
  const args: Record<string, unknown> = isRecord(params.args) ? { ...params.args } : {};
  const label = `${model}.${operation}`;
  checkWhere(models, model, args.where);
  checkWhere(models, model, args.cursor);
  checkWhere(models, model, args.having);
  switch (operation) {
    case "create":
      args.data = sealCreate(models, model, args.data, label);
      break;
    case "createMany":
    case "createManyAndReturn":
      args.data = Array.isArray(args.data)
        ? args.data.map((item) => sealCreate(models, model, item, label))
        : sealCreate(models, model, args.data, label);
      break;
    case "update":
    case "updateMany":
    case "updateManyAndReturn":
      args.data = sealUpdate(models, model, args.data, { label, where: args.where, many: operation !== "update" });
      break;
    case "upsert":
      args.create = sealCreate(models, model, args.create, label);
      args.update = sealUpdate(models, model, args.update, { label, where: args.where, many: false });
      break;
    default:
      if (!RETURNS_RECORDS.has(operation) && !FILTERS_ONLY.has(operation) && models.get(model)?.encrypted) {
        throw new InvalidOption(`fieldcrypt/prisma: ${label} is not supported on a model with encrypted fields`);
      }
  }
  if (!RETURNS_RECORDS.has(operation)) return query(params.args === undefined ? params.args : args);
  const read = planRead(models, model, args);
  const result = await query(read.args);
  return openResult(models, followDataPath(read.plan, params.__internalParams?.dataPath), result);
}
