// `fieldcrypt import` over a chained master key recipe written in the config file, as
// docs/legacy-import.md shows it: master = urlsafe_b64encode(PBKDF2-SHA256(secret, salt, 50,000)),
// per-user key = PBKDF2-SHA1 over it with the salt f"user_{user_id}_salt", tokens stored
// double-base64. Python's `cryptography` makes every token (no crypto here); the import takes every
// good row, records the bad ones with scope and code, status and verify tell the truth, and the
// secret never shows. A malformed recipe stops the config from loading, naming the option.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const KEY1 = generateKeyString();
const SECRET = "CANARY-LEGACY-SECRET-4c2a";
const PRODUCER = fileURLToPath(new URL("../../fieldcrypt/test/interop/legacy_producer.py", import.meta.url));
const hasPython = spawnSync("python3", ["-c", "import cryptography"]).status === 0;

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-import-recipes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
const LEGACY = pathToFileURL(require.resolve("fieldcrypt/legacy")).href;

/** The config file of docs/legacy-import.md's chained recipe, with `template` as its salt template. */
function writeConfig(name: string, template: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `import { fernetFormat } from ${JSON.stringify(LEGACY)};
const journal = fernetFormat({
  derive: {
    masterKey: {
      pbkdf2: { secret: process.env.LEGACY_SECRET, salt: "journal-master-salt", iterations: 50_000, hash: "sha256" },
      encoding: "base64url",
    },
    salt: { template: ${JSON.stringify(template)} },
    iterations: 10_000,
    hash: "sha1",
  },
  doubleBase64: true,
});
export default { tables: [
  { table: "journal", primaryKey: ["id"], scope: { column: "user_id" }, columns: { body: { legacy: journal } } },
] };\n`,
  );
  return file;
}
const CONFIG = writeConfig("chained.mjs", "user_{user_id}_salt");

const RECIPE = {
  op: "fernet_recipe",
  chain: [{ salt: "journal-master-salt", iterations: 50_000, hash: "sha256", encoding: "base64url" }],
  salt: 'f"user_{user_id}_salt".encode()',
  iterations: 10_000,
  hash: "sha1",
  double: "std",
};

const ENTRIES = [3, 17, 40].flatMap((user_id) =>
  Array.from({ length: 4 }, (_, i) => ({ user_id, message: `journal entry ${i} of ${user_id}` })),
);

function expectNoSecrets(result: CliResult, tokens: readonly string[]): void {
  const all = result.stdout + result.stderr;
  expect(all).not.toContain(SECRET);
  expect(all).not.toContain(KEY1);
  expect(all).not.toMatch(/journal entry/);
  for (const token of tokens) expect(all).not.toContain(token.slice(0, 40));
}

