/**
 * Encrypts the `data` of Prisma writes, nested writes included. Each cell is bound to the values
 * the table names — primary key and scope column — taken from the data being created, or from the
 * unique `where` of an update. Where those are not known, writing a cell is refused rather than
 * binding it to the wrong row or to none.
 *
 * @internal
 */
import { InvalidContext, InvalidOption } from "../../errors/index.js";
import type { EncryptedModel, ModelInfo } from "./models.js";
import { each, filterValue, isRecord, sameBinding, unwrapSet } from "./values.js";
import { checkWhere } from "./where.js";

type Models = ReadonlyMap<string, ModelInfo>;

/** How an update addresses its rows. */
interface UpdateTarget {
  /** `Model.operation`, for messages. */
  readonly label: string;
  /** The update's filter: a unique `where` (one row), a filter (`many`), or none (a to-one relation). */
  readonly where: unknown;
  /** `updateMany`: the filter may match many rows. */
  readonly many: boolean;
}

/** A copy of the `data` of a create of `model`, its encrypted fields sealed. */
export function sealCreate(models: Models, model: string, data: unknown, label: string): unknown {
  const info = models.get(model);
  if (info === undefined || !isRecord(data)) return data;
  const out = sealRelations(models, info, data);
  const enc = info.encrypted;
  if (enc === undefined || !writesCells(enc, out)) return out;
  const row: Record<string, unknown> = {};
  for (const [field, column] of enc.binding) {
    const value = out[field];
    if (value === undefined) throw unbound(label, field, enc, "its data");
    row[column] = value;
  }
  return seal(enc, out, row, (value) => value);
}

/** A copy of the `data` of an update of `model`, its encrypted fields sealed. */
export function sealUpdate(models: Models, model: string, data: unknown, target: UpdateTarget): unknown {
  const info = models.get(model);
  if (info === undefined || !isRecord(data)) return data;
  const out = sealRelations(models, info, data);
  const enc = info.encrypted;
  if (enc === undefined) return out;
  const fromWhere = bindingOf(info, enc, target.where);
  const row: Record<string, unknown> = {};
  for (const [field, column] of enc.binding) {
    const given = out[field];
    const known = fromWhere.get(field);
    if (given === undefined) {
      if (known !== undefined) row[column] = known;
      continue;
    }
    const value = unwrapSet(given);
    if (isRecord(value)) {
      throw new InvalidOption(
        `fieldcrypt/prisma: ${target.label}: the encrypted cells are bound to ${field}; set it to a plain value`,
      );
    }
    row[column] = value;
    // A new primary key or scope re-binds every cell of the row: all of them must be rewritten.
    if ((known === undefined || !sameBinding(known, value)) && !writesAllCells(enc, out)) {
      throw new InvalidOption(
        `fieldcrypt/prisma: ${target.label} sets ${field}, which the encrypted cells are bound to: name the same value in its where, or write every encrypted field in the same update`,
      );
    }
  }
  if (!writesCells(enc, out)) return out;
  if (target.many && enc.primaryKey.length > 0) {
    throw new InvalidContext(
      `fieldcrypt/prisma: ${target.label} cannot bind encrypted cells to each row's primary key; update the rows one at a time`,
    );
  }
  for (const [field, column] of enc.binding) {
    if (row[column] === undefined) throw unbound(target.label, field, enc, "its where");
  }
  return seal(enc, out, row, unwrapSet);
}

function unbound(label: string, field: string, enc: EncryptedModel, source: string): InvalidContext {
  const what = field === enc.scope ? "the scope" : "the primary key";
  return new InvalidContext(
    `fieldcrypt/prisma: ${label} writes encrypted fields, so ${source} must give ${field} (a plain value): ${what} the cells are bound to`,
  );
}

function writesCells(enc: EncryptedModel, data: Record<string, unknown>): boolean {
  for (const field of enc.encrypted.keys()) if (data[field] !== undefined) return true;
  return false;
}

