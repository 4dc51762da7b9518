// `fieldcrypt import` and the legacy counts of `fieldcrypt status`, on the PostgreSQL server (a
// child process cannot share PGlite): Fernet tokens made by Python's `cryptography` become cells;
// a corrupt token is recorded and counted, never printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { encryptString, generateKey } from "@47ng/cloak";
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
    // The scope is row 20's user_id (an integer column) as text.
    expect(JSON.parse(errors.stdout)).toEqual([
      {
        table: "diary",
        rowKey: ["20"],
        column: "body",
        scope: "3",
        code: "ERR_DECRYPTION_FAILED",
        errorClass: "DecryptionFailed",
        time: expect.any(String),
      },
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

  it("a legacy value cut short is UNREADABLE in status and a failed row of encrypt and import, never sealed", async () => {
    const cloakKey = generateKey();
    const emails = await Promise.all([0, 1, 2].map((i) => encryptString(`user${i}@example.org`, cloakKey)));
    const config = join(dir, "cut-short.mjs");
    writeFileSync(
      config,
      `import { cloakFormat, fernetFormat } from ${JSON.stringify(LEGACY)};
const fernet = fernetFormat({ key: process.env.TEST_FERNET_KEY });
const cloak = cloakFormat({ keys: process.env.TEST_CLOAK_KEY });
export default { tables: [
  { table: "notes", primaryKey: ["id"], columns: { body: { legacy: fernet }, email: { legacy: cloak } } },
] };\n`,
    );
    // Row 3: a Fernet token made by Python cut short (still gAAAAA…) and a cloak string cut inside its ciphertext.
    const cut = { body: (tokens[2] as string).slice(0, 60), email: (emails[2] as string).slice(0, 50) };
    await admin.query(`CREATE TABLE ${schema}.notes (id integer PRIMARY KEY, body text, email text)`);
    await admin.query(
      `INSERT INTO ${schema}.notes VALUES (1, $1, $2), (2, $3, $4), (3, $5, $6), (4, 'a plaintext note', NULL)`,
      [tokens[0], emails[0], tokens[1], emails[1], cut.body, cut.email],
    );
    const cloakEnv = { ...env, TEST_CLOAK_KEY: cloakKey };
    /** A job's recorded errors as [row key, column, code]. */
    const recorded = async (jobId: string) =>
      (
        JSON.parse((await runCli(["jobs", "errors", jobId, "--json"], { env: cloakEnv })).stdout) as {
          rowKey: string[];
          column: string;
          code: string;
        }[]
      ).map((e) => [e.rowKey, e.column, e.code]);
    const jobEnv = { ...cloakEnv, FIELDCRYPT_KEYS: `v1=${KEY1}` };
    const before = await runCli(["status", "--config", config], { env: cloakEnv });
    expect(before.stdout).toBe(
      [
        "TABLE  COLUMN  PLAINTEXT  LEGACY  UNREADABLE  NULL  TOTAL",
        "notes  body            1       2           1     0      4",
        "notes  email           0       2           1     1      4",
        "",
      ].join("\n"),
    );
    // An encrypt job seals the plaintext only, and fails row 3 rather than seal what it holds.
    const encrypt = await runCli(["jobs", "run", "--kind", "encrypt", "--config", config], { env: jobEnv });
    expectNoSecrets(encrypt, [...tokens, ...emails]);
    expect(encrypt.exit).toBe(1);
    expect(encrypt.stdout).toMatch(/\nencrypt notes: done, 4 rows read, 1 changed, 0 skipped, 1 failed; job /);
    const encryptId = /job ([0-9a-f-]{36})\n/.exec(encrypt.stdout)?.[1] as string;
    expect(await recorded(encryptId)).toEqual([
      [["3"], "body", "ERR_DECRYPTION_FAILED"],
      [["3"], "email", "ERR_DECRYPTION_FAILED"],
    ]);
    // The import opens rows 1 and 2, records row 3 and exits non-zero.
    const run = await runCli(["import", "--config", config], { env: jobEnv });
    expectNoSecrets(run, [...tokens, ...emails]);
    expect(run.exit).toBe(1);
    expect(run.stdout).toMatch(/\nimport notes: done, 4 rows read, 2 changed, 0 skipped, 1 failed; job /);
    const id = /job ([0-9a-f-]{36})\n/.exec(run.stdout)?.[1] as string;
    expect(run.stderr).toBe(errorLines("1 row of notes failed", `run \`fieldcrypt jobs errors ${id}\` to list them`));
    expect(await recorded(id)).toEqual([
      [["3"], "body", "ERR_DECRYPTION_FAILED"],
      [["3"], "email", "ERR_DECRYPTION_FAILED"],
    ]);
    const after = await runCli(["status", "--config", config, "--json"], { env: cloakEnv });
    expect(JSON.parse(after.stdout)).toMatchObject([
      { column: "body", plaintext: 0, legacy: 0, unreadable: 1, keys: { v1: 3 }, null: 0, total: 4, failed: 1 },
      { column: "email", plaintext: 0, legacy: 0, unreadable: 1, keys: { v1: 2 }, null: 1, total: 4, failed: 1 },
    ]);
    // verify fails row 3 (in strict and in transition mode: never plaintext) and says what else the columns hold.
    const transition = join(dir, "cut-short-transition.mjs");
    writeFileSync(transition, readFileSync(config, "utf8").replaceAll("{ legacy:", '{ mode: "transition", legacy:'));
    for (const file of [config, transition]) {
      const verify = await runCli(["jobs", "run", "--kind", "verify", "--config", file], { env: jobEnv });
      expectNoSecrets(verify, [...tokens, ...emails]);
      expect(verify.exit).toBe(1);
      expect(verify.stdout).toMatch(
        /\nverify notes: done, 4 rows read, 0 changed, 0 skipped, 1 failed; job [0-9a-f-]{36}\n {2}notes\.body: 3 cells \(v1: 3\), 0 plaintext, 0 legacy, 1 unreadable, 0 NULL\n {2}notes\.email: 2 cells \(v1: 2\), 0 plaintext, 0 legacy, 1 unreadable, 1 NULL\n$/,
      );
      const verifyId = /job ([0-9a-f-]{36})\n/.exec(verify.stdout)?.[1] as string;
      const verifyErrors = await runCli(["jobs", "errors", verifyId, "--json"], { env: cloakEnv });
      expect(
        (JSON.parse(verifyErrors.stdout) as { column: string; code: string }[]).map((e) => [e.column, e.code]),
      ).toEqual([
        ["body", "ERR_DECRYPTION_FAILED"],
        ["email", "ERR_DECRYPTION_FAILED"],
      ]);
    }
    // On disk: row 3 as it was, the others cells.
    const { rows } = await admin.query<{ id: number; body: string; email: string | null }>(
      `SELECT * FROM ${schema}.notes ORDER BY id`,
    );
    expect(rows[2]).toEqual({ id: 3, ...cut });
    expect(
      [rows[0]?.body, rows[0]?.email, rows[1]?.body, rows[1]?.email, rows[3]?.body].every((v) => v?.startsWith("fc1.")),
    ).toBe(true);
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
