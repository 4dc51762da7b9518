/**
 * `fieldcrypt audit verify` and `audit list` as a child process: command-line and config errors
 * without a database, then on a database (embedded PGlite, or the server at DATABASE_URL) a chain of key events made by
 * `fieldcrypt keys` and the library verifies, and an edited, a deleted and a reordered entry
 * (edited with SQL, the append-only triggers disabled) are each reported with exit code 4.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { appendAudit, createAuditor } from "fieldcrypt/audit";
import { generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliCase, type CliResult, checkCase, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const ROOT1 = generateKeyString();
const AUDIT_KEY = generateKeyString();
const KEY_ENV = { TEST_ROOT_1: ROOT1, TEST_AUDIT_KEY: AUDIT_KEY };

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-audit-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const require = createRequire(import.meta.url);
const KMS = pathToFileURL(require.resolve("fieldcrypt/kms")).href;
const AUDIT = pathToFileURL(require.resolve("fieldcrypt/audit")).href;
const CONFIG = file(
  "audit.mjs",
  `import { localRootKey } from ${JSON.stringify(KMS)};
import { createAuditor } from ${JSON.stringify(AUDIT)};
export default {
  rootKeys: [localRootKey("root-1", process.env.TEST_ROOT_1)],
  audit: createAuditor(process.env.TEST_AUDIT_KEY),
};\n`,
);
// The audit key given as the key string itself.
const KEY_STRING_CONFIG = file("audit-string.mjs", "export default { audit: process.env.TEST_AUDIT_KEY };\n");
const FAKE_ENV = { DATABASE_URL: "postgres://someone:hunter2@127.0.0.1:1/nowhere", ...KEY_ENV };
const SUB_HINT = "the subcommands are verify, head, list; run `fieldcrypt audit --help`";
const AUDIT_HINT =
  "add `audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY)` (fieldcrypt/audit), or the audit key string itself, to the config's default export";
const BROKEN_HINT =
  "compare fieldcrypt_audit with a backup from before the break, and find out who can write to the table";

function expectNoSecrets(result: CliResult): void {
  const all = result.stdout + result.stderr;
  for (const secret of [ROOT1, AUDIT_KEY, "hunter2"]) expect(all).not.toContain(secret);
}

describe("fieldcrypt audit: command line and configuration errors (no database needed)", () => {
  const cases: CliCase[] = [
    { name: "no subcommand", args: ["audit"], exit: 2, stderr: errorLines("no audit subcommand given", SUB_HINT) },
    {
      name: "an unknown subcommand",
      args: ["audit", "repair"],
      exit: 2,
      stderr: errorLines("unknown audit subcommand repair", SUB_HINT),
    },
    {
      name: "verify with a config without an audit key",
      args: ["audit", "verify", "--config", file("no-audit.mjs", "export default {};\n")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(`config file ${join(dir, "no-audit.mjs")} has no audit key`, AUDIT_HINT),
    },
    {
      name: "an audit that is neither an Auditor nor a key",
      args: ["audit", "verify", "--config", file("bad-audit.mjs", "export default { audit: { key: 1 } };\n")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `config file ${join(dir, "bad-audit.mjs")}: audit must be an Auditor (createAuditor from fieldcrypt/audit) or an audit key string`,
        AUDIT_HINT,
      ),
    },
    {
      name: "verify without a database URL",
      args: ["audit", "verify", "--config", CONFIG],
      env: KEY_ENV,
      exit: 3,
      stderr: errorLines(
        "no database: DATABASE_URL is not set and no --database-url was given",
        "pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (a password is best kept in PGPASSWORD or ~/.pgpass)",
      ),
    },
    {
      name: "list with a bad --limit",
      args: ["audit", "list", "--limit", "0"],
      exit: 2,
      stderr: errorLines("--limit must be an integer from 1 to 10000", "run `fieldcrypt audit --help`"),
    },
  ];
  it.each(cases)("$name", async (c) => {
    expectNoSecrets(await checkCase(c));
  });

  it.each(["verify", "list"])("audit %s --help", async (sub) => {
    const help = await runCli(["audit", sub, "--help"]);
    expect(help.stderr).toBe("");
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: [\\s\\S]*fieldcrypt audit ${sub}\\b[\\s\\S]*-h, --help`));
    expect(help.stdout).toMatch(/0 the chain is intact, 4 the chain is broken/);
  });
});

describe(`fieldcrypt audit on ${WHERE}`, () => {
  let admin: CliTestDb;
  /** A second database without an audit table. */
  let empty: CliTestDb;
  let env: Record<string, string>;
  let emptyEnv: Record<string, string>;
  const outputs: CliResult[] = [];

  async function cli(args: readonly string[], useEnv = env): Promise<CliResult> {
    const result = await runCli(args, { env: useEnv });
    expectNoSecrets(result);
    outputs.push(result);
    return result;
  }

  /** Runs `sql` on the audit table with its append-only triggers off, as a table owner could. */
  async function tamper(sql: string): Promise<void> {
    await admin.query("ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER");
    try {
      await admin.query(sql);
    } finally {
      await admin.query("ALTER TABLE fieldcrypt_audit ENABLE TRIGGER USER");
    }
  }

  async function restore(): Promise<void> {
    await tamper("DELETE FROM fieldcrypt_audit");
    await tamper("INSERT INTO fieldcrypt_audit SELECT * FROM audit_backup");
  }

  beforeAll(async () => {
    admin = await openCliTestDb("fc_audit");
    empty = await openCliTestDb("fc_audit_empty");
    env = { DATABASE_URL: admin.url, ...KEY_ENV };
    emptyEnv = { DATABASE_URL: empty.url, ...KEY_ENV };
  });
  afterAll(async () => {
    await admin?.close();
    await empty?.close();
  });

  it("no audit table: an operation error", async () => {
    const result = await cli(["audit", "verify", "--config", CONFIG], emptyEnv);
    expect(result.stderr).toBe(
      errorLines(
        "the audit table fieldcrypt_audit does not exist",
        "it is created by the first audited key event (or ensureAuditTable in a migration); check the search path",
      ),
    );
    expect(result.exit).toBe(1);
  });

  it("a chain of key events verifies (Auditor and key-string configs), and list shows it", async () => {
    for (const scope of ["tenant-1", "tenant-2", "tenant-3"]) {
      const created = await cli(["keys", "create", "--scope", scope, "--config", CONFIG, "--actor", "ops@example.org"]);
      expect(created.exit).toBe(0);
    }
    expect((await cli(["keys", "rotate", "--scope", "tenant-1", "--config", CONFIG])).exit).toBe(0);
    // More entries from the library, with the same key, in the same chain.
    const auditor = createAuditor(AUDIT_KEY);
    await admin.with(async (db) => {
      for (let i = 5; i <= 8; i++)
        await appendAudit(db, auditor, { actor: "app", action: "job.run", details: { n: i } });
    });
    await admin.query("CREATE TABLE audit_backup AS SELECT * FROM fieldcrypt_audit");

    for (const config of [CONFIG, KEY_STRING_CONFIG]) {
      const ok = await cli(["audit", "verify", "--config", config]);
      expect(ok.stderr).toBe("");
      expect(ok.stdout).toMatch(/^audit log intact: 8 entries verified; head MAC [0-9a-f]{64}\n$/);
      expect(ok.exit).toBe(0);
    }
    const json = await cli(["audit", "verify", "--config", CONFIG, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      entries: 8,
      verified: 8,
      headMac: expect.stringMatching(/^[0-9a-f]{64}$/),
      head: expect.stringMatching(/^fieldcrypt-audit-head:v1:8:[A-Za-z0-9_-]{43}$/),
      firstBadSeq: null,
      reason: null,
    });
    expect(json.exit).toBe(0);

    const list = await cli(["audit", "list", "--limit", "5", "--json"]);
    expect(list.exit).toBe(0);
    const entries = JSON.parse(list.stdout) as { seq: number; actor: string; action: string; scope: string | null }[];
    expect(entries.map((e) => [e.seq, e.actor, e.action, e.scope])).toEqual([
      [4, "fieldcrypt-cli", "key.create", "tenant-1"],
      [5, "app", "job.run", null],
      [6, "app", "job.run", null],
      [7, "app", "job.run", null],
      [8, "app", "job.run", null],
    ]);
    const text = await cli(["audit", "list", "--limit", "1"]);
    expect(text.stdout).toMatch(
      /^SEQ +AT +ACTOR +ACTION +SCOPE +KEYS +DETAILS\n8 +\S+ +app +job\.run +- +- +\{"n":8\}\n$/,
    );
    const all = await cli(["audit", "list"]);
    expect(all.stdout.split("\n")).toHaveLength(10);
    expect(all.stdout).toMatch(/^SEQ[^\n]*\n1 +\S+ +ops@example\.org +key\.create +tenant-1 +dk-/);
  });

  it.each([
    {
      what: "an edited entry",
      sql: ["UPDATE fieldcrypt_audit SET actor = 'someone-else' WHERE seq = 4"],
      seq: 4,
      reason: "edited",
      message: "entry 4 was edited (its content or MAC no longer match); 3 of 8 entries verified before it",
    },
    {
      what: "a deleted entry",
      sql: ["DELETE FROM fieldcrypt_audit WHERE seq = 3"],
      seq: 3,
      reason: "deleted",
      message: "entries are missing from seq 3 on; 2 of 7 entries verified before it",
    },
    {
      what: "a reordered entry (two entries swap places)",
      sql: [
        "UPDATE fieldcrypt_audit SET seq = 1000 WHERE seq = 5",
        "UPDATE fieldcrypt_audit SET seq = 5 WHERE seq = 6",
        "UPDATE fieldcrypt_audit SET seq = 6 WHERE seq = 1000",
      ],
      seq: 5,
      reason: "reordered",
      message:
        "entries were reordered at seq 5 (genuine entries under other seq numbers); 4 of 8 entries verified before it",
    },
  ])("detects $what: exit 4, the seq and the kind", async ({ sql, seq, reason, message }) => {
    for (const statement of sql) await tamper(statement);
    try {
      const text = await cli(["audit", "verify", "--config", CONFIG]);
      expect(text.stderr).toBe(errorLines(`audit log broken: ${message}`, BROKEN_HINT));
      expect(text.stdout).toBe("");
      expect(text.exit).toBe(4);
      const json = await cli(["audit", "verify", "--config", CONFIG, "--json"]);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBadSeq: seq, reason });
      expect(json.exit).toBe(4);
    } finally {
      await restore();
    }
    expect((await cli(["audit", "verify", "--config", CONFIG])).exit).toBe(0);
  });

  it("audit head prints the head; verify --expect catches a cut tail, an emptied table and a bad head line", async () => {
    const head = await cli(["audit", "head", "--config", CONFIG]);
    expect(head.stderr).toBe("");
    expect(head.exit).toBe(0);
    expect(head.stdout).toMatch(/^fieldcrypt-audit-head:v1:8:[A-Za-z0-9_-]{43}\n$/);
    const line = head.stdout.trim();
    const json = await cli(["audit", "head", "--config", CONFIG, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ head: line, entries: 8 });
    expect((await cli(["audit", "verify", "--config", CONFIG, "--expect", line])).exit).toBe(0);
    try {
      // The last two entries deleted: the shorter chain still verifies alone, not against the head.
      await tamper("DELETE FROM fieldcrypt_audit WHERE seq > 6");
      expect((await cli(["audit", "verify", "--config", CONFIG])).exit).toBe(0);
      const cut = await cli(["audit", "verify", "--config", CONFIG, "--expect", line]);
      expect(cut.stderr).toMatch(
        /^fieldcrypt: error: audit log truncated: the expected head is entry 8, the log has 6 entries\n/,
      );
      expect(cut.exit).toBe(4);
      await tamper("DELETE FROM fieldcrypt_audit");
      const emptied = await cli(["audit", "verify", "--config", CONFIG, "--expect", line]);
      expect(emptied.stderr).toMatch(
        /^fieldcrypt: error: audit log truncated: the expected head is entry 8, the log has 0 entries\n/,
      );
      expect(emptied.exit).toBe(4);
    } finally {
      await restore();
    }
    const malformed = await cli(["audit", "verify", "--config", CONFIG, "--expect", "not-a-head"]);
    expect(malformed.stderr).toMatch(
      /^fieldcrypt: error: an audit head must be fieldcrypt-audit-head:v1:<seq>:<43 base64url characters> \(got a string of 10 characters\)\n/,
    );
    expect(malformed.exit).toBe(2);
    // Another audit key: a configuration error (3), not "entry 1 was edited".
    const other = await cli(["audit", "verify", "--config", CONFIG], { ...env, TEST_AUDIT_KEY: generateKeyString() });
    expect(other.stderr).toMatch(
      /^fieldcrypt: error: the audit key \(kcv1:[A-Za-z0-9_-]{22}\) is not the key the audit log was written with/,
    );
    expect(other.exit).toBe(3);
  });

  it("no output held the audit key or a root key", () => {
    expect(outputs.length).toBeGreaterThan(15);
    for (const result of outputs) expectNoSecrets(result);
  });
});
