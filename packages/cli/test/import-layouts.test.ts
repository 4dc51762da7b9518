// The legacy layouts of the apps we import from, end to end through the CLI (status → import →
// jobs errors → status → verify), each with good rows and bad ones:
//   vault:  raw AES-GCM `nonce ‖ ct ‖ tag` in bytea, and versioned JSON envelopes in jsonb;
//   diary:  Fernet under per-user PBKDF2 keys, salt = static prefix ‖ user id;
//   notes:  Fernet under per-user PBKDF2 keys, salt from a per-row bytea column.
// (The fourth, double-base64 Fernet over a chained master key, is import-recipes.test.ts.) Python's
// `cryptography` makes every legacy value: there is no crypto in this test. Every good row becomes
// a cell, every bad one is recorded with its scope and code and left as it was, and status and
// verify say what the columns hold.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const KEY1 = generateKeyString();
const AES_KEY = "7d".repeat(32);
const PROMPT_KEY = "a1".repeat(32);
const MASTER = "CANARY-MASTER-8e1f";
const STATIC_SALT = "diary-salt:";
const ITERATIONS = 1000;
const PRODUCER = fileURLToPath(new URL("../../fieldcrypt/test/interop/legacy_producer.py", import.meta.url));
const hasPython = spawnSync("python3", ["-c", "import cryptography"]).status === 0;

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-import-layouts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LEGACY = pathToFileURL(createRequire(import.meta.url).resolve("fieldcrypt/legacy")).href;
const CONFIG = join(dir, "layouts.mjs");
writeFileSync(
  CONFIG,
  `import { aesGcmFormat, fernetFormat, versionedJsonFormat } from ${JSON.stringify(LEGACY)};
const env = process.env;
const perUser = (salt) => fernetFormat({ derive: { masterKey: env.LEGACY_MASTER, salt, iterations: ${ITERATIONS} } });
export default { tables: [
  { table: "vault", primaryKey: ["id"], scope: { column: "user_id" }, columns: {
      api_key: { type: "string", form: "binary", legacy: aesGcmFormat({ keys: [Buffer.from(env.AES_KEY, "hex")] }) },
      prompt: { legacy: versionedJsonFormat({ keys: { v1: Buffer.from(env.PROMPT_KEY, "hex") } }) } } },
  { table: "diary", primaryKey: ["id"], scope: { column: "user_id" },
    columns: { body: { legacy: perUser({ static: ${JSON.stringify(STATIC_SALT)}, append: "user_id" }) } } },
  { table: "notes", primaryKey: ["id"], scope: { column: "user_id" },
    columns: { body: { legacy: perUser({ column: "salt" }) } } },
] };\n`,
);

const USERS = [11, 12, 11, 12];
const messages = (what: string) => USERS.map((u, i) => `${what} ${i} of ${u}`);

