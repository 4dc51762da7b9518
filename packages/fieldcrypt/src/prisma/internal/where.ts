/**
 * Refuses filters on encrypted fields: a filter value would reach Prisma (and its query logs and
 * error messages) in plaintext, and could never match a cell anyway. Only null tests pass.
 *
 * @internal
 */
import { InvalidOption } from "../../errors/index.js";
import type { ModelInfo } from "./models.js";
import { each, isRecord } from "./values.js";

const LOGICAL = new Set(["AND", "OR", "NOT"]);
const RELATION_FILTERS = new Set(["some", "every", "none", "is", "isNot"]);
const NULL_TESTS = new Set(["equals", "not"]);

function isNullTest(value: unknown): boolean {
  if (value === null) return true;
  if (!isRecord(value)) return false;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.length > 0 && entries.every(([key, v]) => NULL_TESTS.has(key) && v === null);
}

/** Throws `ERR_INVALID_OPTION` when `where` (a filter of `model`, at any depth) tests an encrypted field. */
export function checkWhere(models: ReadonlyMap<string, ModelInfo>, model: string, where: unknown): void {
  const info = models.get(model);
  if (info === undefined || !isRecord(where)) return;
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (LOGICAL.has(key)) {
      for (const item of each(value)) checkWhere(models, model, item);
      continue;
    }
    const target = info.relations.get(key);
    if (target !== undefined) {
      if (!isRecord(value)) continue;
      const keys = Object.keys(value);
      if (keys.length > 0 && keys.every((k) => RELATION_FILTERS.has(k))) {
        for (const k of keys) checkWhere(models, target, value[k]);
      } else checkWhere(models, target, value);
      continue;
    }
    if (info.encrypted?.encrypted.has(key) === true) {
      if (!isNullTest(value)) {
        throw new InvalidOption(
          `fieldcrypt/prisma: ${model}.${key} is encrypted; a filter on it can only test for null (search through a blind index instead)`,
        );
      }
      continue;
    }
    // A compound unique key ({ id_clinicId: { id, clinicId } }) holds fields of the same model.
    if (!info.scalars.has(key) && isRecord(value)) checkWhere(models, model, value);
  }
}
