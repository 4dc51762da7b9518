/**
 * AES-GCM open for the legacy decoders (not exported from `fieldcrypt/legacy`): 12-byte nonce,
 * 16-byte tag, the layouts legacy apps write, keys tried in order (these formats carry no key id).
 */
import { type CipherGCMTypes, createDecipheriv, type KeyObject } from "node:crypto";
import { InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import type { LegacyRow } from "./format.js";
import { optionBytes, rowValueBytes } from "./shared.js";

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/**
 * Byte layout of a sealed AES-GCM value: `"nonce-ct-tag"` (Python `cryptography`'s AESGCM, Node and
 * WebCrypto) or `"nonce-tag-ct"` (PyCryptodome's `nonce + tag + ciphertext` recipe).
 */
export type GcmLayout = "nonce-ct-tag" | "nonce-tag-ct";

/**
 * Associated data a legacy app bound its cells to: fixed bytes (a UTF-8 string is encoded), a row
 * column (`str(value).encode()`, or the bytes of a bytea column), or a function of the row (then
 * name the columns it reads in `rowColumns`).
 */
export type LegacyAad = Uint8Array | string | { readonly column: string } | ((row: LegacyRow) => Uint8Array | string);

export function checkLayout(layout: unknown): GcmLayout {
  if (layout === undefined) return "nonce-ct-tag";
  if (layout === "nonce-ct-tag" || layout === "nonce-tag-ct") return layout;
  throw new InvalidOption(`layout must be "nonce-ct-tag" or "nonce-tag-ct" (got ${describeType(layout)})`);
}

/** Resolves the AAD option into a function of the row and the row columns it needs. */
export function aadResolver(
  aad: LegacyAad | undefined,
  rowColumns: readonly string[] | undefined,
  format: string,
): { aad: (row: LegacyRow | undefined) => Buffer | undefined; rowColumns: readonly string[] } {
  if (aad === undefined) return { aad: () => undefined, rowColumns: Object.freeze([...(rowColumns ?? [])]) };
  if (typeof aad === "function") {
    if (rowColumns === undefined) throw new InvalidOption("an aad function needs rowColumns: the columns it reads");
    return {
      aad: (row) => optionBytes(aad(row ?? {}), "the aad function's result"),
      rowColumns: Object.freeze([...rowColumns]),
    };
  }
  if (typeof aad === "object" && !(aad instanceof Uint8Array)) {
    const column = aad.column;
    if (typeof column !== "string" || column === "") throw new InvalidOption("aad.column must be a column name");
    return {
      aad: (row) => rowValueBytes(row, column, format),
      rowColumns: Object.freeze([...new Set([column, ...(rowColumns ?? [])])]),
    };
  }
  const fixed = optionBytes(aad, "aad");
  return { aad: () => fixed, rowColumns: Object.freeze([...(rowColumns ?? [])]) };
}

/** Opens a sealed value with the first key that authenticates it; null when none does. */
export function openGcm(
  keys: readonly KeyObject[],
  sealed: Buffer,
  layout: GcmLayout,
  aad: Buffer | undefined,
): Buffer | null {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return null;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tagAt = layout === "nonce-ct-tag" ? sealed.length - TAG_BYTES : NONCE_BYTES;
  const tag = sealed.subarray(tagAt, tagAt + TAG_BYTES);
  const body =
    layout === "nonce-ct-tag" ? sealed.subarray(NONCE_BYTES, tagAt) : sealed.subarray(NONCE_BYTES + TAG_BYTES);
  for (const key of keys) {
    const algorithm = `aes-${key.symmetricKeySize! * 8}-gcm` as CipherGCMTypes;
    const decipher = createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_BYTES });
    if (aad !== undefined) decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const plain = decipher.update(body);
    try {
      decipher.final();
    } catch {
      plain.fill(0);
      continue;
    }
    return plain;
  }
  return null;
}
