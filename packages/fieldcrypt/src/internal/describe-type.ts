/** Built-in classes, named from this list, never from the value (which could carry its own name). */
const BUILT_INS: readonly [abstract new (...args: never[]) => unknown, string][] = [
  [Map, "Map object"],
  [Set, "Set object"],
  [WeakMap, "WeakMap object"],
  [WeakSet, "WeakSet object"],
  [RegExp, "RegExp object"],
  [ArrayBuffer, "ArrayBuffer object"],
  [DataView, "DataView object"],
  [Promise, "Promise object"],
  [Error, "Error object"],
  [String, "String object"],
  [Number, "Number object"],
  [Boolean, "Boolean object"],
];

/**
 * Describes a value's type for an error message without revealing its content. It never reads
 * properties of the value: a parsed request body can carry a `constructor.name` of its own.
 */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "Uint8Array";
  if (value instanceof Date) return "Date";
  for (const [type, name] of BUILT_INS) if (value instanceof type) return name;
  if (ArrayBuffer.isView(value)) return "typed array";
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null ? "object" : "class instance";
}
