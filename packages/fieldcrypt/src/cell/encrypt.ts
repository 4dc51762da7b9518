import { createCipheriv } from "node:crypto";
import { InvalidOption, UnsupportedAlgorithm, UnsupportedValue, ValueTooLarge } from "../errors/index.js";
import { assertContextObject, type CellContext, validateContext } from "../internal/context.js";
import { type FieldCipher, getFieldCipher } from "../internal/field-cipher.js";
import {
  AES_256_GCM,
  type AlgorithmInfo,
  type AlgorithmName,
  encodeTextCell,
  MAX_PLAINTEXT_BYTES,
  TAG_BYTES,
  TYPE_STRING,
  XAES_256_GCM,
} from "../internal/format.js";
import { fillNonce } from "../internal/nonce-pool.js";
import { type CellValue, encodeValue } from "../internal/value-codec.js";
import type { Keyring } from "../keyring/keyring.js";

/** Options of {@link encrypt}. */
export interface EncryptOptions {
  /** `"text"` (default): `fc1.` + base64url, for `text` columns. `"binary"`: raw bytes, for `bytea`. */
  readonly form?: "text" | "binary" | undefined;
  /** `"XAES-256-GCM"` (default) or `"AES-256-GCM"` (legacy/interop; random 96-bit nonces). */
  readonly algorithm?: AlgorithmName | undefined;
}

function resolveAlgorithm(name: AlgorithmName | undefined): AlgorithmInfo {
  if (name === undefined || name === "XAES-256-GCM") return XAES_256_GCM;
  if (name === "AES-256-GCM") return AES_256_GCM;
  throw new UnsupportedAlgorithm(`options.algorithm must be "XAES-256-GCM" or "AES-256-GCM"`);
}

/**
 * Encrypts a typed value into a cell bound to `context`, with the keyring's primary key for
 * `context.scope`. Synchronous. `null` stays `null` (SQL NULL is not encrypted); the empty string
 * is encrypted. Exported from `fieldcrypt/cell`.
 *
 * Strings, `Uint8Array`, numbers, bigints, booleans, Dates, and plain objects/arrays (as JSON)
 * decrypt to the same type. JSON follows `JSON.stringify` (it drops `undefined` members).
 *
 * @example
 * ```ts
 * import { encrypt } from "fieldcrypt/cell";
 * const cell = encrypt(keyring, "BP 120/80, allergic to penicillin",
 *   { scope: "clinic-7", table: "clinic_notes", column: "body", rowKey: 42 });
 * // "fc1._AEBAQJ2M…"
 * ```
 */
export function encrypt(
  keyring: Keyring,
  value: CellValue,
  context: CellContext,
  options?: EncryptOptions & { form?: "text" | undefined },
): string;
export function encrypt(
  keyring: Keyring,
  value: CellValue,
  context: CellContext,
  options: EncryptOptions & { form: "binary" },
): Buffer;
export function encrypt(keyring: Keyring, value: null, context: CellContext, options?: EncryptOptions): null;
export function encrypt(
  keyring: Keyring,
  value: CellValue | null,
  context: CellContext,
  options?: EncryptOptions,
): string | Buffer | null;
export function encrypt(
  keyring: Keyring,
  value: CellValue | null,
  context: CellContext,
  options?: EncryptOptions,
): string | Buffer | null {
  return encryptWithNonce(keyring, value, context, options, undefined);
}

/**
 * {@link encrypt} with an optional fixed nonce, for generating the frozen test vectors only.
 * Never exported from a public subpath: a repeated nonce under one key breaks GCM.
 * @internal
 */
export function encryptWithNonce(
  keyring: Keyring,
  value: CellValue | null,
  context: CellContext,
  options: EncryptOptions | undefined,
  fixedNonce: Uint8Array | undefined,
): string | Buffer | null {
  if (value === null) return null;
  assertContextObject(context);
  const form = options?.form;
  if (form !== undefined && form !== "text" && form !== "binary") {
    throw new InvalidOption(`options.form must be "text" or "binary"`);
  }
  let type: number;
  let payload: Buffer | string;
  let field: FieldCipher;
  let payloadBytes: number;
  // The spec's order of errors (context, value, size, key) costs nothing on the per-cell path:
  // the context is validated in full only when something else is about to be reported.
  try {
    if (typeof value === "string" && value.isWellFormed()) {
      type = TYPE_STRING;
      payload = value;
    } else {
      if (value === undefined) throw new UnsupportedValue("cannot encrypt undefined (use null for SQL NULL)");
      [type, payload] = encodeValue(value);
    }
    payloadBytes = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.length;
    if (payloadBytes > MAX_PLAINTEXT_BYTES) {
      throw new ValueTooLarge(`value is ${payloadBytes} bytes encoded; a cell holds at most ${MAX_PLAINTEXT_BYTES}`);
    }
    const algorithm = options?.algorithm === undefined ? XAES_256_GCM : resolveAlgorithm(options.algorithm);
    field = getFieldCipher(keyring.primary(context.scope), algorithm, context.table, context.column);
  } catch (error) {
    validateContext(context);
    throw error;
  }
  const algorithm = field.algorithm;
  const aad = field.aad(context.scope, type, context.rowKey);

  const headerBytes = field.header.length;
  const nonceBytes = algorithm.nonceBytes;
  const start = headerBytes + nonceBytes;
  const cell = Buffer.allocUnsafe(start + payloadBytes + TAG_BYTES);
  field.header.copy(cell, 0);
  cell[3] = type;
  if (fixedNonce === undefined) fillNonce(cell, headerBytes, nonceBytes);
  else if (fixedNonce.length === nonceBytes) cell.set(fixedNonce, headerBytes);
  else throw new RangeError(`fixed nonce must be ${nonceBytes} bytes`);

  const cipher =
    field.xaes !== undefined
      ? createCipheriv("aes-256-gcm", field.xaes.deriveKey(cell, headerBytes), cell.subarray(headerBytes + 12, start))
      : createCipheriv(
          "aes-256-gcm",
          field.gcmKey as NonNullable<typeof field.gcmKey>,
          cell.subarray(headerBytes, start),
        );
  cipher.setAAD(aad);
  const ciphertext = typeof payload === "string" ? cipher.update(payload, "utf8") : cipher.update(payload);
  ciphertext.copy(cell, start);
  cipher.final();
  cipher.getAuthTag().copy(cell, start + payloadBytes);
  return form === "binary" ? cell : encodeTextCell(cell);
}
