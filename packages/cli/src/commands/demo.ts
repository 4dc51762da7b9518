import { inspectCell } from "fieldcrypt/cell";
import { createKeyring, generateKeyString, type Keyring } from "fieldcrypt/keyring";
import type { Db } from "../demo/db.js";
import { openDemoDb } from "../demo/db.js";
import { createStyle, formatGrid, type Style, shortenCell, truncate } from "../demo/format.js";
import {
  BATCH_SIZE,
  BULK_ROWS,
  BULK_TABLE,
  type ColumnStatus,
  columnStatus,
  createBulkTable,
  runJobWithProgress,
  withNewPrimary,
} from "../demo/rotation.js";
import { type DemoRow, type DemoTable, SAMPLE_TABLES } from "../demo/sample-tables.js";
import { createTable, encryptTable, ident, type ReadResult, readCell, readRows } from "../demo/table-ops.js";
import { parseCommandArgs } from "../internal/args.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import type { Io } from "../internal/io.js";
import { loadKeys } from "../internal/load-keys.js";
import { formatCellInfo } from "./inspect.js";

const FLAGS = {
  "database-url": { type: "string" },
  "keys-file": { type: "string" },
} as const;

const HELP = `Usage: fieldcrypt demo [--database-url URL] [--keys-file F]

A guided run of field encryption on PostgreSQL, in a few seconds:
  1. creates tables as apps keep them (clinic notes with PHI, journal entries and
     transcripts, users' third-party API keys) and fills them with invented plaintext rows;
  2. encrypts the sensitive columns in place, each cell bound to its tenant (scope), table,
     column and row id;
  3. shows each row as PostgreSQL stores it (fc1.… cells) next to what the app decrypts;
  4. copies and alters cells in the database and shows that they no longer decrypt;
  5. inspects a cell's header without keys;
  6. adds a generated table of 20,000 journal entries, encrypted by an encrypt job;
  7. shows which key each cell is on, with SQL alone (fieldcrypt status);
  8. makes a new throwaway key v2 primary, v1 decrypt-only;
  9. rotates every table to v2 with rotate jobs (fieldcrypt/jobs), showing their progress:
     a bar on a terminal, JSON lines otherwise;
 10. shows the status again (0 cells left on v1) and that values read back unchanged.

The database is embedded PGlite, in memory, unless --database-url or DATABASE_URL names a
PostgreSQL server: then the demo works in a new schema fieldcrypt_demo_<random> and drops it
at the end. Keys come from --keys-file or FIELDCRYPT_KEYS when given; otherwise the demo
generates a throwaway key in memory and says so.

Options:
  --database-url URL   postgres://USER@HOST:PORT/DATABASE (default: DATABASE_URL, else PGlite)
  --keys-file F        read keys from F (mode 0600) instead of FIELDCRYPT_KEYS
  -h, --help           show this help
`;

export const demo: Command = {
  name: "demo",
  summary: "guided run on embedded PostgreSQL: encrypt columns in place, see cells and failures",
  help: HELP,
  async run(argv, io) {
    const { help, flags } = parseCommandArgs(argv, FLAGS, { command: "demo" });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    const databaseUrl = flags["database-url"] ?? nonEmpty(io.env.DATABASE_URL);
    const keys = await demoKeys(flags["keys-file"], io);
    const style = createStyle(io);
    const db = await openDemoDb(databaseUrl);
    try {
      io.out(`${style.bold("fieldcrypt demo: encrypting the sensitive columns of a PostgreSQL database")}\n\n`);
      io.out(`  database  PostgreSQL ${db.serverVersion} ${db.description}\n`);
      io.out(`  keys      ${keys.note}\n`);
      const cleanup = databaseUrl === undefined ? "the database was in memory" : "the demo schema is dropped on exit";
      await runDemo(
        db,
        keys.keyring,
        io,
        style,
        keys.generated ? `${cleanup} and the key lived only in this process` : cleanup,
      );
    } finally {
      await db.close();
    }
    return EXIT_OK;
  },
};

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

