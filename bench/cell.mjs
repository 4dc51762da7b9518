#!/usr/bin/env node
// Cell encrypt/decrypt throughput vs raw node:crypto AES-256-GCM and @47ng/cloak, in one run.
//
//   npm run bench                      # full run (about a minute)
//   node bench/cell.mjs --quick        # fewer rounds
//
// Shared machines are noisy, so every variant runs in interleaved rounds (A, B, C, A, B, C, …) and
// each ratio is the median over rounds of the paired per-round ratio baseline_time / variant_time.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { decryptStringSync, encryptStringSync, generateKey, parseKeySync } from "@47ng/cloak";
import { decrypt, encrypt } from "../packages/fieldcrypt/dist/cell/index.js";
import { XaesKey } from "../packages/fieldcrypt/dist/internal/xaes-256-gcm.js";
import { createKeyring, generateKeyString } from "../packages/fieldcrypt/dist/keyring/index.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 15 : 101;
const TARGET_MS = quick ? 8 : 8; // per variant per round: short rounds, many of them, against bursty noise

const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
const context = { scope: "tenant-1", table: "journal_entries", column: "body" };
const rawKey = randomBytes(32);
const cloakKey = parseKeySync(generateKey());

/** Raw AES-256-GCM exactly as the issue names it: randomBytes(12) + createCipheriv, parts kept apart. */
function rawEncryptBare(plaintext) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", rawKey, iv);
  const ct = cipher.update(plaintext, "utf8");
  cipher.final();
  return [iv, ct, cipher.getAuthTag()];
}
function rawDecryptBare([iv, ct, tag]) {
  const decipher = createDecipheriv("aes-256-gcm", rawKey, iv);
  decipher.setAuthTag(tag);
  const pt = decipher.update(ct);
  decipher.final();
  return pt;
}
// Floors: what any AEAD-with-associated-data design pays through node:crypto, with no cell layer
// at all (no header, no key lookup, no typed values; the parts kept apart, Buffer out).
const floorAad = randomBytes(45); // the size of fieldcrypt's AAD for this context
const floorXaes = new XaesKey(randomBytes(32));
function floorXaesSeal(plaintext) {
  const nonce = randomBytes(24);
  const cipher = createCipheriv("aes-256-gcm", floorXaes.deriveKey(nonce, 0), nonce.subarray(12));
  cipher.setAAD(floorAad);
  const ct = cipher.update(plaintext, "utf8");
  cipher.final();
  return [nonce, ct, cipher.getAuthTag()];
}
function floorXaesOpen([nonce, ct, tag]) {
  const decipher = createDecipheriv("aes-256-gcm", floorXaes.deriveKey(nonce, 0), nonce.subarray(12));
  decipher.setAAD(floorAad);
  decipher.setAuthTag(tag);
  const pt = decipher.update(ct);
  decipher.final();
  return pt;
}
function floorGcmOpen([iv, ct, tag]) {
  const decipher = createDecipheriv("aes-256-gcm", rawKey, iv);
  decipher.setAAD(floorAad);
  decipher.setAuthTag(tag);
  const pt = decipher.update(ct);
  decipher.final();
  return pt;
}
function floorGcmSeal(plaintext) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", rawKey, iv);
  cipher.setAAD(floorAad);
  const ct = cipher.update(plaintext, "utf8");
  cipher.final();
  return [iv, ct, cipher.getAuthTag()];
}

/** The hand-rolled `[nonce‖ct‖tag]` cell that apps store today: one Buffer in, the string back. */
function rawEncryptCell(plaintext) {
  const [iv, ct, tag] = rawEncryptBare(plaintext);
  return Buffer.concat([iv, ct, tag]);
}
function rawDecryptCell(cell) {
  const decipher = createDecipheriv("aes-256-gcm", rawKey, cell.subarray(0, 12));
  decipher.setAuthTag(cell.subarray(cell.length - 16));
  const pt = decipher.update(cell.subarray(12, cell.length - 16));
  decipher.final();
  return pt.toString();
}

// Decrypt cycles through this many distinct cells of each kind, so that no per-cell cache (in
// fieldcrypt, OpenSSL or V8) can flatter a variant that decrypts the same bytes again and again.
const DISTINCT = 1024;

/** Returns a function that applies `fn` to the next of `items`, round robin. */
function cycling(items, fn) {
  let i = 0;
  return () => {
    const item = items[i];
    i = i + 1 === items.length ? 0 : i + 1;
    return fn(item);
  };
}

