/** What every `fieldcrypt keys` subcommand opens: the database, the config and the audit options of key events. */
import { type Auditor, ensureAuditTable } from "fieldcrypt/audit";
import { type DataKeyInfo, ensureKeyTable } from "fieldcrypt/key-store";
import { type FieldcryptConfig, loadConfig, requireRootKeys } from "../../config/config.js";
import { type CliDatabase, databaseUrl, openDatabase } from "../../config/database.js";
import { actorFlag } from "../../internal/actor.js";
import { operationError, usageError } from "../../internal/cli-error.js";
import type { ExitCode } from "../../internal/exit-codes.js";
import type { Io } from "../../internal/io.js";
import { DEFAULT_ACTOR } from "./flags.js";

/** The database, the config (no tables needed), and the audit options of key events. */
export interface Session {
  readonly pool: CliDatabase;
  readonly config: FieldcryptConfig;
  readonly events: { readonly auditor: Auditor | undefined; readonly actor: string };
}

export async function withSession(
  flags: { config: string | undefined; "database-url": string | undefined; actor?: string | undefined },
  io: Io,
  needsRootKeys: boolean,
  body: (s: Session) => Promise<ExitCode>,
): Promise<ExitCode> {
  const actor = actorFlag(flags.actor, DEFAULT_ACTOR);
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

export async function tableExists(pool: CliDatabase, name: string): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [name]);
  return rows[0]?.ok === true;
}

export async function requireKeyTable(pool: CliDatabase): Promise<void> {
  if (!(await tableExists(pool, "fieldcrypt_keys"))) {
    throw operationError(
      "the key table fieldcrypt_keys does not exist",
      "create a scope's first data key with `fieldcrypt keys create --scope S` (or call ensureKeyTable in a migration); check the search path",
    );
  }
}

/** Before a write: the key table, and the audit table when key events are audited. */
export async function prepareWrite(s: Session, keyTable: "create" | "require"): Promise<void> {
  if (keyTable === "create") await ensureKeyTable(s.pool);
  else await requireKeyTable(s.pool);
  if (s.events.auditor !== undefined && !(await tableExists(s.pool, "fieldcrypt_audit")))
    await ensureAuditTable(s.pool);
}

export function scopeOf(flags: { scope: string | undefined; shared: boolean }, command: string): string | undefined {
  if (flags.scope !== undefined && flags.shared) {
    throw usageError("--scope and --shared exclude each other", `run \`fieldcrypt ${command} --help\``);
  }
  if (flags.scope === undefined && !flags.shared) {
    throw usageError("missing --scope S (or --shared for the shared keys)", `run \`fieldcrypt ${command} --help\``);
  }
  return flags.scope;
}

export function scopeName(scope: string | undefined): string {
  return scope === undefined ? "the shared keys" : `scope ${scope}`;
}

export function json(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

export function keyJson(k: DataKeyInfo) {
  return {
    id: k.id,
    scope: k.scope ?? null,
    state: k.state,
    rootKeyId: k.rootKeyId,
    checkValue: k.checkValue ?? null,
    createdAt: k.createdAt.toISOString(),
    retiredAt: k.retiredAt?.toISOString() ?? null,
    destroyedAt: k.destroyedAt?.toISOString() ?? null,
  };
}

export async function currentPrimary(pool: CliDatabase, scope: string | undefined): Promise<string | undefined> {
  const { rows } = await pool.query<{ id: string }>(
    "SELECT id FROM fieldcrypt_keys WHERE scope IS NOT DISTINCT FROM $1::text AND state = 'primary'",
    [scope ?? null],
  );
  return rows[0]?.id;
}
