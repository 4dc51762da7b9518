/**
 * Describes a value's type for an error message without revealing its content.
 */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "Uint8Array";
  if (value instanceof Date) return "Date";
  const t = typeof value;
  if (t === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `${name} object` : "object";
  }
  return t;
}
