// The README's SQL for "which key is each cell on" runs on real PostgreSQL, for both cell forms,
// and agrees with inspectCell; the raw rows hold cells, never the plaintext.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decrypt, encrypt, inspectCell } from "../src/cell/index.js";
import { createKeyring, generateKeyString } from "../src/keyring/index.js";
import { openTestDb, type TestDb } from "./db.js";

const TEXT_KEY_ID = `convert_from(substring(h FROM 6 FOR get_byte(h, 4)), 'SQL_ASCII')`;
const TEXT_HEADER = `decode(translate(substr(body, 5, least(52, (length(body) - 4) / 4 * 4)), '-_', '+/'), 'base64')`;

describe(`key id of cells in SQL (${process.env.DATABASE_URL ? "PostgreSQL server" : "PGlite"})`, () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await openTestDb();
  });
  afterAll(async () => {
    await db?.close();
  });

  const ids = ["v1", "v2", "k.2026-11_x", "x".repeat(32)];

  it("extracts the key id from text and bytea cells, for every algorithm and payload size", async () => {
    await db.query("CREATE TABLE notes (id int PRIMARY KEY, body text, body_bin bytea, expected text)");
    const rows: { id: number; body: string; bin: Buffer; expected: string; value: string }[] = [];
    let n = 0;
    for (const id of ids) {
      const single = createKeyring([{ id, secret: generateKeyString(), primary: true }]);
      for (const algorithm of ["XAES-256-GCM", "AES-256-GCM"] as const) {
        for (const value of ["", "a", "PHI: diabetic, insulin 10u", "é".repeat(200)]) {
          n += 1;
          const context = { table: "notes", column: "body", rowKey: n };
          const body = encrypt(single, value, context, { algorithm });
          const bin = encrypt(single, value, context, { algorithm, form: "binary" });
          expect(decrypt(single, body, context)).toBe(value);
          rows.push({ id: n, body, bin, expected: id, value });
        }
      }
    }
    for (const r of rows) {
      await db.query("INSERT INTO notes VALUES ($1, $2, $3, $4)", [r.id, r.body, r.bin, r.expected]);
    }
    const text = await db.query<{ id: number; key_id: string; expected: string }>(
      `SELECT id, ${TEXT_KEY_ID} AS key_id, expected FROM (SELECT id, expected, ${TEXT_HEADER} AS h FROM notes) c ORDER BY id`,
    );
    const binary = await db.query<{ id: number; key_id: string; expected: string }>(
      `SELECT id, convert_from(substring(body_bin FROM 6 FOR get_byte(body_bin, 4)), 'SQL_ASCII') AS key_id, expected FROM notes ORDER BY id`,
    );
    expect(text).toHaveLength(rows.length);
    for (const [i, row] of text.entries()) {
      expect(row.key_id).toBe(row.expected);
      expect(binary[i]?.key_id).toBe(row.expected);
      expect(inspectCell(rows[i]!.body).keyId).toBe(row.expected);
    }
    // The row on disk holds a cell, never the plaintext.
    const raw = await db.query<{ body: string; body_bin: Uint8Array }>("SELECT body, body_bin FROM notes");
    // (A long plaintext substring: a short one like "PHI" turns up in random base64url now and then.)
    for (const r of raw) {
      expect(r.body.startsWith("fc1.")).toBe(true);
      expect(r.body).not.toContain("diabetic, insulin");
      expect(Buffer.from(r.body_bin)[0]).toBe(0xfc);
      expect(Buffer.from(r.body_bin).toString("latin1")).not.toContain("diabetic, insulin");
    }
    // The grouped "rows left per key" query of the README.
    const counts = await db.query<{ key_id: string; n: string | number }>(
      `SELECT ${TEXT_KEY_ID} AS key_id, count(*) AS n FROM (SELECT ${TEXT_HEADER} AS h FROM notes WHERE body LIKE 'fc1.%') c GROUP BY 1 ORDER BY 1`,
    );
    expect(counts.map((c) => [c.key_id, Number(c.n)])).toEqual([...ids].sort().map((id) => [id, 8]));
  });
});
