import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyring, generateKeyString } from "fieldcrypt/keyring";
import { encryptedTable } from "fieldcrypt/table";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, type CliResult, checkCase, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const KEY1 = generateKeyString();
const KEY2 = generateKeyString();
const ENV1 = { FIELDCRYPT_KEYS: `v1=${KEY1}` };
const ENV12 = { FIELDCRYPT_KEYS: `v1=${KEY1},v2=${KEY2}`, FIELDCRYPT_PRIMARY_KEY: "v2" };

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-jobs-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const CONFIG = file(
  "notes.mjs",
  `export default { tables: [
  { table: "notes", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: {} } },
  { table: "drafts", primaryKey: ["id"], scope: { current: () => undefined }, columns: { text: {} } },
] };\n`,
);
const FAKE_ENV = { DATABASE_URL: "postgres://someone:hunter2@127.0.0.1:1/nowhere", ...ENV1 };

/** Every output of a run: never a key, never a plaintext of the test table. */
function expectNoSecrets(result: CliResult): void {
  const all = result.stdout + result.stderr;
  expect(all).not.toContain(KEY1);
  expect(all).not.toContain(KEY2);
  expect(all).not.toContain("hunter2");
  expect(all).not.toMatch(/private note/);
}

describe("fieldcrypt jobs: command line and configuration errors (no database needed)", () => {
  it.each([
    {
      name: "no subcommand",
      args: ["jobs"],
      exit: 2,
      stderr: errorLines(
        "no jobs subcommand given",
        "the subcommands are run, resume, retry, errors, runs; run `fieldcrypt jobs --help`",
      ),
    },
    {
      name: "an unknown subcommand",
      args: ["jobs", "start"],
      exit: 2,
      stderr: errorLines(
        "unknown jobs subcommand start",
        "the subcommands are run, resume, retry, errors, runs; run `fieldcrypt jobs --help`",
      ),
    },
    {
      name: "run without --kind",
      args: ["jobs", "run", "--config", CONFIG],
      env: FAKE_ENV,
      exit: 2,
      stderr: errorLines("missing --kind", "run `fieldcrypt jobs --help`"),
    },
    {
      name: "run with a bad --kind",
      args: ["jobs", "run", "--kind", "shred"],
      exit: 2,
      stderr: errorLines(
        "--kind must be one of encrypt, rotate, decrypt, verify, import",
        "run `fieldcrypt jobs --help`",
      ),
    },
    {
      name: "--sample outside (0, 1]",
      args: ["jobs", "run", "--kind", "verify", "--sample", "2"],
      exit: 2,
      stderr: errorLines("--sample must be a fraction greater than 0 and at most 1", "for example: --sample 0.01"),
    },
    {
      name: "--sample of another kind",
      args: ["jobs", "run", "--kind", "rotate", "--sample", "0.5"],
      exit: 2,
      stderr: errorLines("--sample is an option of --kind verify only", "run `fieldcrypt jobs --help`"),
    },
    {
      name: "a bad --workers",
      args: ["jobs", "run", "--kind", "encrypt", "--workers", "0"],
      exit: 2,
      stderr: errorLines("--workers must be an integer from 1 to 64", "run `fieldcrypt jobs --help`"),
    },
    {
      name: "a negative --workers is a bad value, not a missing one",
      args: ["jobs", "run", "--kind", "encrypt", "--workers", "-1"],
      exit: 2,
      stderr: errorLines("--workers must be an integer from 1 to 64", "run `fieldcrypt jobs --help`"),
    },
    {
      name: "a negative --batch-size",
      args: ["jobs", "resume", "some-job", "--batch-size", "-100"],
      exit: 2,
      stderr: errorLines("--batch-size must be an integer from 1 to 100000", "run `fieldcrypt jobs --help`"),
    },
    {
      name: "no database URL",
      args: ["jobs", "run", "--kind", "encrypt", "--config", CONFIG],
      env: ENV1,
      exit: 3,
      stderr: errorLines(
        "no database: DATABASE_URL is not set and no --database-url was given",
        "pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (a password is best kept in PGPASSWORD or ~/.pgpass)",
      ),
    },
    {
      name: "a missing --config",
      args: ["jobs", "run", "--kind", "encrypt", "--config", join(dir, "nope.mjs")],
      env: FAKE_ENV,
      exit: 3,
      stderr: new RegExp(
        `^fieldcrypt: error: config file ${join(dir, "nope.mjs")} does not exist\nfieldcrypt: hint: write fieldcrypt.config.mjs`,
      ),
    },
    {
      name: "a bad config",
      args: [
        "jobs",
        "run",
        "--kind",
        "encrypt",
        "--config",
        file("bad.mjs", "export default { tables: [{ columns: {} }] };\n"),
      ],
      env: FAKE_ENV,
      exit: 3,
      stderr: new RegExp(
        `^fieldcrypt: error: config file ${join(dir, "bad.mjs")}: tables\\[0\\]\\.table must be a table name`,
      ),
    },
    {
      name: "a { current } scope without --scope",
      args: ["jobs", "run", "--kind", "encrypt", "--config", CONFIG, "--table", "drafts"],
      env: FAKE_ENV,
      exit: 2,
      stderr: errorLines(
        "table drafts takes its scope from the app's context ({ current }), which the CLI does not have",
        "pass --scope S: the scope of every row of the table",
      ),
    },
    {
      name: "no keys",
      args: ["jobs", "run", "--kind", "encrypt", "--config", CONFIG, "--table", "notes"],
      env: { DATABASE_URL: FAKE_ENV.DATABASE_URL },
      exit: 3,
      stderr: errorLines(
        "no keys: FIELDCRYPT_KEYS is not set and no --keys-file was given",
        "run `fieldcrypt keygen --id v1` and set FIELDCRYPT_KEYS to its output, or pass --keys-file",
      ),
    },
    {
      name: "errors without an id",
      args: ["jobs", "errors"],
      exit: 2,
      stderr: errorLines("missing job ID", "usage: fieldcrypt jobs errors ID"),
    },
  ])("$name", async (c) => {
    expectNoSecrets(await checkCase(c));
  });

  it("--help describes run, resume and errors", async () => {
    const help = await runCli(["jobs", "--help"]);
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(/fieldcrypt jobs resume ID/);
    expect(help.stdout).toMatch(/fieldcrypt jobs errors ID/);
  });
});

