import { columnStatus, tableColumnTypes } from "../config/column-status.js";
import { loadConfig, selectTables } from "../config/config.js";
import { databaseUrl, openDatabase } from "../config/database.js";
import { type ColumnStatus, latestJobFailures, recordedCheckValues } from "../config/status-sql.js";
import { parseCommandArgs } from "../internal/args.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import { loadKeys } from "../internal/load-keys.js";
import { textTable } from "../internal/text-table.js";

const FLAGS = {
  config: { type: "string" },
  "database-url": { type: "string" },
  table: { type: "string" },
  "keys-file": { type: "string" },
  json: { type: "boolean" },
} as const;

const HELP = `Usage: fieldcrypt status [--table T] [--json] [--keys-file F] [--config FILE] [--database-url URL]

Counts the values of every configured encrypted column: plaintext, in the legacy format (LEGACY,
when one is configured), sealed under each key id, unreadable (a value that starts like a cell, fc1.
or the byte 0xFC, but whose header does not parse, or one that carries the legacy format's signature
but does not parse, like a Fernet token cut short; shown only when there is one), waiting for import
(TO IMPORT: the column is NULL and its importFrom source column holds a value), NULL, and the total.
No key is needed and nothing is decrypted; the key id is read from each cell's header.

Below the counts, each key id's check value (spec/keys-v1.md) as the job runs on the table
recorded it, and as the configured keys have it when FIELDCRYPT_KEYS or --keys-file is given. Two
values for one id mean two different keys were used under that id: a warning says so, since the
rows one of them sealed do not open with the other.

Options:
  --table T            only this configured table
  --json               print a JSON array instead of the table
  --keys-file F        compare with the keys in F (mode 0600) instead of FIELDCRYPT_KEYS
  --config FILE        the config module (default: ./fieldcrypt.config.mjs), whose default export
                       is { tables: [...] }: the options the app passes to encryptedTable
  --database-url URL   the database (default: DATABASE_URL)
  -h, --help           show this help

Cost: one query per column, each a single sequential scan of the table (no index makes a full
count cheaper). Values with a legacy format's signature are then read once more and checked by the
decoder itself (in the same snapshot, 1,000 at a time; none once the import is done), so that status
and the import agree on which ones parse. An expression index on the key-id expression makes the
follow-up questions fast, e.g. which rows are still under key v1 (WHERE <expression> = 'v1'); for
a text column c:
  CREATE INDEX ON t ((convert_from(substring(decode(translate(substr(c, 5, least(52,
    (length(c) - 4) / 4 * 4)), '-_', '+/'), 'base64') FROM 6 FOR get_byte(decode(translate(
    substr(c, 5, least(52, (length(c) - 4) / 4 * 4)), '-_', '+/'), 'base64'), 4)), 'SQL_ASCII')))
    WHERE c LIKE 'fc1.%';
(bytea columns: convert_from(substring(c FROM 6 FOR get_byte(c, 4)), 'SQL_ASCII'), guarded by
get_byte(c, 0) = 252.)
`;

export const status: Command = {
  name: "status",
  summary: "count each encrypted column's cells: plaintext, legacy, per key id, NULL (no key needed)",
  help: HELP,
  async run(argv, io) {
    const { help, flags } = parseCommandArgs(argv, FLAGS, { command: "status" });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    const url = databaseUrl(flags["database-url"], io);
    const config = await loadConfig(flags.config);
    const tables = selectTables(config, flags.table, "status");
    const pool = await openDatabase(url, 2, io);
    const statuses: ColumnStatus[] = [];
    const checks: KeyCheck[] = [];
    const configured =
      flags["keys-file"] !== undefined || (io.env.FIELDCRYPT_KEYS ?? "").trim() !== ""
        ? (await loadKeys(flags["keys-file"], io, { requirePrimary: false })).keyring
        : undefined;
    try {
      for (const table of tables) {
        const types = await tableColumnTypes(pool, table.table);
        const query = async <Row>(sql: string, params?: readonly unknown[]) =>
          (await pool.query(sql, params === undefined ? undefined : [...params])).rows as Row[];
        const failures = await latestJobFailures(query, table.table);
        for (const column of Object.keys(table.columns)) {
          statuses.push(await columnStatus(pool, table, column, types, failures.get(column) ?? 0));
        }
        const recorded = await recordedCheckValues(query, table.table);
        const seen = new Set(statuses.filter((s) => s.table === table.table).flatMap((s) => [...s.byKey.keys()]));
        for (const keyId of [...new Set([...seen, ...recorded.keys()])].sort((a, b) => a.localeCompare(b))) {
          const have = configured?.get(keyId)?.checkValue;
          if (!recorded.has(keyId) && have === undefined) continue;
          checks.push({ table: table.table, keyId, recorded: recorded.get(keyId) ?? [], configured: have });
        }
      }
    } finally {
      await pool.end();
    }
    const legacy = tables.some((t) => Object.values(t.columns).some((c) => c.legacy !== undefined));
    io.out(
      flags.json
        ? `${JSON.stringify(
            statuses.map((s) => toJson(s, checks)),
            null,
            2,
          )}\n`
        : render(statuses, legacy) + renderChecks(checks, configured !== undefined),
    );
    for (const check of checks) {
      const values = materialsOf(check);
      if (values.length > 1) {
        io.err(
          `warning: key ${check.keyId} of table ${check.table} names ${values.length} different keys (check values ${values.join(", ")}): the rows one sealed do not open with the others\n`,
        );
      }
    }
    return EXIT_OK;
  },
};

