// Streams 1 GiB (FC_BENCH_BYTES) through a plain file copy, age encryption and age decryption, each
// in its own child process so that peak RSS is per operation (page cache → /dev/null, best of 3). Run: npm run build && node bench/stream.mjs
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";

const [mode, input, output, secret] = process.argv.slice(2);
if (mode) {
  const stream = await import("fieldcrypt/stream");
  const t = process.hrtime.bigint();
  let transform = new PassThrough({ highWaterMark: 64 * 1024 });
  if (mode === "encrypt") transform = stream.createEncryptTransform([stream.parseIdentity(secret).recipient]);
  if (mode === "decrypt") transform = stream.createDecryptTransform([stream.parseIdentity(secret)]);
  await pipeline(createReadStream(input), transform, createWriteStream(output));
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  process.stdout.write(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
} else {
  const bytes = Number(process.env.FC_BENCH_BYTES ?? 2 ** 30);
  const dir = mkdtempSync(join(tmpdir(), "fc-stream-bench-"));
  const { formatIdentityInsecure, generateIdentity } = await import("fieldcrypt/stream");
  const secretKey = formatIdentityInsecure(generateIdentity());
  const plain = join(dir, "plain");
  const block = randomBytes(1 << 20);
  const out = createWriteStream(plain);
  for (let i = 0; i < bytes; i += block.length)
    if (!out.write(block.subarray(0, Math.min(block.length, bytes - i))))
      await new Promise((r) => out.once("drain", r));
  await new Promise((r) => out.end(r));
  const run = (m, a, b) =>
    JSON.parse(
      execFileSync(process.execPath, [new URL(import.meta.url).pathname, m, a, b, secretKey], {
        env: process.env,
      }).toString(),
    );
  const hash = async (p) => {
    const h = createHash("sha256");
    for await (const chunk of createReadStream(p)) h.update(chunk);
    return h.digest("hex");
  };
  // Untimed: write the age file and check the round trip once.
  run("encrypt", plain, join(dir, "f.age"));
  run("decrypt", join(dir, "f.age"), join(dir, "out"));
  const same = (await hash(plain)) === (await hash(join(dir, "out")));
  rmSync(join(dir, "out"));
  // Timed: the three operations from the page cache to /dev/null, so disk write-back does not
  // favour whichever runs first; the best of 3 interleaved rounds.
  const best = (a, b) => (b === undefined || a.seconds < b.seconds ? a : b);
  let copy;
  let enc;
  let dec;
  for (let round = 0; round < 3; round++) {
    copy = best(run("copy", plain, "/dev/null"), copy);
    enc = best(run("encrypt", plain, "/dev/null"), enc);
    dec = best(run("decrypt", join(dir, "f.age"), "/dev/null"), dec);
  }
  const mbps = (s) => (bytes / s / 1e6).toFixed(0);
  const row = (name, r) =>
    `${name.padEnd(8)} ${r.seconds.toFixed(2)} s  ${mbps(r.seconds)} MB/s  peak RSS ${r.maxRssMiB.toFixed(0)} MiB  ${(copy.seconds / r.seconds).toFixed(2)}x copy`;
  console.log(`bytes ${bytes}  age file ${statSync(join(dir, "f.age")).size}  round-trip identical: ${same}`);
  console.log(row("copy", copy));
  console.log(row("encrypt", enc));
  console.log(row("decrypt", dec));
  rmSync(dir, { recursive: true, force: true });
}
