/**
 * Small predicates over Prisma arguments.
 *
 * @internal
 */

/** A plain object of Prisma arguments (not an array, a Date or bytes). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  );
}

/** The value of a field in update data: `{ set: v }` is `v`, anything else as given. */
export function unwrapSet(value: unknown): unknown {
  if (isRecord(value) && "set" in value && Object.keys(value).length === 1) return value.set;
  return value;
}

/** A filter that names one value (`v` or `{ equals: v }`), or `undefined` for anything else. */
export function filterValue(value: unknown): unknown {
  if (isRecord(value))
    return Object.keys(value).length === 1 && "equals" in value ? filterValue(value.equals) : undefined;
  return value;
}

/** Two binding values (primary key or scope) that bind the same cells. */
export function sameBinding(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return a === b;
}

/** Both arrays and single values, as Prisma accepts for nested writes. */
export function each(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}
