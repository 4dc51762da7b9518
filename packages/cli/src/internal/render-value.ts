import type { CellValue, ValueTypeName } from "fieldcrypt/cell";

/** How `fieldcrypt decrypt` prints each value type (also in its --help). */
export const VALUE_RENDERING_HELP = `Output by value type (the type is in the cell header):
  string    the text as is
  bytes     standard base64
  json      compact JSON on one line
  number    JavaScript notation (-0, NaN, Infinity included)
  bigint    decimal digits
  boolean   true or false
  date      ISO 8601 in UTC, e.g. 2024-05-01T09:30:00.000Z
followed by one newline.`;

/** Renders a decrypted value as text according to the type in its cell header. */
export function renderValue(value: CellValue, type: ValueTypeName): string {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : JSON.stringify(value);
    case "bytes":
      return Buffer.from(value as Uint8Array).toString("base64");
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
    case "boolean":
      return String(value);
    case "date":
      return (value as Date).toISOString();
    case "json":
      return JSON.stringify(value);
  }
}
