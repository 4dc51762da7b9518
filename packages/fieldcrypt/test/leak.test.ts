/**
 * Leak test: canary plaintext, canary key bytes (and key string), canary scope and row-key values
 * go through every error path of the library; no message, stack, String(), inspect(), JSON or
 * cause of any error, and no rendering of a Key or Keyring, may contain a canary in plain text,
 * hex, base64 or base64url.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CellContext, decrypt, encrypt, inspectCell } from "../src/cell/index.js";
import { type ErrorCode, isFieldcryptError } from "../src/errors/index.js";
import { exportInsecureKeyBytes } from "../src/insecure/key-material.js";
import { createKeyring, type Key, loadKeyringFile, loadKeyringFromEnv } from "../src/keyring/index.js";
import { forgeCell, keyBytes, keyString, rejection, thrown } from "./helpers.js";

// Every canary contains "CANARY", and the test searches case-insensitively for "canary" too; the
// encoded forms of the key bytes are searched separately. Nothing in this file that could end up in
// a stack trace (function names, paths) contains the word.
const CANARY_PLAINTEXT = "CANARY-PLAINTEXT-5eb1d4";
const CANARY_KEY = Buffer.from("CANARY-KEY-BYTES-5eb1d4-01234567", "latin1");
const CANARY_KEY_STRING = keyString(CANARY_KEY);
const CANARY_SCOPE = "CANARY-SCOPE-77a0c3";
const CANARY_ROW = "CANARY-ROWKEY-91d2e8";
const CANARY_SECRET_TEXT = "CANARY-SECRET-3f9b";

/** Encodings of secret bytes that must never appear: hex windows and base64(url) at every alignment. */
function encodedForms(secret: Buffer): string[] {
  const forms = new Set<string>([secret.toString("hex"), secret.toString("hex").toUpperCase()]);
  for (let i = 0; i + 8 <= secret.length; i++) {
    const window = secret.subarray(i, i + 8).toString("hex");
    forms.add(window);
    forms.add(window.toUpperCase());
  }
  for (let shift = 0; shift < 3; shift++) {
    const shifted = Buffer.concat([Buffer.alloc(shift), secret]);
    for (const encoding of ["base64", "base64url"] as const) {
      const text = shifted.toString(encoding);
      // Characters 4.. come only from secret bytes (the zero prefix sits in the first group).
      forms.add(text.slice(4, 4 + Math.floor(((secret.length - 3) * 4) / 3) - 4));
    }
  }
  forms.add(secret.toString("base64"));
  forms.add(secret.toString("base64url"));
  return [...forms].filter((f) => f.length >= 12);
}

const FORBIDDEN: readonly string[] = [
  CANARY_PLAINTEXT,
  CANARY_KEY.toString("latin1"),
  CANARY_KEY_STRING,
  CANARY_SCOPE,
  CANARY_ROW,
  CANARY_SECRET_TEXT,
  ...encodedForms(CANARY_KEY),
  ...encodedForms(Buffer.from(CANARY_PLAINTEXT)),
];

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch (error) {
    return `<JSON.stringify threw ${(error as Error).name}>`;
  }
}

/** Every rendering of a thrown value: message, stack, String(), inspect(), JSON, own properties, causes. */
function renderThrown(value: unknown, depth = 0): string[] {
  const out = [String(value), inspect(value, { depth: 10, showHidden: true }), safeJson(value)];
  if (typeof value === "object" && value !== null) {
    const e = value as Error & { cause?: unknown };
    out.push(String(e.message), String(e.stack));
    for (const name of Object.getOwnPropertyNames(value)) {
      const v = (value as Record<string, unknown>)[name];
      if (typeof v === "string") out.push(v);
    }
    if ("cause" in e && depth < 5) out.push(...renderThrown(e.cause, depth + 1));
  }
  return out;
}

/** Every rendering of a Key or Keyring object. */
function renderObject(value: unknown): string[] {
  return [
    inspect(value),
    inspect(value, { depth: 10, showHidden: true }),
    inspect({ wrapped: [value] }, { depth: 10, showHidden: true }),
    safeJson(value),
    safeJson({ wrapped: value }),
    String(value),
    `${value}`,
  ];
}

/** Renderings already checked: thousands of tamper errors share a few distinct texts. */
const checked = new Set<string>();

function expectNoCanary(texts: readonly string[], label: string): void {
  for (const text of texts) {
    if (checked.has(text)) continue;
    if (text.toLowerCase().includes("canary"))
      expect.fail(`${label}: a canary in ${JSON.stringify(text.slice(0, 300))}`);
    const form = FORBIDDEN.find((f) => text.includes(f));
    if (form !== undefined) expect.fail(`${label}: the secret form ${form} in ${JSON.stringify(text.slice(0, 300))}`);
    checked.add(text);
  }
}

