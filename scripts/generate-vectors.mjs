#!/usr/bin/env node
/**
 * Generates the frozen test vectors of the cell format v1: spec/vectors/cell-v1.json.
 *
 *   npx tsc -b packages/fieldcrypt && node scripts/generate-vectors.mjs           # write the file
 *   npx tsc -b packages/fieldcrypt && node scripts/generate-vectors.mjs --check   # compare, write nothing
 *
 * Everything is deterministic (fixed keys, nonces derived from the case id), so the output is
 * byte-identical on every run. Valid cells come from the built library (internal encryptWithNonce);
 * each one is also re-sealed by the small from-the-spec implementation below (HKDF, AAD, CMAC-based
 * XAES-256-GCM, typed payloads written out by hand), and the two must agree byte for byte. Cells
 * whose authenticated payload is malformed cannot come from the library, so that implementation
 * seals them. Every case's expected outcome is then checked against the built library's decrypt,
 * inspectCell and isCell before the file is written.
 */
import { createCipheriv, createHash, createHmac, hkdfSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { encryptWithNonce } from "../packages/fieldcrypt/dist/cell/encrypt.js";
import { decrypt, inspectCell, isCell } from "../packages/fieldcrypt/dist/cell/index.js";
import { createKeyring } from "../packages/fieldcrypt/dist/keyring/index.js";

const OUT = fileURLToPath(new URL("../spec/vectors/cell-v1.json", import.meta.url));

// ---------------------------------------------------------------------------------------------
// The format, written out from spec/cell-format-v1.md (independent of packages/fieldcrypt/src).
// ---------------------------------------------------------------------------------------------

const KEY_PREFIX = "FIELDCRYPT-SECRET-KEY-1-";
const ALGORITHMS = {
  "XAES-256-GCM": { id: 1, nonceBytes: 24 },
  "AES-256-GCM": { id: 2, nonceBytes: 12 },
};
const TYPE_IDS = { string: 1, bytes: 2, json: 3, number: 4, bigint: 5, boolean: 6, date: 7 };
const TYPE_NAMES = Object.keys(TYPE_IDS);

const utf8 = (s) => Buffer.from(s, "utf8");
const u32be = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const lp = (bytes) => Buffer.concat([u32be(bytes.length), bytes]);
const sha256 = (s) => createHash("sha256").update(s).digest();

function aesBlock(key, block) {
  const c = createCipheriv("aes-256-ecb", key, null);
  c.setAutoPadding(false);
  return c.update(block);
}

/** CMAC doubling in GF(2^128) (NIST SP 800-38B). */
function dbl(b) {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 15; i++) out[i] = ((b[i] << 1) | (b[i + 1] >>> 7)) & 0xff;
  out[15] = (b[15] << 1) & 0xff;
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-256-CMAC (NIST SP 800-38B), general message length. */
function cmac(key, msg) {
  const k1 = dbl(aesBlock(key, Buffer.alloc(16)));
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(msg.length / 16));
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const last = Buffer.alloc(16);
  msg.copy(last, 0, (n - 1) * 16);
  if (!complete) last[msg.length - (n - 1) * 16] = 0x80;
  const sub = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i] ^= sub[i];
  let x = Buffer.alloc(16);
  for (let i = 0; i < n - 1; i++) {
    const block = msg.subarray(i * 16, i * 16 + 16);
    for (let j = 0; j < 16; j++) x[j] ^= block[j];
    x = aesBlock(key, x);
  }
  for (let j = 0; j < 16; j++) x[j] ^= last[j];
  return aesBlock(key, x);
}

/** XAES-256-GCM (c2sp.org/XAES-256-GCM): the per-message AES-256-GCM key and 96-bit nonce. */
function xaesDerive(key, nonce) {
  const n = nonce.subarray(0, 12);
  const k = Buffer.concat([
    cmac(key, Buffer.concat([Buffer.of(0x00, 0x01, 0x58, 0x00), n])),
    cmac(key, Buffer.concat([Buffer.of(0x00, 0x02, 0x58, 0x00), n])),
  ]);
  const l = aesBlock(key, Buffer.alloc(16));
  return { l, k1: dbl(l), key: k, gcmNonce: nonce.subarray(12, 24) };
}

function gcmSeal(key, iv, plaintext, aad) {
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(aad);
  const ct = c.update(plaintext);
  c.final();
  return { ciphertext: Buffer.concat([ct]), tag: c.getAuthTag() };
}

// Self-check of the XAES-256-GCM code above against the two C2SP known answers
// (C2SP, c2sp.org/XAES-256-GCM, "Test vectors"; BSD-1-Clause).
for (const [keyHex, aad, expected] of [
  ["01".repeat(32), "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"],
  ["03".repeat(32), "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"],
]) {
  const d = xaesDerive(Buffer.from(keyHex, "hex"), utf8("ABCDEFGHIJKLMNOPQRSTUVWX"));
  const { ciphertext, tag } = gcmSeal(d.key, d.gcmNonce, utf8("XAES-256-GCM"), utf8(aad));
  if (Buffer.concat([ciphertext, tag]).toString("hex") !== expected) throw new Error("XAES-256-GCM self-check failed");
}

function fieldKeyInfo(algId, table, column) {
  return Buffer.concat([utf8("fieldcrypt-v1-field-key"), Buffer.of(algId), lp(utf8(table)), lp(utf8(column))]);
}

/**
 * HKDF-SHA256 (RFC 5869) with an empty salt and L = 32, written as its two HMACs: with L = HashLen
 * the expand step is a single block, OKM = HMAC(PRK, info ‖ 0x01).
 */
