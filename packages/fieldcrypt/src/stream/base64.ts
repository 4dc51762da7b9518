/** Unpadded canonical standard base64 (RFC 4648 §4 without `=`), as the age header uses it. */
const ALPHABET = /^[A-Za-z0-9+/]*$/;

/** Encodes bytes as unpadded standard base64. */
export function encodeRawBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/=+$/, "");
}

/** Decodes unpadded canonical base64; `undefined` for any other input (padding, bad characters, non-canonical bits). */
export function decodeRawBase64(text: string): Uint8Array | undefined {
  if (!ALPHABET.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, "base64");
  if (encodeRawBase64(bytes) !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
