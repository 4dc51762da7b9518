/**
 * Token plumbing of the PKCS#11 provider (not reachable from any `exports` entry): loading
 * `pkcs11js` lazily, one initialized library per path shared by every provider of the process,
 * finding a slot, opening sessions, logging in, naming PKCS#11 failures.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createRequire } from "node:module";
import type * as Pkcs11js from "pkcs11js";
import { InvalidOption, isFieldcryptError, safeErrorName } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { RootKeyUnavailable } from "./errors.js";

export type Pkcs11Module = typeof Pkcs11js;
export type Handle = Buffer;

/** Where the token is: a PKCS#11 library and either a slot id or a token label. */
export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 library (`.so`), e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  readonly library: string;
  /** The slot id (as `softhsm2-util --show-slots` or `pkcs11-tool -L` print it). Give this or `tokenLabel`. */
  readonly slot?: number | bigint | undefined;
  /** The token label (CKA_LABEL of the token, without its space padding). Give this or `slot`. */
  readonly tokenLabel?: string | undefined;
  /** The user PIN. Used to log in once, then dropped; never printed. */
  readonly pin: string;
}

interface Library {
  readonly p11: Pkcs11js.PKCS11;
  /** False when someone else in the process had initialized the library: we never finalize it. */
  readonly owned: boolean;
  refs: number;
  /** Per slot: how many of our openers are logged in, and a keyed hash of the PIN they used. */
  readonly logins: Map<string, { count: number; pinMac: Buffer }>;
}

const libraries = new Map<string, Library>();
/** Keys the in-memory PIN hashes (to check a second login on an already logged-in token). */
const PIN_MAC_KEY = randomBytes(32);

let loaded: Pkcs11Module | undefined;

/** The `pkcs11js` module, required on first use only (an optional peer dependency). */
export function pkcs11js(rootKeyId: string): Pkcs11Module {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)("pkcs11js") as Pkcs11Module;
  } catch {
    throw new RootKeyUnavailable(
      rootKeyId,
      `root key ${JSON.stringify(rootKeyId)} is unavailable (the optional peer dependency pkcs11js is not installed: npm install pkcs11js)`,
    );
  }
  return loaded;
}

/** The CKR_ name of a PKCS#11 failure, else the error's class name (never its message). */
export function failureName(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown } | null;
  if (typeof e?.message === "string" && /^CKR_[A-Z0-9_]{1,60}$/.test(e.message)) return e.message;
  return safeErrorName(e?.name) ?? "error";
}

export function unavailable(rootKeyId: string, what: string): RootKeyUnavailable {
  return new RootKeyUnavailable(rootKeyId, `root key ${JSON.stringify(rootKeyId)} is unavailable (${what})`);
}

/** Validates the token part of the options; returns a printable description of the token. */
export function checkTokenOptions(options: Pkcs11TokenOptions, name: string): string {
  if (options === null || typeof options !== "object") {
    throw new InvalidOption(`${name} needs an options object (got ${describeType(options)})`);
  }
  if (typeof options.library !== "string" || options.library.length === 0) {
    throw new InvalidOption(`${name} needs options.library, the path of the PKCS#11 library`);
  }
  const hasSlot = options.slot !== undefined;
  const hasLabel = options.tokenLabel !== undefined;
  if (hasSlot === hasLabel) throw new InvalidOption(`${name} needs exactly one of options.slot and options.tokenLabel`);
  if (hasSlot) {
    const slot = options.slot;
    const ok =
      (typeof slot === "number" && Number.isSafeInteger(slot) && slot >= 0) || (typeof slot === "bigint" && slot >= 0n);
    if (!ok) throw new InvalidOption(`options.slot must be a non-negative integer (got ${describeType(slot)})`);
  } else if (typeof options.tokenLabel !== "string" || options.tokenLabel.length === 0) {
    throw new InvalidOption(`options.tokenLabel must be a non-empty string (got ${describeType(options.tokenLabel)})`);
  }
  // The PIN is described by type only, never echoed.
  if (typeof options.pin !== "string" || options.pin.length === 0) {
    throw new InvalidOption(`${name} needs options.pin, a non-empty string (got ${describeType(options.pin)})`);
  }
  return hasSlot ? `slot ${String(options.slot)}` : `token ${JSON.stringify(options.tokenLabel)}`;
}

