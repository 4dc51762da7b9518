/**
 * A root key in an HSM, through PKCS#11: `fieldcrypt/kms/pkcs11`. The AES-256 key stays on the
 * token; data keys are wrapped and unwrapped by the token with CKM_AES_GCM. Needs the optional peer
 * dependency `pkcs11js`, loaded on first use (importing this subpath loads nothing native).
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import type * as Pkcs11js from "pkcs11js";
import { InvalidKey, InvalidOption, isFieldcryptError } from "../errors/index.js";
import { lengthPrefixed } from "../internal/context.js";
import { describeType } from "../internal/describe-type.js";
import { KeyUnwrapFailed } from "./errors.js";
import {
  checkTokenOptions,
  failureName,
  type Handle,
  openToken,
  type Pkcs11Module,
  type Pkcs11TokenOptions,
  type TokenConnection,
  unavailable,
} from "./pkcs11-token.js";
import { ROOT_KEY_ID_RE, ROOT_KEY_ID_RULE, type RootKeyProvider } from "./provider.js";
import { wrappedBody, wrappedHeader } from "./wrapped-key.js";

export type { Pkcs11TokenOptions } from "./pkcs11-token.js";

/**
 * The wrapped form of the PKCS#11 provider:
 *
 *   "FCP" ‖ u8(1) ‖ u8(len(id)) ‖ id ‖ iv[12] ‖ CKM_AES_GCM(tokenKey, iv, dataKey, aad') ‖ tag[16]
 *   aad' = "fieldcrypt-v1-pkcs11-wrap" ‖ LP(header) ‖ LP(aad), header = every byte before the iv
 */
const DOMAIN = Buffer.from("fieldcrypt-v1-pkcs11-wrap", "latin1");
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_SESSIONS = 64;
/**
 * C_Decrypt results that mean "this wrapped key does not open". SoftHSM 2.6 reports a GCM tag
 * mismatch as CKR_GENERAL_ERROR; the spec's codes are the other two.
 */
const UNWRAP_FAILURES = new Set(["CKR_ENCRYPTED_DATA_INVALID", "CKR_ENCRYPTED_DATA_LEN_RANGE", "CKR_GENERAL_ERROR"]);

/** Options of {@link pkcs11RootKey}. */
export interface Pkcs11RootKeyOptions extends Pkcs11TokenOptions {
  /** Root key id stored next to every data key it wraps (safe to print, e.g. `"hsm-2026"`). */
  readonly id: string;
  /** CKA_LABEL of the AES-256 secret key on the token (create one with {@link generatePkcs11RootKey}). */
  readonly keyLabel: string;
  /**
   * Sessions opened on the token (default 1). A PKCS#11 session runs one operation at a time:
   * calls queue for a free session, so this is the number of token operations in flight.
   */
  readonly sessions?: number | undefined;
}

/** Options of {@link generatePkcs11RootKey}. */
export interface GeneratePkcs11RootKeyOptions extends Pkcs11TokenOptions {
  /** CKA_LABEL of the new key; must not be taken by another secret key on the token. */
  readonly keyLabel: string;
}

interface State {
  readonly conn: TokenConnection;
  readonly key: Handle;
  readonly idle: Handle[];
  readonly waiters: ((session: Handle | undefined) => void)[];
  closed: boolean;
  closing: Promise<void> | undefined;
  drained: (() => void) | undefined;
}

const states = new WeakMap<Pkcs11RootKey, State>();

