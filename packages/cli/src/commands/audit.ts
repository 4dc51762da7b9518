import { type AuditFailure, formatAuditHead, parseAuditHead, verifyAudit } from "fieldcrypt/audit";
import { loadConfig, requireAudit } from "../config/config.js";
import { type CliDatabase, databaseUrl, openDatabase } from "../config/database.js";
import { parseCommandArgs } from "../internal/args.js";
import { operationError, usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_AUDIT_BROKEN, EXIT_OK, type ExitCode } from "../internal/exit-codes.js";
import type { Io } from "../internal/io.js";
import { textTable } from "../internal/text-table.js";

/** `audit verify`: the chain is broken (an entry edited, deleted, reordered or inserted). */

const SUB_HINT = "the subcommands are verify, head, list; run `fieldcrypt audit --help`";

const COMMON = {
  config: { type: "string" },
  "database-url": { type: "string" },
  json: { type: "boolean" },
} as const;
const LIST_FLAGS = { ...COMMON, limit: { type: "string" } } as const;
const VERIFY_FLAGS = { ...COMMON, expect: { type: "string" } } as const;

const HELP = `Usage: fieldcrypt audit verify [--expect HEAD] [--json]
       fieldcrypt audit head [--json]
       fieldcrypt audit list [--limit N] [--json]

The audit log fieldcrypt_audit (fieldcrypt/audit): every key event (create, rotate, rewrap, shred,
failed unwrap, export) appended as an entry that commits, with a keyed MAC, to the entry before.

  verify   checks every entry's MAC, the seq numbering and each entry's link to the one before,
           with the config's audit key; names the first broken seq and how it broke: edited,
           deleted, reordered or inserted. With --expect HEAD (a line printed by
           \`audit head\`), also fails when the log no longer reaches that head: entries cut off
           its end, the table emptied, or numbers reused after a truncation
  head     verifies the log, then prints its head as one line (fieldcrypt-audit-head:v1:SEQ:MAC):
           keep it outside the database (a file, a log, a ticket) and pass it to verify --expect;
           the chain alone cannot show entries deleted at its very end
  list     the last N entries (default 20), oldest first; reads only, verifies nothing

Options:
  --expect HEAD        verify: the head line kept from an earlier \`audit head\`
  --limit N            list: how many entries (1-10000)
  --json               print JSON instead of text
  --config FILE        the config module (default: ./fieldcrypt.config.mjs), whose default export
                       holds audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY) (fieldcrypt/audit)
                       or the audit key string; tables are not needed
  --database-url URL   the database (default: DATABASE_URL)
  -h, --help           show this help

Exit codes of verify and head: 0 the chain is intact, 4 the chain is broken or no longer reaches
the expected head, 1 no audit table or another failure, 2 usage error (a malformed --expect),
3 configuration error (no audit key, or not the key the log was written with).
`;

export const audit: Command = {
  name: "audit",
  summary: "verify the hash-chained audit log of key events, list its entries",
  help: HELP,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw usageError("no audit subcommand given", SUB_HINT);
    if (sub === "--help" || sub === "-h" || sub === "help") {
      io.out(HELP);
      return EXIT_OK;
    }
    if (sub === "verify") return verifyCommand(rest, io, "verify");
    if (sub === "head") return verifyCommand(rest, io, "head");
    if (sub === "list") return listCommand(rest, io);
    throw usageError(`unknown audit subcommand${/^[a-z-]{1,20}$/.test(sub) ? ` ${sub}` : ""}`, SUB_HINT);
  },
};

async function requireAuditTable(pool: CliDatabase): Promise<void> {
  const { rows } = await pool.query<{ ok: boolean }>("SELECT to_regclass('fieldcrypt_audit') IS NOT NULL AS ok");
  if (rows[0]?.ok !== true) {
    throw operationError(
      "the audit table fieldcrypt_audit does not exist",
      "it is created by the first audited key event (or ensureAuditTable in a migration); check the search path",
    );
  }
}

const WHAT: Record<AuditFailure, (seq: number) => string> = {
  edited: (seq) => `entry ${seq} was edited (its content or MAC no longer match)`,
  deleted: (seq) => `entries are missing from seq ${seq} on`,
  reordered: (seq) => `entries were reordered at seq ${seq} (genuine entries under other seq numbers)`,
  inserted: (seq) => `entry ${seq} was inserted (never appended with the audit key)`,
};

