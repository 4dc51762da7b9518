/**
 * The canonical encoding of an audit entry, the input of its MAC (internal to `fieldcrypt/audit`):
 *
 *   "fieldcrypt-v1-audit-entry" ‖ LP(seq) ‖ LP(at) ‖ LP(actor) ‖ LP(action) ‖ u8(hasScope) ‖ LP(scope)
 *     ‖ u32be(n) ‖ LP(keyId_1) ‖ … ‖ LP(keyId_n) ‖ LP(details) ‖ LP(prev_mac)
 *
 * with LP(x) = u32be(byteLength(x)) ‖ x; `seq` and `at` (microseconds since the Unix epoch) as
 * decimal strings; `details` the exact canonical JSON text stored in the row.
 */
import { createHmac, type KeyObject, timingSafeEqual } from "node:crypto";
import { InvalidOption } from "../errors/index.js";
import { lengthPrefixed } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";

const DOMAIN = Buffer.from("fieldcrypt-v1-audit-entry", "latin1");
export const MAC_BYTES = 32;
export const GENESIS_MAC = Buffer.alloc(MAC_BYTES);

/** The fields of a stored entry that its MAC covers. */
export interface EncodedFields {
  readonly seq: string;
  readonly atMicros: string;
  readonly actor: string;
  readonly action: string;
  readonly scope: string | null;
  readonly keyIds: readonly string[];
  readonly details: string;
  readonly prevMac: Uint8Array;
}

const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");

export function computeMac(key: KeyObject, f: EncodedFields): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(f.keyIds.length);
  const input = Buffer.concat([
    DOMAIN,
    lengthPrefixed([utf8(f.seq), utf8(f.atMicros), utf8(f.actor), utf8(f.action)]),
    Buffer.of(f.scope === null ? 0 : 1),
    lengthPrefixed([utf8(f.scope ?? "")]),
    count,
    lengthPrefixed(f.keyIds.map(utf8)),
    lengthPrefixed([utf8(f.details), Buffer.from(f.prevMac)]),
  ]);
  return createHmac("sha256", key).update(input).digest();
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Canonical JSON of `details`: object keys sorted, no whitespace. Only JSON values are accepted —
 * strings, finite numbers, booleans, null, arrays and plain objects — so bytes (a Buffer would
 * serialize its contents) and class instances never slip into the log.
 */
export function canonicalJson(value: unknown, path = "details"): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new InvalidOption(`audit ${path} must be a finite number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(",")}]`;
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const entries = Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k], `${path}.${k}`)}`);
      return `{${entries.join(",")}}`;
    }
  }
  throw new InvalidOption(`audit ${path} must be a JSON value (got ${describeType(value)})`);
}