function fieldSubkey(keyBytes, algId, table, column) {
  const prk = createHmac("sha256", Buffer.alloc(0)).update(keyBytes).digest();
  const info = fieldKeyInfo(algId, table, column);
  const okm = createHmac("sha256", prk).update(info).update(Buffer.of(1)).digest();
  if (info.length <= 1024 && !okm.equals(Buffer.from(hkdfSync("sha256", keyBytes, Buffer.alloc(0), info, 32)))) {
    throw new Error("HKDF self-check failed");
  }
  return okm;
}

function header(algId, typeId, keyId) {
  return Buffer.concat([Buffer.of(0xfc, 0x01, algId, typeId, keyId.length), Buffer.from(keyId, "latin1")]);
}

/** Row-key parts: strings as UTF-8, integers (number or bigint) as their decimal string. */
function rowKeyParts(rowKey) {
  if (rowKey === undefined) return [];
  return (Array.isArray(rowKey) ? rowKey : [rowKey]).map((p) => utf8(String(p)));
}

function associatedData(hdr, context) {
  const parts = rowKeyParts(context.rowKey);
  return Buffer.concat([
    hdr,
    lp(utf8(context.scope ?? "")),
    lp(utf8(context.table)),
    lp(utf8(context.column)),
    Buffer.of(parts.length),
    ...parts.map(lp),
  ]);
}

/** Typed payload encoding (spec §6), written independently of the library's value codec. */
function encodePayload(value) {
  if (typeof value === "string") return [TYPE_IDS.string, utf8(value)];
  if (typeof value === "number") {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return [TYPE_IDS.number, b];
  }
  if (typeof value === "bigint") return [TYPE_IDS.bigint, Buffer.from(value.toString(10), "latin1")];
  if (typeof value === "boolean") return [TYPE_IDS.boolean, Buffer.of(value ? 1 : 0)];
  if (value instanceof Uint8Array) return [TYPE_IDS.bytes, Buffer.from(value)];
  if (value instanceof Date) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(value.getTime()));
    return [TYPE_IDS.date, b];
  }
  return [TYPE_IDS.json, utf8(JSON.stringify(value))];
}

/** Seals a cell from its parts, as an independent implementation would. */
function sealCell({ keyBytes, keyId, algorithm, typeId, payload, context, nonce }) {
  const alg = ALGORITHMS[algorithm];
  const subkey = fieldSubkey(keyBytes, alg.id, context.table, context.column);
  const hdr = header(alg.id, typeId, keyId);
  const aad = associatedData(hdr, context);
  let gcmKey = subkey;
  let gcmNonce = nonce;
  let derived;
  if (alg.id === 1) {
    derived = xaesDerive(subkey, nonce);
    gcmKey = derived.key;
    gcmNonce = derived.gcmNonce;
  }
  const { ciphertext, tag } = gcmSeal(gcmKey, gcmNonce, payload, aad);
  return {
    cell: Buffer.concat([hdr, nonce, ciphertext, tag]),
    intermediate: {
      keyHex: keyBytes.toString("hex"),
      fieldKeyInfoHex: fieldKeyInfo(alg.id, context.table, context.column).toString("hex"),
      fieldSubkeyHex: subkey.toString("hex"),
      headerHex: hdr.toString("hex"),
      aadHex: aad.toString("hex"),
      nonceHex: nonce.toString("hex"),
      ...(derived && {
        xaesLHex: derived.l.toString("hex"),
        xaesK1Hex: derived.k1.toString("hex"),
        xaesDerivedKeyHex: derived.key.toString("hex"),
        xaesGcmNonceHex: derived.gcmNonce.toString("hex"),
      }),
      payloadHex: payload.toString("hex"),
      ciphertextHex: ciphertext.toString("hex"),
      tagHex: tag.toString("hex"),
    },
  };
}

