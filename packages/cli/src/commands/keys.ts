import { appendAudit, ensureAuditTable } from "fieldcrypt/audit";
import { createDataKey, type DataKeyInfo, listDataKeys, shredScope } from "fieldcrypt/key-store";
import type { RootKeyProvider } from "fieldcrypt/kms";
import { parseCommandArgs } from "../internal/args.js";
import { operationError, usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK, type ExitCode } from "../internal/exit-codes.js";
import type { Io } from "../internal/io.js";
import { writeNewPrivateFile } from "../internal/new-file.js";
import { textTable } from "../internal/text-table.js";
import { CREATE_FLAGS, EXPORT_FLAGS, HELP, LIST_FLAGS, ROTATE_FLAGS, SHRED_FLAGS, SUB_HINT } from "./keys/flags.js";
import { rotateRootCommand } from "./keys/rotate-root.js";
import {
  currentPrimary,
  json,
  keyJson,
  prepareWrite,
  requireKeyTable,
  scopeName,
  scopeOf,
  tableExists,
  withSession,
} from "./keys/session.js";

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
  const header = ["ID", "SCOPE", "STATE", "ROOT KEY", "CHECK VALUE", "CREATED", "RETIRED", "DESTROYED"];
  const rows = list.map((k) => [
    k.id,
    k.scope ?? "(shared)",
    k.state,
    k.rootKeyId,
    k.checkValue ?? "-",
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
      json(io, {
        id: result.id,
        scope: scope ?? null,
        state: "primary",
        rootKeyId: root.id,
        checkValue: result.checkValue,
        retired: result.retired,
      });
      return EXIT_OK;
    }
    io.out(
      `created data key ${result.id} for ${scopeName(scope)}: primary, wrapped by root key ${root.id}, check value ${result.checkValue}\n`,
    );
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
      json(io, {
        id: result.id,
        scope: scope ?? null,
        state: "primary",
        rootKeyId: root.id,
        checkValue: result.checkValue,
        retired: result.retired,
      });
      return EXIT_OK;
    }
    io.out(
      `rotated ${scopeName(scope)}: new primary data key ${result.id} (root key ${root.id}, check value ${result.checkValue}); ${result.retired.join(", ")} now decrypt-only\n`,
    );
    io.out(
      `the old key's cells stay readable; run \`fieldcrypt jobs run --kind rotate\` to re-encrypt the rows under ${result.id}\n`,
    );
    return EXIT_OK;
  });
}

/**
 * VACUUM FULL of the tables a shred wrote: rewritten into new files, so no dead row version keeps
 * a wrapped key or a row key of the scope in them (plain VACUUM only marks the space reusable).
 */
async function vacuumAfterShred(db: { query(text: string): Promise<{ rows: unknown[] }> }): Promise<string[]> {
  const { rows } = await db.query("SELECT to_regclass('fieldcrypt_job_errors') IS NOT NULL AS present");
  const tables = ["fieldcrypt_keys", ...((rows[0] as { present: boolean }).present ? ["fieldcrypt_job_errors"] : [])];
  for (const table of tables) await db.query(`VACUUM (FULL) ${table}`);
  return tables;
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
    const { destroyed, jobErrorsPurged } = await shredScope(s.pool, scope, s.events);
    const vacuumed = flags.vacuum ? await vacuumAfterShred(s.pool) : [];
    if (flags.json) {
      json(io, { scope, destroyed, jobErrorsPurged, vacuumed });
      return EXIT_OK;
    }
    if (destroyed.length === 0) {
      io.out(`scope ${scope} was shredded already; no live data key was left to destroy\n`);
    } else {
      io.out(
        `destroyed ${destroyed.length} data ${destroyed.length === 1 ? "key" : "keys"} of scope ${scope}: ${destroyed.join(", ")}\n`,
      );
      io.out("its cells can no longer be decrypted (ERR_KEY_DESTROYED)\n");
    }
    if (jobErrorsPurged > 0) io.out(`deleted ${jobErrorsPurged} job error rows naming rows of scope ${scope}\n`);
    if (vacuumed.length > 0) io.out(`vacuumed (VACUUM FULL): ${vacuumed.join(", ")}\n`);
    io.out(
      `note: processes running watchShreds drop the keys at once (LISTEN) or within their poll, others when their cache entry expires;${
        vacuumed.length > 0 ? "" : " the old row version keeps the wrapped key until VACUUM (--vacuum);"
      } the WAL and backups keep it until the root key that wrapped it is retired (docs/shredding.md)\n`,
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
      if (!(await tableExists(s.pool, "fieldcrypt_audit"))) await ensureAuditTable(s.pool);
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
