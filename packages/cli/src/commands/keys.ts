import { type Auditor, appendAudit, createAuditTable } from "fieldcrypt/audit";
import { isFieldcryptError } from "fieldcrypt/errors";
import {
  createDataKey,
  createKeyTable,
  type DataKeyInfo,
  listDataKeys,
  rotateRootKey,
  shredScope,
} from "fieldcrypt/key-store";
import type { RootKeyProvider } from "fieldcrypt/kms";
import { type FieldcryptConfig, loadConfig, requireRootKeys } from "../config/config.js";
import { type CliDatabase, databaseUrl, openDatabase } from "../config/database.js";
import { parseCommandArgs } from "../internal/args.js";
import { CliError, configError, operationError, usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, type ExitCode } from "../internal/exit-codes.js";
import type { Io } from "../internal/io.js";
import { writeNewPrivateFile } from "../internal/new-file.js";
import { createProgress } from "../internal/progress.js";
import { textTable } from "../internal/text-table.js";

const SUBCOMMANDS = "list, create, rotate, rotate-root, shred, export";
const SUB_HINT = `the subcommands are ${SUBCOMMANDS}; run \`fieldcrypt keys --help\``;
const DEFAULT_ACTOR = "fieldcrypt-cli";
const ACTOR = /^[A-Za-z0-9._@:/-]{1,100}$/;

const COMMON = {
  config: { type: "string" },
  "database-url": { type: "string" },
  json: { type: "boolean" },
} as const;
const WRITE = { ...COMMON, actor: { type: "string" } } as const;

const LIST_FLAGS = { ...COMMON, scope: { type: "string" } } as const;
const CREATE_FLAGS = {
  ...WRITE,
  scope: { type: "string" },
  shared: { type: "boolean" },
  primary: { type: "boolean" },
} as const;
const ROTATE_FLAGS = { ...WRITE, scope: { type: "string" }, shared: { type: "boolean" } } as const;
const ROTATE_ROOT_FLAGS = { ...WRITE, to: { type: "string" }, "batch-size": { type: "string" } } as const;
const SHRED_FLAGS = { ...WRITE, scope: { type: "string" }, yes: { type: "boolean" } } as const;
const EXPORT_FLAGS = { ...WRITE, out: { type: "string" } } as const;

const HELP = `Usage: fieldcrypt keys list [--scope S] [--json]
       fieldcrypt keys create (--scope S | --shared) [--primary]
       fieldcrypt keys rotate (--scope S | --shared)
       fieldcrypt keys rotate-root [--to ROOT_ID] [--batch-size N]
       fieldcrypt keys shred --scope S --yes
       fieldcrypt keys export [--out FILE]

Manages the data keys in the key table fieldcrypt_keys (fieldcrypt/key-store): random 256-bit
keys per scope (a tenant or subject; --shared: the keys shared by every scope), stored wrapped by
a root key. Nothing here prints key material: only ids, scopes, states, root key ids and dates.

  list         the inventory: id, scope, state (primary, decrypt-only, destroyed), root key, dates
  create       a scope's first data key, its primary (creates fieldcrypt_keys when missing); a
               scope that has a primary already is refused unless --primary replaces it
  rotate       a new primary data key for the scope; the old one turns decrypt-only, so the
               scope's cells stay readable until \`fieldcrypt jobs run --kind rotate\` re-encrypts
               the rows under the new key
  rotate-root  rewraps every live data key that another root key wraps under the target root key
               (--to, default: the config's first root key); no application row is touched.
               Safe to re-run: a stopped rotation resumes, only keys still under an old root key
               are rewrapped. Progress: a bar on a terminal, JSON lines otherwise
  shred        crypto-shreds a scope: destroys all its data keys, so its cells can never be
               decrypted again (ERR_KEY_DESTROYED). Irreversible; refused without --yes
  export       the inventory as JSON for auditors, on stdout or in a new file (mode 0600)

Options:
  --scope S            the scope (tenant/subject id)
  --shared             the shared keys (no scope) instead of --scope
  --primary            create: make the new key the primary even when the scope has one
  --to ROOT_ID         rotate-root: the target root key, one of the config's rootKeys
  --batch-size N       rotate-root: data keys per batch (default 500)
  --yes                shred: confirm the destruction
  --out FILE           export: write to FILE (created with mode 0600, never overwritten)
  --json               print JSON instead of text
  --actor NAME         who is acting, written into audit entries (default ${DEFAULT_ACTOR})
  --config FILE        the config module (default: ./fieldcrypt.config.mjs), whose default export
                       holds rootKeys (create, rotate, rotate-root) and optionally audit: every
                       key event is then appended to fieldcrypt_audit; tables are not needed
  --database-url URL   the database (default: DATABASE_URL)
  -h, --help           show this help

Example fieldcrypt.config.mjs:
  import { createAuditor } from "fieldcrypt/audit";
  import { localRootKey } from "fieldcrypt/kms";
  export default {
    rootKeys: [localRootKey("root-2026", process.env.FIELDCRYPT_ROOT_KEY)],
    audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY),
  };
`;

