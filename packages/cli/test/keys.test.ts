/**
 * `fieldcrypt keys …` as a child process: command-line and config errors without a database, then
 * on a database (embedded PGlite through a pglite: URL, or the server at DATABASE_URL) create,
 * rotate, list, rotate-root, shred and export, checked against the rows of fieldcrypt_keys, the
 * audit log and the library (a shredded scope's cell fails with ERR_KEY_DESTROYED). Key strings
 * and wrapped key bytes are canaries: they must never appear in any output.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { decrypt, encrypt } from "fieldcrypt/cell";
import { loadKeyring, rethrowDestroyed } from "fieldcrypt/key-store";
import { generateKeyString } from "fieldcrypt/keyring";
import { localRootKey } from "fieldcrypt/kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliCase, type CliResult, checkCase, errorLines, runCli } from "./run-cli.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const ROOT1 = generateKeyString();
const ROOT2 = generateKeyString();
const AUDIT_KEY = generateKeyString();
const KEY_ENV = { TEST_ROOT_1: ROOT1, TEST_ROOT_2: ROOT2, TEST_AUDIT_KEY: AUDIT_KEY };

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-keys-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// Config modules in a temp dir import the CLI's own copy of the library by file URL.
const require = createRequire(import.meta.url);
const KMS = pathToFileURL(require.resolve("fieldcrypt/kms")).href;
const AUDIT = pathToFileURL(require.resolve("fieldcrypt/audit")).href;
function config(name: string, roots: readonly string[], audited = true): string {
  return file(
    name,
    `import { localRootKey } from ${JSON.stringify(KMS)};
import { createAuditor } from ${JSON.stringify(AUDIT)};
const key = { "root-1": process.env.TEST_ROOT_1, "root-2": process.env.TEST_ROOT_2 };
export default {
  rootKeys: [${roots.map((id) => `localRootKey(${JSON.stringify(id)}, key[${JSON.stringify(id)}])`).join(", ")}],
  ${audited ? "audit: createAuditor(process.env.TEST_AUDIT_KEY)," : ""}
};\n`,
  );
}

const CONFIG = config("keys.mjs", ["root-1", "root-2"]);
// root-1 behind a provider whose third unwrap fails like an unreachable HSM (its message holds a canary).
const FLAKY = file(
  "flaky.mjs",
  `import { localRootKey } from ${JSON.stringify(KMS)};
import { createAuditor } from ${JSON.stringify(AUDIT)};
const real = localRootKey("root-1", process.env.TEST_ROOT_1);
let calls = 0;
const flaky = {
  id: "root-1",
  wrap: (key, aad) => real.wrap(key, aad),
  unwrap: async (wrapped, aad) => {
    if (++calls === 3) throw Object.assign(new Error("HSM offline " + process.env.TEST_ROOT_1), { code: "ECONNRESET" });
    return real.unwrap(wrapped, aad);
  },
};
export default {
  rootKeys: [localRootKey("root-2", process.env.TEST_ROOT_2), flaky],
  audit: createAuditor(process.env.TEST_AUDIT_KEY),
};\n`,
);
const FAKE_ENV = { DATABASE_URL: "postgres://someone:hunter2@127.0.0.1:1/nowhere", ...KEY_ENV };
const ROOT_KEYS_HINT =
  'add `rootKeys: [localRootKey({ id: "root-2026", key: process.env.FIELDCRYPT_ROOT_KEY })]` (fieldcrypt/kms, or a KMS/HSM provider) to the config\'s default export; the first is the current root key';
const SUB_HINT = "the subcommands are list, create, rotate, rotate-root, shred, export; run `fieldcrypt keys --help`";

const outputs: CliResult[] = [];
/** Every output: never a root key, the audit key, the database password. */
function expectNoSecrets(result: CliResult, extra: readonly string[] = []): void {
  outputs.push(result);
  const all = result.stdout + result.stderr;
  for (const secret of [ROOT1, ROOT2, AUDIT_KEY, "hunter2", ...extra]) expect(all).not.toContain(secret);
}

