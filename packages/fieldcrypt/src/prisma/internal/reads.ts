/**
 * Decrypts what Prisma returns, relations included. Before the query, each level of `select` /
 * `include` / `omit` is planned: where a level returns encrypted fields but would leave out the
 * fields its cells are bound to (primary key, scope column), those are added to the query and
 * stripped from the result, so the caller gets exactly the shape it asked for.
 *
 * @internal
 */
import type { ModelInfo } from "./models.js";
import { isRecord } from "./values.js";
import { checkWhere } from "./where.js";

type Models = ReadonlyMap<string, ModelInfo>;

/** What to do with the records of one level of a result. */
export interface ReadPlan {
  readonly model: string;
  /** Fields added to the query for decryption, to remove from each record. */
  readonly strip: readonly string[];
  /** Plans of the relations the level returns. */
  readonly relations: ReadonlyMap<string, ReadPlan>;
}

/** A copy of `args` that returns what decryption needs, and the plan to decrypt its result. */
export function planRead(
  models: Models,
  model: string,
  args: Record<string, unknown>,
): { args: Record<string, unknown>; plan: ReadPlan } {
  const info = models.get(model);
  const relations = new Map<string, ReadPlan>();
  const strip: string[] = [];
  const plan: ReadPlan = { model, strip, relations };
  if (info === undefined) return { args, plan };
  const out: Record<string, unknown> = { ...args };
  const key = isRecord(args.select) ? "select" : isRecord(args.include) ? "include" : undefined;
  const shape: Record<string, unknown> | undefined = key === undefined ? undefined : { ...(args[key] as object) };
  if (key !== undefined && shape !== undefined) {
    out[key] = shape;
    for (const [field, value] of Object.entries(shape)) {
      if (field === "_count") {
        checkCountFilters(models, info, value);
        continue;
      }
      const target = info.relations.get(field);
      if (target === undefined || value === undefined || value === false || value === null) continue;
      const nested = isRecord(value) ? value : {};
      checkWhere(models, target, nested.where);
      const child = planRead(models, target, nested);
      relations.set(field, child.plan);
      if (child.args !== nested) shape[field] = child.args;
    }
  }
  const enc = info.encrypted;
  if (enc === undefined) return { args: key === undefined ? args : out, plan };
  const select = key === "select" ? shape : undefined;
  const omit = isRecord(args.omit) ? args.omit : undefined;
  const returned = (field: string): boolean => {
    if (select !== undefined) return isOn(select[field]);
    const omitted = omit?.[field];
    return omitted === undefined ? !info.omitted.has(field) : !isOn(omitted);
  };
  if (![...enc.encrypted.keys()].some(returned)) return { args: key === undefined ? args : out, plan };
  let newOmit: Record<string, unknown> | undefined;
  for (const field of enc.binding.keys()) {
    if (returned(field)) continue;
    strip.push(field);
    if (select !== undefined) select[field] = true;
    else {
      newOmit ??= { ...omit };
      newOmit[field] = false;
    }
  }
  if (newOmit !== undefined) out.omit = newOmit;
  return { args: out, plan };
}

function isOn(value: unknown): boolean {
  return value !== undefined && value !== false && value !== null;
}

/** `_count: { select: { visits: { where } } }`: relation counts take filters too. */
function checkCountFilters(models: Models, info: ModelInfo, count: unknown): void {
  if (!isRecord(count) || !isRecord(count.select)) return;
  for (const [field, value] of Object.entries(count.select)) {
    const target = info.relations.get(field);
    if (target !== undefined && isRecord(value)) checkWhere(models, target, value.where);
  }
}

/** The plan of the part of the result a fluent call (`findUnique(…).visits()`) returns. */
export function followDataPath(plan: ReadPlan, dataPath: unknown): ReadPlan | undefined {
  if (!Array.isArray(dataPath)) return plan;
  let current: ReadPlan | undefined = plan;
  // ["select", "visits", "select", "patient"]: every second element is a relation.
  for (let i = 1; i < dataPath.length && current !== undefined; i += 2) {
    current = current.relations.get(String(dataPath[i]));
  }
  return current;
}

/** Decrypts a result (a record, a list of records, or null) along its plan. */
export function openResult(models: Models, plan: ReadPlan | undefined, result: unknown): unknown {
  if (plan === undefined) return result;
  if (Array.isArray(result)) return result.map((item) => openRecord(models, plan, item));
  return openRecord(models, plan, result);
}

function openRecord(models: Models, plan: ReadPlan, record: unknown): unknown {
  if (!isRecord(record)) return record;
  const out: Record<string, unknown> = { ...record };
  for (const [field, child] of plan.relations) {
    if (out[field] !== undefined) out[field] = openResult(models, child, out[field]);
  }
  const enc = models.get(plan.model)?.encrypted;
  if (enc !== undefined) {
    const row: Record<string, unknown> = {};
    let cells = false;
    for (const [field, column] of enc.encrypted) {
      if (record[field] === undefined) continue;
      row[column] = record[field];
      cells = true;
    }
    if (cells) {
      for (const [field, column] of enc.binding) row[column] = record[field];
      const opened = enc.table.decryptRow(row);
      for (const [field, column] of enc.encrypted) if (record[field] !== undefined) out[field] = opened[column];
    }
  }
  for (const field of plan.strip) delete out[field];
  return out;
}