export const keys: Command = {
  name: "keys",
  summary: "data keys in the database: list, create, rotate, rotate-root, shred, export",
  help: HELP,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw usageError("no keys subcommand given", SUB_HINT);
    if (sub === "--help" || sub === "-h" || sub === "help") {
      io.out(HELP);
      return EXIT_OK;
    }
    const run = SUBS[sub];
    if (run === undefined || !Object.hasOwn(SUBS, sub)) {
      throw usageError(`unknown keys subcommand${/^[a-z-]{1,20}$/.test(sub) ? ` ${sub}` : ""}`, SUB_HINT);
    }
    return run(rest, io);
  },
};

const SUBS: Record<string, (argv: readonly string[], io: Io) => Promise<ExitCode>> = {
  list: listCommand,
  create: createCommand,
  rotate: rotateCommand,
  "rotate-root": rotateRootCommand,
  shred: shredCommand,
  export: exportCommand,
};

/** The database, the config (no tables needed), and the audit options of key events. */
interface Session {
  readonly pool: CliDatabase;
  readonly config: FieldcryptConfig;
  readonly events: { readonly auditor: Auditor | undefined; readonly actor: string };
}

async function withSession(
  flags: { config: string | undefined; "database-url": string | undefined; actor?: string | undefined },
  io: Io,
  needsRootKeys: boolean,
  body: (s: Session) => Promise<ExitCode>,
): Promise<ExitCode> {
  const actor = flags.actor ?? DEFAULT_ACTOR;
  if (!ACTOR.test(actor))
    throw usageError(
      "--actor must be 1-100 characters of A-Z a-z 0-9 . _ @ : / -",
      "for example: --actor ops@example.org",
    );
  const url = databaseUrl(flags["database-url"], io);
  const config = await loadConfig(flags.config, process.cwd(), { tables: false });
  if (needsRootKeys) requireRootKeys(config, flags.config);
  const pool = await openDatabase(url, 2, io);
  try {
    return await body({ pool, config, events: { auditor: config.audit, actor } });
  } finally {
    await pool.end();
  }
}

async function tableExists(pool: CliDatabase, name: string): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [name]);
  return rows[0]?.ok === true;
}

async function requireKeyTable(pool: CliDatabase): Promise<void> {
  if (!(await tableExists(pool, "fieldcrypt_keys"))) {
    throw operationError(
      "the key table fieldcrypt_keys does not exist",
      "create a scope's first data key with `fieldcrypt keys create --scope S` (or call createKeyTable in a migration); check the search path",
    );
  }
}

/** Before a write: the key table, and the audit table when key events are audited. */
async function prepareWrite(s: Session, keyTable: "create" | "require"): Promise<void> {
  if (keyTable === "create") await createKeyTable(s.pool);
  else await requireKeyTable(s.pool);
  if (s.events.auditor !== undefined && !(await tableExists(s.pool, "fieldcrypt_audit")))
    await createAuditTable(s.pool);
}

