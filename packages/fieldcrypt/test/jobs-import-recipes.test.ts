// Import jobs over the key recipes of docs/legacy-import.md, end to end on a real database (PGlite,
// or the server at DATABASE_URL), with every token made by Python's `cryptography`
// (test/interop/legacy_producer.py, op fernet_recipe) and no crypto written here: Fernet with a
// static salt + user id; a per-row salt column; double-base64 per-user Fernet over a chained
// master key. Each imports every good row, records every bad one with its scope and code, derives
// each key once, and leaves verify telling the truth (strict: the rows left behind; transition: clean).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isCell } from "../src/cell/index.js";
import { type JobDatabase, listJobErrors, runJob } from "../src/jobs/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { type FernetFormatOptions, fernetFormat } from "../src/legacy/index.js";
import { decryptRows } from "../src/pg/index.js";
import { encryptedTable } from "../src/table/index.js";
import { type TestDb, useJobTestDb } from "./db.js";
import { keyBytes, needs } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "legacy_producer.py");
const pythonCheck = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the producers of jobs-import-recipes)",
  "install python3 and `pip install cryptography`",
);

function produce(request: object): string[] {
  const input = JSON.stringify([{ op: "fernet_recipe", ...request }]);
  const run = spawnSync("python3", [SCRIPT], { input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { tokens: string[] }[])[0]?.tokens as string[];
}

/** One character of the Fernet token changed (inside the outer base64 of a double-base64 one). */
function corruptToken(token: string, double: boolean): string {
  const inner = double ? Buffer.from(token, "base64").toString("latin1") : token;
  const changed = `${inner.slice(0, 60)}${inner[60] === "A" ? "B" : "A"}${inner.slice(61)}`;
  return double ? Buffer.from(changed, "latin1").toString("base64") : changed;
}

const ring = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const SECRET = "journal-app-secret";
const USERS = [3, 17, 40];
const SALTS: Record<number, string> = { 3: "9f0c1d2e3a4b5c6d", 17: "00ff00ff00ff00ff", 40: "0123456789abcdef" };
const ENTRIES = USERS.flatMap((user_id) =>
  Array.from({ length: 6 }, (_, i) => ({ user_id, salt_hex: SALTS[user_id], message: `entry ${i} of ${user_id} ✓` })),
);

interface Layout {
  readonly name: string;
  /** The producer's request (without rows). */
  readonly python: object;
  readonly options: FernetFormatOptions;
  /** PBKDF2 runs the import should take: one per user, plus the master key's chain. */
  readonly derivations: number;
  readonly saltColumn?: true;
}

const LAYOUTS: readonly Layout[] = [
  {
    name: "Fernet with a static salt + user id (PBKDF2-SHA256)",
    python: { salt: 'b"journal-static-salt:" + str(user_id).encode()', iterations: 10_000, hash: "sha256" },
    options: {
      derive: {
        masterKey: SECRET,
        salt: { static: "journal-static-salt:", append: "user_id" },
        iterations: 10_000,
      },
    },
    derivations: USERS.length,
  },
  {
    name: "a per-row salt column (hex text, PBKDF2-SHA1)",
    python: { salt: "salt", iterations: 10_000, hash: "sha1" },
    options: {
      derive: { masterKey: SECRET, salt: { column: "salt", encoding: "hex" }, iterations: 10_000, hash: "sha1" },
    },
    derivations: USERS.length,
    saltColumn: true,
  },
  {
    name: "double-base64 per-user Fernet over a chained master key (template salt)",
    python: {
      chain: [{ salt: "journal-master-salt", iterations: 50_000, hash: "sha256", encoding: "base64url" }],
      salt: 'f"user_{user_id}_salt".encode()',
      iterations: 10_000,
      hash: "sha1",
      double: "std",
    },
    options: {
      derive: {
        masterKey: {
          pbkdf2: { secret: SECRET, salt: "journal-master-salt", iterations: 50_000, hash: "sha256" },
          encoding: "base64url",
        },
        salt: { template: "user_{user_id}_salt" },
        iterations: 10_000,
        hash: "sha1",
      },
      doubleBase64: true,
    },
    derivations: 1 + USERS.length,
  },
];

let tdb: TestDb;
let db: JobDatabase;
useJobTestDb({ max: 4, drop: ["journal"] }, (opened) => {
  ({ tdb, db } = opened);
});

describe.skipIf(!hasPython)("import jobs over the documented key recipes (tokens by Python `cryptography`)", () => {
  for (const layout of LAYOUTS) {
    it(layout.name, async () => {
      const tokens = produce({ ...layout.python, secret: SECRET, rows: ENTRIES });
      // Another user's token: another user id, and (for the salt-column layout) another salt.
      const otherUsers = produce({
        ...layout.python,
        secret: SECRET,
        rows: [{ ...ENTRIES[0], user_id: 999, salt_hex: SALTS[40] }],
      });
      const wrongSecret = produce({ ...layout.python, secret: "not-the-secret", rows: [ENTRIES[6]] });
      await tdb.query("CREATE TABLE journal (id integer PRIMARY KEY, user_id integer NOT NULL, salt text, body text)");
      await tdb.query(
        "INSERT INTO journal SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[])",
        [ENTRIES.map((_, i) => i + 1), ENTRIES.map((e) => e.user_id), ENTRIES.map((e) => e.salt_hex), tokens],
      );
      // The bad rows: a corrupt token, another user's, one made under another secret, and (with a
      // salt column) a row whose salt is NULL; a plaintext and a NULL are not the import's business.
      const corrupt = corruptToken(tokens[0] as string, layout.options.doubleBase64 === true);
      await tdb.query(
        `INSERT INTO journal VALUES (101, 3, $1, $2), (102, 3, $1, $3), (103, 17, $4, $5),
          (104, 40, NULL, $6), (105, 40, NULL, 'a plaintext entry'), (106, 17, NULL, NULL)`,
        [SALTS[3], corrupt, otherUsers?.[0], SALTS[17], wrongSecret[0], tokens[12]],
      );
      const badRows = layout.saltColumn ? ["101", "102", "103", "104"] : ["101", "102", "103"];
      const good = ENTRIES.length + (layout.saltColumn ? 0 : 1);

      const format = fernetFormat(layout.options);
      const table = (mode: "strict" | "transition") =>
        encryptedTable(ring, {
          table: "journal",
          primaryKey: ["id"],
          scope: { column: "user_id" },
          columns: { body: { type: "string", mode, legacy: format } },
        });
      const result = await runJob(db, table("transition"), { kind: "import", batchSize: 5 });
      expect(result).toMatchObject({
        status: "done",
        processed: 24,
        changed: good,
        skipped: 0,
        failed: badRows.length,
      });
      expect(format.stats().derivations).toBe(layout.derivations); // each key once, the chain once
      const errors = await listJobErrors(db, result.jobId as string);
      const scopeOf: Record<string, string> = { "101": "3", "102": "3", "103": "17", "104": "40" };
      expect(errors.map((e) => [e.rowKey, e.column, e.scope, e.code])).toEqual(
        badRows.map((id) => [
          [id],
          "body",
          scopeOf[id],
          id === "104" ? "ERR_INVALID_CONTEXT" : "ERR_DECRYPTION_FAILED",
        ]),
      );

      const after = await tdb.query<Record<string, unknown>>("SELECT * FROM journal ORDER BY id");
      const imported = after.filter((r) => isCell(r.body));
      expect(imported.length).toBe(good);
      expect(decryptRows(table("strict"), imported).map((r) => r.body)).toEqual([
        ...ENTRIES.map((e) => e.message),
        ...(layout.saltColumn ? [] : [ENTRIES[12]?.message]),
      ]);
      const left = after.filter((r) => !isCell(r.body)).map((r) => [String(r.id), r.body]);
      expect(left).toEqual([
        ["101", corrupt],
        ["102", otherUsers?.[0]],
        ["103", wrongSecret[0]],
        ...(layout.saltColumn ? [["104", tokens[12]]] : []),
        ["105", "a plaintext entry"],
        ["106", null],
      ]);

      // Verify tells the truth: strict names every value that is not a cell (the bad rows and the
      // plaintext); transition expects them and finds every cell opening.
      const strict = await runJob(db, table("strict"), { kind: "verify" });
      expect(strict).toMatchObject({ status: "done", processed: 24, failed: badRows.length + 1 });
      const notCells = await listJobErrors(db, strict.jobId as string);
      expect(notCells.map((e) => [e.rowKey[0], e.code])).toEqual(
        [...badRows, "105"].map((id) => [id, "ERR_NOT_ENCRYPTED"]),
      );
      expect(await runJob(db, table("transition"), { kind: "verify" })).toMatchObject({ failed: 0, processed: 24 });
      // Idempotent: a second import changes nothing, derives nothing more, fails the same rows.
      const again = await runJob(db, table("transition"), { kind: "import" });
      expect(again).toMatchObject({ changed: 0, failed: badRows.length });
      expect(format.stats().derivations).toBe(layout.derivations);
    });
  }
});
