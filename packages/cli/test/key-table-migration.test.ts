// From simple mode (environment keys) to the key table, with the CLI alone, on the PostgreSQL
// server (a child process cannot share PGlite): cells written under FIELDCRYPT_KEYS move to
// per-tenant data keys with `keys create` + `jobs run --kind rotate`; status shows none left on
// the environment key; the audit log records the keys and the job run and verifies.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const ENV_KEY = generateKeyString();
const ROOT = generateKeyString();
const AUDIT_KEY = generateKeyString();

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-migration-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
const KMS = pathToFileURL(require.resolve("fieldcrypt/kms")).href;
const AUDIT = pathToFileURL(require.resolve("fieldcrypt/audit")).href;
const TABLES = `tables: [{ table: "notes", primaryKey: ["id"], scope: { column: "tenant" }, columns: { body: {} } }]`;
const SIMPLE = join(dir, "simple.mjs");
writeFileSync(SIMPLE, `export default { ${TABLES} };\n`);
const KEYED = join(dir, "keyed.mjs");
writeFileSync(
  KEYED,
  `import { localRootKey } from ${JSON.stringify(KMS)};
import { createAuditor } from ${JSON.stringify(AUDIT)};
export default {
  ${TABLES},
  rootKeys: [localRootKey("root-1", process.env.TEST_ROOT)],
  audit: createAuditor(process.env.TEST_AUDIT_KEY),
};\n`,
);

function expectNoSecrets(result: CliResult): void {
  const all = result.stdout + result.stderr;
  for (const secret of [ENV_KEY, ROOT, AUDIT_KEY]) expect(all).not.toContain(secret);
  expect(all).not.toMatch(/private note/);
}

describe(`from simple mode to the key table (CLI, ${WHERE})`, () => {
  let admin: CliTestDb;
  let schema: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    admin = await openCliTestDb("fc_migrate");
    schema = admin.schema;
    await admin.query(
      `CREATE TABLE ${schema}.notes (id integer PRIMARY KEY, tenant text NOT NULL, body text);
       INSERT INTO ${schema}.notes SELECT i, 't' || (i % 3), 'private note ' || i FROM generate_series(1, 30) i`,
    );
    env = { DATABASE_URL: admin.url, TEST_ROOT: ROOT, TEST_AUDIT_KEY: AUDIT_KEY };
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("keys create per tenant, then a rotate job with the environment key decrypt-only; nothing left on v1", async () => {
    const simple = { ...env, FIELDCRYPT_KEYS: `v1=${ENV_KEY}` };
    const encrypt = await runCli(["jobs", "run", "--kind", "encrypt", "--config", SIMPLE], { env: simple });
    expect(encrypt.exit).toBe(0);
    const status = async () =>
      (JSON.parse((await runCli(["status", "--config", SIMPLE, "--json"], { env })).stdout) as { keys: object }[])[0]
        ?.keys;
    expect(await status()).toEqual({ v1: 30 });

    for (const tenant of ["t0", "t1", "t2"]) {
      const created = await runCli(["keys", "create", "--scope", tenant, "--config", KEYED], { env });
      expectNoSecrets(created);
      expect(created.exit).toBe(0);
    }
    // Without the environment key the old cells cannot be read: every row fails, nothing is lost.
    const blind = await runCli(["jobs", "run", "--kind", "rotate", "--config", KEYED], { env });
    expectNoSecrets(blind);
    expect(blind.exit).toBe(1);
    expect(blind.stdout).toMatch(/rotate notes: done, 30 rows read, 0 changed, 0 skipped, 30 failed/);
    expect(await status()).toEqual({ v1: 30 });

    const rotate = await runCli(["jobs", "run", "--kind", "rotate", "--config", KEYED, "--actor", "migration"], {
      env: simple,
    });
    expectNoSecrets(rotate);
    expect(rotate.exit).toBe(0);
    expect(rotate.stdout).toMatch(/rotate notes: done, 30 rows read, 30 changed, 0 skipped, 0 failed/);
    const keys = (await status()) as Record<string, number>;
    expect(Object.keys(keys)).toHaveLength(3);
    expect(Object.keys(keys).every((id) => id.startsWith("dk-"))).toBe(true);
    expect(Object.values(keys).reduce((a, b) => a + b, 0)).toBe(30);
    // Each tenant's rows are under that tenant's key.
    const { rows } = await admin.query<{ tenant: string; keys: string }>(
      `SELECT n.tenant, count(DISTINCT k.id)::text AS keys FROM ${schema}.notes n JOIN ${schema}.fieldcrypt_keys k
         ON k.scope = n.tenant GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual([
      { tenant: "t0", keys: "1" },
      { tenant: "t1", keys: "1" },
      { tenant: "t2", keys: "1" },
    ]);

    const verify = await runCli(["audit", "verify", "--config", KEYED], { env });
    expectNoSecrets(verify);
    expect(verify.exit).toBe(0);
    const list = await runCli(["audit", "list", "--config", KEYED, "--json"], { env });
    const actions = (JSON.parse(list.stdout) as { action: string; actor: string }[]).map(
      (e) => `${e.action}:${e.actor}`,
    );
    expect(actions.filter((a) => a.startsWith("job.")).slice(-2)).toEqual(["job.start:migration", "job.end:migration"]);
    expect(actions.filter((a) => a.startsWith("key.create"))).toHaveLength(3);
  });
});