/** The error paths: each throws (or rejects) with the given code, and must not leak. */
type Expected = ErrorCode | "TypeError" | "ENOENT";
interface LeakCase {
  readonly what: string;
  readonly run: () => unknown;
  readonly expected: Expected;
}

const keyring = createKeyring([
  { id: "v0", secret: keyBytes(0x30) },
  { id: "v1", secret: CANARY_KEY_STRING, primary: true },
  { id: "ta1", secret: CANARY_KEY, scope: "tenant-a", primary: true },
]);
const ctx: CellContext = { scope: CANARY_SCOPE, table: "clinic_notes", column: "body", rowKey: [CANARY_ROW, 42] };
const ctxA: CellContext = { ...ctx, scope: "tenant-a" };
const textCell = encrypt(keyring, CANARY_PLAINTEXT, ctx);
const binaryCell = encrypt(keyring, CANARY_PLAINTEXT, ctx, { form: "binary" });
const aesCell = encrypt(keyring, CANARY_PLAINTEXT, ctx, { algorithm: "AES-256-GCM" });
const jsonCell = encrypt(keyring, { note: CANARY_PLAINTEXT, [CANARY_PLAINTEXT]: [1, 2] }, ctx);
const bytesCell = encrypt(keyring, Buffer.from(CANARY_PLAINTEXT), ctx, { form: "binary" });
const scopedCell = encrypt(keyring, CANARY_PLAINTEXT, ctxA);
const wrongKey = createKeyring([{ id: "v1", secret: keyBytes(0x99), primary: true }]);
const otherIds = createKeyring([{ id: "v2", secret: CANARY_KEY, primary: true }]);
const onlyScoped = createKeyring([{ id: "ta1", secret: CANARY_KEY, scope: "tenant-a", primary: true }]);

// The sealed parts of the canary cells must not be echoed either (no ciphertext in messages).
const CELL_FORMS = [textCell, aesCell, jsonCell].flatMap((c) => [c, c.slice(20, 60)]);
const BINARY_FORMS = [binaryCell, bytesCell].flatMap((c) => [
  c.toString("hex").slice(60),
  c.toString("base64url").slice(20),
]);

const checkedForCells = new Set<string>();

function expectNoCellEcho(texts: readonly string[], label: string): void {
  for (const text of texts) {
    if (checkedForCells.has(text)) continue;
    const form = [...CELL_FORMS, ...BINARY_FORMS].find((f) => text.includes(f));
    if (form !== undefined) expect.fail(`${label}: a cell's ciphertext in ${JSON.stringify(text.slice(0, 300))}`);
    checkedForCells.add(text);
  }
}

class PatientRecord {
  readonly note = CANARY_PLAINTEXT;
}
function cyclicWithCanary(): Record<string, unknown> {
  const o: Record<string, unknown> = { [CANARY_PLAINTEXT]: CANARY_PLAINTEXT, nested: { secret: CANARY_PLAINTEXT } };
  (o.nested as Record<string, unknown>)[`${CANARY_PLAINTEXT}-back`] = o;
  return o;
}
const hugeScope = `${CANARY_SCOPE}-`.repeat(100);
const noRowContext = { scope: CANARY_SCOPE, table: "clinic_notes", column: "body" };