function scopeOf(flags: { scope: string | undefined; shared: boolean }, command: string): string | undefined {
  if (flags.scope !== undefined && flags.shared) {
    throw usageError("--scope and --shared exclude each other", `run \`fieldcrypt ${command} --help\``);
  }
  if (flags.scope === undefined && !flags.shared) {
    throw usageError("missing --scope S (or --shared for the shared keys)", `run \`fieldcrypt ${command} --help\``);
  }
  return flags.scope;
}

function scopeName(scope: string | undefined): string {
  return scope === undefined ? "the shared keys" : `scope ${scope}`;
}

function json(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

function keyJson(k: DataKeyInfo) {
  return {
    id: k.id,
    scope: k.scope ?? null,
    state: k.state,
    rootKeyId: k.rootKeyId,
    createdAt: k.createdAt.toISOString(),
    retiredAt: k.retiredAt?.toISOString() ?? null,
    destroyedAt: k.destroyedAt?.toISOString() ?? null,
  };
}

async function currentPrimary(pool: CliDatabase, scope: string | undefined): Promise<string | undefined> {
  const { rows } = await pool.query<{ id: string }>(
    "SELECT id FROM fieldcrypt_keys WHERE scope IS NOT DISTINCT FROM $1::text AND state = 'primary'",
    [scope ?? null],
  );
  return rows[0]?.id;
}

async function listCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, LIST_FLAGS, { command: "keys list" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  return withSession(flags, io, false, async ({ pool }) => {
    await requireKeyTable(pool);
    const list = await listDataKeys(pool, flags.scope === undefined ? undefined : { scopes: [flags.scope] });
    if (flags.json) json(io, list.map(keyJson));
    else if (list.length === 0) io.out(`no data keys${flags.scope === undefined ? "" : ` for scope ${flags.scope}`}\n`);
    else io.out(renderTable(list));
    return EXIT_OK;
  });
}

function renderTable(list: readonly DataKeyInfo[]): string {
  const date = (d: Date | undefined) => d?.toISOString() ?? "-";
  const header = ["ID", "SCOPE", "STATE", "ROOT KEY", "CREATED", "RETIRED", "DESTROYED"];
  const rows = list.map((k) => [
    k.id,
    k.scope ?? "(shared)",
    k.state,
    k.rootKeyId,
    date(k.createdAt),
    date(k.retiredAt),
    date(k.destroyedAt),
  ]);
  return `${textTable(header, rows)}\n`;
}

async function createCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, CREATE_FLAGS, { command: "keys create" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const scope = scopeOf(flags, "keys create");
  return withSession(flags, io, true, async (s) => {
    await prepareWrite(s, "create");
    const existing = await currentPrimary(s.pool, scope);
    if (existing !== undefined && !flags.primary) {
      throw operationError(
        `${scopeName(scope)} already has a primary data key ${existing}`,
        `run \`fieldcrypt keys rotate ${scope === undefined ? "--shared" : "--scope S"}\` to replace it (or pass --primary)`,
      );
    }
    const root = s.config.rootKeys[0] as RootKeyProvider;
    const result = await createDataKey(s.pool, root, scope, s.events);
    if (flags.json) {
      json(io, { id: result.id, scope: scope ?? null, state: "primary", rootKeyId: root.id, retired: result.retired });
      return EXIT_OK;
    }
    io.out(`created data key ${result.id} for ${scopeName(scope)}: primary, wrapped by root key ${root.id}\n`);
    for (const id of result.retired) io.out(`${id} is now decrypt-only\n`);
    return EXIT_OK;
  });
}

async function rotateCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, ROTATE_FLAGS, { command: "keys rotate" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const scope = scopeOf(flags, "keys rotate");
  return withSession(flags, io, true, async (s) => {
    await prepareWrite(s, "require");
    if ((await currentPrimary(s.pool, scope)) === undefined) {
      throw operationError(
        `${scopeName(scope)} has no primary data key to rotate`,
        `create one with \`fieldcrypt keys create ${scope === undefined ? "--shared" : "--scope S"}\` (a shredded scope stays shredded)`,
      );
    }
    const root = s.config.rootKeys[0] as RootKeyProvider;
    const result = await createDataKey(s.pool, root, scope, s.events);
    if (flags.json) {
      json(io, { id: result.id, scope: scope ?? null, state: "primary", rootKeyId: root.id, retired: result.retired });
      return EXIT_OK;
    }
    io.out(
      `rotated ${scopeName(scope)}: new primary data key ${result.id} (root key ${root.id}); ${result.retired.join(", ")} now decrypt-only\n`,
    );
    io.out(
      `the old key's cells stay readable; run \`fieldcrypt jobs run --kind rotate\` to re-encrypt the rows under ${result.id}\n`,
    );
    return EXIT_OK;
  });
}

function batchSizeOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000) {
    throw usageError("--batch-size must be an integer from 1 to 100000", "run `fieldcrypt keys --help`");
  }
  return n;
}

