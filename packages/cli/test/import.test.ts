// `fieldcrypt import` and the legacy counts of `fieldcrypt status`, on the PostgreSQL server (a
// child process cannot share PGlite): Fernet tokens made by Python's `cryptography` become cells;
// a corrupt token is recorded and counted, never printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, checkCase, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const KEY1 = generateKeyString();
const FERNET_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="; // Fernet spec test key
const PRODUCER = fileURLToPath(new URL("../../fieldcrypt/test/interop/legacy_producer.py", import.meta.url));
const hasPython = spawnSync("python3", ["-c", "import cryptography"]).status === 0;

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-import-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
const LEGACY = pathToFileURL(require.resolve("fieldcrypt/legacy")).href;
const CONFIG = join(dir, "legacy.mjs");
writeFileSync(
  CONFIG,
  `import { fernetFormat } from ${JSON.stringify(LEGACY)};
const fernet = fernetFormat({ key: process.env.TEST_FERNET_KEY });
export default { tables: [
  { table: "diary", primaryKey: ["id"], scope: { column: "user_id" }, columns: { body: { legacy: fernet } } },
] };\n`,
);

function expectNoSecrets(result: CliResult, tokens: readonly string[]): void {
  const all = result.stdout + result.stderr;
  expect(all).not.toContain(KEY1);
  expect(all).not.toContain(FERNET_KEY);
  expect(all).not.toMatch(/diary entry/);
  for (const token of tokens) expect(all).not.toContain(token.slice(0, 40));
}

describe("fieldcrypt import: command line", () => {
  it("--help explains it, and --kind is refused", async () => {
    const help = await runCli(["import", "--help"]);
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(/fernetFormat/);
    expect(help.stdout).toMatch(/importFrom/);
    await checkCase({
      name: "kind",
      args: ["import", "--kind", "rotate"],
      exit: 2,
      stderr: errorLines("import takes no --kind", "it runs `fieldcrypt jobs run --kind import`"),
    });
  });
});

