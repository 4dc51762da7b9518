import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PgliteWire, startPgliteWire } from "../../fieldcrypt/test/pglite-wire.js";
import { type CliResult, errorLines, runCli } from "./run-cli.js";

const SERVER_URL = process.env.DATABASE_URL;

/** The sample values the demo encrypts; the app-side grids must show them, the stored ones never. */
const SAMPLES = [
  "Maria Gonzalez",
  "BP 142/91; started lisinopril 10 mg",
  "Couldn't sleep again. Therapy helped.",
  "I think I'm ready to tell my sister",
  "sk-demo-4f3c9a7e1b5d2c8a6e0f9b3d",
  "sk-demo-8e2b6d0f4a9c3e7b1d5fa2c6",
];

/** What every successful demo run must show, whatever the database. */
function expectDemoOutput(result: CliResult, keyId: string): void {
  expect(result.stderr).toBe("");
  expect(result.exit).toBe(0);
  const out = result.stdout;
  for (const table of ["clinic_notes", "journal_entries", "user_api_keys"]) {
    expect(out).toContain(`stored in PostgreSQL (SELECT * FROM ${table}):`);
  }
  // Cells as stored, shortened, in the stored grids; never a plaintext value there.
  const stored = [...out.matchAll(/stored in PostgreSQL[^\n]*\n((?: [^\n]*\n)+?) {3}read by the app/g)].map(
    (m) => m[1],
  );
  expect(stored).toHaveLength(3);
  for (const grid of stored) {
    expect(grid).toMatch(/\| fc1\.[A-Za-z0-9_-]+…[A-Za-z0-9_-]+/);
    for (const sample of SAMPLES) expect(grid).not.toContain(sample);
  }
  // The decrypted values next to them.
  for (const sample of SAMPLES) expect(out).toContain(`| ${sample}`);
  // Moved and altered cells: the one opaque failure.
  expect(out).toMatch(/copied into row 2 \(same clinic\) +✗ decryption failed \(ERR_DECRYPTION_FAILED\)\n/);
  expect(out).toMatch(/copied into row 3 \(clinic-9\) +✗ decryption failed \(ERR_DECRYPTION_FAILED\)\n/);
  expect(out).toMatch(/with one character changed +✗ decryption failed \(ERR_DECRYPTION_FAILED\)\n/);
  expect(out).toMatch(/in its own place +✓ BP 142\/91; started lisinopril 10 mg\n/);
  // inspect of one cell.
  expect(out).toMatch(
    /\$ fieldcrypt inspect fc1\.[^\n]*\n {3}form {8}text\n {3}version {5}1\n {3}algorithm {3}XAES-256-GCM\n/,
  );
  expect(out).toContain(`   key id      ${keyId}\n`);
  expect(out).toContain("What just happened");
  expect(out).toContain(`12 sensitive values in 3 tables were encrypted by the app, in place, with key ${keyId}`);
  expectRotation(out, keyId);
}

/** The status table of step 7 or 10: `table | column | plaintext | on <key> | NULL` per column. */
function statusGrid(out: string, step: string): string {
  const grid = new RegExp(`\n${step}\\. [^\n]*\n(?:   key id = [^\n]*\n)?((?: {4}[^\n]*\n| {3}-[^\n]*\n)+)`).exec(
    out,
  )?.[1];
  expect(grid).toBeDefined();
  return (grid as string).replace(/ +\n/g, "\n");
}

function statusRows(keyId: string): string {
  const rows = [
    ["clinic_notes", "patient_name", "3", "0"],
    ["clinic_notes", "note", "3", "0"],
    ["journal_entries", "body", "2", "0"],
    ["journal_entries", "transcript", "2", "0"],
    ["user_api_keys", "api_key", "2", "0"],
    ["journal_archive", "body", "20,000", "0"],
    ["journal_archive", "transcript", "4,000", "16,000"],
  ];
  const w = Math.max(6, `on ${keyId}`.length);
  const line = (c: string[]) =>
    `    ${(c[0] as string).padEnd(15)} | ${(c[1] as string).padEnd(12)} | ${(c[2] as string).padEnd(9)} | ${(c[3] as string).padEnd(w)} | ${c[4]}`.trimEnd();
  return [
    line(["table", "column", "plaintext", `on ${keyId}`, "NULL"]),
    `   ${"-".repeat(17)}+${"-".repeat(14)}+${"-".repeat(11)}+${"-".repeat(w + 2)}+--------`,
    ...rows.map((r) => line([r[0] as string, r[1] as string, "0", r[2] as string, r[3] as string])),
  ]
    .map((l) => `${l}\n`)
    .join("");
}

