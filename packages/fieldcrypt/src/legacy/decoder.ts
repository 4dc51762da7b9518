/**
 * The base of every legacy decoder: what they all do the same way, so that each format holds only
 * how its values are recognised (`parse`) and opened (`open`).
 *
 * - `matches` is `parse` succeeding (the value is *well-formed*), except on a value over `maxBytes`,
 *   which is never parsed: it matches when it carries the signature (or always, for a format without
 *   one), so that `decrypt` refuses it as too large rather than it passing for plaintext;
 * - `hasSignature` is the cheap marker alone: the value starts with one of `textPrefixes` (Fernet's
 *   `gAAAAA` — version byte 0x80 and a timestamp's zero high bytes —, cloak's `v1.aesgcm256.`), or
 *   it matches. Signature without well-formedness is an *unreadable* legacy value (a token cut
 *   short): `decrypt` fails it opaquely and `classifyLegacy` says "unreadable", so reads, jobs and
 *   status never take it for plaintext. A format whose signature is a shape rather than a prefix
 *   (versioned JSON) overrides it; one without a marker (raw AES-GCM) has no signature beyond
 *   `matches`, so a damaged value of it that no longer parses cannot be told from plaintext;
 * - `decrypt` passes SQL NULL through, refuses an oversized value (`ERR_VALUE_TOO_LARGE`) before any
 *   parsing, answers a value that does not parse with the one opaque `ERR_DECRYPTION_FAILED`, and
 *   returns the plaintext as the `output` option asks (zeroing the bytes it decoded from).
 *
 * @internal
 */
import { DecryptionFailed, InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import type { LegacyFormat, LegacyOutput, LegacyRow } from "./format.js";
import {
  checkMaxBytes,
  checkOutput,
  checkStoredSize,
  isOversized,
  oversizedMatches,
  RedactedFormat,
  startsWithPrefix,
  toOutput,
} from "./shared.js";

/** The options every decoder takes. */
export interface DecoderOptions {
  readonly output?: LegacyOutput | undefined;
  readonly maxBytes?: number | undefined;
}

/** `options` when it is an object, else `ERR_INVALID_OPTION` naming the factory (`fernetFormat`). */
export function decoderOptions<T>(options: T, factory: string): T & DecoderOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOption(`${factory} options must be an object (got ${describeType(options)})`);
  }
  return options as T & DecoderOptions;
}

export abstract class LegacyDecoder<Parsed> extends RedactedFormat implements LegacyFormat {
  abstract readonly textPrefixes: readonly string[] | undefined;
  readonly #output: LegacyOutput;
  readonly #maxBytes: number;

  protected constructor(options: DecoderOptions) {
    super();
    this.#output = checkOutput(options.output);
    this.#maxBytes = checkMaxBytes(options.maxBytes);
  }

  /** What `decrypt` returns: `"string"`, `"bytes"` or `"json"` (the `output` option). */
  get output(): LegacyOutput {
    return this.#output;
  }

  /** The parts of a value that is structurally this format, else null. Cheap; never decrypts. */
  protected abstract parse(stored: unknown): Parsed | null;
  /** The plaintext bytes of a parsed value; throws `ERR_DECRYPTION_FAILED` (or `ERR_KEY_NOT_FOUND`). */
  protected abstract open(parsed: Parsed, row: LegacyRow | undefined): Buffer;

  matches(stored: unknown): boolean {
    if (isOversized(stored, this.#maxBytes)) return oversizedMatches(stored, this.textPrefixes);
    return this.parse(stored) !== null;
  }

  hasSignature(stored: unknown): boolean {
    if (this.matches(stored)) return true;
    return this.textPrefixes !== undefined && startsWithPrefix(stored, this.textPrefixes);
  }

  decrypt(stored: unknown, row?: LegacyRow): unknown {
    if (stored === null) return null;
    checkStoredSize(stored, this.#maxBytes, this.name);
    const parsed = this.parse(stored);
    if (parsed === null) throw new DecryptionFailed();
    return toOutput(this.open(parsed, row), this.#output, this.name);
  }
}
