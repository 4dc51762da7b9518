/**
 * Decoders for the encrypted formats existing apps already store, so an import job (and
 * transition-mode reads) can bring that data into fieldcrypt cells: Fernet tokens (static or
 * PBKDF2-derived per-user keys), raw AES-GCM cells, versioned JSON envelopes and @47ng/cloak /
 * prisma-field-encryption strings. Exported from `fieldcrypt/legacy`.
 *
 * @example
 * ```ts
 * import { fernetFormat } from "fieldcrypt/legacy";
 * const fernet = fernetFormat({ key: process.env.FERNET_KEY! });
 * const note = fernet.decrypt(row.note);
 * ```
 *
 * @module
 */
export { type AesGcmFormatOptions, type AesKeyInput, aesGcmFormat } from "./aes-gcm.js";
export { classifyLegacy } from "./classify.js";
export { type CloakFormatOptions, cloakFormat } from "./cloak.js";
export {
  type DerivedSecret,
  type DerivedSecretEncoding,
  type FernetDerivation,
  type FernetFormatOptions,
  type FernetKeyInput,
  type FernetSalt,
  type FernetSaltFunction,
  type FernetSecret,
  type FernetStats,
  fernetFormat,
  type Pbkdf2Hash,
} from "./fernet.js";
export type { LegacyClass, LegacyFormat, LegacyOutput, LegacyRow } from "./format.js";
export type { GcmLayout, LegacyAad } from "./gcm.js";
export { type VersionedJsonFormatOptions, versionedJsonFormat } from "./versioned-json.js";