interface DemoKeys {
  readonly keyring: Keyring;
  /** Where the keys came from, for the header. */
  readonly note: string;
  readonly generated: boolean;
}

/** The operator's keys when configured, else a throwaway keyring that lives only in this process. */
async function demoKeys(keysFile: string | undefined, io: Io): Promise<DemoKeys> {
  if (keysFile !== undefined || nonEmpty(io.env.FIELDCRYPT_KEYS) !== undefined) {
    const { keyring, source } = await loadKeys(keysFile, io);
    return { keyring, note: `from ${source}; new cells use key ${keyring.primary().id}`, generated: false };
  }
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
  return {
    keyring,
    note: "FIELDCRYPT_KEYS is not set: generated a throwaway key v1 in memory (never written anywhere)",
    generated: true,
  };
}

async function runDemo(db: Db, keyring: Keyring, io: Io, style: Style, cleanup: string): Promise<void> {
  const step = (n: number, title: string) => io.out(`\n${style.bold(`${n}. ${title}`)}\n`);

  step(1, "Tables as the apps keep them today: sensitive columns in plaintext");
  for (const table of SAMPLE_TABLES) await createTable(db, table);
  const nameWidth = Math.max(...SAMPLE_TABLES.map((t) => t.name.length)) + 2;
  for (const table of SAMPLE_TABLES) {
    io.out(
      `   ${table.name.padEnd(nameWidth)}${`${table.rows.length} rows`.padEnd(9)}${table.about}: ${table.encryptedColumns.join(", ")}\n`,
    );
  }

  step(2, "The app encrypts those columns in place");
  io.out("   each cell is bound to its tenant (scope), table, column and row id\n");
  let cells = 0;
  for (const table of SAMPLE_TABLES) {
    const written = await encryptTable(db, keyring, table);
    cells += written;
    io.out(`   ${style.green("✓")} ${table.name.padEnd(nameWidth)}${written} cells, scope = ${table.scopeColumn}\n`);
  }

  step(3, "What PostgreSQL stores now, and what the app reads back");
  for (const table of SAMPLE_TABLES) await showTable(db, keyring, table, io, style);

  const notes = SAMPLE_TABLES[0] as DemoTable;
  step(4, "Move or alter a cell in the database and the app refuses it");
  await showMovedCells(db, keyring, notes, io, style);

  step(5, "A cell's header is readable without keys: fieldcrypt inspect");
  const [first] = await readRows(db, notes);
  const sample = String(first?.note);
  io.out(`   $ fieldcrypt inspect ${shortenCell(sample)}    ${style.dim("(clinic_notes.note of row 1)")}\n`);
  const info = inspectCell(sample);
  io.out(formatCellInfo(info, "   "));

  const rotation = await rotateDemo(db, keyring, io, style, info.keyId);

  io.out(`\n${style.bold("What just happened")}\n`);
  io.out(
    [
      `${cells} sensitive values in ${SAMPLE_TABLES.length} tables were encrypted by the app, in place, with key ${info.keyId}`,
      `  (${info.algorithm}). PostgreSQL, its backups and whoever reads them see only fc1. cells.`,
      "Each cell is bound to its tenant, table, column and row id. Copied elsewhere or altered, it",
      '  fails with one opaque error, "decryption failed", which tells an attacker nothing more.',
      `The header names the key (${info.keyId}) and the value type, nothing else: that is how a rotation`,
      "  finds the cells still on an old key, with plain SQL.",
      `An encrypt job sealed ${rotation.bulkCells.toLocaleString("en-US")} cells of ${BULK_ROWS.toLocaleString("en-US")} generated rows; rotate jobs then moved`,
      `  ${rotation.rotatedCells.toLocaleString("en-US")} cells of ${rotation.tables} tables to ${rotation.newKeyId} in batches of ${BATCH_SIZE.toLocaleString("en-US")} rows, online: each batch is`,
      "  one compare-and-swap UPDATE in its own transaction, checkpointed, so a killed job resumes.",
      `${rotation.left} cells are left on ${info.keyId}; it stays in the keyring for decryption only until you retire it.`,
      `Nothing is left behind: ${cleanup}.`,
    ]
      .map((line) => (line.startsWith("  ") ? `     ${line.slice(2)}\n` : `   • ${line}\n`))
      .join(""),
  );
  io.out(`\n${style.bold("Try it yourself")}\n`);
  io.out(
    [
      'export FIELDCRYPT_KEYS="$(fieldcrypt keygen --id v1)"',
      "echo 'BP 120/80' | fieldcrypt encrypt --scope clinic-7 --table clinic_notes --column note --row-key 1 > cell.txt",
      "fieldcrypt decrypt --scope clinic-7 --table clinic_notes --column note --row-key 1 < cell.txt",
      "fieldcrypt decrypt --scope clinic-7 --table clinic_notes --column note --row-key 2 < cell.txt   # fails",
    ]
      .map((line) => `   $ ${line}\n`)
      .join(""),
  );
}