function bytesArg(value: unknown, name: string): Buffer {
  if (!(value instanceof Uint8Array))
    throw new InvalidOption(`${name} must be a Uint8Array (got ${describeType(value)})`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function labelArg(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || Buffer.byteLength(value, "utf8") > 255) {
    throw new InvalidOption(`${name} must be a string of 1-255 bytes (got ${describeType(value)})`);
  }
  return value;
}

function gcm(mod: Pkcs11Module, iv: Buffer, aad: Buffer): Pkcs11js.Mechanism {
  return {
    mechanism: mod.CKM_AES_GCM,
    parameter: { type: mod.CK_PARAMS_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 } as Pkcs11js.IParams,
  };
}

/** A CK_ULONG or CK_BBOOL attribute value (native byte order). */
function numberValue(value: Buffer | undefined): number {
  if (value === undefined || value.length === 0) return -1;
  if (value.length >= 8) return Number(value.readBigUInt64LE(0));
  if (value.length >= 4) return value.readUInt32LE(0);
  return value[0] as number;
}

/** The secret AES keys labelled `label` on the token (at most 2: one too many is enough to know). */
function findKeys(mod: Pkcs11Module, p11: Pkcs11js.PKCS11, session: Handle, label: string): Handle[] {
  p11.C_FindObjectsInit(session, [
    { type: mod.CKA_CLASS, value: mod.CKO_SECRET_KEY },
    { type: mod.CKA_KEY_TYPE, value: mod.CKK_AES },
    { type: mod.CKA_LABEL, value: label },
  ]);
  try {
    return p11.C_FindObjects(session, 2);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

/**
 * A root key held by an HSM (any PKCS#11 token: SoftHSM2, a network HSM, a cloud HSM's PKCS#11
 * library). Create it with {@link pkcs11RootKey}; call {@link Pkcs11RootKey.close} on shutdown.
 * `inspect`, `toJSON` and `toString` show the ids and labels, never the PIN. Exported from
 * `fieldcrypt/kms/pkcs11`.
 *
 * Calls are queued on a small pool of sessions (`sessions`, default 1): a PKCS#11 session runs one
 * operation at a time, so concurrent `wrap`/`unwrap` calls (a root rotation makes hundreds) wait
 * for a free session rather than interleave. The token call itself runs off the event loop.
 */
export class Pkcs11RootKey implements RootKeyProvider {
  readonly id: string;
  readonly keyLabel: string;
  /** The library path and token (slot or label) — what to look for when the token is missing. */
  readonly token: string;
  readonly #header: Buffer;

  /** @internal Use {@link pkcs11RootKey}. */
  constructor(id: string, keyLabel: string, token: string, conn: TokenConnection, key: Handle) {
    this.id = id;
    this.keyLabel = keyLabel;
    this.token = token;
    this.#header = wrappedHeader("FCP", id);
    states.set(this, {
      conn,
      key,
      idle: [...conn.sessions],
      waiters: [],
      closed: false,
      closing: undefined,
      drained: undefined,
    });
    Object.freeze(this);
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const plain = bytesArg(dataKey, "dataKey");
    if (plain.length === 0) throw new InvalidOption("dataKey must not be empty");
    const context = bytesArg(aad, "aad");
    const iv = randomBytes(IV_BYTES);
    const mechanismAad = Buffer.concat([DOMAIN, lengthPrefixed([this.#header, context])]);
    const sealed = await this.#withSession(async (state, session) => {
      const { mod, p11 } = state.conn;
      try {
        p11.C_EncryptInit(session, gcm(mod, iv, mechanismAad), state.key);
      } catch (error) {
        throw unavailable(this.id, `C_EncryptInit: ${failureName(error)}`);
      }
      try {
        return await p11.C_EncryptAsync(session, plain, Buffer.alloc(plain.length + TAG_BYTES + 16));
      } catch (error) {
        throw unavailable(this.id, `C_Encrypt: ${failureName(error)}`);
      }
    });
    if (sealed.length !== plain.length + TAG_BYTES) {
      throw unavailable(this.id, `C_Encrypt returned ${sealed.length} bytes, not ${plain.length + TAG_BYTES}`);
    }
    return Buffer.concat([this.#header, iv, sealed]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const bytes = bytesArg(wrapped, "wrapped");
    const context = bytesArg(aad, "aad");
    const header = this.#header;
    wrappedBody(header, this.id, bytes, IV_BYTES + TAG_BYTES + 1);
    const iv = bytes.subarray(header.length, header.length + IV_BYTES);
    const sealed = bytes.subarray(header.length + IV_BYTES);
    const mechanismAad = Buffer.concat([DOMAIN, lengthPrefixed([header, context])]);
    return this.#withSession(async (state, session) => {
      const { mod, p11 } = state.conn;
      try {
        p11.C_DecryptInit(session, gcm(mod, Buffer.from(iv), mechanismAad), state.key);
      } catch (error) {
        throw unavailable(this.id, `C_DecryptInit: ${failureName(error)}`);
      }
      try {
        return await p11.C_DecryptAsync(session, Buffer.from(sealed), Buffer.alloc(sealed.length));
      } catch (error) {
        const name = failureName(error);
        if (UNWRAP_FAILURES.has(name)) throw new KeyUnwrapFailed(this.id);
        throw unavailable(this.id, `C_Decrypt: ${name}`);
      }
    });
  }

  /**
   * Waits for the calls in flight, then logs out (when no other provider of the process is logged
   * in to the token), closes the sessions and finalizes the library (when no other provider uses
   * it). Calls made after `close()` fail with `ERR_ROOT_KEY_UNAVAILABLE`. Idempotent.
   */
  close(): Promise<void> {
    const state = states.get(this) as State;
    if (state.closing !== undefined) return state.closing;
    state.closed = true;
    for (const waiter of state.waiters.splice(0)) waiter(undefined);
    state.closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        state.conn.close();
        resolve();
      };
      if (state.idle.length === state.conn.sessions.length) finish();
      else state.drained = finish;
    });
    return state.closing;
  }

  async #withSession<T>(call: (state: State, session: Handle) => Promise<T>): Promise<T> {
    const state = states.get(this) as State;
    let session = state.closed ? undefined : state.idle.pop();
    if (session === undefined && !state.closed) {
      session = await new Promise<Handle | undefined>((resolve) => state.waiters.push(resolve));
    }
    if (session === undefined) throw unavailable(this.id, "the provider was closed");
    try {
      return await call(state, session);
    } catch (error) {
      if (isFieldcryptError(error)) throw error;
      throw unavailable(this.id, failureName(error));
    } finally {
      const waiter = state.waiters.shift();
      if (waiter !== undefined) waiter(session);
      else {
        state.idle.push(session);
        if (state.drained !== undefined && state.idle.length === state.conn.sessions.length) state.drained();
      }
    }
  }

  toString(): string {
    return `Pkcs11RootKey(${this.id}, ${this.token}, key ${JSON.stringify(this.keyLabel)}, pin redacted)`;
  }

  toJSON(): { id: string; type: "pkcs11"; token: string; keyLabel: string; pin: "[redacted]" } {
    return { id: this.id, type: "pkcs11", token: this.token, keyLabel: this.keyLabel, pin: "[redacted]" };
  }

  [inspect.custom](): string {
    return `Pkcs11RootKey { id: ${JSON.stringify(this.id)}, token: ${JSON.stringify(this.token)}, keyLabel: ${JSON.stringify(this.keyLabel)}, pin: [redacted] }`;
  }
}

/**
 * Opens a root key held by a PKCS#11 token: loads the library, finds the token (by `tokenLabel` or
 * `slot`), opens `sessions` sessions, logs in with `pin`, and finds the AES-256 secret key labelled
 * `keyLabel`. The key must be 32 bytes, sensitive (its value cannot be read off the token) and
 * allowed to encrypt and decrypt. Exported from `fieldcrypt/kms/pkcs11`.
 *
 * Fails with `ERR_ROOT_KEY_UNAVAILABLE` (library, token, session or login failure, key not found;
 * the message names the root key id and the CKR_ code, never the PIN) or `ERR_INVALID_KEY` (the
 * key found is not a usable AES-256 key). Wrapping uses a random 96-bit IV from node:crypto: a
 * token that insists on generating GCM IVs itself (some in FIPS mode) is not supported.
 *
 * @example
 * ```ts
 * import { pkcs11RootKey } from "fieldcrypt/kms/pkcs11";
 * const root = await pkcs11RootKey({
 *   id: "hsm-2026",
 *   library: "/usr/lib/softhsm/libsofthsm2.so",
 *   tokenLabel: "fieldcrypt",
 *   pin: process.env.FIELDCRYPT_HSM_PIN!,
 *   keyLabel: "fieldcrypt-root-2026",
 * });
 * const keyring = await loadKeyring(pool, root, { scopes: [tenantId], cache });
 * // on shutdown
 * await root.close();
 * ```
 */
export async function pkcs11RootKey(options: Pkcs11RootKeyOptions): Promise<Pkcs11RootKey> {
  const token = checkTokenOptions(options, "pkcs11RootKey");
  const id = options.id;
  if (typeof id !== "string" || !ROOT_KEY_ID_RE.test(id)) {
    const got = typeof id === "string" ? `a string of ${id.length} characters` : describeType(id);
    throw new InvalidKey(`root key id must be ${ROOT_KEY_ID_RULE} (got ${got})`);
  }
  const keyLabel = labelArg(options.keyLabel, "options.keyLabel");
  const sessions = options.sessions ?? 1;
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > MAX_SESSIONS) {
    throw new InvalidOption(`options.sessions must be an integer from 1 to ${MAX_SESSIONS}`);
  }
  const conn = openToken(options, id, sessions, false);
  const { mod, p11 } = conn;
  const session = conn.sessions[0] as Handle;
  try {
    let found: Handle[];
    let attributes: Pkcs11js.Template;
    try {
      found = findKeys(mod, p11, session, keyLabel);
      attributes =
        found.length === 1
          ? p11.C_GetAttributeValue(session, found[0] as Handle, [
              { type: mod.CKA_VALUE_LEN },
              { type: mod.CKA_SENSITIVE },
              { type: mod.CKA_ENCRYPT },
              { type: mod.CKA_DECRYPT },
            ])
          : [];
    } catch (error) {
      throw unavailable(id, `finding key ${JSON.stringify(keyLabel)}: ${failureName(error)}`);
    }
    if (found.length === 0) throw unavailable(id, `no AES secret key labelled ${JSON.stringify(keyLabel)} on ${token}`);
    if (found.length > 1) {
      throw new InvalidKey(`root key ${JSON.stringify(id)}: several AES keys are labelled ${JSON.stringify(keyLabel)}`);
    }
    const [length, sensitive, encrypt, decrypt] = attributes.map((a) => numberValue(a.value as Buffer | undefined));
    if (length !== 32) {
      throw new InvalidKey(
        `root key ${JSON.stringify(id)}: key ${JSON.stringify(keyLabel)} must be AES-256 (32 bytes)`,
      );
    }
    if (sensitive !== 1) {
      throw new InvalidKey(
        `root key ${JSON.stringify(id)}: key ${JSON.stringify(keyLabel)} must be CKA_SENSITIVE (its value is readable)`,
      );
    }
    if (encrypt !== 1 || decrypt !== 1) {
      throw new InvalidKey(
        `root key ${JSON.stringify(id)}: key ${JSON.stringify(keyLabel)} must allow CKA_ENCRYPT and CKA_DECRYPT`,
      );
    }
    return new Pkcs11RootKey(id, keyLabel, `${options.library} ${token}`, conn, found[0] as Handle);
  } catch (error) {
    conn.close();
    throw error;
  }
}

