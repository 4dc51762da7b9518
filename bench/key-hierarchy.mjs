#!/usr/bin/env node
// The key hierarchy's two costs that users feel, local root key against an HSM root key (PKCS#11,
// SoftHSM2 on this machine), each with a baseline measured in the same run:
//
// (a) Root-key rotation: rewrap BENCH_KEYS (10,000) tenant data keys with rotateRootKey, local →
//     local and local → PKCS#11 (and PKCS#11 → local), in keys/s; baselines: the same unwrap+wrap
//     with raw node:crypto AES-256-GCM (no database), the same keyset SELECT + UPDATE … FROM unnest
//     with no crypto (the SQL floor), and the HSM provider's wrap alone (no database).
// (b) First request of a cold tenant — loadKeyring with an empty cache (SELECT + unwrap) then one
//     decrypt — against a warm one (SELECT + cache hit, then the decrypt), for BENCH_TENANTS (500)
//     tenants, p50/p95, local and PKCS#11.
//
//   npm run build --silent && node bench/key-hierarchy.mjs                          (embedded PGlite)
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/key-hierarchy.mjs (server)
//
// Environment: BENCH_KEYS (10000), BENCH_TENANTS (500), BENCH_ROUNDS (3: rotations are medians of
// rounds), BENCH_PKCS11_SESSIONS (1,2: session counts tried for the HSM rotation),
// FIELDCRYPT_BENCH_PKCS11_LIBRARY (default: where Debian's softhsm2 puts it). Without SoftHSM2
// (scripts/setup-softhsm.sh) the PKCS#11 lines are skipped with a note. The token is made for the
// run in a temporary directory (SOFTHSM2_CONF) and removed at the end.
import { execFileSync } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { decrypt, encrypt } from "../packages/fieldcrypt/dist/cell/index.js";
import {
  createKeyCache,
  ensureKeyTable,
  loadKeyring,
  rotateRootKey,
} from "../packages/fieldcrypt/dist/key-store/index.js";
import { dataKeyAad } from "../packages/fieldcrypt/dist/key-store/internal.js";
import { localRootKey } from "../packages/fieldcrypt/dist/kms/index.js";

const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const TENANTS = Math.min(Number(process.env.BENCH_TENANTS ?? 500), KEYS);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SESSION_COUNTS = (process.env.BENCH_PKCS11_SESSIONS ?? "1,2").split(",").map(Number);
const BATCH = 500; // rotateRootKey's default batch, used by the SQL floor too
const PIN = randomBytes(12).toString("hex");

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
async function time(fn) {
  gc();
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

// ---- the database
async function openDb() {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const pglite = new PGlite();
    await pglite.waitReady;
    return { kind: "PGlite", query: (t, v) => pglite.query(t, v), close: () => pglite.close() };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const schema = `fieldcrypt_bench_${randomBytes(4).toString("hex")}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  return {
    kind: "PostgreSQL server",
    query: (t, v) => client.query(t, v),
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

// ---- a SoftHSM2 token for this run
function softHsm() {
  const library = [
    process.env.FIELDCRYPT_BENCH_PKCS11_LIBRARY,
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  ].find((p) => p && existsSync(p));
  if (library === undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-bench-softhsm-"));
  mkdirSync(join(dir, "tokens"));
  writeFileSync(join(dir, "softhsm2.conf"), `directories.tokendir = ${join(dir, "tokens")}\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = join(dir, "softhsm2.conf");
  try {
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN], {
      stdio: "ignore",
    });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { library, dir };
}

const db = await openDb();
const q = { query: async (text, values) => ({ rows: (await db.query(text, values)).rows }) };
const hsm = softHsm();
let pkcs11;
if (hsm !== undefined) {
  try {
    pkcs11 = await import("../packages/fieldcrypt/dist/kms/pkcs11.js");
    await pkcs11.generatePkcs11RootKey({ library: hsm.library, tokenLabel: "bench", pin: PIN, keyLabel: "root" });
  } catch (e) {
    console.log(`note: PKCS#11 unavailable (${e.code ?? e.name}): its lines are skipped`);
    pkcs11 = undefined;
  }
} else {
  console.log("note: SoftHSM2 not found (run scripts/setup-softhsm.sh): the PKCS#11 lines are skipped");
}
const openHsm = (id, sessions) =>
  pkcs11.pkcs11RootKey({ id, library: hsm.library, tokenLabel: "bench", pin: PIN, keyLabel: "root", sessions });

const rootKeys = [
  localRootKey({ id: "local-1", key: randomBytes(32) }),
  localRootKey({ id: "local-2", key: randomBytes(32) }),
];
const rawRoot = randomBytes(32);
const scopes = Array.from({ length: KEYS }, (_, i) => `tenant-${String(i).padStart(6, "0")}`);