/** The stored rows of a table as a grid, then the same rows as the app decrypts them. */
async function showTable(db: Db, keyring: Keyring, table: DemoTable, io: Io, style: Style): Promise<void> {
  const rows = await readRows(db, table);
  const headers = ["id", table.scopeColumn, ...table.plainColumns, ...table.encryptedColumns];
  const plain = (row: (typeof rows)[number]) => [String(row.id), ...headers.slice(1).map((c) => String(row[c]))];
  io.out(`\n   ${style.bold(table.name)}: ${table.about}\n`);
  io.out(`   ${style.dim(`stored in PostgreSQL (SELECT * FROM ${table.name}):`)}\n`);
  io.out(
    formatGrid(
      "   ",
      headers,
      rows.map((row) =>
        plain(row).map((value, i) =>
          table.encryptedColumns.includes(headers[i] ?? "") ? style.dim(shortenCell(value)) : value,
        ),
      ),
    ),
  );
  io.out(`   ${style.dim("read by the app (decrypt with the row's scope, table, column and id):")}\n`);
  io.out(
    formatGrid(
      "   ",
      headers,
      rows.map((row) =>
        plain(row).map((value, i) => {
          const column = headers[i] ?? "";
          return table.encryptedColumns.includes(column)
            ? showResult(readCell(keyring, table, row, column), style)
            : value;
        }),
      ),
    ),
  );
}

function showResult(result: ReadResult, style: Style): string {
  return result.ok ? truncate(result.value, 40) : style.red(`✗ ${result.message} (${result.code})`);
}

/**
 * Copies row 1's note into other places with real UPDATEs, reads each back as the app would,
 * and puts the original value back: the cell only opens where it was written.
 */
async function showMovedCells(db: Db, keyring: Keyring, table: DemoTable, io: Io, style: Style): Promise<void> {
  const rows = await readRows(db, table);
  const [row1, row2, row3] = rows;
  if (row1 === undefined || row2 === undefined || row3 === undefined) throw new RangeError("demo rows are missing");
  const cell = String(row1.note);
  const attempts = [
    { label: "copied into row 2 (same clinic)", row: row2, column: "note", value: cell },
    { label: `copied into row 3 (${String(row3.clinic_id)})`, row: row3, column: "note", value: cell },
    { label: "copied into row 1's patient_name", row: row1, column: "patient_name", value: cell },
    { label: "with one character changed", row: row1, column: "note", value: alterOneCharacter(cell) },
    { label: "in its own place", row: row1, column: "note", value: cell },
  ];
  io.out(
    `   ${style.dim("each: UPDATE clinic_notes SET <column> = <cell> WHERE id = <row>, SELECT it, decrypt, undo")}\n`,
  );
  const labelWidth = Math.max(...attempts.map((a) => a.label.length)) + 2;
  for (const attempt of attempts) {
    const target = `${ident(table.name)}`;
    await db.query(`UPDATE ${target} SET ${ident(attempt.column)} = $2 WHERE id = $1`, [attempt.row.id, attempt.value]);
    const [stored] = await db.query<(typeof rows)[number]>(`SELECT * FROM ${target} WHERE id = $1`, [attempt.row.id]);
    const result = readCell(keyring, table, stored ?? attempt.row, attempt.column);
    await db.query(`UPDATE ${target} SET ${ident(attempt.column)} = $2 WHERE id = $1`, [
      attempt.row.id,
      attempt.row[attempt.column],
    ]);
    const shown = result.ok ? `${style.green("✓")} ${truncate(result.value, 40)}` : showResult(result, style);
    io.out(`   row 1's note ${attempt.label.padEnd(labelWidth)} ${shown}\n`);
  }
}

