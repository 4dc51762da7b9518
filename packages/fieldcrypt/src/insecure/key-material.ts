/**
 * `fieldcrypt/insecure-key-material`: the only way to read raw key bytes out of a {@link Key}.
 *
 * Its name is meant to be grepped for in review (like Tink's `insecurecleartextkeyset`). Legitimate
 * uses are few: handing a key to another implementation in an interop test, or exporting a key into
 * a KMS. Never log what this returns.
 *
 * @module
 */
import { getKeyMaterial } from "../internal/key-material.js";
import type { Key } from "../keyring/key.js";

/**
 * Returns a copy of the 32 raw bytes of `key`. Wipe it (`fill(0)`) when done.
 *
 * @example
 * ```ts
 * import { exportInsecureKeyBytes } from "fieldcrypt/insecure-key-material";
 * const bytes = exportInsecureKeyBytes(keyring.primary());
 * ```
 */
export function exportInsecureKeyBytes(key: Key): Buffer {
  const material = getKeyMaterial(key);
  if (material === undefined) throw new TypeError("not a fieldcrypt Key");
  return material.export();
}