/**
 * Generates an AES-256 root key on the token (CKM_AES_KEY_GEN), for setup scripts and tests: a
 * token object (CKA_TOKEN), private, sensitive and non-extractable (its value never leaves the
 * token, not even wrapped), usable for encrypt/decrypt only. Refuses a label already taken by a
 * secret key. Exported from `fieldcrypt/kms/pkcs11`.
 *
 * Security: a non-extractable key cannot be backed up off the token — losing the token (or its
 * SoftHSM token directory) loses every data key wrapped by it. Use the HSM's own replication or
 * backup, or keep a second root key and rewrap with `rotateRootKey`.
 *
 * @example
 * ```ts
 * import { generatePkcs11RootKey } from "fieldcrypt/kms/pkcs11";
 * await generatePkcs11RootKey({ library, tokenLabel: "fieldcrypt", pin, keyLabel: "fieldcrypt-root-2026" });
 * ```
 */
export async function generatePkcs11RootKey(options: GeneratePkcs11RootKeyOptions): Promise<void> {
  const token = checkTokenOptions(options, "generatePkcs11RootKey");
  const keyLabel = labelArg(options.keyLabel, "options.keyLabel");
  const conn = openToken(options, keyLabel, 1, true);
  const { mod, p11 } = conn;
  const session = conn.sessions[0] as Handle;
  try {
    let existing: Handle[];
    try {
      existing = findKeys(mod, p11, session, keyLabel);
    } catch (error) {
      throw unavailable(keyLabel, `C_FindObjects: ${failureName(error)}`);
    }
    if (existing.length > 0) {
      throw new InvalidOption(`an AES key labelled ${JSON.stringify(keyLabel)} already exists on ${token}`);
    }
    try {
      p11.C_GenerateKey(session, { mechanism: mod.CKM_AES_KEY_GEN }, [
        { type: mod.CKA_CLASS, value: mod.CKO_SECRET_KEY },
        { type: mod.CKA_KEY_TYPE, value: mod.CKK_AES },
        { type: mod.CKA_VALUE_LEN, value: 32 },
        { type: mod.CKA_LABEL, value: keyLabel },
        { type: mod.CKA_TOKEN, value: true },
        { type: mod.CKA_PRIVATE, value: true },
        { type: mod.CKA_SENSITIVE, value: true },
        { type: mod.CKA_EXTRACTABLE, value: false },
        { type: mod.CKA_ENCRYPT, value: true },
        { type: mod.CKA_DECRYPT, value: true },
        { type: mod.CKA_WRAP, value: false },
        { type: mod.CKA_UNWRAP, value: false },
      ]);
    } catch (error) {
      throw unavailable(keyLabel, `C_GenerateKey: ${failureName(error)}`);
    }
  } finally {
    conn.close();
  }
}
