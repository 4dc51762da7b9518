// Import jobs on a real database (PGlite, or the server at DATABASE_URL): legacy values made by
// the real producers — Fernet and AES-GCM by the `cryptography` package of the python3 on PATH
// (test/interop/legacy_producer.py), cloak strings by @47ng/cloak — become fieldcrypt cells in
// place or into a new column; corrupt cells and wrong keys land in the errors table while the job
// goes on; the app reads legacy values through the same table configuration meanwhile.
import { spawnSync } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encryptString, generateKey } from "@47ng/cloak";
import { beforeAll, describe, expect, it } from "vitest";
import { inspectCell, isCell } from "../src/cell/index.js";
import { getJob, type JobDatabase, listJobErrors, runJob } from "../src/jobs/index.js";
import { BEFORE_WRITE } from "../src/jobs/test-hooks.js";
import { createKeyring } from "../src/keyring/index.js";
import { aesGcmFormat, cloakFormat, fernetFormat, versionedJsonFormat } from "../src/legacy/index.js";
import { decryptRows } from "../src/pg/index.js";
import { type EncryptedTable, encryptedTable } from "../src/table/index.js";
import { type TestDb, useJobTestDb } from "./db.js";
import { assertFieldcryptError, keyBytes, needs, rejection } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "legacy_producer.py");
const pythonCheck = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the legacy producers of jobs-import)",
  "install python3 and `pip install cryptography`",
);

