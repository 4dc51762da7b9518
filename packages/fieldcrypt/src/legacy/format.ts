/**
 * The shape every legacy decoder has. Exported from `fieldcrypt/legacy`.
 *
 * @module
 */

/** A database row as the import job (or a transition-mode read) hands it to a decoder. */
export type LegacyRow = Readonly<Record<string, unknown>>;

/**
 * A legacy cell format that an import job (and transition-mode reads) can open: Fernet tokens,
 * raw AES-GCM cells, versioned JSON envelopes, @47ng/cloak strings. Made by
 * {@link fernetFormat}, {@link aesGcmFormat}, {@link versionedJsonFormat}, {@link cloakFormat}.
 * Exported from `fieldcrypt/legacy`.
 *
 * Failures to open a cell raise the one opaque `ERR_DECRYPTION_FAILED` (bad MAC or tag, wrong key,
 * bad padding, corrupt base64, bad version byte, expired TTL when enforced). A row that lacks a
 * column named in {@link LegacyFormat.rowColumns} raises `ERR_INVALID_CONTEXT`; a key version or
 * fingerprint that is not configured raises `ERR_KEY_NOT_FOUND` naming it.
 *
 * @example
 * ```ts
 * import { fernetFormat } from "fieldcrypt/legacy";
 * const fernet = fernetFormat({ key: process.env.FERNET_KEY! });
 * if (fernet.matches(row.note)) plaintext = fernet.decrypt(row.note, row);
 * ```
 */
export interface LegacyFormat {
  /** `"fernet"`, `"aes-gcm"`, `"versioned-json"` or `"cloak"`. Safe to print. */
  readonly name: string;
  /** Other columns of the row the format needs (e.g. `["user_id"]` or `["salt"]`); `[]` when none. */
  readonly rowColumns: readonly string[];
  /**
   * Text every stored value of this format starts with (one of them), so SQL alone can count
   * legacy values (`fieldcrypt status`); absent for a format without a marker (raw AES-GCM).
   */
  readonly textPrefixes?: readonly string[] | undefined;
  /**
   * Cheap structural check: is this stored value (string or Uint8Array, from `text` or `bytea`) a
   * well-formed value of this format, one that `decrypt` parses? It never decrypts. A format
   * without a marker (raw AES-GCM) matches any value long enough, so test fieldcrypt cells first.
   */
  matches(stored: unknown): boolean;
  /**
   * Cheaper still: does this stored value carry the format's signature — the marker every value of
   * the format starts with (Fernet's `gAAAAA`, cloak's `v1.aesgcm256.`; for versioned JSON, an
   * object naming both envelope fields) — well-formed or not? True whenever `matches` is. A value
   * with the signature that does not match is *unreadable*: `decrypt` fails it with
   * `ERR_DECRYPTION_FAILED`, and no job or read takes it for plaintext ({@link classifyLegacy}).
   * A format without a marker (raw AES-GCM) has no signature beyond `matches`. Optional for formats
   * written outside fieldcrypt: without it, `matches` stands in.
   */
  hasSignature?(stored: unknown): boolean;
  /**
   * Optional: derives and caches the keys a batch of rows needs, up front and off the main thread
   * (PBKDF2 on the libuv threadpool). Never throws for one bad row: that row fails in `decrypt`.
   */
  prepare?(rows: readonly LegacyRow[]): Promise<void>;
  /**
   * What `decrypt` returns (the `output` option of the fieldcrypt decoders), so that a column
   * declared with another value type is refused when it is made, not row by row. Optional for
   * formats written outside fieldcrypt.
   */
  readonly output?: LegacyOutput | undefined;
  /**
   * The plaintext of one legacy cell as the column's value: a string by default, or bytes / parsed
   * JSON per the format's `output` option. Synchronous.
   */
  decrypt(stored: unknown, row?: LegacyRow): unknown;
}

/**
 * What a stored value is to a column's legacy format: `"legacy"` (well-formed: `matches`),
 * `"unreadable"` (carries the signature but does not parse: a cut-short or damaged legacy value)
 * or `"other"` (no signature: plaintext, or a fieldcrypt cell).
 */
export type LegacyClass = "legacy" | "unreadable" | "other";

/** What a decoder returns: `"string"` (UTF-8, the default), `"bytes"` (Uint8Array) or `"json"` (parsed). */
export type LegacyOutput = "string" | "bytes" | "json";
