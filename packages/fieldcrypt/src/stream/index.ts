/**
 * Streaming encryption in the age v1 format (spec/stream-v1.md): files that the `age` CLI and the
 * `age-encryption` npm package open, in constant memory. Exported from `fieldcrypt/stream`.
 *
 * @module
 */
export { decryptStream } from "./decrypt-stream.js";
export { type EncryptStreamOptions, encryptStream } from "./encrypt-stream.js";
export {
  formatIdentityInsecure,
  generateIdentity,
  parseIdentity,
  parseRecipient,
  X25519Identity,
  X25519Recipient,
} from "./keys.js";
export { createDecryptTransform, createEncryptTransform, decryptFile, encryptFile } from "./node.js";