/** The cell with one base64url character in the middle of its sealed part replaced. */
function alterOneCharacter(cell: string): string {
  const i = Math.floor(cell.length / 2);
  return `${cell.slice(0, i)}${cell[i] === "A" ? "B" : "A"}${cell.slice(i + 1)}`;
}

interface RotationSummary {
  readonly newKeyId: string;
  readonly tables: number;
  /** Cells the encrypt job wrote in the generated table. */
  readonly bulkCells: number;
  /** Cells on the new key after the rotation. */
  readonly rotatedCells: number;
  /** Cells still on the old key after the rotation (0). */
  readonly left: number;
}

function batches(n: number): string {
  return n === 1 ? "1 batch" : `${n} batches`;
}

/**
 * Steps 6-10: a bigger table encrypted by a job, the status by SQL, a new primary key, rotate jobs
 * with progress, the status again and a few values read back.
 */
async function rotateDemo(db: Db, keyring: Keyring, io: Io, style: Style, oldKeyId: string): Promise<RotationSummary> {
  const step = (n: number, title: string) => io.out(`\n${style.bold(`${n}. ${title}`)}\n`);
  const tables = [...SAMPLE_TABLES, BULK_TABLE];
  const rows = BULK_ROWS.toLocaleString("en-US");

  step(6, `A bigger table, ${rows} rows, encrypted by a job: fieldcrypt/jobs`);
  io.out(`   ${BULK_TABLE.name}: ${BULK_TABLE.about}\n`);
  io.out(`   ${style.dim("inserted in plaintext by one INSERT … SELECT FROM unnest(…), then encrypted in place")}\n`);
  await createBulkTable(db);
  io.out(`   ${style.dim(`runJob(db, ${BULK_TABLE.name}, { kind: "encrypt", batchSize: ${BATCH_SIZE} })`)}\n`);
  const encrypted = await runJobWithProgress(db, io, keyring, BULK_TABLE, "encrypt");
  io.out(
    `   ${style.green("✓")} ${encrypted.changed.toLocaleString("en-US")} rows encrypted in ${batches(encrypted.batches)}, ${encrypted.failed} failed\n`,
  );

  step(7, "Status before the rotation: which key each cell is on, from SQL alone (no key, no decryption)");
  io.out(
    `   ${style.dim("key id = convert_from(substring(h FROM 6 FOR get_byte(h, 4)), 'SQL_ASCII') of the cell's base64url header h")}\n`,
  );
  const before = await statusOf(db, tables);
  io.out(formatStatus(before, style));

  const next = withNewPrimary(keyring);
  step(8, `A new key: ${next.id} becomes primary, ${oldKeyId} stays for decryption only`);
  io.out(`   generated a throwaway key ${next.id} in memory (never written anywhere)\n`);
  for (const key of next.keyring.list()) {
    io.out(`   ${key.id.padEnd(8)}${key.scope === undefined ? "" : `scope ${key.scope}  `}${key.state}\n`);
  }
  // Values to compare after the rotation, read with the old keyring.
  const checks = [
    { table: SAMPLE_TABLES[0] as DemoTable, id: 1, column: "note" },
    { table: SAMPLE_TABLES[2] as DemoTable, id: 2, column: "api_key" },
    { table: BULK_TABLE, id: 20, column: "transcript" },
  ];
  const beforeValues = [];
  for (const check of checks) beforeValues.push(await readOne(db, keyring, check.table, check.id, check.column));

  step(9, `Rotate every table to ${next.id}: one rotate job per table, batch by batch, online`);
  io.out(
    `   ${style.dim(`runJob(db, table, { kind: "rotate", keyring, batchSize: ${BATCH_SIZE}, onProgress })`)}${io.stdoutIsTTY ? "" : style.dim("  (not a terminal: progress as JSON lines)")}\n`,
  );
  for (const table of tables) {
    const result = await runJobWithProgress(db, io, next.keyring, table, "rotate");
    io.out(
      `   ${style.green("✓")} ${table.name}: ${result.changed.toLocaleString("en-US")} rows rotated in ${batches(result.batches)}, ${result.failed} failed\n`,
    );
  }

  step(10, `Status after: every cell on ${next.id}`);
  const after = await statusOf(db, tables);
  io.out(formatStatus(after, style));
  const left = after.reduce((n, s) => n + (s.byKey.get(oldKeyId) ?? 0), 0);
  const plaintext = after.reduce((n, s) => n + s.plaintext, 0);
  const rotated = after.reduce((n, s) => n + (s.byKey.get(next.id) ?? 0), 0);
  io.out(
    `   ${left === 0 && plaintext === 0 ? style.green("✓") : style.red("✗")} ${left} rows left on ${oldKeyId}, ${plaintext} in plaintext: ${rotated.toLocaleString("en-US")} cells on ${next.id}\n`,
  );
  io.out(`   ${style.dim("read by the app with the new keyring, compared with what it read before:")}\n`);
  const grid: string[][] = [];
  for (const [i, check] of checks.entries()) {
    const was = beforeValues[i];
    const now = await readOne(db, next.keyring, check.table, check.id, check.column);
    const same = was?.result.ok === true && now.result.ok && was.result.value === now.result.value;
    grid.push([
      `${check.table.name}.${check.column} of row ${check.id}`,
      `${was?.keyId ?? "?"} → ${now.keyId}`,
      showResult(now.result, style),
      same ? style.green("✓ unchanged") : style.red("✗ changed"),
    ]);
  }
  io.out(formatGrid("   ", ["cell", "key", "value", ""], grid));
  const bulkCells = before
    .filter((s) => s.table === BULK_TABLE.name)
    .reduce((n, s) => n + [...s.byKey.values()].reduce((a, b) => a + b, 0), 0);
  return { newKeyId: next.id, tables: tables.length, bulkCells, rotatedCells: rotated, left };
}