function produce(requests: readonly object[]): Record<string, unknown>[] {
  const run = spawnSync("python3", [SCRIPT], {
    input: JSON.stringify(requests),
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>[];
}

const ring = createKeyring([{ id: "v1", secret: keyBytes(1), primary: true }]);
const MASTER = "journal-master-key-from-env";
const STATIC_SALT = "journal-static-salt:";
const ITERATIONS = 10_000;
const USERS = [3, 17, 40];

/** The recipe of the app: PBKDF2-SHA256(master, static salt ‖ user_id) → a Fernet key per user. */
const journalFernet = () =>
  fernetFormat({
    derive: { masterKey: MASTER, salt: { static: STATIC_SALT, append: "user_id" }, iterations: ITERATIONS },
  });

let tdb: TestDb;
let db: JobDatabase;
useJobTestDb({ max: 4, drop: ["journal", "vault"] }, (opened) => {
  ({ tdb, db } = opened);
});

describe.skipIf(!hasPython)("import from Fernet (per-user PBKDF2 keys) and @47ng/cloak", () => {
  const entries = USERS.flatMap((user_id) =>
    Array.from({ length: 8 }, (_, i) => ({ user_id, message: `entry ${i} of user ${user_id} — ✓` })),
  );
  let tokens: string[] = [];
  let otherUsersToken = "";
  let cloakKey = "";
  let emails: string[] = [];

  beforeAll(async () => {
    const [made, other] = produce([
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: Buffer.from(STATIC_SALT).toString("hex"),
        iterations: ITERATIONS,
        hash: "sha256",
        rows: entries,
      },
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: Buffer.from(STATIC_SALT).toString("hex"),
        iterations: ITERATIONS,
        hash: "sha256",
        rows: [{ user_id: 999, message: "someone else's entry" }],
      },
    ]);
    tokens = (made as { tokens: string[] }).tokens;
    otherUsersToken = (other as { tokens: string[] }).tokens[0] as string;
    cloakKey = generateKey();
    emails = await Promise.all(entries.map((_, i) => encryptString(`User${i}@Example.org`, cloakKey)));
  });

  function journal(fernet = journalFernet(), mode: "strict" | "transition" = "strict"): EncryptedTable {
    return encryptedTable(ring, {
      table: "journal",
      primaryKey: ["id"],
      scope: { column: "user_id" },
      columns: {
        body: { type: "string", mode, legacy: fernet },
        email: {
          type: "string",
          mode,
          legacy: cloakFormat({ keys: cloakKey }),
          blindIndex: { column: "email_bidx", normalize: ["trim", "lowercase"] },
        },
      },
    });
  }

  /** Rows 1..24 legacy; 25 plaintext; 26 NULL; 27 a corrupt token; 28 another user's token. */
  async function seed(): Promise<void> {
    await tdb.query(
      "CREATE TABLE journal (id integer PRIMARY KEY, user_id integer NOT NULL, body text, email text, email_bidx text)",
    );
    const ids = entries.map((_, i) => i + 1);
    await tdb.query(
      "INSERT INTO journal (id, user_id, body, email) SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[])",
      [ids, entries.map((e) => e.user_id), tokens, emails],
    );
    const corrupt = `${tokens[0]?.slice(0, 40)}${tokens[0]?.[40] === "A" ? "B" : "A"}${tokens[0]?.slice(41)}`;
    await tdb.query(
      `INSERT INTO journal (id, user_id, body, email) VALUES
        (25, 3, 'a plaintext entry', NULL), (26, 17, NULL, NULL), (27, 3, $1, NULL), (28, 40, $2, NULL)`,
      [corrupt, otherUsersToken],
    );
  }

  it("reads legacy values through the table configuration before the import (read-through)", async () => {
    await seed();
    const rows = await tdb.query<Record<string, unknown>>("SELECT * FROM journal WHERE id <= 3 ORDER BY id");
    const opened = decryptRows(journal(), rows);
    expect(opened.map((r) => [r.body, r.email])).toEqual([
      [entries[0]?.message, "User0@Example.org"],
      [entries[1]?.message, "User1@Example.org"],
      [entries[2]?.message, "User2@Example.org"],
    ]);
    // Strict mode refuses plaintext; transition mode passes it; neither passes a legacy value that
    // does not open, nor ever returns the token itself.
    const [plain] = await tdb.query<Record<string, unknown>>("SELECT * FROM journal WHERE id = 25");
    assertFieldcryptError(
      await rejection(Promise.resolve().then(() => journal().decryptRow(plain as Record<string, unknown>))),
      "ERR_NOT_ENCRYPTED",
    );
    expect(journal(journalFernet(), "transition").decryptRow(plain as Record<string, unknown>).body).toBe(
      "a plaintext entry",
    );
    const [corrupt] = await tdb.query<Record<string, unknown>>("SELECT * FROM journal WHERE id = 27");
    expect(() => journal(journalFernet(), "transition").decryptRow(corrupt as Record<string, unknown>)).toThrow(
      /decryption failed/,
    );
    // A legacy value whose format needs another column of the row (user_id) names it when missing.
    expect(() => journal().columns.get("body")?.decrypt(tokens[0], { scope: "3", rowKey: 1 })).toThrow(/user_id/);
  });

  it("imports in place: cells under the primary, blind indexes filled, failures recorded, one PBKDF2 per user", async () => {
    await seed();
    const fernet = journalFernet();
    const table = journal(fernet, "transition");
    const before = await tdb.query<Record<string, unknown>>("SELECT * FROM journal ORDER BY id");
    const result = await runJob(db, table, { kind: "import", batchSize: 5 });
    expect(result).toMatchObject({ status: "done", processed: 28, changed: 24, failed: 2, skipped: 0 });
    expect(fernet.stats().derivations).toBe(USERS.length); // once per user, not per row

    const errors = await listJobErrors(db, result.jobId as string);
    expect(errors.map((e) => [e.rowKey, e.column, e.code])).toEqual([
      [["27"], "body", "ERR_DECRYPTION_FAILED"],
      [["28"], "body", "ERR_DECRYPTION_FAILED"],
    ]);
    const after = await tdb.query<Record<string, unknown>>("SELECT * FROM journal ORDER BY id");
    for (const row of after.slice(0, 24)) {
      expect(isCell(row.body)).toBe(true);
      expect(isCell(row.email)).toBe(true);
      expect(inspectCell(row.body as string).keyId).toBe("v1");
    }
    const opened = decryptRows(table, after.slice(0, 24));
    expect(opened.map((r) => r.body)).toEqual(entries.map((e) => e.message));
    expect(opened.map((r) => r.email)).toEqual(entries.map((_, i) => `User${i}@Example.org`));
    // The blind index finds an imported row.
    const wanted = table.searchValues("email", " user5@example.org ", { scope: String(entries[5]?.user_id) });
    const found = await tdb.query<{ id: number }>("SELECT id FROM journal WHERE email_bidx = ANY($1::text[])", [
      wanted,
    ]);
    expect(found.map((r) => r.id)).toEqual([6]);
    // Plaintext, NULLs and the failing rows are as they were.
    for (const i of [24, 25, 26, 27]) expect(after[i]).toEqual(before[i]);

    // The import is idempotent: a second run changes nothing and fails the same two rows again.
    const again = await runJob(db, journal(fernet, "transition"), { kind: "import" });
    expect(again).toMatchObject({ changed: 0, failed: 2 });
  });

  it("an encrypt job never seals a legacy value; the dry run of an import writes nothing", async () => {
    await seed();
    const table = journal(journalFernet(), "transition");
    const before = await tdb.query<Record<string, unknown>>("SELECT * FROM journal ORDER BY id");
    const dry = await runJob(db, table, { kind: "import", dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, processed: 28, changed: 24, failed: 2 });
    expect(await tdb.query("SELECT * FROM journal ORDER BY id")).toEqual(before);
    const encrypt = await runJob(db, table, { kind: "encrypt" });
    // Only row 25's plaintext: the tokens (valid, corrupt or under another key) are not plaintext.
    expect(encrypt).toMatchObject({ changed: 1, failed: 0 });
    const after = await tdb.query<Record<string, unknown>>("SELECT * FROM journal ORDER BY id");
    expect(isCell(after[24]?.body)).toBe(true);
    for (const i of [0, 1, 2, 26, 27]) expect(after[i]?.body).toBe(before[i]?.body);
  });

  it("a legacy value cut short (the format's signature, not well-formed) fails its row in reads, import and encrypt", async () => {
    await seed();
    // Row 29: a Fernet token cut short (still `gAAAAA…`); row 30: a cloak string cut inside its ciphertext.
    const cutFernet = (tokens[1] as string).slice(0, 60);
    const cutCloak = (emails[1] as string).slice(0, 50);
    expect(cutFernet.startsWith("gAAAAA") && cutCloak.startsWith("v1.aesgcm256.")).toBe(true);
    await tdb.query("INSERT INTO journal (id, user_id, body, email) VALUES (29, 3, $1, NULL), (30, 17, NULL, $2)", [
      cutFernet,
      cutCloak,
    ]);
    const before = await tdb.query<Record<string, unknown>>("SELECT * FROM journal WHERE id >= 29 ORDER BY id");
    // Reads, strict and transition: the one opaque failure, never the stored text as plaintext.
    for (const mode of ["strict", "transition"] as const) {
      for (const row of before) {
        assertFieldcryptError(
          await rejection(Promise.resolve().then(() => journal(journalFernet(), mode).decryptRow(row))),
          "ERR_DECRYPTION_FAILED",
          "decryption failed",
        );
      }
    }
    // An encrypt job fails both rows instead of sealing them as plaintext.
    const encrypt = await runJob(db, journal(journalFernet(), "transition"), { kind: "encrypt" });
    expect(encrypt).toMatchObject({ status: "done", changed: 1, failed: 2 });
    expect((await listJobErrors(db, encrypt.jobId as string)).map((e) => [e.rowKey, e.column, e.code])).toEqual([
      [["29"], "body", "ERR_DECRYPTION_FAILED"],
      [["30"], "email", "ERR_DECRYPTION_FAILED"],
    ]);
    expect(await tdb.query("SELECT * FROM journal WHERE id >= 29 ORDER BY id")).toEqual(before);
    // The import records them with the corrupt token and the other user's, and leaves them as they were.
    const result = await runJob(db, journal(journalFernet(), "transition"), { kind: "import" });
    expect(result).toMatchObject({ status: "done", processed: 30, changed: 24, failed: 4 });
    expect((await listJobErrors(db, result.jobId as string)).map((e) => [e.rowKey, e.column, e.code])).toEqual([
      [["27"], "body", "ERR_DECRYPTION_FAILED"],
      [["28"], "body", "ERR_DECRYPTION_FAILED"],
      [["29"], "body", "ERR_DECRYPTION_FAILED"],
      [["30"], "email", "ERR_DECRYPTION_FAILED"],
    ]);
    expect(await tdb.query("SELECT * FROM journal WHERE id >= 29 ORDER BY id")).toEqual(before);
  });

  it("refuses an import of a column without a legacy format", async () => {
    await seed();
    const plain = encryptedTable(ring, { table: "journal", primaryKey: ["id"], columns: { body: {} } });
    assertFieldcryptError(
      await rejection(runJob(db, plain, { kind: "import" })),
      "ERR_INVALID_OPTION",
      "journal.body has no legacy format to import from (column option legacy)",
    );
  });
});