describe.skipIf(!hasPython)(`fieldcrypt import with a chained master key recipe on ${WHERE}`, () => {
  let admin: CliTestDb;
  let tokens: string[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    const run = spawnSync("python3", [PRODUCER], {
      input: JSON.stringify([
        { ...RECIPE, secret: SECRET, rows: ENTRIES },
        { ...RECIPE, secret: SECRET, rows: [{ user_id: 99, message: "journal entry of user 99" }] },
      ]),
      encoding: "utf8",
    });
    if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
    const [made, other] = JSON.parse(run.stdout) as { tokens: string[] }[];
    tokens = made?.tokens as string[];
    // Row 13: a token with one character of its (inner) Fernet text changed; row 14: user 99's token.
    const inner = Buffer.from(tokens[0] as string, "base64").toString("latin1");
    const corrupt = Buffer.from(`${inner.slice(0, 60)}${inner[60] === "A" ? "B" : "A"}${inner.slice(61)}`).toString(
      "base64",
    );
    admin = await openCliTestDb("fc_import_recipes");
    await admin.query(
      `CREATE TABLE ${admin.schema}.journal (id integer PRIMARY KEY, user_id integer NOT NULL, body text)`,
    );
    await admin.query(
      `INSERT INTO ${admin.schema}.journal SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`,
      [
        [...ENTRIES.keys(), 12, 13].map((i) => i + 1),
        [...ENTRIES.map((e) => e.user_id), 3, 17],
        [...tokens, corrupt, other?.tokens[0]],
      ],
    );
    env = { DATABASE_URL: admin.url, LEGACY_SECRET: SECRET };
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("imports every good row, records the bad ones with scope and code; status and verify agree", async () => {
    const before = await runCli(["status", "--config", CONFIG, "--json"], { env });
    expectNoSecrets(before, tokens);
    expect(JSON.parse(before.stdout)).toMatchObject([{ table: "journal", column: "body", legacy: 14, total: 14 }]);

    const run = await runCli(["import", "--config", CONFIG, "--batch-size", "5"], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expectNoSecrets(run, tokens);
    expect(run.exit).toBe(1);
    expect(run.stdout).toMatch(/\nimport journal: done, 14 rows read, 12 changed, 0 skipped, 2 failed; job /);
    const id = /job ([0-9a-f-]{36})\n/.exec(run.stdout)?.[1] as string;
    expect(run.stderr).toBe(
      errorLines("2 rows of journal failed", `run \`fieldcrypt jobs errors ${id}\` to list them`),
    );

    const errors = await runCli(["jobs", "errors", id, "--json"], { env });
    expectNoSecrets(errors, tokens);
    expect(JSON.parse(errors.stdout)).toMatchObject([
      { table: "journal", rowKey: ["13"], column: "body", scope: "3", code: "ERR_DECRYPTION_FAILED" },
      { table: "journal", rowKey: ["14"], column: "body", scope: "17", code: "ERR_DECRYPTION_FAILED" },
    ]);
    const after = await runCli(["status", "--config", CONFIG, "--json"], { env });
    expect(JSON.parse(after.stdout)).toMatchObject([
      { table: "journal", column: "body", plaintext: 0, legacy: 2, keys: { v1: 12 }, total: 14, failed: 2 },
    ]);
    const { rows } = await admin.query<{ id: number; body: string }>(
      `SELECT id, body FROM ${admin.schema}.journal ORDER BY id`,
    );
    expect(rows.filter((r) => r.body.startsWith("fc1.")).map((r) => r.id)).toEqual(
      [...ENTRIES.keys()].map((i) => i + 1),
    );

    // The column is strict: verify opens the 12 cells and names the 2 legacy values left behind.
    const verify = await runCli(["jobs", "run", "--kind", "verify", "--config", CONFIG], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expectNoSecrets(verify, tokens);
    expect(verify.exit).toBe(1);
    expect(verify.stdout).toMatch(/verify journal: done, 14 rows read, 0 changed, 0 skipped, 2 failed; job /);
    const verifyId = /job ([0-9a-f-]{36})\n/.exec(verify.stdout)?.[1] as string;
    const notCells = await runCli(["jobs", "errors", verifyId, "--json"], { env });
    expect(JSON.parse(notCells.stdout)).toMatchObject([
      { rowKey: ["13"], code: "ERR_NOT_ENCRYPTED" },
      { rowKey: ["14"], code: "ERR_NOT_ENCRYPTED" },
    ]);
  }, 240_000); // six CLI runs, each opening PGlite

  it("a malformed recipe stops the config from loading, naming the option and never the secret", async () => {
    const bad = writeConfig("unbalanced.mjs", "user_{user_id_salt");
    const result = await runCli(["status", "--config", bad], { env });
    expectNoSecrets(result, tokens);
    expect([result.exit, result.stdout, result.stderr]).toEqual([
      3,
      "",
      errorLines(
        `cannot load config file ${bad}: derive.salt.template has a { without its }`,
        "check the keys the config module reads",
      ),
    ]);
  });
});