const decryptCases: LeakCase[] = [
  {
    what: "decrypt with the wrong key material",
    run: () => decrypt(wrongKey, textCell, ctx),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt binary with the wrong key material",
    run: () => decrypt(wrongKey, binaryCell, ctx),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt AES-256-GCM with the wrong key",
    run: () => decrypt(wrongKey, aesCell, ctx),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt JSON with the wrong key",
    run: () => decrypt(wrongKey, jsonCell, ctx),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt in another scope",
    run: () => decrypt(keyring, textCell, { ...ctx, scope: `${CANARY_SCOPE}x` }),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt without the scope",
    run: () => decrypt(keyring, textCell, { ...ctx, scope: undefined }),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt in another row",
    run: () => decrypt(keyring, textCell, { ...ctx, rowKey: [42, CANARY_ROW] }),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt without the row key",
    run: () => decrypt(keyring, textCell, noRowContext),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt in another table",
    run: () => decrypt(keyring, textCell, { ...ctx, table: "other" }),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt in another column",
    run: () => decrypt(keyring, bytesCell, { ...ctx, column: "other" }),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt a scoped cell in the canary scope",
    run: () => decrypt(keyring, scopedCell, ctx),
    expected: "ERR_DECRYPTION_FAILED",
  },
  {
    what: "decrypt with a keyring lacking the key id",
    run: () => decrypt(otherIds, textCell, ctx),
    expected: "ERR_KEY_NOT_FOUND",
  },
  {
    what: "decrypt the canary plaintext as a cell",
    run: () => decrypt(keyring, CANARY_PLAINTEXT, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt fc1.<canary>",
    run: () => decrypt(keyring, `fc1.${CANARY_PLAINTEXT}`, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt fc1.<base64url canary>",
    run: () => decrypt(keyring, `fc1.${Buffer.from(CANARY_PLAINTEXT).toString("base64url")}`, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt canary bytes",
    run: () => decrypt(keyring, Buffer.from(CANARY_PLAINTEXT), ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt the key bytes as a cell",
    run: () => decrypt(keyring, CANARY_KEY, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt the key string as a cell",
    run: () => decrypt(keyring, CANARY_KEY_STRING, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt a cell with whitespace and the canary appended",
    run: () => decrypt(keyring, `${textCell} ${CANARY_PLAINTEXT}`, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "decrypt an object holding the canary",
    run: () => decrypt(keyring, { cell: CANARY_PLAINTEXT } as never, ctx),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "inspectCell of the canary plaintext",
    run: () => inspectCell(CANARY_PLAINTEXT),
    expected: "ERR_INVALID_CELL",
  },
  {
    what: "inspectCell of a truncated canary cell",
    run: () => inspectCell(binaryCell.subarray(0, 30)),
    expected: "ERR_INVALID_CELL",
  },
  ...(
    [
      ["truncated JSON", 3, Buffer.from(`{"${CANARY_PLAINTEXT}": "${CANARY_PLAINTEXT}`)],
      ["JSON with a bad token", 3, Buffer.from(`{"note": ${CANARY_PLAINTEXT}}`)],
      ["a JSON string", 3, Buffer.from(JSON.stringify(CANARY_PLAINTEXT))],
      ["JSON that is not UTF-8", 3, Buffer.concat([Buffer.from(`["${CANARY_PLAINTEXT}`), Buffer.of(0xff, 0x22, 0x5d)])],
      ["a string that is not UTF-8", 1, Buffer.concat([Buffer.from(CANARY_PLAINTEXT), Buffer.of(0xc3)])],
      ["a bigint payload of text", 5, Buffer.from(CANARY_PLAINTEXT)],
      ["a boolean payload of text", 6, Buffer.from(CANARY_PLAINTEXT)],
      ["a number payload of text", 4, Buffer.from(CANARY_PLAINTEXT)],
      ["a date payload of text", 7, Buffer.from(CANARY_PLAINTEXT)],
    ] as const
  ).map(
    ([what, type, payload]): LeakCase => ({
      what: `decrypt a well-sealed cell holding ${what}`,
      run: () => decrypt(keyring, forgeCell(keyring, noRowContext, type, payload), noRowContext),
      expected: "ERR_INVALID_CELL",
    }),
  ),
  {
    what: "decrypt a scoped cell with an object scope holding the canary",
    run: () => decrypt(keyring, scopedCell, { ...ctxA, scope: { tenant: CANARY_SCOPE } as never }),
    expected: "ERR_INVALID_CONTEXT",
  },
  {
    what: "decrypt a scoped cell with an oversized canary scope",
    run: () => decrypt(keyring, scopedCell, { ...ctxA, scope: hugeScope }),
    expected: "ERR_INVALID_CONTEXT",
  },
];

/** Invalid contexts holding canaries, for encrypt and decrypt alike. */
const badContexts: [string, unknown][] = [
  ["a scope over 1024 bytes holding the canary", { ...ctx, scope: hugeScope }],
  ["a scope over 1024 bytes, no row key", { ...noRowContext, scope: hugeScope }],
  ["a scope with a lone surrogate", { ...ctx, scope: `${CANARY_SCOPE}\uD800` }],
  ["a scope that is an object holding the canary", { ...ctx, scope: { tenant: CANARY_SCOPE } }],
  ["a scope that is an array of canaries", { ...noRowContext, scope: [CANARY_SCOPE] }],
  ["a table over 1024 bytes holding the canary", { ...ctx, table: hugeScope }],
  ["a column with a lone surrogate", { ...ctx, column: `\uDC00${CANARY_SCOPE}` }],
  ["a table that is an object", { ...ctx, table: { name: CANARY_SCOPE } }],
  ["17 canary row-key parts", { ...ctx, rowKey: Array.from({ length: 17 }, () => CANARY_ROW) }],
  ["a row-key part over 1024 bytes", { ...ctx, rowKey: [CANARY_ROW.repeat(100)] }],
  ["a row-key part with a lone surrogate", { ...ctx, rowKey: [`${CANARY_ROW}\uD800`] }],
  ["a float row key next to the canary", { ...ctx, rowKey: [CANARY_ROW, 1.5] }],
  ["a row-key part that is an object", { ...ctx, rowKey: [{ id: CANARY_ROW }] }],
  ["a row-key part that is a symbol", { ...ctx, rowKey: [Symbol(CANARY_ROW)] }],
  ["a row-key part that is a Date", { ...ctx, rowKey: [new Date(0)] }],
  ["a row key that is an object", { ...ctx, rowKey: { [CANARY_ROW]: 1 } }],
  ["a context that is the canary string", CANARY_SCOPE],
];

const contextCases: LeakCase[] = badContexts.flatMap(([what, context]): LeakCase[] => [
  {
    what: `encrypt: ${what}`,
    run: () => encrypt(keyring, CANARY_PLAINTEXT, context as CellContext),
    expected: "ERR_INVALID_CONTEXT",
  },
  {
    what: `decrypt: ${what}`,
    run: () => decrypt(keyring, textCell, context as CellContext),
    expected: "ERR_INVALID_CONTEXT",
  },
]);

const encryptCases: LeakCase[] = [
  {
    what: "a Map holding the canary",
    run: () => encrypt(keyring, new Map([[CANARY_PLAINTEXT, CANARY_PLAINTEXT]]) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a Set holding the canary",
    run: () => encrypt(keyring, new Set([CANARY_PLAINTEXT]) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a class instance holding the canary",
    run: () => encrypt(keyring, new PatientRecord() as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a function whose source holds the canary",
    run: () => encrypt(keyring, (() => CANARY_PLAINTEXT) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a symbol described by the canary",
    run: () => encrypt(keyring, Symbol(CANARY_PLAINTEXT) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a boxed canary string",
    run: () => encrypt(keyring, new String(CANARY_PLAINTEXT) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a canary string with a lone surrogate",
    run: () => encrypt(keyring, `${CANARY_PLAINTEXT}\uD800`, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "an invalid Date",
    run: () => encrypt(keyring, new Date(Number.NaN), ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  { what: "undefined", run: () => encrypt(keyring, undefined as never, ctx), expected: "ERR_UNSUPPORTED_VALUE" },
  {
    what: "a cyclic object holding the canary (keys and values)",
    run: () => encrypt(keyring, cyclicWithCanary() as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a cyclic array holding the canary",
    run: () => {
      const a: unknown[] = [CANARY_PLAINTEXT];
      a.push({ [CANARY_PLAINTEXT]: a });
      return encrypt(keyring, a as never, ctx);
    },
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "an object holding a bigint under a canary key",
    run: () => encrypt(keyring, { [CANARY_PLAINTEXT]: 1n } as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "an object whose toJSON throws an error quoting the canary",
    run: () =>
      encrypt(
        keyring,
        {
          toJSON() {
            throw new Error(`cannot serialize ${CANARY_PLAINTEXT}`);
          },
        } as never,
        ctx,
      ),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "an object whose toJSON returns undefined",
    run: () => encrypt(keyring, { note: CANARY_PLAINTEXT, toJSON: () => undefined } as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a JSON value with a lone surrogate next to the canary",
    run: () => encrypt(keyring, new Map([["k", `${CANARY_PLAINTEXT}\uDBFF`]]) as never, ctx),
    expected: "ERR_UNSUPPORTED_VALUE",
  },
  {
    what: "a value over 64 MiB made of the canary",
    run: () => encrypt(keyring, Buffer.alloc(64 * 1024 * 1024 + 1, CANARY_PLAINTEXT), ctx),
    expected: "ERR_VALUE_TOO_LARGE",
  },
  {
    what: "an algorithm named by the canary",
    run: () => encrypt(keyring, CANARY_PLAINTEXT, ctx, { algorithm: CANARY_PLAINTEXT as never }),
    expected: "ERR_UNSUPPORTED_ALGORITHM",
  },
  {
    what: "a form named by the canary",
    run: () => encrypt(keyring, CANARY_PLAINTEXT, ctx, { form: CANARY_PLAINTEXT as never }),
    expected: "ERR_INVALID_OPTION",
  },
  {
    what: "no primary for a known scope",
    run: () => createKeyring([{ id: "ta0", secret: CANARY_KEY, scope: "tenant-a" }]).primary("tenant-a"),
    expected: "ERR_NO_PRIMARY_KEY",
  },
  {
    what: "no shared primary, no scope",
    run: () => encrypt(onlyScoped, CANARY_PLAINTEXT, { table: "t", column: "c", rowKey: CANARY_ROW }),
    expected: "ERR_NO_PRIMARY_KEY",
  },
];

const keyringCases: LeakCase[] = [
  {
    what: "a key string one character short",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY_STRING.slice(0, -1) }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a key string one character long",
    run: () => createKeyring([{ id: "v1", secret: `${CANARY_KEY_STRING}Q` }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a padded key string",
    run: () => createKeyring([{ id: "v1", secret: `${CANARY_KEY_STRING}=` }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a key string in base64 instead of base64url",
    run: () => createKeyring([{ id: "v1", secret: `FIELDCRYPT-SECRET-KEY-1-${CANARY_KEY.toString("base64")}` }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a key string with a lowercase prefix",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY_STRING.toLowerCase() }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a bare base64url key",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY.toString("base64url") }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a hex key",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY.toString("hex") }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "the canary text after the prefix",
    run: () => createKeyring([{ id: "v1", secret: `FIELDCRYPT-SECRET-KEY-1-${CANARY_SECRET_TEXT}` }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "the raw canary secret text",
    run: () => createKeyring([{ id: "v1", secret: CANARY_SECRET_TEXT }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "31 canary key bytes",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY.subarray(1) }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "33 key bytes",
    run: () => createKeyring([{ id: "v1", secret: Buffer.concat([CANARY_KEY, Buffer.of(0)]) }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "a secret object holding the key",
    run: () => createKeyring([{ id: "v1", secret: { key: CANARY_KEY_STRING } as never }]),
    expected: "ERR_INVALID_KEY",
  },
  {
    what: "the key string used as the id",
    run: () => createKeyring([{ id: CANARY_KEY_STRING, secret: CANARY_KEY_STRING }]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "the canary secret text used as an invalid id",
    run: () => createKeyring([{ id: `${CANARY_SECRET_TEXT}!`, secret: CANARY_KEY }]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "an entry that is the key string",
    run: () => createKeyring([CANARY_KEY_STRING as never]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "entries that are the key string",
    run: () => createKeyring(CANARY_KEY_STRING as never),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "a duplicate id",
    run: () =>
      createKeyring([
        { id: "v1", secret: CANARY_KEY_STRING },
        { id: "v1", secret: CANARY_KEY },
      ]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "two primaries",
    run: () =>
      createKeyring([
        { id: "v1", secret: CANARY_KEY_STRING, primary: true },
        { id: "v2", secret: CANARY_KEY, primary: true },
      ]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "a scope over 1024 bytes holding the canary",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY, scope: hugeScope }]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "a scope that is an object",
    run: () => createKeyring([{ id: "v1", secret: CANARY_KEY, scope: { s: CANARY_SCOPE } as never }]),
    expected: "ERR_INVALID_KEYRING",
  },
  {
    what: "exportInsecureKeyBytes of a look-alike",
    run: () => exportInsecureKeyBytes({ id: CANARY_SCOPE } as unknown as Key),
    expected: "TypeError",
  },
];

const envTexts: [string, Record<string, string>, Expected][] = [
  ["an entry with no id", { FIELDCRYPT_KEYS: CANARY_KEY_STRING }, "ERR_INVALID_KEYRING"],
  ["an entry with an empty id", { FIELDCRYPT_KEYS: `=${CANARY_KEY_STRING}` }, "ERR_INVALID_KEYRING"],
  ["a colon instead of =", { FIELDCRYPT_KEYS: `v1:${CANARY_KEY_STRING}` }, "ERR_INVALID_KEYRING"],
  ["an id over 32 characters", { FIELDCRYPT_KEYS: `${"v".repeat(33)}=${CANARY_KEY_STRING}` }, "ERR_INVALID_KEYRING"],
  ["the key string used as the id", { FIELDCRYPT_KEYS: `${CANARY_KEY_STRING}=v1` }, "ERR_INVALID_KEYRING"],
  [
    "the canary secret text used as an id",
    { FIELDCRYPT_KEYS: `${CANARY_SECRET_TEXT}/x=${CANARY_KEY_STRING}` },
    "ERR_INVALID_KEYRING",
  ],
  [
    "the key base64url used as the id",
    { FIELDCRYPT_KEYS: `${CANARY_KEY.toString("base64url")}=${CANARY_KEY_STRING}` },
    "ERR_INVALID_KEYRING",
  ],
  [
    "the key string as primary=",
    { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING} primary=${CANARY_KEY_STRING}` },
    "ERR_INVALID_KEYRING",
  ],
  [
    "the key string as FIELDCRYPT_PRIMARY_KEY",
    { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING}`, FIELDCRYPT_PRIMARY_KEY: CANARY_KEY_STRING },
    "ERR_INVALID_KEYRING",
  ],
  [
    "FIELDCRYPT_PRIMARY_KEY disagreeing with primary=",
    { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING} primary=v1`, FIELDCRYPT_PRIMARY_KEY: CANARY_SECRET_TEXT },
    "ERR_INVALID_KEYRING",
  ],
  [
    "an unknown primary",
    { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING}`, FIELDCRYPT_PRIMARY_KEY: "v9" },
    "ERR_INVALID_KEYRING",
  ],
  ["primary named twice", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING} primary=v1 primary=v1` }, "ERR_INVALID_KEYRING"],
  ["a duplicate id", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING},v1=${CANARY_KEY_STRING}` }, "ERR_INVALID_KEYRING"],
  [
    "two keys without a primary",
    { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING},v2=${keyString(keyBytes(2))}` },
    "ERR_NO_PRIMARY_KEY",
  ],
  ["a padded key string", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING}=` }, "ERR_INVALID_KEY"],
  ["a key string with a trailing character", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING}x` }, "ERR_INVALID_KEY"],
  ["a base64 key", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY.toString("base64")}` }, "ERR_INVALID_KEY"],
  ["a hex key", { FIELDCRYPT_KEYS: `v1=${CANARY_KEY.toString("hex")}` }, "ERR_INVALID_KEY"],
  [
    "the canary secret text as a key",
    { FIELDCRYPT_KEYS: `v1=FIELDCRYPT-SECRET-KEY-1-${CANARY_SECRET_TEXT}` },
    "ERR_INVALID_KEY",
  ],
  ["only a primary naming the key string", { FIELDCRYPT_KEYS: `primary=${CANARY_SECRET_TEXT}` }, "ERR_INVALID_KEYRING"],
];

const envCases: LeakCase[] = envTexts.map(([what, env, expected]) => ({
  what: `FIELDCRYPT_KEYS: ${what}`,
  run: () => loadKeyringFromEnv(env),
  expected,
}));

function codeOf(error: unknown): string {
  if (isFieldcryptError(error)) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("E") && !code.startsWith("ERR_")) return code;
  return (error as Error)?.name ?? typeof error;
}

function checkError(error: unknown, expected: Expected, label: string): void {
  expect(codeOf(error), label).toBe(expected);
  const texts = renderThrown(error);
  expectNoCanary(texts, label);
  expectNoCellEcho(texts, label);
  if (expected === "ERR_DECRYPTION_FAILED") {
    expect((error as Error).message).toBe("decryption failed");
    expect("cause" in (error as Error)).toBe(false);
  }
}

describe("no canary in any error", () => {
  it("the canary cells are sound (the paths below start from real cells)", () => {
    expect(decrypt(keyring, textCell, ctx)).toBe(CANARY_PLAINTEXT);
    expect(decrypt(keyring, binaryCell, ctx)).toBe(CANARY_PLAINTEXT);
    expect(decrypt(keyring, aesCell, ctx)).toBe(CANARY_PLAINTEXT);
    expect(decrypt(keyring, scopedCell, ctxA)).toBe(CANARY_PLAINTEXT);
    expect(exportInsecureKeyBytes(keyring.primary())).toStrictEqual(CANARY_KEY);
    expect(FORBIDDEN.length).toBeGreaterThan(50);
  });

  for (const [group, cases] of [
    ["decrypt", decryptCases],
    ["context", contextCases],
    ["encrypt", encryptCases],
    ["keyring", keyringCases],
    ["env", envCases],
  ] as const) {
    describe(group, () => {
      for (const c of cases) {
        it(c.what, () => checkError(thrown(c.run), c.expected, c.what));
      }
    });
  }

  describe("tampered cells (every bit, every truncation, every character)", () => {
    for (const [name, cell] of [
      ["text XAES", textCell],
      ["binary XAES", binaryCell],
      ["text AES-256-GCM", aesCell],
      ["json", jsonCell],
    ] as const) {
      it(`${name}: every single-bit flip and every truncation`, () => {
        const bytes = typeof cell === "string" ? Buffer.from(cell.slice(4), "base64url") : cell;
        let checked = 0;
        for (let bit = 0; bit < bytes.length * 8; bit++) {
          const flipped = Buffer.from(bytes);
          flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
          const error = thrown(() =>
            decrypt(keyring, typeof cell === "string" ? `fc1.${flipped.toString("base64url")}` : flipped, ctx),
          );
          expect(["ERR_DECRYPTION_FAILED", "ERR_INVALID_CELL", "ERR_KEY_NOT_FOUND"]).toContain(codeOf(error));
          checkError(error, codeOf(error) as Expected, `${name} bit ${bit}`);
          checked++;
        }
        for (let n = 0; n < bytes.length; n++) {
          const cut = bytes.subarray(0, n);
          const error = thrown(() =>
            decrypt(keyring, typeof cell === "string" ? `fc1.${cut.toString("base64url")}` : cut, ctx),
          );
          checkError(error, codeOf(error) as Expected, `${name} cut ${n}`);
          checked++;
        }
        expect(checked).toBe(bytes.length * 9);
      });
    }

    it("text: every character changed to another base64url character", () => {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      let checked = 0;
      for (let i = 4; i < textCell.length; i++) {
        for (const c of [alphabet[(alphabet.indexOf(textCell[i] as string) + 1) % 64], "+", "=", " "]) {
          const error = thrown(() => decrypt(keyring, textCell.slice(0, i) + c + textCell.slice(i + 1), ctx));
          checkError(error, codeOf(error) as Expected, `char ${i} → ${c}`);
          checked++;
        }
      }
      expect(checked).toBe((textCell.length - 4) * 4);
    });
  });

  describe("key files", () => {
    let dir = "";
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "fieldcrypt-leak-"));
    });
    afterAll(async () => {
      if (dir !== "") await rm(dir, { recursive: true, force: true });
    });
    async function keyFile(name: string, text: string, mode: number): Promise<string> {
      const path = join(dir, name);
      await writeFile(path, text, { mode });
      await chmod(path, mode);
      return path;
    }

    const files: [string, string, number, Expected][] = [
      [
        "a 0644 file holding the key",
        `v1=${CANARY_KEY_STRING}\n# ${CANARY_SECRET_TEXT}\n`,
        0o644,
        "ERR_KEY_FILE_PERMISSIONS",
      ],
      ["a 0640 file holding the key", `v1=${CANARY_KEY_STRING}\n`, 0o640, "ERR_KEY_FILE_PERMISSIONS"],
      ["a file whose entry lacks an id", `${CANARY_KEY_STRING}\n`, 0o600, "ERR_INVALID_KEYRING"],
      ["a file with the key string as an id", `${CANARY_KEY_STRING}=v1\n`, 0o600, "ERR_INVALID_KEYRING"],
      ["a file with a bad key string", `v1=${CANARY_KEY_STRING}=\n`, 0o600, "ERR_INVALID_KEY"],
      [
        "a file with the secret text as a key",
        `v1=${CANARY_SECRET_TEXT} # ${CANARY_PLAINTEXT}\n`,
        0o600,
        "ERR_INVALID_KEY",
      ],
      [
        "a file with two keys and no primary",
        `v1=${CANARY_KEY_STRING}\nv2=${keyString(keyBytes(5))}\n`,
        0o600,
        "ERR_NO_PRIMARY_KEY",
      ],
      [
        "a file with a primary naming the secret",
        `v1=${CANARY_KEY_STRING}\nprimary=${CANARY_SECRET_TEXT}\n`,
        0o600,
        "ERR_INVALID_KEYRING",
      ],
      ["a file with only comments", `# v1=${CANARY_KEY_STRING}\n`, 0o600, "ERR_INVALID_KEYRING"],
    ];
    for (const [what, text, mode, expected] of files) {
      it(what, async () => {
        const path = await keyFile(what.replace(/\W+/g, "-"), text, mode);
        checkError(await rejection(loadKeyringFile(path)), expected, what);
      });
    }

    it("a missing file", async () => {
      checkError(await rejection(loadKeyringFile(join(dir, "missing"))), "ENOENT", "missing file");
    });

    it("a keyring loaded from a file renders without its material", async () => {
      const path = await keyFile("good", `# ${CANARY_SECRET_TEXT}\nv1=${CANARY_KEY_STRING}\n`, 0o600);
      const loaded = await loadKeyringFile(path);
      expectNoCanary(renderObject(loaded), "file keyring");
      expectNoCanary(renderObject(loaded.primary()), "file key");
    });
  });

  describe("Key and Keyring renderings", () => {
    it("a keyring built from canary key strings and bytes, and each of its keys", () => {
      expectNoCanary(renderObject(keyring), "keyring");
      for (const info of keyring.list()) expectNoCanary(renderObject(keyring.get(info.id)), `key ${info.id}`);
      expectNoCanary([safeJson(keyring.list())], "list()");
    });

    it("a keyring loaded from the environment", () => {
      const loaded = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${CANARY_KEY_STRING}` });
      expectNoCanary(renderObject(loaded), "env keyring");
      expectNoCanary(renderObject(loaded.primary()), "env key");
    });
  });
});

describe("scopes are never echoed (fixed defects: encrypt validates the context first, NoPrimaryKey names no scope)", () => {
  // Defect: encrypt asks keyring.primary(context.scope) before the scope is validated, and
  // NoPrimaryKey quotes the scope with JSON.stringify (src/keyring/keyring.ts Keyring.primary,
  // src/errors/index.ts NoPrimaryKey, called from src/cell/encrypt.ts before getFieldCipher/aad).
  // With a keyring that has no shared primary, an oversized scope is echoed whole in the message
  // (ERR_NO_PRIMARY_KEY instead of ERR_INVALID_CONTEXT).
  it("an oversized scope with no shared primary: ERR_INVALID_CONTEXT, scope not echoed", () => {
    checkError(
      thrown(() => encrypt(onlyScoped, CANARY_PLAINTEXT, { table: "t", column: "c", scope: hugeScope })),
      "ERR_INVALID_CONTEXT",
      "oversized scope, only scoped keys",
    );
  });

  // Spec §11: messages MUST NOT contain context values. With no shared primary, a well-formed scope
  // that the keyring has no keys for is a pure context value, yet NoPrimaryKey quotes it in its
  // message ('keyring has no primary key for scope "…"') and carries it in its `scope` field (so
  // inspect and JSON show it too).
  it("a well-formed scope unknown to a keyring without a shared primary is not echoed", () => {
    checkError(
      thrown(() => encrypt(onlyScoped, CANARY_PLAINTEXT, ctx)),
      "ERR_NO_PRIMARY_KEY",
      "canary scope, only scoped keys",
    );
  });

  // Same path: a non-string scope is serialized into the message (an object's content appears in
  // full), and a bigint scope makes JSON.stringify throw a bare TypeError instead of a fieldcrypt error.
  it("an object scope with no shared primary: ERR_INVALID_CONTEXT, content not echoed", () => {
    checkError(
      thrown(() =>
        encrypt(onlyScoped, CANARY_PLAINTEXT, { table: "t", column: "c", scope: { s: CANARY_SCOPE } as never }),
      ),
      "ERR_INVALID_CONTEXT",
      "object scope, only scoped keys",
    );
  });

  it("a bigint scope with no shared primary: ERR_INVALID_CONTEXT (not a TypeError)", () => {
    checkError(
      thrown(() => encrypt(onlyScoped, CANARY_PLAINTEXT, { table: "t", column: "c", scope: 5n as never })),
      "ERR_INVALID_CONTEXT",
      "bigint scope, only scoped keys",
    );
  });

  // Defect: describeType (src/internal/describe-type.ts) names an object by
  // `value.constructor?.name`, which is the caller's data when the object has an own `constructor`
  // property, e.g. a JSON-parsed request body. That data is then echoed as "(got <data> object)"
  // by InvalidContext, InvalidCell, InvalidKey and UnsupportedValue messages.
  const parsed = () => JSON.parse(`{"constructor":{"name":"${CANARY_ROW}"}}`) as object;
  const describeTypeLeaks: [string, () => unknown, Expected][] = [
    ["a row-key part", () => encrypt(keyring, "x", { ...ctx, rowKey: [parsed() as never] }), "ERR_INVALID_CONTEXT"],
    ["a scope", () => encrypt(keyring, "x", { ...noRowContext, scope: parsed() as never }), "ERR_INVALID_CONTEXT"],
    ["a table", () => encrypt(keyring, "x", { ...ctx, table: parsed() as never }), "ERR_INVALID_CONTEXT"],
    ["a cell", () => decrypt(keyring, parsed() as never, ctx), "ERR_INVALID_CELL"],
    ["a key secret", () => createKeyring([{ id: "v1", secret: parsed() as never }]), "ERR_INVALID_KEY"],
    [
      "a value whose toJSON returns undefined",
      () => encrypt(keyring, Object.assign(parsed(), { toJSON: () => undefined }) as never, ctx),
      "ERR_UNSUPPORTED_VALUE",
    ],
  ];
  for (const [what, run, expected] of describeTypeLeaks) {
    it(`${what} with an own "constructor" property: its type is described, its content not echoed`, () => {
      checkError(thrown(run), expected, what);
    });
  }
});