function variants(plaintext) {
  const many = (make) => Array.from({ length: DISTINCT }, make);
  const binary = { form: "binary" };
  const gcmBinary = { form: "binary", algorithm: "AES-256-GCM" };
  const gcmText = { algorithm: "AES-256-GCM" };
  return {
    encrypt: {
      "raw AES-256-GCM (bare calls)": () => rawEncryptBare(plaintext),
      "raw AES-256-GCM [nonce‖ct‖tag] cell": () => rawEncryptCell(plaintext),
      "fieldcrypt XAES-256-GCM binary": () => encrypt(keyring, plaintext, context, binary),
      "fieldcrypt XAES-256-GCM text": () => encrypt(keyring, plaintext, context),
      "fieldcrypt AES-256-GCM binary": () => encrypt(keyring, plaintext, context, gcmBinary),
      "fieldcrypt AES-256-GCM text": () => encrypt(keyring, plaintext, context, gcmText),
      "floor: XAES-256-GCM + AAD, no cell layer": () => floorXaesSeal(plaintext),
      "floor: AES-256-GCM + AAD, no cell layer": () => floorGcmSeal(plaintext),
      "@47ng/cloak": () => encryptStringSync(plaintext, cloakKey),
    },
    decrypt: {
      "raw AES-256-GCM (bare calls)": cycling(
        many(() => rawEncryptBare(plaintext)),
        rawDecryptBare,
      ),
      "raw AES-256-GCM [nonce‖ct‖tag] cell": cycling(
        many(() => rawEncryptCell(plaintext)),
        rawDecryptCell,
      ),
      "fieldcrypt XAES-256-GCM binary": cycling(
        many(() => encrypt(keyring, plaintext, context, binary)),
        (cell) => decrypt(keyring, cell, context),
      ),
      "fieldcrypt XAES-256-GCM text": cycling(
        many(() => encrypt(keyring, plaintext, context)),
        (cell) => decrypt(keyring, cell, context),
      ),
      "fieldcrypt AES-256-GCM binary": cycling(
        many(() => encrypt(keyring, plaintext, context, gcmBinary)),
        (cell) => decrypt(keyring, cell, context),
      ),
      "fieldcrypt AES-256-GCM text": cycling(
        many(() => encrypt(keyring, plaintext, context, gcmText)),
        (cell) => decrypt(keyring, cell, context),
      ),
      "floor: XAES-256-GCM + AAD, no cell layer": cycling(
        many(() => floorXaesSeal(plaintext)),
        floorXaesOpen,
      ),
      "floor: AES-256-GCM + AAD, no cell layer": cycling(
        many(() => floorGcmSeal(plaintext)),
        floorGcmOpen,
      ),
      "@47ng/cloak": cycling(
        many(() => encryptStringSync(plaintext, cloakKey)),
        (cell) => decryptStringSync(cell, cloakKey),
      ),
    },
  };
}

function calibrate(fn) {
  let n = 256;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= TARGET_MS / 4) return Math.max(64, Math.round((n * TARGET_MS) / ms));
    n *= 2;
  }
}

function run(fns) {
  const names = Object.keys(fns);
  for (const name of names) for (let i = 0; i < 2000; i++) fns[name](); // warm up the JIT
  const iterations = Object.fromEntries(names.map((name) => [name, calibrate(fns[name])]));
  const perOp = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of names) {
      const fn = fns[name];
      const n = iterations[name];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn();
      perOp[name].push(Number(process.hrtime.bigint() - t0) / n);
    }
  }
  return perOp;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const pairedRatio = (base, v) => median(base.map((b, i) => b / v[i]));

const results = [];
for (const size of [32, 256, 4096]) {
  const plaintext = "n".repeat(size);
  const sets = variants(plaintext);
  for (const op of ["encrypt", "decrypt"]) {
    const perOp = run(sets[op]);
    const bare = perOp["raw AES-256-GCM (bare calls)"];
    const cell = perOp["raw AES-256-GCM [nonce‖ct‖tag] cell"];
    const cloak = perOp["@47ng/cloak"];
    for (const [name, times] of Object.entries(perOp)) {
      results.push({
        size,
        op,
        variant: name,
        opsPerSec: Math.round(1e9 / median(times)),
        vsRawBare: pairedRatio(bare, times),
        vsRawCell: pairedRatio(cell, times),
        vsCloak: pairedRatio(cloak, times),
      });
    }
  }
}

const pad = (s, n) => String(s).padEnd(n);
const padL = (s, n) => String(s).padStart(n);
console.log(
  `node ${process.version}, ${ROUNDS} interleaved rounds; ratio = baseline time / variant time (higher is faster)`,
);
console.log(
  `${pad("size", 6)}${pad("op", 9)}${pad("variant", 44)}${padL("ops/s", 10)}${padL("vs raw bare", 13)}${padL("vs raw cell", 13)}${padL("vs cloak", 10)}`,
);
for (const r of results) {
  console.log(
    `${pad(r.size, 6)}${pad(r.op, 9)}${pad(r.variant, 44)}${padL(r.opsPerSec.toLocaleString("en-US"), 10)}${padL(`${r.vsRawBare.toFixed(2)}×`, 13)}${padL(`${r.vsRawCell.toFixed(2)}×`, 13)}${padL(`${r.vsCloak.toFixed(2)}×`, 10)}`,
  );
}
if (process.argv.includes("--json")) console.log(JSON.stringify(results));
