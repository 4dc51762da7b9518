// Interop both ways with the reference `age` CLI (scripts/setup-age.sh) and the age-encryption npm
// package. Without `age`, this fails on CI (CI set) and skips locally with the reason.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateIdentity as ageGenerate, Decrypter, Encrypter, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import {
  decryptStream,
  encryptStream,
  formatIdentityInsecure,
  generateIdentity,
  parseIdentity,
  parseRecipient,
} from "../src/stream/index.js";
import { needs } from "./helpers.js";
import { runThrough } from "./stream-helpers.js";

const hasAge = needs(spawnSync("age", ["--version"]).status === 0, "the age CLI", "run scripts/setup-age.sh");
const sizes = [0, 1, 65535, 65536, 65537, 200_000];

describe.skipIf(!hasAge)("age CLI (skipped: `age` not installed; run scripts/setup-age.sh)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fc-age-"));
  for (const size of sizes) {
    it(`fieldcrypt → age -d, ${size} bytes`, async () => {
      const id = generateIdentity();
      writeFileSync(join(dir, "key.txt"), `${formatIdentityInsecure(id)}\n`, { mode: 0o600 });
      const plain = randomBytes(size);
      const { out } = await runThrough(encryptStream([id.recipient]), plain);
      writeFileSync(join(dir, "f.age"), out);
      const opened = execFileSync("age", ["-d", "-i", join(dir, "key.txt"), join(dir, "f.age")], {
        maxBuffer: 1 << 24,
      });
      expect(Buffer.compare(opened, plain)).toBe(0);
    });
    it(`age -r → fieldcrypt, ${size} bytes`, async () => {
      execFileSync("age-keygen", ["-o", join(dir, `k${size}.txt`)], { stdio: "ignore" });
      const secret = readFileSync(join(dir, `k${size}.txt`), "utf8")
        .split("\n")
        .find((l) => l.startsWith("AGE-SECRET-KEY-1")) as string;
      const id = parseIdentity(secret);
      const plain = randomBytes(size);
      writeFileSync(join(dir, "p.bin"), plain);
      const file = execFileSync("age", ["-r", id.recipient.toString(), join(dir, "p.bin")], { maxBuffer: 1 << 24 });
      const { out, error } = await runThrough(decryptStream([id]), file);
      expect(error).toBeUndefined();
      expect(out.equals(plain)).toBe(true);
      // And a tampered copy is refused by both.
      file[file.length - 1] = (file[file.length - 1] as number) ^ 1;
      expect((await runThrough(decryptStream([id]), file)).error).toMatchObject({ code: "ERR_DECRYPTION_FAILED" });
    });
  }
});

describe("age-encryption (npm)", () => {
  for (const size of sizes) {
    it(`both ways, ${size} bytes`, async () => {
      const secret = await ageGenerate();
      const id = parseIdentity(secret);
      expect(id.recipient.toString()).toBe(await identityToRecipient(secret));
      const plain = randomBytes(size);
      const ours = await runThrough(encryptStream([id.recipient]), plain);
      const d = new Decrypter();
      d.addIdentity(secret);
      expect(Buffer.from(await d.decrypt(ours.out)).equals(plain)).toBe(true);
      const e = new Encrypter();
      e.addRecipient(parseRecipient(id.recipient.toString()).toString());
      const theirs = await e.encrypt(plain);
      const { out, error } = await runThrough(decryptStream([id]), theirs);
      expect(error).toBeUndefined();
      expect(out.equals(plain)).toBe(true);
    });
  }
});