async function rotateRootCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, ROTATE_ROOT_FLAGS, { command: "keys rotate-root" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const batchSize = batchSizeOf(flags["batch-size"]);
  return withSession(flags, io, true, async (s) => {
    const roots = s.config.rootKeys;
    const to = flags.to === undefined ? (roots[0] as RootKeyProvider) : roots.find((r) => r.id === flags.to);
    if (to === undefined) {
      throw usageError(
        "--to names a root key that is not in the config's rootKeys",
        `the configured root keys are ${roots.map((r) => r.id).join(", ")}`,
      );
    }
    await prepareWrite(s, "require");
    const { rows } = await s.pool.query<{ root_key_id: string; n: string }>(
      `SELECT root_key_id, count(*) AS n FROM fieldcrypt_keys
        WHERE state <> 'destroyed' AND root_key_id <> $1 GROUP BY root_key_id ORDER BY root_key_id`,
      [to.id],
    );
    const sources: { from: RootKeyProvider; count: number }[] = [];
    for (const row of rows) {
      const from = roots.find((r) => r.id === row.root_key_id);
      if (from === undefined) {
        throw configError(
          `${row.n} data ${row.n === "1" ? "key is" : "keys are"} wrapped by root key ${row.root_key_id}, which the config's rootKeys do not hold`,
          "list both the old and the new root key in rootKeys until the rotation is done",
        );
      }
      sources.push({ from, count: Number(row.n) });
    }
    const total = sources.reduce((sum, x) => sum + x.count, 0);
    const progress = flags.json
      ? undefined
      : createProgress({
          stream: { write: (text) => io.out(text), isTTY: io.stdoutIsTTY },
          kind: "rewrap",
          table: "fieldcrypt_keys",
          total,
        });
    let done = 0;
    try {
      for (const { from } of sources) {
        const before = done;
        const result = await rotateRootKey(s.pool, from, to, {
          ...s.events,
          batchSize,
          onProgress: (n) => {
            done = before + n;
            progress?.update({ processed: done });
          },
        });
        done = before + result.rewrapped;
      }
    } catch (error) {
      // Every batch is one statement: what was rewrapped stays rewrapped, and a re-run resumes.
      if (!isFieldcryptError(error)) throw error;
      throw new CliError(
        isFieldcryptError(error, "ERR_INVALID_OPTION") ? EXIT_USAGE : EXIT_CONFIG,
        error.message,
        `${done} of ${total} data keys were rewrapped before it, the rest are untouched; fix the cause and run \`fieldcrypt keys rotate-root\` again: it resumes where it stopped`,
      );
    } finally {
      progress?.done();
    }
    const fromIds = sources.map((x) => x.from.id);
    if (flags.json) {
      json(io, { to: to.id, from: fromIds, rewrapped: done });
      return EXIT_OK;
    }
    if (sources.length === 0) {
      io.out(`every live data key is wrapped by root key ${to.id} already; nothing to do\n`);
    } else {
      io.out(
        `rewrapped ${done} data ${done === 1 ? "key" : "keys"} from root key ${fromIds.join(", ")} to ${to.id}; no application row was touched\n`,
      );
      io.out("once backups that need the old root key have expired, remove it from rootKeys and retire it\n");
    }
    return EXIT_OK;
  });
}