function acquireLibrary(mod: Pkcs11Module, path: string, rootKeyId: string): Library {
  const existing = libraries.get(path);
  if (existing !== undefined) {
    existing.refs++;
    return existing;
  }
  const p11 = new mod.PKCS11();
  try {
    p11.load(path);
  } catch {
    throw unavailable(rootKeyId, `cannot load the PKCS#11 library ${JSON.stringify(path)}`);
  }
  let owned = true;
  try {
    // The token calls run on libuv's thread pool: the library must lock for itself.
    p11.C_Initialize({ flags: mod.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (failureName(error) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") {
      throw unavailable(rootKeyId, `C_Initialize: ${failureName(error)}`);
    }
    owned = false;
  }
  const library: Library = { p11, owned, refs: 1, logins: new Map() };
  libraries.set(path, library);
  return library;
}

function releaseLibrary(path: string, library: Library): void {
  library.refs--;
  if (library.refs > 0 || libraries.get(path) !== library) return;
  libraries.delete(path);
  if (!library.owned) return;
  try {
    library.p11.C_Finalize();
  } catch {
    // Already finalized or the device is gone: nothing left to release.
  }
}

/** The numeric value of a slot handle (a CK_ULONG in native byte order). */
function slotValue(handle: Handle): bigint {
  return handle.length >= 8 ? handle.readBigUInt64LE(0) : BigInt(handle.readUInt32LE(0));
}

/** An open, logged-in connection to one token: the sessions of one opener. */
export interface TokenConnection {
  readonly mod: Pkcs11Module;
  readonly p11: Pkcs11js.PKCS11;
  readonly sessions: readonly Handle[];
  /** Logs out (when this is the last opener logged in on the slot), closes the sessions, releases the library. */
  close(): void;
}

/**
 * Loads the library, finds the token, opens `sessionCount` sessions and logs the user in. Every
 * failure is a RootKeyUnavailable naming the root key id and the CKR_ code, never the PIN.
 */
export function openToken(
  options: Pkcs11TokenOptions,
  rootKeyId: string,
  sessionCount: number,
  readWrite: boolean,
): TokenConnection {
  const mod = pkcs11js(rootKeyId);
  const library = acquireLibrary(mod, options.library, rootKeyId);
  const { p11 } = library;
  const sessions: Handle[] = [];
  let slotKey: string | undefined;
  let step = "C_GetSlotList";
  const cleanUp = (): void => {
    for (const session of sessions) {
      try {
        p11.C_CloseSession(session);
      } catch {
        // The session is gone already.
      }
    }
    releaseLibrary(options.library, library);
  };
  try {
    const slots = p11.C_GetSlotList(true);
    let slot: Handle | undefined;
    if (options.tokenLabel !== undefined) {
      step = "C_GetTokenInfo";
      slot = slots.find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === options.tokenLabel);
      if (slot === undefined) {
        cleanUp();
        throw unavailable(rootKeyId, `no token labelled ${JSON.stringify(options.tokenLabel)}`);
      }
    } else {
      const wanted = BigInt(options.slot as number | bigint);
      slot = slots.find((s) => slotValue(s) === wanted);
      if (slot === undefined) {
        cleanUp();
        throw unavailable(rootKeyId, `no token in slot ${String(options.slot)}`);
      }
    }
    slotKey = slot.toString("hex");
    step = "C_OpenSession";
    const flags = mod.CKF_SERIAL_SESSION | (readWrite ? mod.CKF_RW_SESSION : 0);
    for (let i = 0; i < sessionCount; i++) sessions.push(p11.C_OpenSession(slot, flags));
    step = "C_Login";
    const pinMac = createHmac("sha256", PIN_MAC_KEY).update(options.pin, "utf8").digest();
    const login = library.logins.get(slotKey);
    try {
      p11.C_Login(sessions[0] as Handle, mod.CKU_USER, options.pin);
    } catch (error) {
      if (failureName(error) !== "CKR_USER_ALREADY_LOGGED_IN") throw error;
      // Login state is per token and process: a second opener is not checked by the token, so
      // compare with the PIN our first opener logged in with.
      if (login !== undefined && !timingSafeEqual(login.pinMac, pinMac)) {
        cleanUp();
        throw unavailable(rootKeyId, "C_Login: CKR_PIN_INCORRECT");
      }
    }
    if (login === undefined) library.logins.set(slotKey, { count: 1, pinMac });
    else login.count++;
  } catch (error) {
    if (isFieldcryptError(error)) throw error;
    cleanUp();
    throw unavailable(rootKeyId, `${step}: ${failureName(error)}`);
  }
  let closed = false;
  return {
    mod,
    p11,
    sessions,
    close() {
      if (closed) return;
      closed = true;
      const login = library.logins.get(slotKey as string);
      if (login !== undefined && --login.count === 0) {
        library.logins.delete(slotKey as string);
        try {
          p11.C_Logout(sessions[0] as Handle);
        } catch {
          // Not logged in any more (the token logged everyone out, say).
        }
      }
      cleanUp();
    },
  };
}