describe("fieldcrypt keys: command line and configuration errors (no database needed)", () => {
  const cases: CliCase[] = [
    { name: "no subcommand", args: ["keys"], exit: 2, stderr: errorLines("no keys subcommand given", SUB_HINT) },
    {
      name: "an unknown subcommand",
      args: ["keys", "delete"],
      exit: 2,
      stderr: errorLines("unknown keys subcommand delete", SUB_HINT),
    },
    {
      name: "create without a scope",
      args: ["keys", "create", "--config", CONFIG],
      env: FAKE_ENV,
      exit: 2,
      stderr: errorLines("missing --scope S (or --shared for the shared keys)", "run `fieldcrypt keys create --help`"),
    },
    {
      name: "--scope and --shared",
      args: ["keys", "rotate", "--scope", "t", "--shared"],
      exit: 2,
      stderr: errorLines("--scope and --shared exclude each other", "run `fieldcrypt keys rotate --help`"),
    },
    {
      name: "shred without --yes is refused before anything is touched",
      args: ["keys", "shred", "--scope", "tenant-a", "--config", CONFIG],
      env: FAKE_ENV,
      exit: 2,
      stderr: errorLines(
        "refusing to shred scope tenant-a without --yes: its data keys are destroyed and its data becomes unrecoverable",
        "`fieldcrypt keys list --scope tenant-a` shows the keys it would destroy; add --yes to confirm",
      ),
    },
    {
      name: "a bad --batch-size",
      args: ["keys", "rotate-root", "--batch-size", "0"],
      exit: 2,
      stderr: errorLines("--batch-size must be an integer from 1 to 100000", "run `fieldcrypt keys --help`"),
    },
    {
      name: "create with a config without rootKeys",
      args: ["keys", "create", "--scope", "t", "--config", file("no-roots.mjs", "export default {};\n")],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(`config file ${join(dir, "no-roots.mjs")} has no rootKeys`, ROOT_KEYS_HINT),
    },
    {
      name: "rootKeys that are not providers",
      args: [
        "keys",
        "create",
        "--scope",
        "t",
        "--config",
        file("bad-roots.mjs", `export default { rootKeys: [{ id: "r", key: process.env.TEST_ROOT_1 }] };\n`),
      ],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `config file ${join(dir, "bad-roots.mjs")}: rootKeys[0] is not a root-key provider (an object with id, wrap and unwrap)`,
        ROOT_KEYS_HINT,
      ),
    },
    {
      name: "a root key id configured twice",
      args: ["keys", "list", "--config", config("twice.mjs", ["root-1", "root-1"])],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `config file ${join(dir, "twice.mjs")}: rootKeys[1]: root key root-1 is configured twice`,
        ROOT_KEYS_HINT,
      ),
    },
    {
      name: "an audit key that is not a key: its value is never printed",
      args: [
        "keys",
        "list",
        "--config",
        file("bad-audit.mjs", "export default { audit: process.env.TEST_ROOT_1 + 'x' };\n"),
      ],
      env: FAKE_ENV,
      exit: 3,
      stderr: errorLines(
        `config file ${join(dir, "bad-audit.mjs")}: audit is not a valid audit key (a FIELDCRYPT-SECRET-KEY-1-… key string or 32 bytes; make one with \`fieldcrypt keygen\`)`,
        "add `audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY)` (fieldcrypt/audit), or the audit key string itself, to the config's default export",
      ),
    },
    {
      name: "a root key missing from the environment: the library's message, no value",
      args: ["keys", "list", "--config", config("unset.mjs", ["root-1"])],
      env: { DATABASE_URL: FAKE_ENV.DATABASE_URL },
      exit: 3,
      stderr: new RegExp(
        `^fieldcrypt: error: cannot load config file ${join(dir, "unset.mjs")}: [^\\n]*root key root-1[^\\n]*\\nfieldcrypt: hint: check the keys the config module reads\\n$`,
      ),
    },
    {
      name: "no tables and no FIELDCRYPT_KEYS needed: it gets as far as the database",
      args: ["keys", "list", "--config", CONFIG],
      env: FAKE_ENV,
      exit: 1,
      stderr: errorLines(
        "cannot connect to the database (ECONNREFUSED)",
        "check --database-url or DATABASE_URL, and that the server is running",
      ),
    },
  ];
  it.each(cases)("$name", async (c) => {
    expectNoSecrets(await checkCase(c));
  });

  it.each(["list", "create", "rotate", "rotate-root", "shred", "export"])("keys %s --help", async (sub) => {
    const help = await runCli(["keys", sub, "--help"]);
    expect(help.stderr).toBe("");
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: [\\s\\S]*fieldcrypt keys ${sub}\\b[\\s\\S]*-h, --help`));
  });

  it("keys --help says rotate-root is safe to re-run and that rows are re-encrypted by a rotate job", async () => {
    const help = await runCli(["keys", "--help"]);
    expect(help.exit).toBe(0);
    expect(help.stdout).toMatch(/Safe to re-run: a stopped rotation resumes/);
    expect(help.stdout).toMatch(/`fieldcrypt jobs run --kind rotate` re-encrypts/);
  });
});

interface KeyRow {
  id: string;
  scope: string | null;
  state: string;
  root_key_id: string;
  wrapped: string | null;
  check_value: string | null;
  retired_at: Date | null;
  destroyed_at: Date | null;
}

describe(`fieldcrypt keys on ${WHERE}`, () => {
  let admin: CliTestDb;
  let env: Record<string, string>;
  const wrappedSeen: string[] = [];

  beforeAll(async () => {
    admin = await openCliTestDb("fc_keys");
    env = { DATABASE_URL: admin.url, ...KEY_ENV };
  });
  afterAll(async () => {
    await admin?.close();
  });

  async function rows(): Promise<KeyRow[]> {
    const { rows } = await admin.query<KeyRow>(
      `SELECT id, scope, state, root_key_id, encode(wrapped_key, 'hex') AS wrapped, check_value, retired_at, destroyed_at
         FROM fieldcrypt_keys ORDER BY scope NULLS FIRST, created_at, id`,
    );
    for (const r of rows)
      if (r.wrapped !== null) wrappedSeen.push(r.wrapped, Buffer.from(r.wrapped, "hex").toString("base64"));
    return rows;
  }

  async function keys(args: readonly string[], configFile = CONFIG): Promise<CliResult> {
    const result = await runCli(["keys", ...args, "--config", configFile], { env });
    expectNoSecrets(result, wrappedSeen);
    return result;
  }

  async function actions(): Promise<string[]> {
    const { rows } = await admin.query<{ action: string }>("SELECT action FROM fieldcrypt_audit ORDER BY seq");
    return rows.map((r) => r.action);
  }

  const ctx = (scope: string) => ({ scope, table: "notes", column: "body", rowKey: 1 });
  const cells: Record<string, string> = {};

  it("list before any key: the key table does not exist", async () => {
    const result = await keys(["list"]);
    expect(result.stderr).toBe(
      errorLines(
        "the key table fieldcrypt_keys does not exist",
        "create a scope's first data key with `fieldcrypt keys create --scope S` (or call ensureKeyTable in a migration); check the search path",
      ),
    );
    expect(result.exit).toBe(1);
  });

  it("create: a scope's first key is primary under the first root key; a second create is refused", async () => {
    const a = await keys(["create", "--scope", "tenant-a"]);
    expect(a.stderr).toBe("");
    expect(a.exit).toBe(0);
    const created =
      /^created data key (dk-[A-Za-z0-9_-]+) for scope tenant-a: primary, wrapped by root key root-1, check value (kcv1:[A-Za-z0-9_-]{22})\n$/.exec(
        a.stdout,
      );
    const idA = created?.[1];
    expect(idA).toBeDefined();

    const b = await keys(["create", "--scope", "tenant-b", "--json"]);
    expect(b.exit).toBe(0);
    const bJson = JSON.parse(b.stdout) as { id: string; checkValue: string };
    expect(bJson).toEqual({
      id: bJson.id,
      scope: "tenant-b",
      state: "primary",
      rootKeyId: "root-1",
      checkValue: expect.stringMatching(/^kcv1:[A-Za-z0-9_-]{22}$/),
      retired: [],
    });

    const shared = await keys(["create", "--shared"]);
    expect(shared.stdout).toMatch(
      /^created data key dk-\S+ for the shared keys: primary, wrapped by root key root-1, check value kcv1:\S+\n$/,
    );

    const again = await keys(["create", "--scope", "tenant-a"]);
    expect(again.stderr).toBe(
      errorLines(
        `scope tenant-a already has a primary data key ${idA}`,
        "run `fieldcrypt keys rotate --scope S` to replace it (or pass --primary)",
      ),
    );
    expect(again.exit).toBe(1);

    const onDisk = await rows();
    expect(onDisk.map((r) => [r.id, r.scope, r.state, r.root_key_id])).toEqual([
      [expect.stringMatching(/^dk-/), null, "primary", "root-1"],
      [idA, "tenant-a", "primary", "root-1"],
      [bJson.id, "tenant-b", "primary", "root-1"],
    ]);
    for (const r of onDisk) expect(r.wrapped).toMatch(/^[0-9a-f]{100,}$/);
    // The check value printed and stored is the one of the material a load unwraps.
    expect(onDisk.find((r) => r.id === idA)?.check_value).toBe(created?.[2]);
    expect(onDisk.find((r) => r.id === bJson.id)?.check_value).toBe(bJson.checkValue);
    const loaded = await admin.with((db) =>
      loadKeyring(db, localRootKey("root-1", ROOT1), { scopes: ["tenant-a", "tenant-b"] }),
    );
    expect(loaded.get(idA as string)?.checkValue).toBe(created?.[2]);
    expect(loaded.get(bJson.id)?.checkValue).toBe(bJson.checkValue);
    expect(await actions()).toEqual(["key.create", "key.create", "key.create"]);
  });

  it("rotate: a new primary, the old key decrypt-only, and the rotate job named", async () => {
    const [, oldA] = await rows();
    const result = await keys(["rotate", "--scope", "tenant-a"]);
    expect(result.stderr).toBe("");
    expect(result.exit).toBe(0);
    const m =
      /^rotated scope tenant-a: new primary data key (dk-\S+) \(root key root-1, check value kcv1:\S+\); (dk-\S+) now decrypt-only\nthe old key's cells stay readable; run `fieldcrypt jobs run --kind rotate` to re-encrypt the rows under (dk-\S+)\n$/.exec(
        result.stdout,
      );
    expect(m?.[2]).toBe(oldA?.id);
    expect(m?.[3]).toBe(m?.[1]);
    const a = (await rows()).filter((r) => r.scope === "tenant-a");
    expect(a.map((r) => [r.id, r.state])).toEqual([
      [oldA?.id, "decrypt-only"],
      [m?.[1], "primary"],
    ]);
    expect(a[0]?.retired_at).toBeInstanceOf(Date);

    const none = await keys(["rotate", "--scope", "tenant-z"]);
    expect(none.stderr).toBe(
      errorLines(
        "scope tenant-z has no primary data key to rotate",
        "create one with `fieldcrypt keys create --scope S` (a shredded scope stays shredded)",
      ),
    );
    expect(none.exit).toBe(1);
  });

  it("list: the inventory in text and JSON, never material", async () => {
    const onDisk = await rows();
    const text = await keys(["list"]);
    expect(text.exit).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +SCOPE +STATE +ROOT KEY +CHECK VALUE +CREATED +RETIRED +DESTROYED$/);
    expect(lines.slice(1).map((l) => l.split(/ +/).slice(0, 5))).toEqual(
      onDisk.map((r) => [r.id, r.scope ?? "(shared)", r.state, r.root_key_id, r.check_value]),
    );
    const json = await keys(["list", "--scope", "tenant-a", "--json"]);
    expect(json.exit).toBe(0);
    const list = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(list.map((k) => Object.keys(k).sort())).toEqual(
      Array(2).fill(["checkValue", "createdAt", "destroyedAt", "id", "retiredAt", "rootKeyId", "scope", "state"]),
    );
    expect(list.map((k) => [k.id, k.state, k.checkValue])).toEqual(
      onDisk.filter((r) => r.scope === "tenant-a").map((r) => [r.id, r.state, r.check_value]),
    );
    const empty = await keys(["list", "--scope", "nobody"]);
    expect(empty.stdout).toBe("no data keys for scope nobody\n");
  });

  it("rotate-root: every live key rewrapped under root-2 with progress, cells untouched and readable; re-run is a no-op", async () => {
    const before = await admin.with((db) =>
      loadKeyring(db, localRootKey("root-1", ROOT1), { scopes: ["tenant-a", "tenant-b"] }),
    );
    for (const scope of ["tenant-a", "tenant-b"]) cells[scope] = encrypt(before, `note of ${scope}`, ctx(scope));
    const old = await rows();

    // A provider that fails on its third unwrap: the first batch of two stays rewrapped.
    const stopped = await keys(["rotate-root", "--to", "root-2", "--batch-size", "2"], FLAKY);
    expect(stopped.stderr).toBe(
      errorLines(
        'root key "root-1" is unavailable (ECONNRESET)',
        "2 of 4 data keys were rewrapped before it, the rest are untouched; fix the cause and run `fieldcrypt keys rotate-root` again: it resumes where it stopped",
      ),
    );
    expect(stopped.exit).toBe(3);
    expect(JSON.parse(stopped.stdout.split("\n")[0] as string)).toEqual({
      kind: "rewrap",
      table: "fieldcrypt_keys",
      processed: 2,
      total: 4,
      rate: expect.any(Number),
    });
    // Batches go by key id in the database's order: the first two ids are done.
    const half = await admin.query<{ root_key_id: string }>("SELECT root_key_id FROM fieldcrypt_keys ORDER BY id");
    expect(half.rows.map((r) => r.root_key_id)).toEqual(["root-2", "root-2", "root-1", "root-1"]);

    // Re-run: resumes with the two keys left.
    const result = await keys(["rotate-root", "--to", "root-2", "--batch-size", "1"]);
    expect(result.stderr).toBe("");
    expect(result.exit).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 2).map((l) => JSON.parse(l))).toEqual([
      { kind: "rewrap", table: "fieldcrypt_keys", processed: 1, total: 2, rate: expect.any(Number) },
      { kind: "rewrap", table: "fieldcrypt_keys", processed: 2, total: 2, rate: expect.any(Number) },
    ]);
    expect(lines[2]).toBe("rewrapped 2 data keys from root key root-1 to root-2; no application row was touched");
    const now = await rows();
    expect(now.map((r) => [r.id, r.state, r.root_key_id])).toEqual(old.map((r) => [r.id, r.state, "root-2"]));
    for (const [i, r] of now.entries()) expect(r.wrapped).not.toBe(old[i]?.wrapped);

    // Only root-2 can open the keys now, and the cells written before read back.
    const after = await admin.with((db) =>
      loadKeyring(db, localRootKey("root-2", ROOT2), { scopes: ["tenant-a", "tenant-b"] }),
    );
    for (const scope of ["tenant-a", "tenant-b"]) {
      expect(decrypt(after, cells[scope] as string, ctx(scope))).toBe(`note of ${scope}`);
    }

    const again = await keys(["rotate-root", "--to", "root-2"]);
    expect(again.stdout).toBe("every live data key is wrapped by root key root-2 already; nothing to do\n");
    expect(again.exit).toBe(0);

    // Back to root-1 (the default target, the first in rootKeys) with a config that lacks root-2: refused.
    const missing = await keys(["rotate-root"], config("only-1.mjs", ["root-1"]));
    expect(missing.stderr).toBe(
      errorLines(
        "4 data keys are wrapped by root key root-2, which the config's rootKeys do not hold",
        "list both the old and the new root key in rootKeys until the rotation is done",
      ),
    );
    expect(missing.exit).toBe(3);
    const badTo = await keys(["rotate-root", "--to", "root-9"]);
    expect(badTo.stderr).toBe(
      errorLines(
        "--to names a root key that is not in the config's rootKeys",
        "the configured root keys are root-1, root-2",
      ),
    );
    expect(badTo.exit).toBe(2);
    expect((await actions()).filter((a) => a === "key.rewrap")).toHaveLength(3);
    expect((await actions()).filter((a) => a === "key.unwrap-failed")).toHaveLength(1);
  });

  it("shred: refused without --yes; with it the scope's keys are destroyed and its cells fail with ERR_KEY_DESTROYED", async () => {
    const refused = await keys(["shred", "--scope", "tenant-a"]);
    expect(refused.exit).toBe(2);
    expect((await rows()).filter((r) => r.state === "destroyed")).toEqual([]);

    const ids = (await rows())
      .filter((r) => r.scope === "tenant-a")
      .map((r) => r.id)
      .sort();
    const result = await keys(["shred", "--scope", "tenant-a", "--yes"]);
    expect(result.stderr).toBe("");
    expect(result.exit).toBe(0);
    expect(result.stdout).toBe(
      `destroyed 2 data keys of scope tenant-a: ${ids.join(", ")}\nits cells can no longer be decrypted (ERR_KEY_DESTROYED)\nnote: processes running watchShreds drop the keys at once (LISTEN) or within their poll, others when their cache entry expires; the old row version keeps the wrapped key until VACUUM (--vacuum); the WAL and backups keep it until the root key that wrapped it is retired (docs/shredding.md)\n`,
    );
    const onDisk = await rows();
    for (const r of onDisk) {
      if (r.scope === "tenant-a") {
        expect([r.state, r.wrapped, r.destroyed_at instanceof Date]).toEqual(["destroyed", null, true]);
      } else {
        expect(r.state).not.toBe("destroyed");
      }
    }

    {
      const keyring = await admin.with((db) =>
        loadKeyring(db, localRootKey("root-2", ROOT2), { scopes: ["tenant-a", "tenant-b"] }),
      );
      let code: unknown;
      try {
        decrypt(keyring, cells["tenant-a"] as string, ctx("tenant-a"));
      } catch (error) {
        try {
          rethrowDestroyed(keyring, error);
        } catch (typed) {
          code = (typed as { code?: unknown }).code;
        }
      }
      expect(code).toBe("ERR_KEY_DESTROYED");
      expect(decrypt(keyring, cells["tenant-b"] as string, ctx("tenant-b"))).toBe("note of tenant-b");
    }

    // --vacuum rewrites the key table into new files (VACUUM FULL): no dead row version is left in them.
    const fileNode = async () =>
      (await admin.query("SELECT relfilenode FROM pg_class WHERE oid = to_regclass('fieldcrypt_keys')")).rows[0];
    const before = await fileNode();
    const again = await keys(["shred", "--scope", "tenant-a", "--yes", "--vacuum", "--json"]);
    expect(again.stderr).toBe("");
    expect(JSON.parse(again.stdout)).toEqual({
      scope: "tenant-a",
      destroyed: [],
      jobErrorsPurged: 0,
      vacuumed: ["fieldcrypt_keys"],
    });
    expect(await fileNode()).not.toEqual(before);
    const unknown = await keys(["shred", "--scope", "tenant-q", "--yes"]);
    expect(unknown.stderr).toBe(
      errorLines("scope tenant-q has no data keys", "check the scope with `fieldcrypt keys list`"),
    );
    expect(unknown.exit).toBe(1);
    const shredded = (
      await admin.query("SELECT key_ids, scope FROM fieldcrypt_audit WHERE action = 'scope.shred' ORDER BY seq")
    ).rows;
    expect(shredded[0]).toEqual({ key_ids: ids, scope: "tenant-a" });
  });

  it("export: the inventory as JSON in a new 0600 file or on stdout, never overwriting", async () => {
    const onDisk = await rows();
    const out = join(dir, "inventory.json");
    const result = await keys(["export", "--out", out]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`wrote the inventory of 4 data keys to ${out}\n`);
    expect(result.exit).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const inventory = JSON.parse(readFileSync(out, "utf8")) as {
      format: string;
      summary: unknown;
      keys: { id: string; state: string; rootKeyId: string; scope: string | null }[];
    };
    expect(inventory.format).toBe("fieldcrypt-key-inventory-v1");
    expect(inventory.summary).toEqual({
      keys: 4,
      scopes: 3,
      byState: { primary: 2, destroyed: 2 },
      liveByRootKey: { "root-2": 2 },
    });
    expect(inventory.keys.map((k) => [k.id, k.scope, k.state, k.rootKeyId])).toEqual(
      onDisk.map((r) => [r.id, r.scope, r.state, r.root_key_id]),
    );
    const text = readFileSync(out, "utf8");
    for (const secret of [ROOT1, ROOT2, AUDIT_KEY, ...wrappedSeen]) expect(text).not.toContain(secret);

    const stdout = await keys(["export"]);
    expect(JSON.parse(stdout.stdout)).toMatchObject({ format: "fieldcrypt-key-inventory-v1", keys: inventory.keys });
    const twice = await keys(["export", "--out", out]);
    expect(twice.stderr).toBe(
      errorLines(`${out} already exists; keys export never overwrites a file`, "choose another --out FILE"),
    );
    expect(twice.exit).toBe(1);
  });

  it("create --primary replaces a scope's primary; a bad --actor is a usage error", async () => {
    const first = await keys(["create", "--scope", "tenant-c", "--actor", "ops@example.org"]);
    expect(first.exit).toBe(0);
    const oldId = /^created data key (dk-\S+) /.exec(first.stdout)?.[1];
    const second = await keys(["create", "--scope", "tenant-c", "--primary"]);
    expect(second.stderr).toBe("");
    expect(second.stdout).toMatch(
      new RegExp(
        `^created data key (dk-\\S+) for scope tenant-c: primary, wrapped by root key root-1, check value kcv1:\\S+\n${oldId} is now decrypt-only\n$`,
      ),
    );
    expect(second.exit).toBe(0);
    expect((await rows()).filter((r) => r.scope === "tenant-c").map((r) => r.state)).toEqual([
      "decrypt-only",
      "primary",
    ]);
    const { rows: audited } = await admin.query(
      "SELECT actor, key_ids, details::text AS details FROM fieldcrypt_audit WHERE scope = 'tenant-c' ORDER BY seq",
    );
    expect(audited.map((r) => r.actor)).toEqual(["ops@example.org", "fieldcrypt-cli"]);
    expect(JSON.parse(audited[1]?.details as string)).toEqual({
      retired: [oldId],
      rootKeyId: "root-1",
      checkValue: expect.stringMatching(/^kcv1:/),
    });

    const badActor = await keys(["create", "--scope", "tenant-c", "--actor", "caf\u00e9"]);
    expect(badActor.stderr).toBe(
      errorLines("--actor must be 1 to 200 printable ASCII characters", "for example: --actor ops@example.org"),
    );
    expect(badActor.exit).toBe(2);
  });

  it("every key event was audited, the chain verifies, and no output held a key", async () => {
    expect(await actions()).toEqual([
      "key.create",
      "key.create",
      "key.create",
      "key.create",
      "key.rewrap",
      "key.unwrap-failed",
      "key.rewrap",
      "key.rewrap",
      "scope.shred",
      "scope.shred",
      "key.export",
      "key.export",
      "key.create",
      "key.create",
    ]);
    const verify = await runCli(["audit", "verify", "--config", CONFIG], { env });
    expect(verify.stdout).toMatch(/^audit log intact: 14 entries verified; head MAC [0-9a-f]{64}\n$/);
    expect(verify.exit).toBe(0);
    expect(outputs.length).toBeGreaterThan(20);
    for (const result of outputs) {
      for (const secret of [ROOT1, ROOT2, AUDIT_KEY, ...wrappedSeen]) {
        expect(result.stdout + result.stderr).not.toContain(secret);
      }
    }
  });
});