async function shredCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, SHRED_FLAGS, { command: "keys shred" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  if (flags.scope === undefined) throw usageError("missing --scope S", "run `fieldcrypt keys --help`");
  if (!flags.yes) {
    throw usageError(
      `refusing to shred scope ${flags.scope} without --yes: its data keys are destroyed and its data becomes unrecoverable`,
      `\`fieldcrypt keys list --scope ${flags.scope}\` shows the keys it would destroy; add --yes to confirm`,
    );
  }
  const scope = flags.scope;
  return withSession(flags, io, false, async (s) => {
    await prepareWrite(s, "require");
    const before = await listDataKeys(s.pool, { scopes: [scope] });
    if (before.length === 0) {
      throw operationError(`scope ${scope} has no data keys`, "check the scope with `fieldcrypt keys list`");
    }
    const { destroyed } = await shredScope(s.pool, scope, s.events);
    if (flags.json) {
      json(io, { scope, destroyed });
      return EXIT_OK;
    }
    if (destroyed.length === 0) {
      io.out(`scope ${scope} was shredded already; no live data key was left to destroy\n`);
      return EXIT_OK;
    }
    io.out(
      `destroyed ${destroyed.length} data ${destroyed.length === 1 ? "key" : "keys"} of scope ${scope}: ${destroyed.join(", ")}\n`,
    );
    io.out("its cells can no longer be decrypted (ERR_KEY_DESTROYED)\n");
    io.out(
      "note: processes that loaded these keys keep them until their cache entry expires; backups keep the wrapped keys until the root key that wrapped them is retired\n",
    );
    return EXIT_OK;
  });
}

async function exportCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, EXPORT_FLAGS, { command: "keys export" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  return withSession(flags, io, false, async (s) => {
    await requireKeyTable(s.pool);
    const list = await listDataKeys(s.pool);
    const count = (keys: readonly DataKeyInfo[], pick: (k: DataKeyInfo) => string) => {
      const out: Record<string, number> = {};
      for (const k of keys) out[pick(k)] = (out[pick(k)] ?? 0) + 1;
      return out;
    };
    const inventory = {
      format: "fieldcrypt-key-inventory-v1",
      exportedAt: new Date().toISOString(),
      summary: {
        keys: list.length,
        scopes: new Set(list.map((k) => k.scope ?? null)).size,
        byState: count(list, (k) => k.state),
        // Live keys per root key: what each root key still protects.
        liveByRootKey: count(
          list.filter((k) => k.state !== "destroyed"),
          (k) => k.rootKeyId,
        ),
      },
      keys: list.map(keyJson),
    };
    const text = `${JSON.stringify(inventory, null, 2)}\n`;
    if (flags.out !== undefined) await writeNewPrivateFile(flags.out, text, "keys export", "choose another --out FILE");
    if (s.events.auditor !== undefined) {
      if (!(await tableExists(s.pool, "fieldcrypt_audit"))) await createAuditTable(s.pool);
      await appendAudit(s.pool, s.events.auditor, {
        actor: s.events.actor,
        action: "key.export",
        details: { keys: list.length },
      });
    }
    if (flags.out === undefined) io.out(text);
    else if (flags.json) json(io, { out: flags.out, keys: list.length });
    else io.out(`wrote the inventory of ${list.length} data ${list.length === 1 ? "key" : "keys"} to ${flags.out}\n`);
    return EXIT_OK;
  });
}