function total(s: ColumnStatus): number {
  let n = s.plaintext + s.legacy + s.unreadable + s.pendingImport + s.nulls;
  for (const v of s.byKey.values()) n += v;
  return n;
}

/** One key id of one table: the check values job runs recorded for it, and the configured key's. */
interface KeyCheck {
  readonly table: string;
  readonly keyId: string;
  readonly recorded: readonly string[];
  readonly configured: string | undefined;
}

/** The distinct materials a key id names: what runs recorded, and the configured key. */
function materialsOf(check: KeyCheck): string[] {
  return [...new Set([...check.recorded, ...(check.configured === undefined ? [] : [check.configured])])];
}

function renderChecks(checks: readonly KeyCheck[], withConfigured: boolean): string {
  if (checks.length === 0) return "";
  const header = ["TABLE", "KEY", "CHECK VALUE (JOB RUNS)", ...(withConfigured ? ["CHECK VALUE (CONFIGURED)"] : [])];
  const rows = checks.map((c) => [
    c.table,
    c.keyId,
    c.recorded.length === 0 ? "-" : c.recorded.join(", "),
    ...(withConfigured ? [c.configured ?? "-"] : []),
  ]);
  return `\n${textTable(header, rows)}\n`;
}

function toJson(s: ColumnStatus, checks: readonly KeyCheck[]) {
  const ids = new Set(s.byKey.keys());
  const own = checks.filter((c) => c.table === s.table && ids.has(c.keyId));
  return {
    table: s.table,
    column: s.column,
    plaintext: s.plaintext,
    legacy: s.legacy,
    unreadable: s.unreadable,
    pendingImport: s.pendingImport,
    keys: Object.fromEntries([...s.byKey].sort(([a], [b]) => a.localeCompare(b))),
    null: s.nulls,
    total: total(s),
    failed: s.failed,
    checkValues: Object.fromEntries(
      own.map((c) => [c.keyId, { recorded: c.recorded, configured: c.configured ?? null }]),
    ),
  };
}

/**
 * An aligned table: one row per column, one count column per key id seen; LEGACY when a column has
 * a legacy format configured, UNREADABLE when a value claims to be a cell but its header does not
 * parse or carries the legacy format's signature but does not parse, FAILED when the latest job of a table recorded failures.
 */
function render(statuses: readonly ColumnStatus[], legacy: boolean): string {
  const keyIds = [...new Set(statuses.flatMap((s) => [...s.byKey.keys()]))].sort((a, b) => a.localeCompare(b));
  const failed = statuses.some((s) => s.failed > 0);
  const unreadable = statuses.some((s) => s.unreadable > 0);
  const pending = statuses.some((s) => s.pendingImport > 0);
  const header = [
    "TABLE",
    "COLUMN",
    "PLAINTEXT",
    ...(legacy ? ["LEGACY"] : []),
    ...keyIds.map((k) => `KEY ${k}`),
    ...(unreadable ? ["UNREADABLE"] : []),
    ...(pending ? ["TO IMPORT"] : []),
    "NULL",
    "TOTAL",
    ...(failed ? ["FAILED"] : []),
  ];
  const rows = statuses.map((s) => [
    s.table,
    s.column,
    String(s.plaintext),
    ...(legacy ? [String(s.legacy)] : []),
    ...keyIds.map((k) => String(s.byKey.get(k) ?? 0)),
    ...(unreadable ? [String(s.unreadable)] : []),
    ...(pending ? [String(s.pendingImport)] : []),
    String(s.nulls),
    String(total(s)),
    ...(failed ? [String(s.failed)] : []),
  ]);
  return `${textTable(header, rows, 2)}\n`;
}
