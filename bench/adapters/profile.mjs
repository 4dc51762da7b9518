#!/usr/bin/env node
// Where an adapter's select-and-decrypt time goes: a CPU profile of its decrypted selects only.
//
//   DATABASE_URL=… node bench/adapters/profile.mjs kysely [selects=30]
//
// Fills the adapter's tables once (ROWS rows), then runs `selects` rounds of: plaintext select,
// select of the cells without the adapter, decrypted select, bare core decrypts of those cells —
// then profiles `selects` decrypted selects alone with the V8 CPU profiler (node:inspector). Prints
// the medians, then the profile: self time by function and by bucket (the core decrypt, the adapter's
// own code, the ORM, the pg driver, GC, …) and the inclusive time under the core decrypt().
// Writes the profiles to .bench-out/<adapter>-select.cpuprofile and -bare.cpuprofile (Chrome DevTools).
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { decrypt } from "../../packages/fieldcrypt/dist/cell/index.js";
import { benchEnv, COLUMNS, cellsOf, median, notesDDL, openDb, sampleRows, time } from "./shared.mjs";

const key = process.argv[2] ?? "kysely";
const SELECTS = Number(process.argv[3] ?? 30);
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);

const db = await openDb();
const env = benchEnv(db);
await env.scopes.run(env.scope, async () => {});
const adapter = await (await import(`./${key}.mjs`)).open(env);
if (adapter === undefined) {
  await db.close();
  process.exit(0);
}
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 100 });

const times = { plain: [], cells: [], enc: [], bare: [] };
const profiles = {};
try {
  await adapter.run(async () => {
    await db.query(`DROP TABLE IF EXISTS ${adapter.plainTable}, ${adapter.encTable}`);
    await db.query(notesDDL(adapter.plainTable));
    await db.query(notesDDL(adapter.encTable));
    const rows = sampleRows(ROWS);
    await adapter.insertPlain(rows.map((r) => ({ ...r })));
    await adapter.insertEncrypted(rows.map((r) => ({ ...r })));
    const { cells, contexts } = cellsOf(adapter, await adapter.selectCells());
    for (let i = -3; i < SELECTS; i++) {
      const plain = await time(adapter.selectPlain);
      const stored = await time(adapter.selectCells);
      const enc = await time(adapter.selectEncrypted);
      const out = new Array(cells.length);
      const bare = await time(() => {
        for (let j = 0; j < cells.length; j++) out[j] = decrypt(env.keyring, cells[j], contexts[j]);
      });
      if (i < 0) continue;
      times.plain.push(plain.ms);
      times.cells.push(stored.ms);
      times.enc.push(enc.ms);
      times.bare.push(bare.ms);
    }
    // Then two profiles (a full GC before each operation, as timed): the decrypted selects alone,
    // and the bare decrypts alone.
    await session.post("Profiler.start");
    for (let i = 0; i < SELECTS; i++) await time(adapter.selectEncrypted);
    profiles.select = (await session.post("Profiler.stop")).profile;
    await session.post("Profiler.start");
    for (let i = 0; i < SELECTS; i++) {
      const out = new Array(cells.length);
      await time(() => {
        for (let j = 0; j < cells.length; j++) out[j] = decrypt(env.keyring, cells[j], contexts[j]);
      });
    }
    profiles.bare = (await session.post("Profiler.stop")).profile;
  });
} finally {
  await db.query(`DROP TABLE IF EXISTS ${adapter.plainTable}, ${adapter.encTable}`);
  await adapter.close();
  await db.close();
}
session.disconnect();
mkdirSync(".bench-out", { recursive: true });
writeFileSync(`.bench-out/${key}-select.cpuprofile`, JSON.stringify(profiles.select));
writeFileSync(`.bench-out/${key}-bare.cpuprofile`, JSON.stringify(profiles.bare));
const [p, c, e, b] = [times.plain, times.cells, times.enc, times.bare].map(median);
console.log(`${adapter.name} on ${db.kind}: ${ROWS} rows × ${COLUMNS.length} columns, median of ${SELECTS} selects`);
console.log(
  `  plaintext select ${p.toFixed(1)} ms   cells without adapter ${c.toFixed(1)} ms   decrypted ${e.toFixed(1)} ms   bare decrypts ${b.toFixed(1)} ms`,
);
console.log(`  decrypted − plaintext = ${(e - p).toFixed(1)} ms = ${((e - p) / b).toFixed(2)}× bare`);
const select = analyze(profiles.select);
const bare = analyze(profiles.bare);
const per = (ms) => `${(ms / SELECTS).toFixed(1).padStart(7)}`;
console.log(
  `\nCPU profile, ms per operation (${SELECTS} of each)                 decrypted select   bare decrypts   difference`,
);
const names = [...new Set([...select.buckets.keys(), ...bare.buckets.keys()])].sort(
  (x, y) => (select.buckets.get(y) ?? 0) - (select.buckets.get(x) ?? 0),
);
for (const name of ["total (sampled)", ...names]) {
  const s1 = name === "total (sampled)" ? select.total : (select.buckets.get(name) ?? 0);
  const b1 = name === "total (sampled)" ? bare.total : (bare.buckets.get(name) ?? 0);
  if (s1 / SELECTS < 0.05 && b1 / SELECTS < 0.05) continue;
  console.log(`  ${name.padEnd(62)} ${per(s1).padStart(16)}   ${per(b1).padStart(13)}   ${per(s1 - b1).padStart(10)}`);
}
console.log("\ndecrypted select, self time by function outside the core decrypt() (top 15, ms per select):");
for (const [f, ms] of [...select.fns].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`  ${per(ms)}  ${f}`);
console.log(`\nprofiles: .bench-out/${key}-select.cpuprofile, .bench-out/${key}-bare.cpuprofile`);

/** Self time of a V8 CPU profile, bucketed: inside the core decrypt(), GC, adapter layer, ORM, driver. */
function analyze(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isDecrypt = (n) => n.callFrame.functionName === "decrypt" && n.callFrame.url.includes("/dist/cell/decrypt.js");
  const inDecrypt = new Map();
  const underDecrypt = (id) => {
    if (inDecrypt.has(id)) return inDecrypt.get(id);
    const n = byId.get(id);
    const p = parent.get(id);
    const result = isDecrypt(n) || (p !== undefined && underDecrypt(p));
    inDecrypt.set(id, result);
    return result;
  };
  const label = (n) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url
      .replace(/^file:\/\//, "")
      .replace(/^.*\/node_modules\//, "")
      .replace(/^.*\/packages\/fieldcrypt\/dist\//, "fieldcrypt/");
    return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
  };
  const bucket = (id) => {
    const n = byId.get(id);
    const { url, functionName } = n.callFrame;
    if (functionName === "(garbage collector)") return "GC";
    if (underDecrypt(id)) return "inside the core decrypt() (incl. node:crypto)";
    if (functionName === "(program)") return "(program)";
    if (url.includes("/fieldcrypt/dist/")) return "fieldcrypt outside decrypt() (adapter, column, table, scope)";
    if (url.includes("/bench/")) return "bench loop";
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (m) return `${m[1]} (ORM / driver)`;
    return "node internals / native outside decrypt()";
  };
  const self = new Map();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  let total = 0;
  const buckets = new Map();
  const fns = new Map();
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (n.callFrame.functionName === "(idle)") continue;
    total += ms;
    const b = bucket(id);
    buckets.set(b, (buckets.get(b) ?? 0) + ms);
    if (b !== "inside the core decrypt() (incl. node:crypto)") fns.set(label(n), (fns.get(label(n)) ?? 0) + ms);
  }
  return { total, buckets, fns };
}
