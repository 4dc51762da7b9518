/**
 * The one rule that tells a legacy value from plaintext, for reads, jobs and `fieldcrypt status`.
 * Exported from `fieldcrypt/legacy`.
 *
 * @module
 */
import type { LegacyClass, LegacyFormat } from "./format.js";

/**
 * What `stored` is to the legacy format `format`: `"legacy"` when it is well-formed (`matches`),
 * `"unreadable"` when it carries the format's signature but does not parse (a Fernet token cut
 * short, a cloak string missing its ciphertext), else `"other"`. An unreadable value is never
 * plaintext: reads fail it with `ERR_DECRYPTION_FAILED`, import and encrypt jobs record it as a
 * failed row, `fieldcrypt status` counts it as UNREADABLE. Cheap: it never decrypts. A format
 * without a marker (raw AES-GCM) is never unreadable: what it does not match cannot be told from
 * plaintext. Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { classifyLegacy, fernetFormat } from "fieldcrypt/legacy";
 * const fernet = fernetFormat({ key: process.env.FERNET_KEY! });
 * classifyLegacy(fernet, "gAAAAABl"); // "unreadable": the Fernet signature, cut short
 * ```
 */
export function classifyLegacy(format: LegacyFormat, stored: unknown): LegacyClass {
  if (stored === null || stored === undefined) return "other";
  if (format.matches(stored)) return "legacy";
  return format.hasSignature?.(stored) === true ? "unreadable" : "other";
}
