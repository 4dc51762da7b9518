/**
 * Blind indexes: search encrypted columns by equality, without decrypting. `fieldcrypt/blind-index`.
 *
 * A blind index is a keyed HMAC-SHA256 of a normalized value, stored in its own indexed column next
 * to the encrypted one (normative text: spec/blind-index-v1.md):
 *
 *   indexKey = HKDF-SHA256(IKM = key, salt = "", info = "fieldcrypt-v1-blind-index" ‖ LP(table) ‖ LP(column), 32)
 *   value    = "bi1:" ‖ keyId ‖ ":" ‖ base64url( HMAC-SHA256(indexKey, LP(scope) ‖ UTF-8(normalize(v)))[0:bytes] )
 *
 * **What it leaks:** whoever reads the database learns which rows of one scope hold equal values
 * in that column (and, with few `bytes`, which may). Rows of different scopes never compare equal.
 * Index only columns the app must search; never a low-cardinality column (booleans, a 'status').
 *
 * @module
 */
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { InvalidOption, UnsupportedValue } from "../errors/index.js";
import { contextBytes, lengthPrefixed } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { hkdfSha256 } from "../internal/hkdf.js";
import { getKeyMaterial } from "../internal/key-material.js";
import type { Key } from "../keyring/key.js";
import type { Keyring } from "../keyring/keyring.js";

/** A normalization step: a built-in by name, or your own function (it must be deterministic). */
export type Normalizer = "trim" | "lowercase" | "collapse-whitespace" | "nfc" | "nfkc" | ((value: string) => string);

/** Options of {@link createBlindIndex}. */
export interface BlindIndexOptions {
  /** The table of the encrypted column, as in its cell context. */
  readonly table: string;
  /** The encrypted column the index serves (not the index column's own name). */
  readonly column: string;
  /** Applied in order before hashing. Default `["nfc"]`. E-mail: `["trim", "lowercase", "nfc"]`. */
  readonly normalize?: readonly Normalizer[] | undefined;
  /** Bytes of the HMAC kept, 4–32 (default 16). Fewer bytes give deliberate false positives. */
  readonly bytes?: number | undefined;
}

/** A blind index bound to a keyring, a table and a column. */
export interface BlindIndex {
  /** The index value under the scope's primary key: what to store when writing the row. */
  compute(value: string, scope?: string): string;
  /**
   * The index values under every key of the scope (primary and decrypt-only), for queries:
   * `WHERE email_bidx = ANY($1)` matches rows written before and after a key rotation.
   */
  candidates(value: string, scope?: string): string[];
}

const INFO_LABEL = Buffer.from("fieldcrypt-v1-blind-index", "latin1");
const PREFIX = "bi1:";
const EMPTY = Buffer.alloc(0);

const BUILT_IN = new Map<string, (value: string) => string>([
  ["trim", (v) => v.trim()],
  ["lowercase", (v) => v.toLowerCase()],
  ["collapse-whitespace", (v) => v.replace(/\s+/g, " ")],
  ["nfc", (v) => v.normalize("NFC")],
  ["nfkc", (v) => v.normalize("NFKC")],
]);

/**
 * Creates a blind index for one encrypted column. Exported from `fieldcrypt/blind-index`.
 *
 * Security: a blind index leaks equality within a scope — see the module documentation.
 *
 * @example
 * ```ts
 * import { createBlindIndex } from "fieldcrypt/blind-index";
 * const emailIndex = createBlindIndex(keyring, { table: "patients", column: "email", normalize: ["trim", "lowercase", "nfc"] });
 * await sql`INSERT INTO patients (email, email_bidx) VALUES (${cell}, ${emailIndex.compute(email, clinicId)})`;
 * await sql`SELECT * FROM patients WHERE email_bidx = ANY(${emailIndex.candidates(email, clinicId)})`;
 * ```
 */
export function createBlindIndex(keyring: Keyring, options: BlindIndexOptions): BlindIndex {
  const table = contextBytes(options.table, "table");
  const column = contextBytes(options.column, "column");
  const bytes = options.bytes ?? 16;
  if (!Number.isInteger(bytes) || bytes < 4 || bytes > 32) {
    throw new InvalidOption("blind index bytes must be an integer from 4 to 32");
  }
  const normalize = options.normalize ?? ["nfc"];
  if (!Array.isArray(normalize)) throw new InvalidOption("blind index normalize must be an array of normalizers");
  const steps = normalize.map((step: unknown) => {
    if (typeof step === "function") return step as (value: string) => string;
    const fn = typeof step === "string" ? BUILT_IN.get(step) : undefined;
    if (fn === undefined) {
      throw new InvalidOption(`unknown normalizer (expected ${[...BUILT_IN.keys()].join(", ")} or a function)`);
    }
    return fn;
  });
  const info = Buffer.concat([INFO_LABEL, lengthPrefixed([table, column])]);
  const indexKeys = new WeakMap<Key, KeyObject>();

  const indexKey = (key: Key): KeyObject => {
    let k = indexKeys.get(key);
    if (k === undefined) {
      const material = getKeyMaterial(key);
      if (material === undefined) throw new TypeError("not a fieldcrypt Key");
      const raw = hkdfSha256(material, EMPTY, info, 32);
      k = createSecretKey(raw);
      raw.fill(0);
      indexKeys.set(key, k);
    }
    return k;
  };

  const message = (value: unknown, scope: string | undefined): Buffer => {
    if (typeof value !== "string") {
      throw new UnsupportedValue(`a blind index takes a string (got ${describeType(value)})`);
    }
    if (!value.isWellFormed())
      throw new UnsupportedValue("a blind index value must be well-formed UTF-16 (lone surrogate)");
    let normalized: unknown = value;
    for (const step of steps) {
      normalized = step(normalized as string);
      if (typeof normalized !== "string" || !normalized.isWellFormed()) {
        throw new UnsupportedValue("a normalizer returned something other than a well-formed string");
      }
    }
    const scopeBytes = scope === undefined ? EMPTY : contextBytes(scope, "scope");
    return Buffer.concat([lengthPrefixed([scopeBytes]), Buffer.from(normalized as string, "utf8")]);
  };

  const mac = (key: Key, input: Buffer): string =>
    `${PREFIX}${key.id}:${createHmac("sha256", indexKey(key)).update(input).digest().subarray(0, bytes).toString("base64url")}`;

  return {
    compute(value, scope) {
      const input = message(value, scope);
      return mac(keyring.primary(scope), input);
    },
    candidates(value, scope) {
      const input = message(value, scope);
      return keysServing(keyring, scope).map((key) => mac(key, input));
    },
  };
}

/** The keys that seal cells of `scope`: its own keys if it has any, else the shared keys. */
function keysServing(keyring: Keyring, scope: string | undefined): Key[] {
  const all = keyring.list();
  const own = scope === undefined ? [] : all.filter((k) => k.scope === scope);
  const chosen = own.length > 0 ? own : all.filter((k) => k.scope === undefined);
  // Primary first: the common case of a query hits the newest rows.
  chosen.sort((a, b) => (a.state === "primary" ? -1 : b.state === "primary" ? 1 : 0));
  return chosen.map((k) => keyring.get(k.id) as Key);
}
