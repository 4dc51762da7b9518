import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyString, loadKeyringFromEnv } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliCase, checkCase, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-status-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const CONFIG_HINT =
  "write fieldcrypt.config.mjs with `export default { tables: [{ table, primaryKey, scope, columns }] }` (the options the app passes to encryptedTable), or pass --config FILE";
// Never connected to: these cases fail before the database is used.
const FAKE_ENV = { DATABASE_URL: "postgres://someone:hunter2@127.0.0.1:1/nowhere" };
const GOOD = file(
  "good.mjs",
  `export default { tables: [{ table: "notes", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: {} } }] };\n`,
);

describe("fieldcrypt status: configuration errors (no database needed)", () => {
  const cases: CliCase[] = [
    {
      name: "no database URL",
      args: ["status", "--config", GOOD],
      exit: 3,
      stderr: errorLines(
        "no database: DATABASE_URL is not set and no --database-url was given",
        "pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (a password is best kept in PGPASSWORD or ~/.pgpass)",
      ),
    },
    {
      name: "no config file in the current directory",
      args: ["status"],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines("config file fieldcrypt.config.mjs does not exist", CONFIG_HINT),
    },
    {
      name: "a --config that does not exist",
      args: ["status", "--config", join(dir, "missing.mjs")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(`config file ${join(dir, "missing.mjs")} does not exist`, CONFIG_HINT),
    },
    {
      name: "a config without tables",
      args: ["status", "--config", file("empty.mjs", "export default { tables: [] };\n")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(`config file ${join(dir, "empty.mjs")}: tables must be a non-empty array`, CONFIG_HINT),
    },
    {
      name: "a config with a bad scope",
      args: [
        "status",
        "--config",
        file("scope.mjs", `export default { tables: [{ table: "t", columns: { c: {} }, scope: "tenant" }] };\n`),
      ],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `config file ${join(dir, "scope.mjs")}: tables[0].scope must be { column: "name" } or { current: () => string }`,
        CONFIG_HINT,
      ),
    },
    {
      name: "a config that is not a module",
      args: ["status", "--config", file("broken.mjs", "export default {{;\n")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `cannot load config file ${join(dir, "broken.mjs")} (SyntaxError)`,
        "check that it is a valid ES module (node can import it)",
      ),
    },
    {
      name: "a --table that is not configured",
      args: ["status", "--config", GOOD, "--table", "other"],
      env: FAKE_ENV,
      exit: 2,
      stderr: errorLines(
        "--table names a table that is not in the config",
        "the configured tables are notes; run `fieldcrypt status --help`",
      ),
    },
    {
      name: "an unreachable database: its code only, never the URL",
      args: ["status", "--config", GOOD],
      env: FAKE_ENV,
      exit: 1,
      stderr: errorLines(
        "cannot connect to the database (ECONNREFUSED)",
        "check --database-url or DATABASE_URL, and that the server is running",
      ),
    },
  ];
  it.each(cases)("$name", async (c) => {
    const result = await checkCase(c);
    expect(result.stdout + result.stderr).not.toContain("hunter2");
  });

  it("--help names the index that makes it fast, and status is listed", async () => {
    const help = await runCli(["status", "--help"]);
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(/single sequential scan/);
    expect(help.stdout).toMatch(/expression index on the key-id expression/);
    expect((await runCli(["--help"])).stdout).toMatch(/\n {2}status +count each encrypted column/);
  });
});

describe(`fieldcrypt status on ${WHERE}`, () => {
  let admin: CliTestDb;
  let schema: string;
  let env: Record<string, string>;
  const KEY1 = generateKeyString();
  const KCV1 = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${KEY1}` }).get("v1")?.checkValue as string;
  const config = file(
    "notes.mjs",
    `export default { tables: [{ table: "notes", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: {}, blob: { form: "binary" } } }] };\n`,
  );

  beforeAll(async () => {
    admin = await openCliTestDb("fc_status");
    schema = admin.schema;
    await admin.query(
      `CREATE TABLE ${schema}.notes (id integer PRIMARY KEY, tenant text NOT NULL, body text, blob bytea);
       INSERT INTO ${schema}.notes SELECT i, 't' || (i % 3), CASE WHEN i % 4 = 0 THEN NULL ELSE 'note ' || i END,
         CASE WHEN i % 2 = 0 THEN NULL ELSE convert_to('blob ' || i, 'UTF8') END FROM generate_series(1, 12) i`,
    );
    env = { DATABASE_URL: admin.url };
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("counts plaintext and NULL before, cells per key id after an encrypt job (text and bytea)", async () => {
    await checkCase({
      name: "before",
      args: ["status", "--config", config],
      env,
      exit: 0,
      stdout:
        "TABLE  COLUMN  PLAINTEXT  NULL  TOTAL\nnotes  body            9     3     12\nnotes  blob            6     6     12\n",
    });
    const run = await runCli(["jobs", "run", "--kind", "encrypt", "--config", config], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expect(run.stderr).toBe("");
    expect(run.exit).toBe(0);
    await checkCase({
      name: "after",
      args: ["status", "--config", config],
      env,
      exit: 0,
      stdout:
        "TABLE  COLUMN  PLAINTEXT  KEY v1  NULL  TOTAL\nnotes  body            0       9     3     12\nnotes  blob            0       6     6     12\n" +
        `\nTABLE  KEY  CHECK VALUE (JOB RUNS)\nnotes  v1   ${KCV1}\n`,
    });
    const json = await runCli(["status", "--config", config, "--table", "notes", "--json"], { env });
    expect(json.exit).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      ...[
        ["body", 9, 3],
        ["blob", 6, 6],
      ].map(([column, v1, nulls]) => ({
        table: "notes",
        column,
        plaintext: 0,
        legacy: 0,
        unreadable: 0,
        pendingImport: 0,
        keys: { v1 },
        null: nulls,
        total: 12,
        failed: 0,
        checkValues: { v1: { recorded: [KCV1], configured: null } },
      })),
    ]);
    for (const out of [run, json]) {
      expect(out.stdout + out.stderr).not.toContain(KEY1);
      expect(out.stdout + out.stderr).not.toMatch(/note \d|blob \d/);
    }
  });

  it("compares the configured key's check value with the recorded one, and warns when one id names two keys", async () => {
    const same = await runCli(["status", "--config", config], { env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` } });
    expect([same.exit, same.stderr]).toEqual([0, ""]);
    expect(same.stdout).toMatch(
      new RegExp(
        `\nTABLE  KEY  CHECK VALUE \\(JOB RUNS\\) +CHECK VALUE \\(CONFIGURED\\)\nnotes  v1   ${KCV1}  ${KCV1}\n$`,
      ),
    );
    const other = generateKeyString();
    const otherKcv = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${other}` }).get("v1")?.checkValue as string;
    const wrong = await runCli(["status", "--config", config, "--json"], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${other}` },
    });
    expect(wrong.exit).toBe(0);
    expect(wrong.stderr).toBe(
      `warning: key v1 of table notes names 2 different keys (check values ${KCV1}, ${otherKcv}): the rows one sealed do not open with the others\n`,
    );
    const parsed = JSON.parse(wrong.stdout) as { checkValues: unknown }[];
    expect(parsed.map((c) => c.checkValues)).toEqual(Array(2).fill({ v1: { recorded: [KCV1], configured: otherKcv } }));
    for (const out of [same, wrong]) expect(out.stdout + out.stderr).not.toContain(other);
  });

  it("counts json, jsonb and varchar columns as the jobs store them, and refuses a column type that cannot hold cells", async () => {
    await admin.query(
      `CREATE TABLE ${schema}.docs (id integer PRIMARY KEY, j jsonb, k json, v varchar(200), n integer);
       INSERT INTO ${schema}.docs SELECT i, to_jsonb('doc ' || i), to_json('doc ' || i), 'doc ' || i, i
         FROM generate_series(1, 5) i;
       UPDATE ${schema}.docs SET j = NULL, k = 'null' WHERE id = 5`,
    );
    const docs = file(
      "docs.mjs",
      `export default { tables: [{ table: "docs", primaryKey: ["id"], columns: { j: {}, k: {}, v: {} } }] };\n`,
    );
    // A JSON null counts as NULL, as the jobs read it (JSON.parse gives null): nothing to seal.
    const before =
      "TABLE  COLUMN  PLAINTEXT  NULL  TOTAL\ndocs   j               4     1      5\ndocs   k               4     1      5\ndocs   v               5     0      5\n";
    await checkCase({ name: "before", args: ["status", "--config", docs], env, exit: 0, stdout: before });
    const run = await runCli(["jobs", "run", "--kind", "encrypt", "--config", docs], {
      env: { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` },
    });
    expect([run.exit, run.stderr]).toEqual([0, ""]);
    const after = await runCli(["status", "--config", docs, "--json"], { env });
    expect(
      (JSON.parse(after.stdout) as { column: string; plaintext: number; keys: object; null: number }[]).map((c) => [
        c.column,
        c.plaintext,
        c.keys,
        c.null,
      ]),
    ).toEqual([
      ["j", 0, { v1: 4 }, 1],
      ["k", 0, { v1: 4 }, 1],
      ["v", 0, { v1: 5 }, 0],
    ]);
    const disk = await admin.query<{ kind: string }>(`SELECT jsonb_typeof(j) AS kind FROM ${schema}.docs WHERE id = 1`);
    expect(disk.rows[0]?.kind).toBe("string");
    await checkCase({
      name: "integer column",
      args: [
        "status",
        "--config",
        file("docs-n.mjs", `export default { tables: [{ table: "docs", columns: { n: {} } }] };\n`),
      ],
      env,
      exit: 1,
      stderr: errorLines(
        "column docs.n is integer, which cannot hold cells",
        "cells go in text, varchar, bytea, json or jsonb columns (README, Column types)",
      ),
    });
  });

  it("a table missing from the database is an operation error", async () => {
    await checkCase({
      name: "missing table",
      args: [
        "status",
        "--config",
        file("ghost.mjs", `export default { tables: [{ table: "ghost", columns: { c: {} } }] };\n`),
      ],
      env,
      exit: 1,
      stderr: errorLines("table ghost does not exist", "check the config's table names and the search path"),
    });
  });
});