function writesAllCells(enc: EncryptedModel, data: Record<string, unknown>): boolean {
  for (const field of enc.encrypted.keys()) if (data[field] === undefined) return false;
  return true;
}

/** Encrypts the encrypted fields of `out` in place, with `row` holding the binding columns. */
function seal(
  enc: EncryptedModel,
  out: Record<string, unknown>,
  row: Record<string, unknown>,
  plain: (given: unknown) => unknown,
): Record<string, unknown> {
  for (const [field, column] of enc.encrypted) {
    if (out[field] !== undefined) row[column] = plain(out[field]);
  }
  const sealed = enc.table.encryptRow(row);
  for (const [field, column] of enc.encrypted) {
    if (out[field] !== undefined) out[field] = sealed[column];
  }
  for (const [field, column] of enc.blindIndexes) {
    if (sealed[column] !== undefined) out[field] = sealed[column];
  }
  return out;
}

/** The binding values (primary key, scope) that a `where` names with a plain value. */
function bindingOf(info: ModelInfo, enc: EncryptedModel, where: unknown): Map<string, unknown> {
  const found = new Map<string, unknown>();
  if (!isRecord(where)) return found;
  const take = (filter: Record<string, unknown>): void => {
    for (const field of enc.binding.keys()) {
      const value = filterValue(filter[field]);
      if (value !== undefined && !found.has(field)) found.set(field, value);
    }
  };
  take(where);
  // A compound unique key: { id_clinicId: { id, clinicId } }.
  for (const [key, value] of Object.entries(where)) {
    if (isRecord(value) && !info.scalars.has(key) && !info.relations.has(key)) take(value);
  }
  return found;
}

/** A copy of `data` whose relation fields (nested writes) are sealed for their own models. */
function sealRelations(models: Models, info: ModelInfo, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  for (const [field, target] of info.relations) {
    const nested = data[field];
    if (isRecord(nested)) out[field] = sealNested(models, target, nested, `${info.name}.${field}`);
  }
  return out;
}

/** One nested write (`{ create, createMany, update, upsert, connectOrCreate, … }`) into `model`. */
function sealNested(
  models: Models,
  model: string,
  ops: Record<string, unknown>,
  path: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...ops };
  const label = (op: string) => `${path}.${op}`;
  const create = (data: unknown, op: string) => sealCreate(models, model, data, label(op));
  const map = (value: unknown, fn: (item: unknown) => unknown) => (Array.isArray(value) ? value.map(fn) : fn(value));
  for (const [op, value] of Object.entries(ops)) {
    if (value === undefined) continue;
    switch (op) {
      case "create":
        out[op] = map(value, (item) => create(item, op));
        break;
      case "createMany":
        if (isRecord(value)) out[op] = { ...value, data: map(value.data, (item) => create(item, op)) };
        break;
      case "connectOrCreate":
        out[op] = map(value, (item) => {
          if (!isRecord(item)) return item;
          checkWhere(models, model, item.where);
          return { ...item, create: create(item.create, op) };
        });
        break;
      case "update":
      case "updateMany": {
        const many = op === "updateMany";
        out[op] = map(value, (item) => {
          // To-many: { where, data }. To-one: the data itself, or { where?, data }.
          if (isRecord(item) && "data" in item && Object.keys(item).every((k) => k === "where" || k === "data")) {
            checkWhere(models, model, item.where);
            return {
              ...item,
              data: sealUpdate(models, model, item.data, { label: label(op), where: item.where, many }),
            };
          }
          return sealUpdate(models, model, item, { label: label(op), where: undefined, many });
        });
        break;
      }
      case "upsert":
        out[op] = map(value, (item) => {
          if (!isRecord(item)) return item;
          checkWhere(models, model, item.where);
          const target = { label: label(op), where: item.where, many: false };
          return { ...item, create: create(item.create, op), update: sealUpdate(models, model, item.update, target) };
        });
        break;
      default:
        // connect, disconnect, set, delete, deleteMany: filters only.
        for (const item of each(value)) checkWhere(models, model, item);
    }
  }
  return out;
}