/** Steps 6-10: the generated table, status before, the new key, rotate jobs with JSON progress, status after. */
function expectRotation(out: string, keyId: string): void {
  expect(out).toContain("   ✓ 20,000 rows encrypted in 20 batches, 0 failed\n");
  expect(statusGrid(out, "7")).toBe(statusRows(keyId));
  expect(out).toContain(`8. A new key: v2 becomes primary, ${keyId} stays for decryption only\n`);
  expect(out).toContain(`   ${keyId.padEnd(8)}decrypt-only\n   v2      primary\n`);
  // Not a terminal: one JSON line per committed batch, for the encrypt job and each rotate job.
  const progress = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { kind: string; table: string; processed: number; total: number; rate: number });
  const rotate = progress.filter((p) => p.kind === "rotate");
  expect(progress.filter((p) => p.kind === "encrypt").map((p) => p.processed)).toEqual(
    Array.from({ length: 20 }, (_, i) => (i + 1) * 1000),
  );
  expect(rotate.map((p) => [p.table, p.processed, p.total])).toEqual([
    ["clinic_notes", 3, 3],
    ["journal_entries", 2, 2],
    ["user_api_keys", 2, 2],
    ...Array.from({ length: 20 }, (_, i) => ["journal_archive", (i + 1) * 1000, 20_000]),
  ]);
  for (const p of progress) expect(p.rate).toBeGreaterThan(0);
  expect(out).not.toContain("\r");
  expect(out).toContain("   ✓ journal_archive: 20,000 rows rotated in 20 batches, 0 failed\n");
  expect(out).toContain("   ✓ clinic_notes: 3 rows rotated in 1 batch, 0 failed\n");
  expect(statusGrid(out, "10")).toBe(statusRows("v2"));
  expect(out).toContain(`   ✓ 0 rows left on ${keyId}, 0 in plaintext: 24,012 cells on v2\n`);
  expect(out).toMatch(
    /clinic_notes\.note of row 1 +\| [^|\n]+ → v2 \| BP 142\/91; started lisinopril 10 mg +\| ✓ unchanged\n/,
  );
  expect(out).toMatch(
    /journal_archive\.transcript of row 20 +\| [^|\n]+ → v2 \| Voice note 20: therapy at 5 +\| ✓ unchanged\n/,
  );
  expect(out).not.toContain("✗ changed");
  expect(out).toContain(`0 cells are left on ${keyId}; it stays in the keyring for decryption only`);
  // Never key material.
  expect(out).not.toContain("FIELDCRYPT-SECRET-KEY");
}

// A demo is a whole run of the main job (two tables, 20,000-row rotations): minutes on a loaded
// 2-core machine, so its runs get more than the default 60 s.
const DEMO_TIMEOUT = 240_000;

describe("fieldcrypt demo", () => {
  it(
    "runs on embedded PGlite with a throwaway key",
    async () => {
      const result = await runCli(["demo"]);
      expectDemoOutput(result, "v1");
      expect(result.stdout).toMatch(/database {2}PostgreSQL \d+\.\d+ embedded \(PGlite/);
      expect(result.stdout).toContain("keys      FIELDCRYPT_KEYS is not set: generated a throwaway key v1 in memory");
    },
    DEMO_TIMEOUT,
  );

  it(
    "uses FIELDCRYPT_KEYS when it is set",
    async () => {
      const keys = await runCli(["keygen", "--id", "k7"]);
      const result = await runCli(["demo"], { env: { FIELDCRYPT_KEYS: keys.stdout.trim() } });
      expectDemoOutput(result, "k7");
      expect(result.stdout).toContain("keys      from FIELDCRYPT_KEYS; new cells use key k7\n");
    },
    DEMO_TIMEOUT,
  );

  it("refuses a bad keyring before starting a database", async () => {
    const result = await runCli(["demo"], { env: { FIELDCRYPT_KEYS: "v1=nope" } });
    expect(result.exit).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^fieldcrypt: error: key v1: key string must be FIELDCRYPT-SECRET-KEY-1-/);
  });

  it("refuses a database URL that is not postgres://", async () => {
    const result = await runCli(["demo", "--database-url", "mysql://root@localhost/db"]);
    expect(result.exit).toBe(2);
    expect(result.stderr).toBe(
      errorLines(
        "--database-url (or DATABASE_URL) is not a postgres:// URL",
        "expected postgres://USER@HOST:PORT/DATABASE",
      ),
    );
  });

  it("reports a server it cannot reach without printing the password", async () => {
    const result = await runCli(["demo"], { env: { DATABASE_URL: "postgres://app:hunter2@127.0.0.1:1/clinic" } });
    expect(result.exit).toBe(1);
    expect(result.stderr).toBe(
      errorLines(
        "cannot connect to PostgreSQL at 127.0.0.1:1/clinic (ECONNREFUSED)",
        "check --database-url / DATABASE_URL, or leave both unset to run on embedded PGlite",
      ),
    );
    expect(result.stdout).not.toContain("hunter2");
  });

  // The server at DATABASE_URL; on a plain `npm test`, PGlite behind the wire protocol on a
  // loopback port, so that the URL path (node-postgres, a schema of its own, dropped) runs too.
  describe(`on a PostgreSQL server by URL (${SERVER_URL === undefined ? "PGlite over the wire protocol" : "DATABASE_URL"})`, () => {
    let wire: PgliteWire | undefined;
    let url: string;
    beforeAll(async () => {
      if (SERVER_URL === undefined) wire = await startPgliteWire();
      url = SERVER_URL ?? (wire as PgliteWire).url;
    });
    afterAll(async () => wire?.close());

    async function demoSchemas(): Promise<string[]> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ nspname: string }>(
          "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'fieldcrypt\\_demo\\_%' ORDER BY 1",
        );
        return rows.map((r) => r.nspname);
      } finally {
        await client.end();
      }
    }

    async function runOnServer(args: string[], env: Record<string, string>): Promise<void> {
      const before = await demoSchemas();
      const result = await runCli(args, { env });
      expectDemoOutput(result, "v1");
      const schema = /in a new schema (fieldcrypt_demo_[0-9a-f]{8})\n/.exec(result.stdout)?.[1];
      expect(schema).toBeDefined();
      expect(result.stdout).toMatch(/database {2}PostgreSQL \d+\.\d+ at [^\n@]+\//);
      const after = await demoSchemas();
      expect(after).not.toContain(schema);
      expect(after).toEqual(before);
    }

    it(
      "runs via DATABASE_URL and leaves no schema behind",
      async () => {
        await runOnServer(["demo"], { DATABASE_URL: url });
      },
      DEMO_TIMEOUT,
    );

    it(
      "runs via --database-url and leaves no schema behind",
      async () => {
        await runOnServer(["demo", "--database-url", url], {});
      },
      DEMO_TIMEOUT,
    );
  });
});
