/**
 * Typed plaintext encoding (spec/cell-format-v1.md §6). The type id sits in the (authenticated)
 * header; the payload is:
 *   string  UTF-8              bytes   raw               json     UTF-8 of JSON.stringify
 *   number  IEEE-754 f64 BE    bigint  decimal ASCII     boolean  0x00 | 0x01
 *   date    i64 BE milliseconds since the Unix epoch
 */
import { isUtf8 } from "node:buffer";
import { InvalidCell, UnsupportedValue } from "../errors/index.js";
import { describeType } from "./describe-type.js";
import { TYPE_BIGINT, TYPE_BOOLEAN, TYPE_BYTES, TYPE_DATE, TYPE_JSON, TYPE_NUMBER, TYPE_STRING } from "./format.js";

/** JSON values as JSON.stringify/JSON.parse carry them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Values a cell can hold. Plain objects and arrays are stored as JSON. `null` is never encrypted. */
export type CellValue =
  | string
  | Uint8Array
  | number
  | bigint
  | boolean
  | Date
  | JsonValue[]
  | { [key: string]: JsonValue };

const BIGINT_RE = /^-?(0|[1-9][0-9]*)$/;

/** Encodes a value as [type id, payload]; a string payload is fed to the cipher as UTF-8. */
export function encodeValue(value: unknown): [number, Buffer | string] {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) {
        throw new UnsupportedValue(
          "string is not well-formed UTF-16 (lone surrogate); it cannot round-trip through UTF-8",
        );
      }
      return [TYPE_STRING, value];
    case "number": {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(value, 0);
      return [TYPE_NUMBER, b];
    }
    case "bigint":
      return [TYPE_BIGINT, Buffer.from(value.toString(), "latin1")];
    case "boolean":
      return [TYPE_BOOLEAN, Buffer.of(value ? 1 : 0)];
    case "object": {
      if (value instanceof Uint8Array) return [TYPE_BYTES, Buffer.from(value.buffer, value.byteOffset, value.length)];
      if (value instanceof Date) {
        const ms = value.getTime();
        if (Number.isNaN(ms)) throw new UnsupportedValue("Date is invalid (NaN time); it cannot be encrypted");
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(BigInt(ms), 0);
        return [TYPE_DATE, b];
      }
      if (value !== null && (Array.isArray(value) || isPlainObject(value))) return [TYPE_JSON, jsonText(value)];
      break;
    }
  }
  throw new UnsupportedValue(
    `cannot encrypt a value of type ${describeType(value)} (expected string, Uint8Array, number, bigint, boolean, Date, plain object or array)`,
  );
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function jsonText(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // The message of a JSON.stringify failure can quote the value; do not chain it.
    throw new UnsupportedValue("value cannot be serialized as JSON (cycle, bigint or a throwing toJSON)");
  }
  if (text === undefined) throw new UnsupportedValue(`value of type ${describeType(value)} has no JSON form`);
  if (!text.isWellFormed()) throw new UnsupportedValue("JSON text is not well-formed UTF-16 (lone surrogate)");
  return text;
}

/** Decodes an authenticated payload. A malformed payload means a faulty producer: InvalidCell. */
export function decodeValue(type: number, payload: Buffer): CellValue {
  switch (type) {
    case TYPE_STRING: {
      const text = payload.toString(); // UTF-8; the no-argument call is node's fast path
      // Malformed UTF-8 decodes to U+FFFD; only then is the payload validated (a rare, slow path).
      if (text.includes("\uFFFD") && !isUtf8(payload)) throw new InvalidCell("string payload is not well-formed UTF-8");
      return text;
    }
    case TYPE_BYTES:
      return payload;
    case TYPE_JSON: {
      let value: unknown;
      try {
        value = isUtf8(payload) ? JSON.parse(payload.toString()) : undefined;
      } catch {
        // A JSON.parse message quotes the text: never chain it.
      }
      // Encoders write json only for objects and arrays (other values have types of their own).
      if (typeof value !== "object" || value === null)
        throw new InvalidCell("json payload is not a JSON object or array");
      return value as CellValue;
    }
    case TYPE_NUMBER:
      if (payload.length !== 8) throw new InvalidCell("number payload must be 8 bytes");
      return payload.readDoubleBE(0);
    case TYPE_BIGINT: {
      const text = payload.toString("latin1");
      if (!BIGINT_RE.test(text) || text === "-0")
        throw new InvalidCell("bigint payload is not a canonical decimal integer");
      return BigInt(text);
    }
    case TYPE_BOOLEAN:
      if (payload.length !== 1 || (payload[0] as number) > 1)
        throw new InvalidCell("boolean payload must be one byte 0 or 1");
      return payload[0] === 1;
    case TYPE_DATE: {
      if (payload.length !== 8) throw new InvalidCell("date payload must be 8 bytes");
      const ms = Number(payload.readBigInt64BE(0));
      if (Math.abs(ms) > 8.64e15) throw new InvalidCell("date payload is outside the range of a JavaScript Date");
      return new Date(ms);
    }
    default:
      throw new InvalidCell(`unknown value type id ${type} in cell header`);
  }
}
