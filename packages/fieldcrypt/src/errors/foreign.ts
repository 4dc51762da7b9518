/**
 * The one rule for showing an error that is not fieldcrypt's (a driver's, an SDK's, `fetch`'s):
 * never its message, which can quote a value, a key or a token — only a short plain name or code.
 * Used by the KMS providers, the key store and the CLI alike.
 */

/** Names and codes that are safe to print: 1-64 characters of `A-Z a-z 0-9 _ . $ -`. */
const PLAIN = /^[A-Za-z0-9_.$-]{1,64}$/;

/**
 * `value` when it is a string safe to print as an error's name or code (`TypeError`, `ECONNRESET`,
 * `22021`, `CKR_PIN_INCORRECT`), else `undefined`. Exported from `fieldcrypt/errors`.
 *
 * @example
 * ```ts
 * import { safeErrorName } from "fieldcrypt/errors";
 * catch (e) { log.warn("upload failed", { kind: safeErrorName((e as Error).name) ?? "Error" }) }
 * ```
 */
export function safeErrorName(value: unknown): string | undefined {
  return typeof value === "string" && PLAIN.test(value) ? value : undefined;
}

/**
 * What kind of failure a foreign error is, for a message: its code, its cause's code (`fetch` puts
 * the system error there), or its class name other than plain `Error`; a numeric code as `code N`;
 * `"error"` when none is plain.
 *
 * @internal
 */
export function failureKind(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | null;
  for (const candidate of [e?.code, e?.cause?.code, e?.name]) {
    const plain = safeErrorName(candidate);
    if (plain !== undefined && plain !== "Error") return plain;
    if (typeof candidate === "number" && Number.isInteger(candidate)) return `code ${candidate}`;
  }
  return "error";
}
