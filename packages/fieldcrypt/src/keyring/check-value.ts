/**
 * Key check values (normative text: spec/keys-v1.md):
 *
 *   checkValue = "kcv1:" ‖ base64url( HMAC-SHA256(key = K, "fieldcrypt-v1-key-check-value")[0:16] )
 *
 * A one-way public fingerprint of 32 bytes of key material: equal for the same material, different
 * (but for a 2^-128 chance) for any other, whatever the key id. HMAC is a PRF keyed by K, so the
 * value says nothing about K or about any other value derived from K (cell subkeys, blind-index
 * keys, audit keys), and testing guesses against it costs a full 2^256 search for a random key.
 * Not reachable from a subpath: the values are read as `key.checkValue` and `auditor.checkValue`.
 * @internal
 */
import { createHmac, type KeyObject } from "node:crypto";

/** The version tag every check value starts with. */
export const CHECK_VALUE_PREFIX = "kcv1:";
/** The fixed label the key material MACs; no other fieldcrypt derivation uses K as an HMAC key over it. */
const LABEL = Buffer.from("fieldcrypt-v1-key-check-value", "latin1");
/** 128 bits: no accidental and no brute-forced second key with the same value. */
const BYTES = 16;

/** The check value of `material` (27 characters, safe to print, log and store). */
export function checkValueOf(material: KeyObject): string {
  return (
    CHECK_VALUE_PREFIX + createHmac("sha256", material).update(LABEL).digest().subarray(0, BYTES).toString("base64url")
  );
}

/** True when `value` has the shape of a check value (`kcv1:` and 22 base64url characters). */
export function isCheckValue(value: unknown): value is string {
  return typeof value === "string" && /^kcv1:[A-Za-z0-9_-]{21}[AQgw]$/.test(value);
}