async function statusOf(db: Db, tables: readonly DemoTable[]): Promise<ColumnStatus[]> {
  const all: ColumnStatus[] = [];
  for (const table of tables) all.push(...(await columnStatus(db, table)));
  return all;
}

/** table | column | plaintext | <key id>… | NULL, one line per encrypted column. */
function formatStatus(statuses: readonly ColumnStatus[], style: Style): string {
  const keyIds = [...new Set(statuses.flatMap((s) => [...s.byKey.keys()]))].sort();
  const n = (value: number) => (value === 0 ? style.dim("0") : value.toLocaleString("en-US"));
  return formatGrid(
    "   ",
    ["table", "column", "plaintext", ...keyIds.map((id) => `on ${id}`), "NULL"],
    statuses.map((s) => [
      s.table,
      s.column,
      n(s.plaintext),
      ...keyIds.map((id) => n(s.byKey.get(id) ?? 0)),
      n(s.nulls),
    ]),
  );
}

/** One stored cell: the key id in its header and what the app decrypts from it. */
async function readOne(
  db: Db,
  keyring: Keyring,
  table: DemoTable,
  id: number,
  column: string,
): Promise<{ keyId: string; result: ReadResult }> {
  const [row] = await db.query<DemoRow>(`SELECT * FROM ${ident(table.name)} WHERE id = $1`, [id]);
  if (row === undefined) throw new RangeError(`${table.name} row ${id} is missing`);
  return { keyId: inspectCell(String(row[column])).keyId, result: readCell(keyring, table, row, column) };
}