describe(`fieldcrypt jobs on ${WHERE}`, () => {
  let admin: CliTestDb;
  let schema: string;
  let env: Record<string, string>;
  const ROWS = 30;

  beforeAll(async () => {
    admin = await openCliTestDb("fc_jobs");
    schema = admin.schema;
    await admin.query(
      `CREATE TABLE ${schema}.notes (id integer PRIMARY KEY, tenant text NOT NULL, body text);
       INSERT INTO ${schema}.notes SELECT i, 't' || (i % 3), CASE WHEN i % 10 = 0 THEN NULL ELSE 'private note ' || i END
         FROM generate_series(1, ${ROWS}) i;
       CREATE TABLE ${schema}.drafts (id integer PRIMARY KEY, text text);
       CREATE TABLE ${schema}.bulk (id integer PRIMARY KEY, tenant text NOT NULL, body text);
       INSERT INTO ${schema}.bulk SELECT i, 't', 'private note ' || i FROM generate_series(1, 2000) i`,
    );
    env = { DATABASE_URL: admin.url };
  });
  afterAll(async () => {
    await admin?.close();
  });

  async function status(): Promise<unknown> {
    const result = await runCli(["status", "--config", CONFIG, "--table", "notes", "--json"], { env });
    expect(result.exit).toBe(0);
    return (JSON.parse(result.stdout) as { keys: unknown }[])[0]?.keys;
  }

  function jobIdOf(result: CliResult): string {
    const id = /job ([0-9a-f-]{36})\n/.exec(result.stdout)?.[1];
    expect(id).toBeDefined();
    return id as string;
  }

  it("encrypts with JSON progress lines on a non-TTY stdout, then rotates to v2", async () => {
    expect(await status()).toEqual({});
    const run = await runCli(
      ["jobs", "run", "--kind", "encrypt", "--config", CONFIG, "--table", "notes", "--batch-size", "10"],
      {
        env: { ...env, ...ENV1 },
      },
    );
    expectNoSecrets(run);
    expect(run.stderr).toBe("");
    expect(run.exit).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, -1).map((l) => JSON.parse(l) as { processed: number })).toEqual([
      { kind: "encrypt", table: "notes", processed: 10, total: ROWS, rate: expect.any(Number) },
      { kind: "encrypt", table: "notes", processed: 20, total: ROWS, rate: expect.any(Number) },
      { kind: "encrypt", table: "notes", processed: 30, total: ROWS, rate: expect.any(Number) },
    ]);
    expect(lines.at(-1)).toMatch(
      /^encrypt notes: done, 30 rows read, 27 changed, 0 skipped, 0 failed; job [0-9a-f-]{36}$/,
    );
    expect(await status()).toEqual({ v1: 27 });

    const rotate = await runCli(
      ["jobs", "run", "--kind", "rotate", "--config", CONFIG, "--table", "notes", "--workers", "2", "--threads", "2"],
      {
        env: { ...env, ...ENV12 },
      },
    );
    expectNoSecrets(rotate);
    expect(rotate.exit).toBe(0);
    expect(rotate.stdout).toMatch(/\nrotate notes: done, 30 rows read, 27 changed, 0 skipped, 0 failed; job /);
    expect(await status()).toEqual({ v2: 27 });

    // Resuming a finished job does nothing more and succeeds.
    const resume = await runCli(["jobs", "resume", jobIdOf(rotate), "--config", CONFIG], { env: { ...env, ...ENV12 } });
    expectNoSecrets(resume);
    expect(resume.exit).toBe(0);
    expect(resume.stdout).toMatch(/^rotate notes: done, 30 rows read, 27 changed, 0 skipped, 0 failed; job /m);

    const dry = await runCli(
      ["jobs", "run", "--kind", "decrypt", "--config", CONFIG, "--table", "notes", "--dry-run"],
      {
        env: { ...env, ...ENV12 },
      },
    );
    expectNoSecrets(dry);
    expect(dry.exit).toBe(0);
    expect(dry.stdout).toMatch(/decrypt notes: done \(dry run\), 30 rows read, 27 would change/);
    expect(await status()).toEqual({ v2: 27 });
  });

  it("a corrupt cell fails its row (exit 1) and `jobs errors` lists it", async () => {
    await admin.query(`UPDATE ${schema}.notes SET body = 'fc1.' || repeat('A', 80) WHERE id = 7`);
    const verify = await runCli(["jobs", "run", "--kind", "verify", "--config", CONFIG, "--table", "notes"], {
      env: { ...env, ...ENV12 },
    });
    expectNoSecrets(verify);
    expect(verify.exit).toBe(1);
    const id = jobIdOf(verify);
    expect(verify.stderr).toBe(
      errorLines("1 row of notes failed", `run \`fieldcrypt jobs errors ${id}\` to list them`),
    );
    const errors = await runCli(["jobs", "errors", id], { env });
    expectNoSecrets(errors);
    expect(errors.exit).toBe(0);
    // Row 7's scope is its tenant column, t1 (7 % 3); the class is the fieldcrypt error's class name.
    expect(errors.stdout).toMatch(
      /^TABLE +ROW KEY +COLUMN +SCOPE +CODE +CLASS +TIME\nnotes +7 +body +t1 +ERR_INVALID_CELL +InvalidCell +\d{4}-\d\d-\d\dT[^\n]*\n$/,
    );
    const json = await runCli(["jobs", "errors", id, "--json"], { env });
    expectNoSecrets(json);
    expect(json.exit).toBe(0);
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    // The documented shape (packages/cli/README.md): exactly these keys, in this order.
    expect(listed.map((e) => Object.keys(e))).toEqual([
      ["table", "rowKey", "column", "scope", "code", "errorClass", "time"],
    ]);
    expect(listed).toEqual([
      {
        table: "notes",
        rowKey: ["7"],
        column: "body",
        scope: "t1",
        code: "ERR_INVALID_CELL",
        errorClass: "InvalidCell",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    ]);
    // The row on disk: the scope value and the class, no message and no cell.
    const { rows } = await admin.query<Record<string, unknown>>(
      `SELECT table_name, row_key, column_name, scope, code, error_class FROM ${schema}.fieldcrypt_job_errors WHERE job_id = $1`,
      [id],
    );
    expect(rows).toEqual([
      {
        table_name: "notes",
        row_key: '["7"]',
        column_name: "body",
        scope: "t1",
        code: "ERR_INVALID_CELL",
        error_class: "InvalidCell",
      },
    ]);
  });

  it("`jobs retry` processes only the failed rows; `jobs runs` shows every run", async () => {
    // Row 7 is corrupt (previous test); row 8 is sealed under v3, a key this run does not have.
    const KEY3 = generateKeyString();
    const ring = createKeyring([{ id: "v3", secret: KEY3, primary: true }]);
    const notes = encryptedTable(ring, {
      table: "notes",
      primaryKey: ["id"],
      scope: { column: "tenant" },
      columns: { body: {} },
    });
    const sealed = notes.encryptRow({ id: 8, tenant: "t2", body: "private note 8" });
    await admin.query(`UPDATE ${schema}.notes SET body = 'fc1.' || repeat('A', 80) WHERE id = 7`);
    await admin.query(`UPDATE ${schema}.notes SET body = $1 WHERE id = 8`, [sealed.body]);
    const rotate = await runCli(["jobs", "run", "--kind", "rotate", "--config", CONFIG, "--table", "notes"], {
      env: { ...env, ...ENV12 },
    });
    expectNoSecrets(rotate);
    expect(rotate.exit).toBe(1);
    const id = jobIdOf(rotate);
    expect(rotate.stdout).toMatch(/rotate notes: done, 30 rows read, \d+ changed, 0 skipped, 2 failed; job /);

    const ENV123 = { FIELDCRYPT_KEYS: `v1=${KEY1},v2=${KEY2},v3=${KEY3}`, FIELDCRYPT_PRIMARY_KEY: "v2" };
    const dry = await runCli(["jobs", "retry", id, "--config", CONFIG, "--dry-run"], { env: { ...env, ...ENV123 } });
    // What the retry would do, not the job's running totals (30 rows read by the rotate).
    expect(dry.stdout.trimEnd().split("\n").at(-1)).toBe(
      `retry of rotate notes: done (dry run), 2 rows retried, 1 would succeed, 1 would fail again, 0 missing, 1 would change, 0 skipped; job ${id}`,
    );
    const retry = await runCli(["jobs", "retry", id, "--config", CONFIG, "--actor", "ops-test"], {
      env: { ...env, ...ENV123 },
    });
    expectNoSecrets(retry);
    expect(retry.stdout).not.toContain(KEY3);
    expect(retry.exit).toBe(1); // row 7 is still corrupt
    // The retry's own numbers: rows 7 and 8 retried, 8 rotated now, 7 still corrupt.
    expect(retry.stdout.trimEnd().split("\n").at(-1)).toBe(
      `retry of rotate notes: done, 2 rows retried, 1 succeeded, 1 failed again, 0 missing, 1 changed, 0 skipped; job ${id}`,
    );
    expect(retry.stderr).toBe(errorLines("1 row of notes failed", `run \`fieldcrypt jobs errors ${id}\` to list them`));
    const { rows } = await admin.query<{ body: string }>(`SELECT body FROM ${schema}.notes WHERE id = 8`);
    expect(rows[0]?.body).not.toBe(sealed.body);
    const v2 = encryptedTable(createKeyring([{ id: "v2", secret: KEY2, primary: true }]), {
      table: "notes",
      primaryKey: ["id"],
      scope: { column: "tenant" },
      columns: { body: {} },
    });
    expect(v2.decryptRow({ id: 8, tenant: "t2", body: rows[0]?.body }).body).toBe("private note 8");
    const errors = await runCli(["jobs", "errors", id, "--json"], { env });
    expect(
      (JSON.parse(errors.stdout) as { rowKey: string[]; scope: string; errorClass: string }[]).map((e) => [
        e.rowKey,
        e.scope,
        e.errorClass,
      ]),
    ).toEqual([[["7"], "t1", "InvalidCell"]]);
    // On disk: row 8's error left with it; row 7's was replaced by this attempt's, scope and class included.
    const onDisk = await admin.query<Record<string, unknown>>(
      `SELECT row_key, scope, code, error_class FROM ${schema}.fieldcrypt_job_errors WHERE job_id = $1`,
      [id],
    );
    expect(onDisk.rows).toEqual([
      { row_key: '["7"]', scope: "t1", code: "ERR_INVALID_CELL", error_class: "InvalidCell" },
    ]);

    const runs = await runCli(["jobs", "runs", id, "--json"], { env });
    expect(runs.exit).toBe(0);
    const events = JSON.parse(runs.stdout) as { event: string; actor: string; status: string | null }[];
    expect(events.map((e) => [e.event, e.status])).toEqual([
      ["start", null],
      ["end", "done"],
      ["start", null],
      ["end", "done"],
    ]);
    expect(events[2]?.actor).toBe("ops-test");
    const text = await runCli(["jobs", "runs", "--limit", "2"], { env });
    expect(text.stdout).toMatch(/^TIME +EVENT +JOB +KIND +TABLE +ACTOR +HOST\/PID +STATUS +PROCESSED +FAILED\n/);
    expect(text.stdout.trimEnd().split("\n")).toHaveLength(3);
    expectNoSecrets(text);
  });

  it("verify --sample reads a fraction of the rows", async () => {
    const bulk = file(
      "bulk-verify.mjs",
      `export default { tables: [{ table: "bulk", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: { mode: "transition" } } }] };\n`,
    );
    const sampled = await runCli(["jobs", "run", "--kind", "verify", "--config", bulk, "--sample", "0.25"], {
      env: { ...env, ...ENV12 },
    });
    expectNoSecrets(sampled);
    const read = Number(/verify bulk: done, (\d+) rows read/.exec(sampled.stdout)?.[1]);
    // Binomial(2000, 0.25): mean 500, standard deviation ~19; 380..620 is over six deviations each way.
    expect(read).toBeGreaterThan(380);
    expect(read).toBeLessThan(620);
  });

  it("an unknown job id is an operation error", async () => {
    await checkCase({
      name: "unknown",
      args: ["jobs", "errors", "00000000-0000-0000-0000-000000000000"],
      env,
      exit: 1,
      stderr: errorLines(
        "no job 00000000-0000-0000-0000-000000000000",
        "the ids are in fieldcrypt_jobs and in the output of `fieldcrypt jobs run`",
      ),
    });
  });

  it("Ctrl-C stops at a batch boundary with exit 130 and a resume command that runs as printed", async () => {
    const config = file(
      "bulk.mjs",
      `export default { tables: [{ table: "bulk", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: {} } }] };\n`,
    );
    const keysFile = file("bulk.keys", `v1=${KEY1}\n`);
    chmodSync(keysFile, 0o600);
    const url = env.DATABASE_URL as string;
    const child = spawn(
      process.execPath,
      [
        BIN,
        "jobs",
        "run",
        "--kind",
        "encrypt",
        "--config",
        config,
        "--keys-file",
        keysFile,
        "--database-url",
        url,
        "--batch-size",
        "100",
        "--max-rows-per-second",
        "500",
      ],
      { env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const exit = await new Promise<number | null>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        if (stdout === "") child.kill("SIGINT");
        stdout += chunk.toString("utf8");
      });
      child.on("close", (code) => resolve(code));
    });
    expect(exit).toBe(130);
    expect(stdout).toMatch(/\nencrypt bulk: stopped, \d+ rows read/);
    const id = /resume ([0-9a-f-]{36})/.exec(stderr)?.[1] as string;
    // The flags that were given come back (the URL without its password, shell-quoted when it must be).
    const shownUrl = new URL(url.startsWith("pglite:") ? "pglite://x" : url);
    const hasPassword = !url.startsWith("pglite:") && shownUrl.password !== "";
    shownUrl.password = "";
    const urlWord = url.startsWith("pglite:") ? url : shownUrl.toString();
    const quoted = /^[A-Za-z0-9_/.,:@%+=-]+$/.test(urlWord) ? urlWord : `'${urlWord}'`;
    const command = `fieldcrypt jobs resume ${id} --config ${config} --keys-file ${keysFile} --database-url ${quoted}`;
    expect(stderr).toBe(
      `fieldcrypt: interrupted at a batch boundary; nothing is half-written\nfieldcrypt: hint: run \`${command}\` to continue\n`,
    );
    // Run literally, with nothing in the environment but PATH (and the password, kept out of the hint).
    const words = [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
    const resume = await runCli(words.slice(1), {
      env: hasPassword ? { PGPASSWORD: decodeURIComponent(new URL(url).password) } : {},
    });
    expectNoSecrets(resume);
    expect(resume.exit).toBe(0);
    expect(resume.stdout).toMatch(/\nencrypt bulk: done, 2000 rows read, 2000 changed, 0 skipped, 0 failed; job /);
  });
});
