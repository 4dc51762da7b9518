/**
 * Shared by the KMS providers on `fieldcrypt/kms/aws`, `/gcp` and `/vault` (no SDK imported here,
 * not reachable from any subpath): the wrapped-key header, argument checks and error mapping.
 *
 * The wrapped form of every service-backed provider:
 *
 *   magic[3] ‖ u8(1) ‖ u8(len(id)) ‖ id ‖ the service's ciphertext (opaque to fieldcrypt)
 *
 * @internal
 */
import { InvalidKey, InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { RootKeyUnavailable } from "./errors.js";
import { ROOT_KEY_ID_RE, ROOT_KEY_ID_RULE } from "./provider.js";

/** Default time limit of one call to a key service. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export function bytesArg(value: unknown, name: string): Buffer {
  if (!(value instanceof Uint8Array))
    throw new InvalidOption(`${name} must be a Uint8Array (got ${describeType(value)})`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export function stringOption(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0)
    throw new InvalidOption(`${name} must be a non-empty string (got ${describeType(value)})`);
  return value;
}

export function rootKeyIdOption(id: unknown): string {
  if (typeof id !== "string" || !ROOT_KEY_ID_RE.test(id)) {
    const got = typeof id === "string" ? `a string of ${id.length} characters` : describeType(id);
    throw new InvalidKey(`root key id must be ${ROOT_KEY_ID_RULE} (got ${got})`);
  }
  return id;
}

export function timeoutOption(value: unknown): number {
  if (value === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
    throw new InvalidOption("timeoutMs must be a positive integer");
  return value;
}

export { failureKind } from "../errors/foreign.js";
export { wrappedBody, wrappedHeader } from "./wrapped-key.js";

export function unavailable(id: string, kind: string): RootKeyUnavailable {
  return new RootKeyUnavailable(id, `root key ${JSON.stringify(id)} is unavailable (${kind})`);
}
