/** Shared helpers of the fieldcrypt core tests (not a test file itself). */
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { type AlgorithmName, type CellContext, type CellValue, encrypt } from "../src/cell/index.js";
import { type ErrorCode, FieldcryptError, isFieldcryptError } from "../src/errors/index.js";
import { getFieldCipher } from "../src/internal/field-cipher.js";
import { AES_256_GCM } from "../src/internal/format.js";
import type { Keyring } from "../src/keyring/index.js";
import { KEY_STRING_PREFIX } from "../src/keyring/key-string.js";

/** The repository root: this file lives in packages/fieldcrypt/test. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** Standard vectors (Wycheproof, C2SP) shared by the workspace: a sibling of the repository. */
export const SHARED_VECTORS_DIR = resolve(REPO_ROOT, "../shared/vectors");
export const HAS_SHARED_VECTORS = existsSync(SHARED_VECTORS_DIR);

/**
 * Whether the tests run on CI (`CI` set, and not "", "false" or "0"). The one rule for every test
 * that needs something outside the repo (SoftHSM2, python3, the PostgreSQL server): on a
 * developer's machine its absence skips, saying why; on CI it is a failure, so nothing is skipped
 * unnoticed.
 */
export function onCi(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

/**
 * The one rule for a test that needs something outside the repository (python3 with
 * `cryptography`, SoftHSM2, the `age` CLI, shared vectors): present, it runs (returns true); absent
 * on CI ({@link onCi}), the test file fails at once with `what` and `howToGet`; absent elsewhere,
 * it skips (returns false) and says why on stderr. Only the PKCS#11 suite may skip on a machine
 * set up by the README; on CI nothing skips unnoticed.
 */
export function needs(available: boolean, what: string, howToGet: string): boolean {
  if (available) return true;
  if (onCi()) throw new Error(`${what} is missing on CI: ${howToGet}`);
  console.warn(`SKIPPED: ${what} is missing (${howToGet})`);
  return false;
}

/** 32 key bytes, every byte `fill` (deterministic test keys). */
export function keyBytes(fill: number): Buffer {
  return Buffer.alloc(32, fill);
}

/** The key string of 32 bytes. */
export function keyString(bytes: Uint8Array): string {
  return KEY_STRING_PREFIX + Buffer.from(bytes).toString("base64url");
}

/** encrypt() in a form chosen at run time (the overloads need a literal form to narrow the result). */
export function seal(
  keyring: Keyring,
  value: CellValue,
  context: CellContext,
  form: "text" | "binary",
  algorithm?: AlgorithmName,
): string | Buffer {
  return form === "binary"
    ? encrypt(keyring, value, context, { form, algorithm })
    : encrypt(keyring, value, context, { algorithm });
}

/**
 * A correctly sealed AES-256-GCM cell (the primary key of `context.scope`) around an arbitrary
 * payload under an arbitrary value type: what a faulty producer could write. Only the payload
 * decoder can refuse it.
 */
export function forgeCell(keyring: Keyring, context: CellContext, type: number, payload: Uint8Array): Buffer {
  const field = getFieldCipher(keyring.primary(context.scope), AES_256_GCM, context.table, context.column);
  const header = Buffer.from(field.header);
  header[3] = type;
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", field.gcmKey!, nonce);
  cipher.setAAD(field.aad(context.scope, type, context.rowKey));
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return Buffer.concat([header, nonce, ciphertext, cipher.getAuthTag()]);
}

/** Runs `fn` and returns what it threw; fails the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    return error;
  }
  throw new Error(`expected a throw, but the call returned ${typeof result}`);
}

/** What a test reads of a rejection: a fieldcrypt error's code and ids, or any other error. */
export type Failure = Error & { code?: string; rootKeyId?: string; cause?: unknown };

/** Awaits `promise` and returns its rejection; fails the test when it resolves. */
export async function rejection(promise: PromiseLike<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (error) {
    return error as Failure;
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** Runs `fn` (sync or async) and returns what it threw or rejected with; fails the test when it succeeds. */
export function caught(fn: () => unknown): Promise<Failure> {
  return rejection(Promise.resolve().then(fn));
}

/** Asserts that `error` is a fieldcrypt error with this code (and exact message, when given). */
export function assertFieldcryptError(error: unknown, code: ErrorCode, message?: string): FieldcryptError {
  expect(error).toBeInstanceOf(FieldcryptError);
  expect(isFieldcryptError(error, code)).toBe(true);
  const e = error as FieldcryptError;
  expect(e.code).toBe(code);
  if (message !== undefined) expect(e.message).toBe(message);
  return e;
}

/** Asserts that `fn` throws a fieldcrypt error with this code (and exact message, when given). */
export function expectThrows(fn: () => unknown, code: ErrorCode, message?: string): FieldcryptError {
  return assertFieldcryptError(thrown(fn), code, message);
}

/** The opaque decryption failure: exact code, exact message, no cause. */
export function assertOpaqueFailure(error: unknown): void {
  const e = assertFieldcryptError(error, "ERR_DECRYPTION_FAILED", "decryption failed");
  expect(e.name).toBe("DecryptionFailed");
  expect("cause" in e).toBe(false);
}