function python(requests: unknown[]): Record<string, unknown>[] {
  const run = spawnSync("python3", [PRODUCER], { input: JSON.stringify(requests), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>[];
}

function jobIds(result: CliResult): Record<string, string> {
  return Object.fromEntries(
    [...result.stdout.matchAll(/\n?\w+ (\w+): done[^\n]*; job ([0-9a-f-]{36})/g)].map((m) => [m[1], m[2]]),
  );
}

describe.skipIf(!hasPython)(`fieldcrypt import of every legacy layout on ${WHERE}`, () => {
  let admin: CliTestDb;
  let env: Record<string, string>;
  let secrets: string[] = [];

  function expectNoSecrets(result: CliResult): void {
    const all = result.stdout + result.stderr;
    for (const secret of [KEY1, MASTER, AES_KEY, PROMPT_KEY, ...secrets]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/(secret|prompt|entry|note) \d of/);
  }

  beforeAll(async () => {
    const [gcm, envelopes, diary, diaryOther, notes] = python([
      { op: "aesgcm", key_hex: AES_KEY, messages: messages("secret") },
      { op: "versioned_json", key_hex: PROMPT_KEY, version: "v1", messages: messages("prompt") },
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: Buffer.from(STATIC_SALT).toString("hex"),
        iterations: ITERATIONS,
        hash: "sha256",
        rows: USERS.map((user_id, i) => ({ user_id, message: `entry ${i} of ${user_id}` })),
      },
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: Buffer.from(STATIC_SALT).toString("hex"),
        iterations: ITERATIONS,
        hash: "sha256",
        rows: [{ user_id: 99, message: "entry 9 of 99" }],
      },
      {
        op: "fernet_pbkdf2_column",
        master: MASTER,
        iterations: ITERATIONS,
        hash: "sha256",
        rows: USERS.map((user_id, i) => ({ user_id, message: `note ${i} of ${user_id}` })),
      },
    ]) as [
      { cells: string[] },
      { cells: string[] },
      { tokens: string[] },
      { tokens: string[] },
      { rows: { salt_hex: string; token: string }[] },
    ];
    const gcmCells = gcm.cells;
    const tampered = Buffer.from(gcmCells[0] as string, "hex");
    const last = tampered.length - 1;
    tampered[last] = (tampered[last] as number) ^ 1; // its tag
    // A version no key is configured for: well-formed, but it cannot open.
    const unknownVersion = (envelopes.cells[0] as string).replace('"v1"', '"v9"');
    secrets = [...gcmCells, ...envelopes.cells, ...diary.tokens, ...notes.rows.map((r) => r.token)].map((s) =>
      s.slice(0, 40),
    );
    admin = await openCliTestDb("fc_import_layouts");
    const s = admin.schema;
    await admin.query(`CREATE TABLE ${s}.vault (id integer PRIMARY KEY, user_id integer NOT NULL, api_key bytea, prompt jsonb);
      CREATE TABLE ${s}.diary (id integer PRIMARY KEY, user_id integer NOT NULL, body text);
      CREATE TABLE ${s}.notes (id integer PRIMARY KEY, user_id integer NOT NULL, salt bytea, body text)`);
    await admin.query(
      `INSERT INTO ${s}.vault SELECT id, user_id, decode(k, 'hex'), p::jsonb
         FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[]) AS t(id, user_id, k, p)`,
      [
        [1, 2, 3, 4, 5, 6],
        [...USERS, 13, 13],
        [...gcmCells, tampered.toString("hex"), null],
        [...envelopes.cells, unknownVersion, null],
      ],
    );
    const cutShort = (diary.tokens[1] as string).slice(0, 60); // still gAAAAA…: unreadable
    await admin.query(`INSERT INTO ${s}.diary SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`, [
      [1, 2, 3, 4, 5, 6],
      [...USERS, 13, 14],
      [...diary.tokens, cutShort, diaryOther.tokens[0]], // row 6: user 99's token under user 14
    ]);
    const salts = notes.rows.map((r) => r.salt_hex);
    await admin.query(
      `INSERT INTO ${s}.notes SELECT id, user_id, decode(salt, 'hex'), body
         FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[]) AS t(id, user_id, salt, body)`,
      [
        [1, 2, 3, 4, 5],
        [...USERS, 15],
        [...salts, salts[1]], // row 5: another row's salt
        [...notes.rows.map((r) => r.token), notes.rows[0]?.token],
      ],
    );
    env = { DATABASE_URL: admin.url, LEGACY_MASTER: MASTER, AES_KEY, PROMPT_KEY };
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("imports every good row, records every bad one with its scope and code; status and verify tell the truth", async () => {
    const counts = (result: CliResult) =>
      (
        JSON.parse(result.stdout) as {
          table: string;
          column: string;
          plaintext: number;
          legacy: number;
          unreadable: number;
          keys: Record<string, number>;
          null: number;
        }[]
      ).map((c) => [`${c.table}.${c.column}`, c.plaintext, c.legacy, c.unreadable, c.keys, c.null]);
    const before = await runCli(["status", "--config", CONFIG, "--json"], { env });
    expectNoSecrets(before);
    expect(counts(before)).toEqual([
      ["vault.api_key", 0, 5, 0, {}, 1],
      ["vault.prompt", 0, 5, 0, {}, 1],
      ["diary.body", 0, 5, 1, {}, 0],
      ["notes.body", 0, 5, 0, {}, 0],
    ]);

    const jobEnv = { ...env, FIELDCRYPT_KEYS: `v1=${KEY1}` };
    const run = await runCli(["import", "--config", CONFIG, "--batch-size", "2"], { env: jobEnv });
    expectNoSecrets(run);
    expect(run.exit).toBe(1);
    expect(run.stdout).toMatch(/import vault: done, 6 rows read, 4 changed, 0 skipped, 1 failed; job /);
    expect(run.stdout).toMatch(/import diary: done, 6 rows read, 4 changed, 0 skipped, 2 failed; job /);
    expect(run.stdout).toMatch(/import notes: done, 5 rows read, 4 changed, 0 skipped, 1 failed; job /);
    const ids = jobIds(run);
    const recorded: unknown[] = [];
    for (const table of ["vault", "diary", "notes"]) {
      const errors = await runCli(["jobs", "errors", ids[table] as string, "--json"], { env });
      expectNoSecrets(errors);
      for (const e of JSON.parse(errors.stdout) as Record<string, unknown>[]) {
        recorded.push([e.table, e.rowKey, e.column, e.scope, e.code]);
      }
    }
    expect(recorded).toEqual([
      ["vault", ["5"], "api_key", "13", "ERR_DECRYPTION_FAILED"],
      ["vault", ["5"], "prompt", "13", "ERR_KEY_NOT_FOUND"],
      ["diary", ["5"], "body", "13", "ERR_DECRYPTION_FAILED"],
      ["diary", ["6"], "body", "14", "ERR_DECRYPTION_FAILED"],
      ["notes", ["5"], "body", "15", "ERR_DECRYPTION_FAILED"],
    ]);

    const after = await runCli(["status", "--config", CONFIG, "--json"], { env });
    expect(counts(after)).toEqual([
      ["vault.api_key", 0, 1, 0, { v1: 4 }, 1],
      ["vault.prompt", 0, 1, 0, { v1: 4 }, 1],
      ["diary.body", 0, 1, 1, { v1: 4 }, 0],
      ["notes.body", 0, 1, 0, { v1: 4 }, 0],
    ]);
    // On disk: the good rows are cells (binary in bytea, a JSON string in jsonb); the bad ones as they were.
    const s = admin.schema;
    const vault = await admin.query<{ id: number; magic: number | null; kind: string | null; cell: string | null }>(
      `SELECT id, get_byte(api_key, 0) AS magic, jsonb_typeof(prompt) AS kind, prompt #>> '{}' AS cell FROM ${s}.vault ORDER BY id`,
    );
    expect(vault.rows.map((r) => [r.id, r.magic, r.kind, r.cell?.slice(0, 4) ?? null])).toEqual([
      [1, 0xfc, "string", "fc1."],
      [2, 0xfc, "string", "fc1."],
      [3, 0xfc, "string", "fc1."],
      [4, 0xfc, "string", "fc1."],
      [5, expect.any(Number), "object", expect.any(String)],
      [6, null, null, null],
    ]);
    for (const table of ["diary", "notes"]) {
      const { rows } = await admin.query<{ id: number; body: string }>(
        `SELECT id, body FROM ${s}.${table} ORDER BY id`,
      );
      expect(rows.filter((r) => r.body.startsWith("fc1.")).map((r) => r.id)).toEqual([1, 2, 3, 4]);
    }

    // The columns are strict: verify opens the 16 cells, fails what is left, and says what that is.
    const verify = await runCli(["jobs", "run", "--kind", "verify", "--config", CONFIG], { env: jobEnv });
    expectNoSecrets(verify);
    expect(verify.exit).toBe(1);
    for (const line of [
      /verify vault: done, 6 rows read, 0 changed, 0 skipped, 1 failed; job /,
      /\n {2}vault\.api_key: 4 cells \(v1: 4\), 0 plaintext, 1 legacy, 0 unreadable, 1 NULL\n/,
      /\n {2}vault\.prompt: 4 cells \(v1: 4\), 0 plaintext, 1 legacy, 0 unreadable, 1 NULL\n/,
      /verify diary: done, 6 rows read, 0 changed, 0 skipped, 2 failed; job /,
      /\n {2}diary\.body: 4 cells \(v1: 4\), 0 plaintext, 1 legacy, 1 unreadable, 0 NULL\n/,
      /verify notes: done, 5 rows read, 0 changed, 0 skipped, 1 failed; job /,
      /\n {2}notes\.body: 4 cells \(v1: 4\), 0 plaintext, 1 legacy, 0 unreadable, 0 NULL\n/,
    ]) {
      expect(verify.stdout).toMatch(line);
    }
    const verified = jobIds(verify);
    const diaryErrors = await runCli(["jobs", "errors", verified.diary as string, "--json"], { env });
    expect(
      (JSON.parse(diaryErrors.stdout) as { rowKey: string[]; code: string }[]).map((e) => [e.rowKey, e.code]),
    ).toEqual([
      [["5"], "ERR_DECRYPTION_FAILED"], // cut short: never plaintext, never a legacy value to import
      [["6"], "ERR_NOT_ENCRYPTED"], // a legacy value left in a strict column
    ]);
  }, 300_000);
});