console.log(
  `key hierarchy on ${db.kind}, node ${process.version}, ${(await import("node:os")).cpus().length} cores (shared); ` +
    `${fmt(KEYS)} data keys (one per tenant); rotations: median of ${ROUNDS} rounds, batch ${BATCH}`,
);

try {
  // ---- 10,000 tenants, one data key each, under local-1 (bulk insert: createDataKey would add 10,000 round trips)
  await ensureKeyTable(q);
  const ids = scopes.map(() => `dk-${randomBytes(12).toString("base64url")}`);
  for (let i = 0; i < KEYS; i += 1000) {
    const part = ids.slice(i, i + 1000);
    const wrapped = await Promise.all(
      part.map((id, j) => rootKeys[0].wrap(randomBytes(32), dataKeyAad(id, scopes[i + j]))),
    );
    await db.query(
      `INSERT INTO fieldcrypt_keys (id, scope, state, root_key_id, wrapped_key)
       SELECT u.id, u.scope, 'primary', 'local-1', decode(u.w, 'hex') FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, scope, w)`,
      [part, scopes.slice(i, i + 1000), wrapped.map((w) => Buffer.from(w).toString("hex"))],
    );
  }
  await db.query("ANALYZE fieldcrypt_keys");
  const underRoot = async () =>
    (await db.query("SELECT root_key_id, count(*)::int AS n FROM fieldcrypt_keys GROUP BY 1 ORDER BY 1")).rows
      .map((r) => `${r.root_key_id}:${r.n}`)
      .join(",");

  // ---- (a) rotation
  const rows = {};
  const record = (label, ms) => {
    rows[label] ??= [];
    rows[label].push(ms);
  };
  let current = rootKeys[0];
  const rotate = async (to, label) => {
    const { ms, result } = await time(() => rotateRootKey(q, current, to));
    if (result.rewrapped !== KEYS) throw new Error(`${label}: rewrapped ${result.rewrapped}, expected ${KEYS}`);
    record(label, ms);
    current = to;
  };

  for (let round = 0; round < ROUNDS; round++) {
    // Baseline 1: the crypto a local rotation must do, raw node:crypto AES-256-GCM, no database.
    const sample = Array.from({ length: KEYS }, () => {
      const nonce = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", rawRoot, nonce);
      const body = Buffer.concat([c.update(randomBytes(32)), c.final()]);
      return { nonce, body, tag: c.getAuthTag() };
    });
    const raw = await time(async () => {
      for (const w of sample) {
        const d = createDecipheriv("aes-256-gcm", rawRoot, w.nonce);
        d.setAuthTag(w.tag);
        const key = Buffer.concat([d.update(w.body), d.final()]);
        const nonce = randomBytes(12);
        const c = createCipheriv("aes-256-gcm", rawRoot, nonce);
        Buffer.concat([nonce, c.update(key), c.final(), c.getAuthTag()]);
      }
    });
    record("baseline: raw node:crypto unwrap+wrap, no database", raw.ms);

    // Baseline 2: rotateRootKey's SQL with no crypto (same keyset batches, same UPDATE … FROM unnest).
    const sql = await time(async () => {
      let after = "";
      for (;;) {
        const { rows: batch } = await db.query(
          `SELECT id, scope, wrapped_key FROM fieldcrypt_keys
            WHERE root_key_id = $1 AND state <> 'destroyed' AND id > $2 ORDER BY id LIMIT ${BATCH}`,
          [current.id, after],
        );
        if (batch.length === 0) break;
        after = batch[batch.length - 1].id;
        await db.query(
          `UPDATE fieldcrypt_keys AS k SET root_key_id = $1, wrapped_key = decode(u.w, 'hex')
             FROM unnest($2::text[], $3::text[]) AS u(id, w)
            WHERE k.id = u.id AND k.root_key_id = $4 AND k.state <> 'destroyed'`,
          [
            "sql-floor",
            batch.map((r) => r.id),
            batch.map((r) => Buffer.from(r.wrapped_key).toString("hex")),
            current.id,
          ],
        );
      }
    });
    record("baseline: the same SELECT/UPDATE batches, no crypto", sql.ms);
    await db.query("UPDATE fieldcrypt_keys SET root_key_id = $1 WHERE root_key_id = 'sql-floor'", [current.id]);

    const nextLocal = rootKeys.find((r) => r.id !== current.id);
    await rotate(nextLocal, "rotateRootKey local → local");

    if (pkcs11 !== undefined) {
      for (const sessions of SESSION_COUNTS) {
        const provider = await openHsm(`hsm-s${sessions}`, sessions);
        try {
          if (round === 0 && sessions === SESSION_COUNTS[0]) {
            const dk = randomBytes(32);
            const aad = dataKeyAad("dk-x", "tenant-x");
            const alone = await time(() => Promise.all(ids.map(() => provider.wrap(dk, aad))));
            record(`baseline: PKCS#11 wrap alone ×${fmt(KEYS)}, no database (${sessions} session)`, alone.ms);
          }
          await rotate(provider, `rotateRootKey local → PKCS#11 (${sessions} session${sessions > 1 ? "s" : ""})`);
          await rotate(nextLocal, `rotateRootKey PKCS#11 → local (${sessions} session${sessions > 1 ? "s" : ""})`);
        } finally {
          await provider.close();
        }
      }
    }
  }
  const check = await underRoot();
  if (check !== `${current.id}:${KEYS}`) throw new Error(`after the rotations: ${check}`);

  console.log(`\n(a) root-key rotation of ${fmt(KEYS)} data keys`);
  const sqlFloor = median(rows["baseline: the same SELECT/UPDATE batches, no crypto"]);
  const localRate = KEYS / (median(rows["rotateRootKey local → local"]) / 1000);
  console.log(
    `${"".padEnd(62)} ${"ms".padStart(8)} ${"keys/s".padStart(9)} ${"× SQL floor".padStart(12)} ${"vs local→local".padStart(15)}`,
  );
  for (const [label, ms] of Object.entries(rows)) {
    const m = median(ms);
    const rate = KEYS / (m / 1000);
    console.log(
      `${label.padEnd(62)} ${fmt(m).padStart(8)} ${fmt(rate).padStart(9)} ${fmt(m / sqlFloor, 2).padStart(12)} ${fmt(rate / localRate, 2).padStart(15)}`,
    );
  }

  // ---- (b) cold vs warm first request
  const sampleScopes = Array.from({ length: TENANTS }, (_, i) => scopes[Math.floor((i * KEYS) / TENANTS)]);
  const ctx = (scope) => ({ scope, table: "notes", column: "body", rowKey: 1 });
  const latency = async (label, provider) => {
    // One cell per sampled tenant, written with its own data key.
    const all = await loadKeyring(q, provider, { scopes: sampleScopes, shared: false });
    const cells = new Map(sampleScopes.map((s) => [s, encrypt(all, `note of ${s}`, ctx(s))]));
    const cold = [];
    const warm = [];
    const held = [];
    gc();
    for (const scope of sampleScopes) {
      const cache = createKeyCache({ maxKeys: 10 });
      let t0 = process.hrtime.bigint();
      let keyring = await loadKeyring(q, provider, { scopes: [scope], cache, shared: false });
      let value = decrypt(keyring, cells.get(scope), ctx(scope));
      cold.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (value !== `note of ${scope}`) throw new Error(`${label}: ${scope} decrypted wrong`);
      t0 = process.hrtime.bigint();
      keyring = await loadKeyring(q, provider, { scopes: [scope], cache, shared: false });
      value = decrypt(keyring, cells.get(scope), ctx(scope));
      warm.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (value !== `note of ${scope}`) throw new Error(`${label}: ${scope} decrypted wrong`);
      t0 = process.hrtime.bigint();
      value = decrypt(keyring, cells.get(scope), ctx(scope));
      held.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const line = (what, xs) =>
      console.log(
        `${`${label}: ${what}`.padEnd(62)} ${fmt(quantile(xs, 0.5), 3).padStart(8)} ${fmt(quantile(xs, 0.95), 3).padStart(8)}`,
      );
    line("cold (SELECT + unwrap + decrypt)", cold);
    line("warm (SELECT + cache hit + decrypt)", warm);
    line("keyring already held (decrypt only)", held);
    console.log(
      `${`${label}: cold − warm (the unwrap), p50`.padEnd(62)} ${fmt(quantile(cold, 0.5) - quantile(warm, 0.5), 3).padStart(8)}`,
    );
  };
  console.log(`\n(b) first request of a tenant, ${fmt(TENANTS)} tenants out of ${fmt(KEYS)}`);
  console.log(`${"".padEnd(62)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)}`);
  await latency("local", current);
  if (pkcs11 !== undefined) {
    const provider = await openHsm("hsm-latency", 1);
    try {
      await rotateRootKey(q, current, provider);
      await latency("PKCS#11", provider);
    } finally {
      await provider.close();
    }
  }
} finally {
  await db.close();
  if (hsm !== undefined) rmSync(hsm.dir, { recursive: true, force: true });
}
