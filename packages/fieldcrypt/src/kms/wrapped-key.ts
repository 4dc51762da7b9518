/**
 * The header every root-key provider writes before its wrapped data key, and the check that reads
 * it back (not reachable from any subpath):
 *
 *   magic[3] ‖ u8(1) ‖ u8(len(id)) ‖ id ‖ body
 *
 * `magic` names the provider (`FCW` local, `FCP` PKCS#11, `FCA` AWS, `FCG` Google Cloud, `FCV`
 * Vault), `1` is the version of the provider's wrapped form, `id` the root key id (printable ASCII,
 * safe to show), and the body the provider's own (a nonce, ciphertext and tag; a service's
 * ciphertext).
 *
 * @internal
 */
import { KeyUnwrapFailed } from "./errors.js";
import { ROOT_KEY_ID_RE } from "./provider.js";

/** The header of data keys wrapped by root key `id` of the provider named by `magic` (3 characters). */
export function wrappedHeader(magic: string, id: string): Buffer {
  return Buffer.concat([Buffer.from(`${magic}\x01`, "latin1"), Buffer.of(id.length), Buffer.from(id, "latin1")]);
}

/**
 * The body of `wrapped` after checking its header against `header`, at least `minBody` bytes.
 * A data key wrapped by another root key of the same provider gets a message naming both ids (safe
 * to print); anything else malformed is the one opaque `KeyUnwrapFailed`.
 */
export function wrappedBody(header: Buffer, id: string, wrapped: Buffer, minBody = 1): Buffer {
  const magic = header.subarray(0, 4);
  if (
    wrapped.length > 5 &&
    wrapped.subarray(0, 4).equals(magic) &&
    !wrapped.subarray(0, header.length).equals(header)
  ) {
    const idLength = wrapped[4] as number;
    const other = wrapped.subarray(5, 5 + idLength).toString("latin1");
    if (ROOT_KEY_ID_RE.test(other) && other !== id && wrapped.length >= 5 + idLength + minBody) {
      throw new KeyUnwrapFailed(
        id,
        `the data key is wrapped by root key ${JSON.stringify(other)}, not ${JSON.stringify(id)}`,
      );
    }
  }
  if (wrapped.length < header.length + minBody || !wrapped.subarray(0, header.length).equals(header)) {
    throw new KeyUnwrapFailed(id);
  }
  return wrapped.subarray(header.length);
}