/** What inspectCell must report for a cell, or null when its header is malformed (spec §10). */
function expectedHeader(bytes, form) {
  if (bytes.length < 6 || bytes[0] !== 0xfc || bytes[1] !== 1) return null;
  const alg = Object.entries(ALGORITHMS).find(([, a]) => a.id === bytes[2]);
  const kidLen = bytes[4];
  if (alg === undefined || bytes[3] < 1 || bytes[3] > 7 || kidLen < 1 || kidLen > 32) return null;
  const keyId = bytes.toString("latin1", 5, Math.min(bytes.length, 5 + kidLen));
  if (!/^[A-Za-z0-9._-]*$/.test(keyId)) return null;
  const payloadBytes = bytes.length - 5 - kidLen - alg[1].nonceBytes - 16;
  if (payloadBytes < 0) return null;
  return {
    form,
    version: 1,
    algorithm: alg[0],
    keyId,
    type: TYPE_NAMES[bytes[3] - 1],
    payloadBytes,
    cellBytes: bytes.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Fixed keys and nonces.
// ---------------------------------------------------------------------------------------------

/** "k1" is the bytes 0x00..0x1f; every other label is SHA-256("fieldcrypt cell-v1 test key " ‖ label). */
function keyBytes(label) {
  if (label === "k1") return Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  return sha256(`fieldcrypt cell-v1 test key ${label}`);
}
const keyString = (label) => KEY_PREFIX + keyBytes(label).toString("base64url");

/** The nonce of case `id`: the first 24 (or 12) bytes of SHA-256("fieldcrypt cell-v1 test nonce " ‖ id). */
const nonceFor = (id, algorithm) =>
  sha256(`fieldcrypt cell-v1 test nonce ${id}`).subarray(0, ALGORITHMS[algorithm].nonceBytes);

// ---------------------------------------------------------------------------------------------
// Value encoding in the JSON file.
// ---------------------------------------------------------------------------------------------

function jsonExpected(value) {
  if (typeof value === "string") return { type: "string", value };
  if (typeof value === "number") {
    let v = value;
    if (Number.isNaN(value)) v = "NaN";
    else if (value === Number.POSITIVE_INFINITY) v = "Infinity";
    else if (value === Number.NEGATIVE_INFINITY) v = "-Infinity";
    else if (Object.is(value, -0)) v = "-0";
    return { type: "number", value: v };
  }
  if (typeof value === "bigint") return { type: "bigint", value: value.toString(10) };
  if (typeof value === "boolean") return { type: "boolean", value };
  if (value instanceof Uint8Array) return { type: "bytes", value: Buffer.from(value).toString("hex") };
  if (value instanceof Date) return { type: "date", value: value.getTime(), iso: value.toISOString() };
  return { type: "json", value };
}

/** A context as stored in the file: bigint row-key parts become decimal strings (same binding). */
function jsonContext(context) {
  const out = { table: context.table, column: context.column };
  if (context.scope !== undefined) out.scope = context.scope;
  if (context.rowKey !== undefined) {
    const conv = (p) => (typeof p === "bigint" ? p.toString(10) : p);
    out.rowKey = Array.isArray(context.rowKey) ? context.rowKey.map(conv) : conv(context.rowKey);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------------------------

const cases = [];
const CTX = { table: "clinic_notes", column: "body" };
const ERR = {
  "decryption-failed": "ERR_DECRYPTION_FAILED",
  "invalid-cell": "ERR_INVALID_CELL",
  "key-not-found": "ERR_KEY_NOT_FOUND",
};

function keyringFor(keys, keyScopes, primaryId) {
  return createKeyring(
    keys.map((label) => ({
      id: label,
      secret: keyString(label),
      ...(keyScopes?.[label] !== undefined && { scope: keyScopes[label] }),
      primary: label === primaryId,
    })),
  );
}

function push(entry) {
  if (cases.some((c) => c.id === entry.id)) throw new Error(`duplicate case id ${entry.id}`);
  cases.push(entry);
}

function serializeCell(bytes, form) {
  return form === "binary" ? bytes.toString("hex") : `fc1.${bytes.toString("base64url")}`;
}

/**
 * A valid case: sealed by the library with a fixed nonce, re-sealed by the code above, and
 * decrypted back. Returns what negative cases derive from.
 */
function valid(id, description, value, opts = {}) {
  const algorithm = opts.algorithm ?? "XAES-256-GCM";
  const form = opts.form ?? "text";
  const context = opts.context ?? CTX;
  const keyId = opts.keyId ?? "k1";
  const keys = opts.keys ?? [keyId];
  const keyScopes = opts.keyScopes;
  const nonce = nonceFor(id, algorithm);
  const made = encryptWithNonce(keyringFor(keys, keyScopes, keyId), value, context, { algorithm, form }, nonce);
  const bytes = form === "binary" ? Buffer.from(made) : Buffer.from(made.slice(4), "base64url");
  const [typeId, payload] = encodePayload(value);
  const spec = sealCell({ keyBytes: keyBytes(keyId), keyId, algorithm, typeId, payload, context, nonce });
  if (!spec.cell.equals(bytes)) throw new Error(`${id}: library cell differs from the spec re-implementation`);
  const decryptContext = opts.decryptContext ?? context;
  const entry = {
    id,
    description,
    keys: Object.fromEntries(keys.map((k) => [k, keyString(k)])),
    ...(keyScopes && { keyScopes: Object.fromEntries(keys.filter((k) => keyScopes[k]).map((k) => [k, keyScopes[k]])) }),
    context: jsonContext(decryptContext),
    algorithm,
    form,
    cell: serializeCell(bytes, form),
    nonce: nonce.toString("hex"),
    result: "valid",
    expected: jsonExpected(value),
    payload: payload.toString("hex"),
    header: expectedHeader(bytes, form),
    ...(opts.intermediate && { intermediate: spec.intermediate }),
  };
  push(entry);
  return { id, bytes, keys, keyScopes, context: decryptContext, algorithm, form, keyId };
}

/** A negative case derived from `base`: another cell, context or keyring, and the expected failure. */
function negative(id, description, base, result, changes = {}) {
  const form = changes.form ?? base.form;
  const bytes = changes.bytes ?? base.bytes;
  const keys = changes.keys ?? base.keys;
  const keyMaterial = changes.keyMaterial ?? {};
  const keyScopes = changes.keyScopes ?? base.keyScopes;
  const context = changes.context ?? base.context;
  const cell = changes.cellText ?? serializeCell(bytes, form);
  const headerBytes = changes.cellText !== undefined ? null : bytes;
  push({
    id,
    description,
    ...(base.id !== undefined && { derivedFrom: base.id }),
    keys: Object.fromEntries(keys.map((k) => [k, keyString(keyMaterial[k] ?? k)])),
    ...(keyScopes && { keyScopes: Object.fromEntries(keys.filter((k) => keyScopes[k]).map((k) => [k, keyScopes[k]])) }),
    context: jsonContext(context),
    algorithm: base.algorithm,
    form,
    cell,
    result,
    error: ERR[result],
    ...(result === "decryption-failed" && { message: "decryption failed" }),
    header: headerBytes === null ? null : expectedHeader(headerBytes, form),
  });
}

/** A cell with a malformed payload under a valid tag: only a faulty producer can make one. */
function badPayload(id, description, typeName, payload) {
  const algorithm = "XAES-256-GCM";
  const nonce = nonceFor(id, algorithm);
  const { cell } = sealCell({
    keyBytes: keyBytes("k1"),
    keyId: "k1",
    algorithm,
    typeId: TYPE_IDS[typeName],
    payload,
    context: CTX,
    nonce,
  });
  negative(id, description, { bytes: cell, keys: ["k1"], context: CTX, algorithm, form: "text" }, "invalid-cell");
  cases.at(-1).payload = payload.toString("hex");
}

const flip = (bytes, index, mask = 0x01) => {
  const b = Buffer.from(bytes);
  b[index] ^= mask;
  return b;
};
const withByte = (bytes, index, value) => {
  const b = Buffer.from(bytes);
  b[index] = value;
  return b;
};

// --- Valid: the first three carry every intermediate value. ---

const v1 = valid("xaes-string-text-basic", "XAES-256-GCM, text form, string, no scope, no row key", "hello, world", {
  intermediate: true,
});
const v2 = valid(
  "aes-gcm-string-binary-basic",
  "AES-256-GCM (legacy/interop), binary form, string, no scope, no row key",
  "hello, world",
  { algorithm: "AES-256-GCM", form: "binary", intermediate: true },
);
const v3 = valid(
  "xaes-string-text-scope-composite-rowkey",
  "XAES-256-GCM, text form, string, scope and a composite row key (string, integer, string)",
  "BP 120/80, allergic to penicillin",
  {
    context: { scope: "clinic-7", table: "clinic_notes", column: "body", rowKey: ["eu-west", 42, "2024"] },
    intermediate: true,
  },
);

// Strings.
valid("string-empty", "the empty string is encrypted (only SQL NULL is not)", "");
const vEmoji = valid(
  "string-emoji",
  "non-ASCII text: astral-plane emoji, combining and CJK characters",
  "🔐 Zoë — 東京 e\u0301 🏳️‍🌈",
);
valid("string-control-chars", "NUL, newline and other control characters are plain data", "a\u0000b\nc\td\u007f");
valid("string-long", "a 1000-byte string (many AES blocks, partial last block)", "0123456789".repeat(100));
valid("string-binary-form", "string in the binary form", "stored in a bytea column", { form: "binary" });

// Bytes.
const vBytesEmpty = valid(
  "bytes-empty",
  "empty byte string (payload and ciphertext are empty; the tag remains)",
  new Uint8Array(0),
);
valid(
  "bytes-all-values",
  "all 256 byte values",
  Uint8Array.from({ length: 256 }, (_, i) => i),
  { form: "binary" },
);
valid("bytes-invalid-utf8", "bytes that are not UTF-8 stay bytes", Uint8Array.of(0xfc, 0x01, 0xff, 0xfe, 0x80));

// JSON.
valid("json-object", "a nested JSON object with non-ASCII member names", {
  a: [1, 2, { b: null }],
  é: "ü",
  n: -1.5e-7,
  t: true,
});
valid("json-empty-array", "an empty JSON array", []);
valid("json-empty-object", "an empty JSON object", {});
valid("json-array-of-strings", "a JSON array with an emoji and an escaped quote", ["🔐", 'say "hi"', ""]);

// Numbers.
valid("number-zero", "number +0", 0);
const vNegZero = valid("number-negative-zero", "number -0 keeps its sign (payload 8000000000000000)", -0);
valid("number-nan", "NaN (payload 7ff8000000000000; decoders accept every NaN encoding)", Number.NaN);
valid("number-infinity", "+Infinity", Number.POSITIVE_INFINITY);
valid("number-negative-infinity", "-Infinity", Number.NEGATIVE_INFINITY);
valid("number-fraction", "a negative fraction", -1234.5678);
valid("number-max-safe-integer", "Number.MAX_SAFE_INTEGER", Number.MAX_SAFE_INTEGER);
valid("number-min-subnormal", "the smallest subnormal double (5e-324)", Number.MIN_VALUE);
valid("number-max-value", "the largest finite double", Number.MAX_VALUE, { algorithm: "AES-256-GCM" });

// Bigints.
valid("bigint-zero", "bigint 0", 0n);
valid("bigint-negative-one", "bigint -1", -1n);
valid("bigint-int64-min", "bigint -2^63", -(2n ** 63n));
valid("bigint-huge", "a 309-digit bigint (2^1024 + 1), beyond any fixed-width integer", 2n ** 1024n + 1n);
valid("bigint-huge-negative", "a large negative bigint, binary form", -(10n ** 60n) - 7n, { form: "binary" });

// Booleans.
valid("boolean-true", "true (payload 01)", true);
valid("boolean-false", "false (payload 00)", false, { algorithm: "AES-256-GCM" });

// Dates.
valid("date-epoch", "the Unix epoch", new Date(0));
valid("date-negative", "one millisecond before the epoch (negative i64)", new Date(-1));
valid("date-recent", "a recent instant with milliseconds", new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)));
valid("date-max", "the largest JavaScript Date, +8.64e15 ms (+275760-09-13)", new Date(8.64e15));
valid("date-min", "the smallest JavaScript Date, -8.64e15 ms (-271821-04-20)", new Date(-8.64e15), { form: "binary" });

// Contexts.
const vScope = valid("context-scope-only", "a scope and no row key", "tenant data", {
  context: { scope: "tenant-42", table: "users", column: "email" },
});
const vRowInt = valid("context-rowkey-integer", "a single integer row key", "row data", {
  context: { table: "users", column: "email", rowKey: 42 },
});
valid(
  "context-rowkey-string-equals-integer",
  'sealed with rowKey 42 (number); the context gives the string "42": integer parts are bound as decimal strings',
  "row data",
  {
    context: { table: "users", column: "email", rowKey: 42 },
    decryptContext: { table: "users", column: "email", rowKey: "42" },
  },
);
valid(
  "context-rowkey-single-part-array",
  "sealed with rowKey 42; the context gives [42]: a one-part composite key is the same row key",
  "row data",
  {
    context: { table: "users", column: "email", rowKey: 42 },
    decryptContext: { table: "users", column: "email", rowKey: [42] },
  },
);
valid(
  "context-rowkey-bigint",
  "sealed with the bigint row key 2^64-1 (an int8/numeric primary key); stored here as its decimal string",
  "row data",
  { context: { table: "users", column: "email", rowKey: 2n ** 64n - 1n } },
);
valid("context-rowkey-negative", "a negative integer row key", "row data", {
  context: { table: "users", column: "email", rowKey: -7 },
});
valid("context-rowkey-uuid", "a string (uuid) row key with a scope, binary form, AES-256-GCM", "row data", {
  context: { scope: "t1", table: "users", column: "email", rowKey: "0b0c5f0e-6c1f-4c7e-9a2a-7c1d2f1a9e3b" },
  algorithm: "AES-256-GCM",
  form: "binary",
});
valid("context-rowkey-16-parts", "the largest composite row key: 16 parts", "row data", {
  context: { table: "t", column: "c", rowKey: Array.from({ length: 16 }, (_, i) => (i % 2 ? i : `p${i}`)) },
});
valid("context-unicode-names", "non-ASCII scope, table and column names (UTF-8, not normalized)", "x", {
  context: { scope: "Mandant-Zürich", table: "öffentlich.notizen", column: "inhalt\u0301" },
});
valid(
  "context-long-strings",
  "a scope of exactly 1024 UTF-8 bytes (the maximum); table and column of 496 bytes each (HKDF info of 1024 bytes)",
  "x",
  { context: { scope: "s".repeat(1024), table: "é".repeat(248), column: "c".repeat(496) } },
);
valid("context-schema-qualified-table", '"public.users" is a different table name from "users"', "x", {
  context: { table: "public.users", column: "email" },
});

// Keys and keyrings.
const vRotated = valid("keyring-second-key", "a keyring with k1 and k2; the cell names k2", "rotated", {
  keys: ["k1", "k2"],
  keyId: "k2",
});
valid("key-id-one-char", "a one-character key id", "x", { keyId: "x" });
valid("key-id-32-chars", "a 32-character key id using every allowed character class", "x", {
  keyId: "Key.ID_with-32-chars.0123456789z",
});
const vScopedKey = valid("scoped-key", "a key scoped to tenant-7 opens tenant-7's cells", "tenant secret", {
  keyId: "t7",
  keyScopes: { t7: "tenant-7" },
  context: { scope: "tenant-7", table: "notes", column: "body" },
});

// --- Decryption failures: well-formed cells that must not open. ---

const dCtx = (base, change) => ({ ...base.context, ...change });
negative("wrong-table", "the cell read as another table", v3, "decryption-failed", {
  context: dCtx(v3, { table: "clinic_notes_archive" }),
});
negative("wrong-column", "the cell read as another column", v3, "decryption-failed", {
  context: dCtx(v3, { column: "title" }),
});
negative("wrong-scope", "the cell read under another tenant (scope)", v3, "decryption-failed", {
  context: dCtx(v3, { scope: "clinic-8" }),
});
negative("scope-missing", "a scoped cell read without a scope", vScope, "decryption-failed", {
  context: { table: "users", column: "email" },
});
negative("scope-added", "an unscoped cell read with a scope", v1, "decryption-failed", {
  context: { ...CTX, scope: "tenant-1" },
});
negative("wrong-rowkey", "the cell moved to another row", v3, "decryption-failed", {
  context: dCtx(v3, { rowKey: ["eu-west", 43, "2024"] }),
});
negative("rowkey-parts-reordered", "the composite row key with two parts swapped", v3, "decryption-failed", {
  context: dCtx(v3, { rowKey: ["eu-west", "2024", 42] }),
});
negative("rowkey-part-missing", "the composite row key with the last part dropped", v3, "decryption-failed", {
  context: dCtx(v3, { rowKey: ["eu-west", 42] }),
});
negative("rowkey-missing", "a cell bound to row 42 read without a row key", vRowInt, "decryption-failed", {
  context: { table: "users", column: "email" },
});
negative("rowkey-added", "a cell without a row key read with one", v1, "decryption-failed", {
  context: { ...CTX, rowKey: 1 },
});
negative("rowkey-leading-zero", 'row key "042" is not row 42', vRowInt, "decryption-failed", {
  context: { table: "users", column: "email", rowKey: "042" },
});
negative(
  "rowkey-concatenation",
  'row key ["4", "2"] is not ["42"] (parts are length-prefixed)',
  vRowInt,
  "decryption-failed",
  {
    context: { table: "users", column: "email", rowKey: ["4", "2"] },
  },
);
negative(
  "table-column-boundary",
  'table "clinic_note" + column "sbody" concatenate like "clinic_notes" + "body"; the length prefixes keep them apart',
  v1,
  "decryption-failed",
  {
    context: { table: "clinic_note", column: "sbody" },
  },
);
negative("wrong-key-material", "the keyring's k1 holds other key material", v1, "decryption-failed", {
  keyMaterial: { k1: "k1-other" },
});
negative(
  "wrong-key-material-aes-gcm",
  "AES-256-GCM cell, the keyring's k1 holds other key material",
  v2,
  "decryption-failed",
  {
    keyMaterial: { k1: "k1-other" },
  },
);
negative(
  "key-id-swapped",
  "the header's key id changed from k2 to k1 (both in the keyring): the header is authenticated",
  vRotated,
  "decryption-failed",
  {
    bytes: withByte(vRotated.bytes, 6, 0x31),
  },
);
negative(
  "scoped-key-other-scope",
  "the keyring scopes k1 to tenant-7; a cell sealed with k1 under scope tenant-8 must not open (the AAD matches: only the scoped-key rule refuses it)",
  {
    ...valid("scoped-key-source", "sealed with an unscoped k1 under scope tenant-8 (source of the next case)", "x", {
      context: { scope: "tenant-8", table: "notes", column: "body" },
    }),
    keyScopes: { k1: "tenant-7" },
  },
  "decryption-failed",
);
negative("scoped-key-no-scope", "a tenant-7 key's cell read without a scope", vScopedKey, "decryption-failed", {
  context: { table: "notes", column: "body" },
});
negative("scoped-key-wrong-scope", "a tenant-7 key's cell read under tenant-8", vScopedKey, "decryption-failed", {
  context: { scope: "tenant-8", table: "notes", column: "body" },
});

// Tampering. v1 header: fc 01 01 01 02 6b 31 (7 bytes), nonce 7..30, ciphertext 31..42, tag 43..58.
const h1 = 7;
negative("flip-nonce-first-bit", "XAES: first nonce byte flipped (changes the derived key)", v1, "decryption-failed", {
  bytes: flip(v1.bytes, h1),
});
negative("flip-nonce-last-bit", "XAES: last nonce byte flipped (changes the GCM nonce)", v1, "decryption-failed", {
  bytes: flip(v1.bytes, h1 + 23, 0x80),
});
negative("flip-ciphertext-bit", "first ciphertext byte flipped", v1, "decryption-failed", {
  bytes: flip(v1.bytes, h1 + 24),
});
negative("flip-tag-bit", "last tag byte flipped", v1, "decryption-failed", {
  bytes: flip(v1.bytes, v1.bytes.length - 1, 0x80),
});
negative(
  "flip-tag-bit-empty-payload",
  "tag flipped on a cell with an empty payload",
  vBytesEmpty,
  "decryption-failed",
  {
    bytes: flip(vBytesEmpty.bytes, vBytesEmpty.bytes.length - 16),
  },
);
negative(
  "truncated-tag",
  "last byte removed: the last ciphertext byte is read as part of the tag",
  v1,
  "decryption-failed",
  {
    bytes: v1.bytes.subarray(0, v1.bytes.length - 1),
  },
);
negative("truncated-payload-byte", "a ciphertext byte removed from the middle", v1, "decryption-failed", {
  bytes: Buffer.concat([v1.bytes.subarray(0, h1 + 25), v1.bytes.subarray(h1 + 26)]),
});
negative("appended-byte", "one byte appended after the tag", v1, "decryption-failed", {
  bytes: Buffer.concat([v1.bytes, Buffer.of(0)]),
});
negative(
  "type-byte-string-to-bytes",
  "header type id changed 1 (string) → 2 (bytes): authenticated through the AAD",
  v1,
  "decryption-failed",
  {
    bytes: withByte(v1.bytes, 3, 2),
  },
);
negative(
  "type-byte-number-to-date",
  "header type id changed 4 (number) → 7 (date), binary form",
  vNegZero,
  "decryption-failed",
  {
    bytes: withByte(vNegZero.bytes, 3, 7),
    form: "binary",
  },
);
negative(
  "algorithm-xaes-to-aes-gcm",
  "header algorithm id changed 1 → 2: the cell now parses with a 12-byte nonce",
  v1,
  "decryption-failed",
  {
    bytes: withByte(v1.bytes, 2, 2),
  },
);
negative(
  "algorithm-aes-gcm-to-xaes",
  "header algorithm id changed 2 → 1 on an AES-256-GCM cell",
  v2,
  "decryption-failed",
  {
    bytes: withByte(v2.bytes, 2, 1),
  },
);
negative("aes-gcm-flip-nonce", "AES-256-GCM: nonce byte flipped", v2, "decryption-failed", {
  bytes: flip(v2.bytes, 7 + 5),
});
negative("aes-gcm-flip-tag", "AES-256-GCM: first tag byte flipped", v2, "decryption-failed", {
  bytes: flip(v2.bytes, v2.bytes.length - 16),
});
negative(
  "text-form-flip",
  "a tampered text cell (emoji string, nonce bit flipped) re-encoded as canonical text",
  vEmoji,
  "decryption-failed",
  {
    bytes: flip(vEmoji.bytes, 10, 0x10),
  },
);
negative(
  "cell-swapped-between-fields",
  "a cell sealed for clinic_notes.body read as users.email",
  v1,
  "decryption-failed",
  {
    context: { table: "users", column: "email" },
  },
);

// --- Unknown key ids. ---

negative("key-id-unknown", "the key id byte changed from k1 to k9, which the keyring lacks", v1, "key-not-found", {
  bytes: withByte(v1.bytes, 6, 0x39),
});
negative("key-id-unknown-empty-keyring", "an empty keyring", v1, "key-not-found", { keys: [] });
negative(
  "key-id-unknown-tampered-tag",
  "an unknown key id is reported before any authentication (tag also tampered)",
  v1,
  "key-not-found",
  {
    bytes: flip(withByte(v1.bytes, 6, 0x39), v1.bytes.length - 1),
  },
);

// --- Malformed cells (ERR_INVALID_CELL), checked before any key lookup. ---

negative("bad-magic", "first byte 0xFB instead of 0xFC", v1, "invalid-cell", {
  bytes: withByte(v1.bytes, 0, 0xfb),
  form: "binary",
});
negative("bad-magic-text", "text form whose binary cell starts with 0x00", v1, "invalid-cell", {
  bytes: withByte(v1.bytes, 0, 0),
});
negative(
  "utf8-text-in-bytea",
  "a bytea holding the UTF-8 text of a text cell is not a binary cell",
  v1,
  "invalid-cell",
  {
    bytes: Buffer.from(serializeCell(v1.bytes, "text"), "latin1"),
    form: "binary",
  },
);
negative("version-0", "version byte 0x00", v1, "invalid-cell", { bytes: withByte(v1.bytes, 1, 0) });
negative("version-2", "unknown version 0x02", v1, "invalid-cell", { bytes: withByte(v1.bytes, 1, 2), form: "binary" });
negative("algorithm-0", "algorithm id 0", v1, "invalid-cell", { bytes: withByte(v1.bytes, 2, 0) });
negative("algorithm-3", "unknown algorithm id 3", v1, "invalid-cell", { bytes: withByte(v1.bytes, 2, 3) });
negative("algorithm-255", "unknown algorithm id 255, binary form", v2, "invalid-cell", {
  bytes: withByte(v2.bytes, 2, 0xff),
});
negative("type-0", "value type id 0", v1, "invalid-cell", { bytes: withByte(v1.bytes, 3, 0) });
negative("type-8", "unknown value type id 8", v1, "invalid-cell", { bytes: withByte(v1.bytes, 3, 8) });
negative("key-id-length-0", "key id length 0", v1, "invalid-cell", { bytes: withByte(v1.bytes, 4, 0) });
negative("key-id-length-33", "key id length 33", v1, "invalid-cell", {
  bytes: Buffer.concat([Buffer.of(0xfc, 1, 1, 1, 33), Buffer.from("k".repeat(33)), v1.bytes.subarray(7)]),
});
negative("key-id-bad-char", "key id \"k!\": '!' is outside A-Z a-z 0-9 . _ -", v1, "invalid-cell", {
  bytes: withByte(v1.bytes, 6, 0x21),
});
negative("key-id-non-ascii", "key id byte 0xE9 (latin1 é)", v1, "invalid-cell", { bytes: withByte(v1.bytes, 5, 0xe9) });
negative(
  "too-short-fixed-header",
  "five bytes: shorter than the fixed header plus one key id byte",
  v1,
  "invalid-cell",
  {
    bytes: v1.bytes.subarray(0, 5),
    form: "binary",
  },
);
negative("empty-binary", "an empty byte string", v1, "invalid-cell", { bytes: Buffer.alloc(0), form: "binary" });
negative("header-only", "the header without nonce, ciphertext or tag", v1, "invalid-cell", {
  bytes: v1.bytes.subarray(0, 7),
});
negative(
  "shorter-than-minimum-xaes",
  "XAES cell one byte shorter than header + 24-byte nonce + 16-byte tag",
  vBytesEmpty,
  "invalid-cell",
  {
    bytes: vBytesEmpty.bytes.subarray(0, vBytesEmpty.bytes.length - 1),
  },
);
negative(
  "shorter-than-minimum-aes-gcm",
  "AES-256-GCM cell shorter than header + 12-byte nonce + 16-byte tag",
  v2,
  "invalid-cell",
  {
    bytes: v2.bytes.subarray(0, 7 + 12 + 15),
  },
);
negative(
  "truncated-and-unknown-key",
  "a truncated cell naming an unknown key: format errors come before key lookup",
  v1,
  "invalid-cell",
  {
    bytes: withByte(v1.bytes, 6, 0x39).subarray(0, 7 + 24 + 15),
  },
);
const v1Text = serializeCell(v1.bytes, "text");
const textCase = (id, description, cellText) =>
  negative(id, description, v1, "invalid-cell", { cellText, form: "text" });
textCase("text-empty", "the empty string", "");
textCase("text-prefix-only", '"fc1." with nothing after it', "fc1.");
textCase("text-no-prefix", "base64url of a valid cell without the fc1. prefix", v1Text.slice(4));
textCase("text-prefix-uppercase", 'prefix "FC1." (the prefix is case-sensitive)', `FC1.${v1Text.slice(4)}`);
textCase("text-prefix-fc2", 'prefix "fc2."', `fc2.${v1Text.slice(4)}`);
textCase(
  "text-standard-base64",
  "standard base64 ('+' and '/') instead of base64url",
  `fc1.${v1.bytes.toString("base64")}`,
);
textCase(
  "text-padded",
  "base64url with '=' padding",
  `fc1.${v1.bytes.toString("base64").replaceAll("+", "-").replaceAll("/", "_")}`,
);
textCase("text-whitespace", "a trailing newline", `${v1Text}\n`);
textCase("text-inner-space", "a space inside the base64url", `${v1Text.slice(0, 20)} ${v1Text.slice(20)}`);
textCase("text-non-ascii", "a non-ASCII character after the prefix", `${v1Text}é`);
textCase("text-impossible-length", "base64url length ≡ 1 (mod 4)", `${v1Text}AA`);
{
  // v1 is 59 bytes = 79 base64url characters: the last one carries 4 data bits and 2 bits that must be zero.
  const last = v1Text.at(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const rem = (v1Text.length - 4) % 4;
  if (rem !== 3 && rem !== 2) throw new Error("unexpected text length for the non-canonical case");
  const nonCanonical = alphabet[alphabet.indexOf(last) | 1];
  textCase(
    "text-non-canonical",
    "non-zero unused bits in the last base64url character (decodes to the same bytes)",
    `${v1Text.slice(0, -1)}${nonCanonical}`,
  );
}

// --- Authenticated but malformed payloads (a faulty producer): ERR_INVALID_CELL after the tag checks. ---

badPayload("payload-bigint-negative-zero", 'bigint payload "-0"', "bigint", utf8("-0"));
badPayload("payload-bigint-leading-zero", 'bigint payload "007"', "bigint", utf8("007"));
badPayload("payload-bigint-plus", 'bigint payload "+1"', "bigint", utf8("+1"));
badPayload("payload-bigint-empty", "empty bigint payload", "bigint", Buffer.alloc(0));
badPayload("payload-bigint-space", 'bigint payload " 1"', "bigint", utf8(" 1"));
badPayload("payload-bigint-hex", 'bigint payload "0x10"', "bigint", utf8("0x10"));
badPayload("payload-boolean-2", "boolean payload 02", "boolean", Buffer.of(2));
badPayload("payload-boolean-empty", "empty boolean payload", "boolean", Buffer.alloc(0));
badPayload("payload-boolean-two-bytes", "boolean payload 0100", "boolean", Buffer.of(1, 0));
badPayload("payload-number-7-bytes", "number payload of 7 bytes", "number", Buffer.alloc(7));
badPayload("payload-number-9-bytes", "number payload of 9 bytes", "number", Buffer.alloc(9));
badPayload("payload-date-7-bytes", "date payload of 7 bytes", "date", Buffer.alloc(7));
{
  const i64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(n);
    return b;
  };
  badPayload("payload-date-above-max", "date payload 8.64e15 + 1 ms", "date", i64(8_640_000_000_000_001n));
  badPayload("payload-date-below-min", "date payload -8.64e15 - 1 ms", "date", i64(-8_640_000_000_000_001n));
  badPayload("payload-date-int64-min", "date payload -2^63", "date", i64(-(2n ** 63n)));
}
badPayload("payload-json-truncated", 'JSON payload "{"', "json", utf8("{"));
badPayload("payload-json-empty", "empty JSON payload", "json", Buffer.alloc(0));
badPayload("payload-json-trailing", 'JSON payload with trailing data "[1] [2]"', "json", utf8("[1] [2]"));
badPayload("payload-json-single-quotes", "JSON payload \"{'a':1}\"", "json", utf8("{'a':1}"));

// ---------------------------------------------------------------------------------------------
// Check every case against the built library, then write (or compare) the file.
// ---------------------------------------------------------------------------------------------

function parseCase(c) {
  const keyring = createKeyring(
    Object.entries(c.keys).map(([id, secret]) => ({
      id,
      secret,
      ...(c.keyScopes?.[id] !== undefined && { scope: c.keyScopes[id] }),
    })),
  );
  const cell = c.form === "binary" ? Buffer.from(c.cell, "hex") : c.cell;
  return { keyring, cell };
}

for (const c of cases) {
  const { keyring, cell } = parseCase(c);
  if (c.header === null ? isCell(cell) : !isCell(cell)) throw new Error(`${c.id}: isCell disagrees`);
  if (c.header !== null && JSON.stringify(inspectCell(cell)) !== JSON.stringify(c.header)) {
    throw new Error(`${c.id}: inspectCell disagrees`);
  }
  let outcome;
  try {
    const value = decrypt(keyring, cell, c.context);
    outcome = JSON.stringify(jsonExpected(value)) === JSON.stringify(c.expected) ? "valid" : "wrong value";
  } catch (error) {
    outcome = error.code;
    if (error.code === "ERR_DECRYPTION_FAILED" && error.message !== "decryption failed") outcome = "bad message";
  }
  const expected = c.result === "valid" ? "valid" : c.error;
  if (outcome !== expected) throw new Error(`${c.id}: expected ${expected}, library gives ${outcome}`);
}

const counts = {};
for (const c of cases) counts[c.result] = (counts[c.result] ?? 0) + 1;

const document = {
  name: "fieldcrypt cell format v1 test vectors",
  spec: "spec/cell-format-v1.md",
  generator: "scripts/generate-vectors.mjs (deterministic; frozen: regenerating must give this file byte for byte)",
  notes: [
    'keys: key id → key string (FIELDCRYPT-SECRET-KEY-1- + 43 base64url characters). k1 is the bytes 00..1f; every other key is SHA-256("fieldcrypt cell-v1 test key " ‖ label), where label is the key id or, for wrong-key-material cases, "<id>-other".',
    "keyScopes (optional): key id → the scope that key is restricted to (spec §10, scoped keys). Keys not listed are shared by all scopes.",
    "context: { table, column, scope?, rowKey? }. A rowKey part that is a JSON number is an integer; integer parts bind as their decimal string (spec §5), so a bigint key is given as its decimal string.",
    'form: "text" → cell is the text form; "binary" → cell is the binary cell in lowercase hex.',
    'nonce (valid cases): the nonce in the cell, SHA-256("fieldcrypt cell-v1 test nonce " ‖ id) truncated to 24 or 12 bytes; re-encrypting expected.value with it under the same key and context MUST give the same cell.',
    'result: "valid" (expected.type and expected.value), "decryption-failed" (ERR_DECRYPTION_FAILED, message exactly "decryption failed"), "key-not-found" (ERR_KEY_NOT_FOUND), "invalid-cell" (ERR_INVALID_CELL).',
    'expected.value by type: string → JSON string; bytes → lowercase hex; json → the JSON value; number → JSON number, or "NaN", "Infinity", "-Infinity", "-0"; bigint → decimal string; boolean → JSON boolean; date → milliseconds since the Unix epoch (iso is informative).',
    "payload: the encoded plaintext (spec §6), hex. header: what inspecting the cell without a key MUST report, or null when the cell MUST be rejected as malformed before any key is used.",
    "intermediate (first cases): key, HKDF info, field subkey, header, associated data, nonce, XAES-256-GCM L = AES(subkey, 0^128), CMAC subkey K1, derived key and GCM nonce, payload, ciphertext and tag, all hex.",
  ],
  counts: { total: cases.length, ...counts },
  cases,
};

const text = `${JSON.stringify(document, null, 2)}\n`;
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(OUT, "utf8");
  } catch {}
  if (current !== text) {
    console.error("spec/vectors/cell-v1.json differs from what the generator produces");
    process.exit(1);
  }
  console.log(`spec/vectors/cell-v1.json is up to date (${cases.length} cases)`);
} else {
  writeFileSync(OUT, text);
  console.log(`wrote spec/vectors/cell-v1.json: ${cases.length} cases ${JSON.stringify(counts)}`);
}