describe.skipIf(!hasPython)(`fieldcrypt import on ${WHERE}`, () => {
  let admin: CliTestDb;
  let schema: string;
  let env: Record<string, string>;
  let tokens: string[] = [];

  beforeAll(async () => {
    const messages = Array.from({ length: 20 }, (_, i) => `diary entry ${i}`);
    const run = spawnSync("python3", [PRODUCER], {
      input: JSON.stringify([{ op: "fernet", key: FERNET_KEY, messages }]),
      encoding: "utf8",
    });
    tokens = (JSON.parse(run.stdout) as { tokens: string[] }[])[0]?.tokens as string[];
    const corrupt = `${tokens[19]?.slice(0, 50)}${tokens[19]?.[50] === "A" ? "B" : "A"}${tokens[19]?.slice(51)}`;
    admin = await openCliTestDb("fc_import");
    schema = admin.schema;
    await admin.query(`CREATE TABLE ${schema}.diary (id integer PRIMARY KEY, user_id integer NOT NULL, body text)`);
    await admin.query(`INSERT INTO ${schema}.diary SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`, [
      [...messages.keys()].map((i) => i + 1),
      messages.map((_, i) => i % 4),
      [...tokens.slice(0, 18), "a plaintext entry", corrupt],
    ]);
    await admin.query(`INSERT INTO ${schema}.diary VALUES (21, 1, NULL)`);
    env = { DATABASE_URL: admin.url, TEST_FERNET_KEY: FERNET_KEY };
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("status counts legacy values; import turns them into cells; a corrupt token is recorded", async () => {
    const before = await runCli(["status", "--config", CONFIG], { env });
    expect(before.stdout).toBe(
      "TABLE  COLUMN  PLAINTEXT  LEGACY  NULL  TOTAL\ndiary  body            1      19     1     21\n",
    );
    const dry = await runCli(["import", "--config", CONFIG, "--dry-run"], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expectNoSecrets(dry, tokens);
    expect(dry.stdout).toMatch(/import diary: done \(dry run\), 21 rows read, 18 would change, 0 skipped, 1 failed/);
    const run = await runCli(["import", "--config", CONFIG, "--batch-size", "5"], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expectNoSecrets(run, tokens);
    expect(run.exit).toBe(1);
    expect(run.stdout).toMatch(/\nimport diary: done, 21 rows read, 18 changed, 0 skipped, 1 failed; job /);
    const id = /job ([0-9a-f-]{36})\n/.exec(run.stdout)?.[1] as string;
    expect(run.stderr).toBe(errorLines("1 row of diary failed", `run \`fieldcrypt jobs errors ${id}\` to list them`));
    const errors = await runCli(["jobs", "errors", id, "--json"], { env });
    expect(JSON.parse(errors.stdout)).toEqual([
      { table: "diary", rowKey: ["20"], column: "body", code: "ERR_DECRYPTION_FAILED", time: expect.any(String) },
    ]);
    const after = await runCli(["status", "--config", CONFIG, "--json"], { env });
    expect(JSON.parse(after.stdout)).toEqual([
      {
        table: "diary",
        column: "body",
        plaintext: 1,
        legacy: 1,
        unreadable: 0,
        pendingImport: 0,
        keys: { v1: 18 },
        null: 1,
        total: 21,
        failed: 1,
        checkValues: { v1: { recorded: [expect.stringMatching(/^kcv1:/)], configured: null } },
      },
    ]);
    const text = await runCli(["status", "--config", CONFIG], { env });
    expect(text.stdout.split("\n\n")[0]).toBe(
      "TABLE  COLUMN  PLAINTEXT  LEGACY  KEY v1  NULL  TOTAL  FAILED\ndiary  body            1       1      18     1     21       1",
    );
    const { rows } = await admin.query<{ body: string }>(`SELECT body FROM ${schema}.diary WHERE id <= 18 ORDER BY id`);
    expect(rows.every((r) => r.body.startsWith("fc1."))).toBe(true);
  });

  it("status counts the values still waiting in an importFrom source column, and the import takes them", async () => {
    const config = join(dir, "import-from.mjs");
    writeFileSync(
      config,
      `import { fernetFormat } from ${JSON.stringify(LEGACY)};
const fernet = fernetFormat({ key: process.env.TEST_FERNET_KEY });
export default { tables: [
  { table: "journal", primaryKey: ["id"], scope: { column: "user_id" }, columns: { body: { legacy: fernet } }, importFrom: { body: "body_fernet" } },
] };\n`,
    );
    await admin.query(
      `CREATE TABLE ${schema}.journal (id integer PRIMARY KEY, user_id integer NOT NULL, body_fernet text, body text)`,
    );
    await admin.query(`INSERT INTO ${schema}.journal SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`, [
      [1, 2, 3, 4],
      [1, 1, 2, 2],
      [tokens[0], tokens[1], tokens[2], null],
    ]);
    const before = await runCli(["status", "--config", config], { env });
    expect(before.stdout).toBe(
      "TABLE    COLUMN  PLAINTEXT  LEGACY  TO IMPORT  NULL  TOTAL\njournal  body            0       0          3     1      4\n",
    );
    const json = await runCli(["status", "--config", config, "--json"], { env });
    expect(JSON.parse(json.stdout)).toMatchObject([{ column: "body", pendingImport: 3, null: 1, total: 4 }]);
    const run = await runCli(["import", "--config", config], { env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` } });
    expectNoSecrets(run, tokens);
    expect(run.exit).toBe(0);
    const after = await runCli(["status", "--config", config, "--json"], { env });
    expect(JSON.parse(after.stdout)).toMatchObject([{ column: "body", pendingImport: 0, keys: { v1: 3 }, null: 1 }]);
    const missing = join(dir, "import-from-missing.mjs");
    writeFileSync(
      missing,
      `export default { tables: [{ table: "journal", columns: { body: {} }, importFrom: { body: "nope" } }] };\n`,
    );
    const refused = await runCli(["status", "--config", missing], { env });
    expect([refused.exit, refused.stderr]).toEqual([
      1,
      errorLines("column journal.nope (importFrom of body) does not exist", "check the config's importFrom"),
    ]);
  });
});