describe.skipIf(!hasPython)("import from raw AES-GCM (bytea) and versioned JSON into a new column", () => {
  const aesKey = randomBytes(32);
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);
  const messages = Array.from({ length: 12 }, (_, i) => `secret ${i}`);

  it("raw AES-GCM nonce‖ct‖tag in bytea → binary cells in place", async () => {
    const [made] = produce([{ op: "aesgcm", key_hex: aesKey.toString("hex"), messages }]);
    const cells = (made as { cells: string[] }).cells.map((hex) => Buffer.from(hex, "hex"));
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret bytea)");
    await tdb.query("INSERT INTO vault SELECT * FROM unnest($1::integer[], $2::bytea[])", [
      messages.map((_, i) => i + 1),
      cells,
    ]);
    const vault = encryptedTable(ring, {
      table: "vault",
      primaryKey: ["id"],
      columns: { secret: { type: "string", form: "binary", legacy: aesGcmFormat({ keys: aesKey }) } },
    });
    const result = await runJob(db, vault, { kind: "import" });
    expect(result).toMatchObject({ processed: 12, changed: 12, failed: 0 });
    const rows = await tdb.query<{ id: number; secret: Uint8Array }>("SELECT * FROM vault ORDER BY id");
    expect(rows.every((r) => isCell(r.secret))).toBe(true);
    expect(rows.map((r) => vault.decryptRow(r).secret)).toEqual(messages);
  });

  it("a raw AES-GCM value that starts with the cell magic byte (1 in 256) is legacy, not a damaged cell", async () => {
    const nonce = Buffer.concat([Buffer.of(0xfc), randomBytes(11)]);
    const cipher = createCipheriv("aes-256-gcm", aesKey, nonce);
    const legacy = Buffer.concat([
      nonce,
      cipher.update("starts like a cell", "utf8"),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret bytea)");
    await tdb.query("INSERT INTO vault VALUES (1, $1)", [legacy]);
    const vault = encryptedTable(ring, {
      table: "vault",
      primaryKey: ["id"],
      columns: { secret: { type: "string", form: "binary", legacy: aesGcmFormat({ keys: aesKey }) } },
    });
    expect(vault.decryptRow({ id: 1, secret: legacy }).secret).toBe("starts like a cell");
    expect(await runJob(db, vault, { kind: "encrypt" })).toMatchObject({ changed: 0, failed: 0 });
    expect(await runJob(db, vault, { kind: "import" })).toMatchObject({ changed: 1, failed: 0 });
    const [row] = await tdb.query<{ id: number; secret: Uint8Array }>("SELECT * FROM vault");
    expect(isCell(row?.secret)).toBe(true);
    expect(vault.decryptRow(row as { id: number; secret: Uint8Array }).secret).toBe("starts like a cell");
  });

  it("versioned JSON in a legacy column → a new encrypted column; the source stays for the old app", async () => {
    const [a, b] = produce([
      { op: "versioned_json", key_hex: v1.toString("hex"), version: "v1", messages: messages.slice(0, 6) },
      { op: "versioned_json", key_hex: v2.toString("hex"), version: "v2", messages: messages.slice(6) },
    ]);
    const legacy = [...(a as { cells: string[] }).cells, ...(b as { cells: string[] }).cells];
    await tdb.query("CREATE TABLE vault (id integer PRIMARY KEY, secret_legacy text, secret text)");
    await tdb.query("INSERT INTO vault (id, secret_legacy) SELECT * FROM unnest($1::integer[], $2::text[])", [
      messages.map((_, i) => i + 1),
      legacy,
    ]);
    const vault = encryptedTable(ring, {
      table: "vault",
      primaryKey: ["id"],
      columns: { secret: { type: "string", legacy: versionedJsonFormat({ keys: { v1, v2 } }) } },
    });
    // Row 1: the new app already wrote its own cell; the import leaves it.
    const own = vault.encryptRow({ id: 1, secret: "written by the new app" }).secret;
    await tdb.query("UPDATE vault SET secret = $1 WHERE id = 1", [own]);
    let raced = false;
    const result = await runJob(db, vault, {
      kind: "import",
      importFrom: { secret: "secret_legacy" },
      batchSize: 4,
      [BEFORE_WRITE]: async ({ tx }) => {
        if (raced) return;
        raced = true; // the old app rewrites row 2's legacy value while the first batch is in flight
        await tx.query("UPDATE vault SET secret_legacy = $1 WHERE id = 2", [legacy[11]]);
      },
    });
    expect(result).toMatchObject({ processed: 12, changed: 10, skipped: 1, failed: 0 });
    const rows = await tdb.query<{ id: number; secret_legacy: string; secret: string | null }>(
      "SELECT * FROM vault ORDER BY id",
    );
    expect(rows.map((r) => r.secret_legacy)).toEqual([legacy[0], legacy[11], ...legacy.slice(2)]);
    expect(rows[0]?.secret).toBe(own);
    expect(rows[1]?.secret).toBeNull(); // lost the compare-and-swap: the next pass imports it
    expect(rows.slice(2).map((r) => vault.decryptRow(r).secret)).toEqual(messages.slice(2));
    const second = await runJob(db, vault, { kind: "import", importFrom: { secret: "secret_legacy" } });
    expect(second).toMatchObject({ changed: 1, failed: 0 });
    const [row2] = await tdb.query<{ secret: string }>("SELECT secret FROM vault WHERE id = 2");
    expect(vault.decryptRow({ id: 2, ...row2 }).secret).toBe(messages[11]);
    expect((await getJob(db, second.jobId as string))?.kind).toBe("import");
    assertFieldcryptError(
      await rejection(runJob(db, vault, { kind: "rotate", keyring: ring, importFrom: { secret: "secret_legacy" } })),
      "ERR_INVALID_OPTION",
      "importFrom is an option of import jobs only",
    );
  });
});