/** `audit verify` and `audit head`: both verify the whole chain; head prints only the head line. */
async function verifyCommand(argv: readonly string[], io: Io, mode: "verify" | "head"): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, mode === "verify" ? VERIFY_FLAGS : COMMON, {
    command: `audit ${mode}`,
  });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const given = (flags as { expect?: string | undefined }).expect;
  // Parsed before anything is opened: a malformed head is a usage error (ERR_INVALID_OPTION).
  const expected = given === undefined ? undefined : parseAuditHead(given);
  const url = databaseUrl(flags["database-url"], io);
  const config = await loadConfig(flags.config, process.cwd(), { tables: false });
  const auditor = requireAudit(config, flags.config);
  const pool = await openDatabase(url, 1, io);
  try {
    await requireAuditTable(pool);
    const result = await verifyAudit(pool, auditor, expected === undefined ? {} : { expect: expected });
    if (mode === "head" && result.ok) {
      const line = result.head === undefined ? null : formatAuditHead(result.head);
      if (flags.json) io.out(`${JSON.stringify({ head: line, entries: result.entries }, null, 2)}\n`);
      else io.out(line === null ? "the audit log is empty: no head yet\n" : `${line}\n`);
      return EXIT_OK;
    }
    if (flags.json) {
      io.out(
        `${JSON.stringify(
          {
            ok: result.ok,
            entries: result.entries,
            verified: result.verified,
            headMac: result.headMac ?? null,
            head: result.head === undefined ? null : formatAuditHead(result.head),
            firstBadSeq: result.firstBadSeq ?? null,
            reason: result.reason ?? null,
          },
          null,
          2,
        )}\n`,
      );
    }
    if (result.ok) {
      if (!flags.json) {
        io.out(
          `audit log intact: ${result.verified} ${result.verified === 1 ? "entry" : "entries"} verified${result.headMac === undefined ? "" : `; head MAC ${result.headMac}`}\n`,
        );
      }
      return EXIT_OK;
    }
    const seq = result.firstBadSeq ?? 0;
    const reason = result.reason ?? "edited";
    io.err(
      `fieldcrypt: error: audit log broken: ${WHAT[reason](seq)}; ${result.verified} of ${result.entries} entries verified before it\n`,
    );
    io.err(
      "fieldcrypt: hint: compare fieldcrypt_audit with a backup from before the break, and find out who can write to the table\n",
    );
    return EXIT_AUDIT_BROKEN;
  } finally {
    await pool.end();
  }
}

async function listCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, LIST_FLAGS, { command: "audit list" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  let limit = 20;
  if (flags.limit !== undefined) {
    limit = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || limit < 1 || limit > 10_000) {
      throw usageError("--limit must be an integer from 1 to 10000", "run `fieldcrypt audit --help`");
    }
  }
  const url = databaseUrl(flags["database-url"], io);
  const pool = await openDatabase(url, 1, io);
  try {
    await requireAuditTable(pool);
    const { rows } = await pool.query<{
      seq: string;
      at: Date;
      actor: string;
      action: string;
      scope: string | null;
      key_ids: string[];
      details: string;
    }>(
      `SELECT * FROM (SELECT seq::text AS seq, at, actor, action, scope, key_ids, details::text AS details
         FROM fieldcrypt_audit a ORDER BY a.seq DESC LIMIT ${limit}) AS t ORDER BY t.seq::bigint`,
    );
    const entries = rows.map((r) => ({
      seq: Number(r.seq),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      action: r.action,
      scope: r.scope,
      keyIds: r.key_ids,
      details: JSON.parse(r.details) as unknown,
    }));
    if (flags.json) {
      io.out(`${JSON.stringify(entries, null, 2)}\n`);
      return EXIT_OK;
    }
    if (entries.length === 0) {
      io.out("the audit log is empty\n");
      return EXIT_OK;
    }
    const header = ["SEQ", "AT", "ACTOR", "ACTION", "SCOPE", "KEYS", "DETAILS"];
    const table = entries.map((e) => [
      String(e.seq),
      e.at,
      e.actor,
      e.action,
      e.scope ?? "-",
      e.keyIds.length === 0 ? "-" : e.keyIds.join(","),
      JSON.stringify(e.details),
    ]);
    io.out(`${textTable(header, table)}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}
