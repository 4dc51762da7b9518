/**
 * Status's SQL classifier is total and agrees with the library (issue 13, item 1): for 100,000
 * random values per column type — valid cells of both forms and algorithms, every kind of damaged
 * cell, random bytes that start with the cell magic byte (as 1 raw AES-GCM nonce in 256 does),
 * `fc1.` followed by anything, plain text and bytes — the SQL says null / cell under key id K /
 * unreadable / plaintext exactly where `isCell`, `inspectCell` and the jobs' damaged-cell test do,
 * and never throws. On PGlite, or the server at DATABASE_URL.
 */
import { encrypt, inspectCell, isCell } from "fieldcrypt/cell";
import { createKeyring, generateKeyString } from "fieldcrypt/keyring";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cellClassSql, columnStatusSql, countColumn } from "../src/config/status-sql.js";
import { type CliTestDb, openCliTestDb, WHERE } from "./test-db.js";

const VALUES = 100_000;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** mulberry32: a small seeded PRNG, so a failure reproduces from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(0x5eed13);
const int = (n: number) => Math.floor(random() * n);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

const keyIds = ["v1", "k.2", "tenant_7-key", "x".repeat(32)];
const valid: Buffer[] = [];
for (let i = 0; i < 400; i++) {
  const algorithm = i % 2 === 0 ? "XAES-256-GCM" : "AES-256-GCM";
  const values = ["", "note", "x".repeat(int(200)), 42, true, new Date(0), { a: [1] }, new Uint8Array(3)];
  const keyId = keyIds[i % keyIds.length] as string;
  const ring = createKeyring([{ id: keyId, secret: generateKeyString(), primary: true }]);
  const cell = encrypt(
    ring,
    values[i % values.length] as string,
    { table: "t", column: "c" },
    { form: "binary", algorithm },
  );
  valid.push(Buffer.from(cell as Uint8Array));
}

/** A binary value: a valid cell, a damaged one, a header-shaped random one, or anything. */
function binaryValue(): Buffer {
  const base = Buffer.from(valid[int(valid.length)] as Buffer);
  switch (int(8)) {
    case 0:
      return base;
    case 1: {
      const at = int(base.length);
      base[at] = (base[at] as number) ^ (1 << int(8));
      return base;
    }
    case 2:
      return base.subarray(0, int(base.length));
    case 3:
      return Buffer.concat([base, bytes(1 + int(40))]);
    case 4: {
      // A header with one field out of range, or key id bytes outside the alphabet.
      const at = int(5 + (base[4] as number));
      base[at] = int(256);
      return base;
    }
    case 5:
      return Buffer.concat([Buffer.from([0xfc]), bytes(int(80))]);
    case 6:
      return Buffer.concat([Buffer.from([0xfc, 1, 1 + int(2), 1 + int(7), int(40)]), bytes(int(90))]);
    default:
      return bytes(int(60));
  }
}

/** A text value: a cell's text form, damaged or not; `fc1.` and anything; or plain text. */
function textValue(): string {
  const pick = int(7);
  if (pick <= 3) {
    const b = binaryValue();
    let text = `fc1.${b.toString("base64url")}`;
    if (pick === 1 && text.length > 4) {
      const at = 4 + int(text.length - 4);
      const alphabet = `${B64URL}+/=. \u00e9\u0141\u{1F600}`;
      text = text.slice(0, at) + (alphabet[int(alphabet.length)] as string) + text.slice(at + 1);
    }
    if (pick === 2) text = text.slice(0, 4 + int(text.length - 3));
    if (pick === 3) text += "=".repeat(int(3));
    return text;
  }
  if (pick === 4) return `fc1.${Array.from({ length: int(80) }, () => B64URL[int(64)]).join("")}`;
  if (pick === 5) return `${["FC1.", "fc1", "fc2.", "gAAAAA"][int(4)]}${bytes(int(30)).toString("base64url")}`;
  return Array.from({ length: int(30) }, () => String.fromCodePoint(1 + int(0x2fff))).join("");
}

/** What the library says of a value: the class status must report. */
function expected(value: string | Buffer | null): [string, string] {
  if (value === null) return ["null", ""];
  // Computed before isCell, whose type guard leaves nothing for the other branch.
  const claims = typeof value === "string" ? value.startsWith("fc1.") : value[0] === 0xfc;
  if (isCell(value)) return ["key", inspectCell(value).keyId];
  return [claims ? "unreadable" : "plaintext", ""];
}

describe(`status classifies every value the library classifies, on ${WHERE}`, () => {
  let db: CliTestDb;
  const texts: (string | null)[] = [];
  const blobs: (Buffer | null)[] = [];

  beforeAll(async () => {
    db = await openCliTestDb("fc_classify");
    for (let i = 0; i < VALUES; i++) {
      texts.push(i % 97 === 0 ? null : textValue());
      blobs.push(i % 89 === 0 ? null : binaryValue());
    }
  }, 120_000);
  afterAll(async () => db?.close());

  it(`${VALUES.toLocaleString("en")} text and ${VALUES.toLocaleString("en")} bytea values: the same class and key id as the library, no error`, async () => {
    const text = cellClassSql("tv", false);
    const binary = cellClassSql("bv", true);
    const { rows, counts } = await db.with(async (q) => {
      await q.query("CREATE TABLE classify (id integer PRIMARY KEY, tv text, bv bytea)");
      for (let from = 0; from < VALUES; from += 10_000) {
        const ids = Array.from({ length: Math.min(10_000, VALUES - from) }, (_, i) => from + i);
        await q.query(
          `INSERT INTO classify SELECT u.id, u.tv, decode(u.bv_hex, 'hex')
             FROM unnest($1::integer[], $2::text[], $3::text[]) AS u(id, tv, bv_hex)`,
          [ids, ids.map((i) => texts[i]), ids.map((i) => blobs[i]?.toString("hex") ?? null)],
        );
      }
      const result = await q.query(
        `SELECT id, ${text.kind} AS tk, ${text.state} AS ts, ${binary.kind} AS bk, ${binary.state} AS bs
           FROM classify ORDER BY id`,
      );
      const query = async <Row>(sql: string) => (await q.query(sql)).rows as Row[];
      const counted = [
        await countColumn(query, "classify", "classify", "tv", "tv", false),
        await countColumn(query, "classify", "classify", "bv", "bv", true),
      ];
      return { rows: result.rows as { id: number; tk: string; ts: string; bk: string; bs: string }[], counts: counted };
    });
    expect(rows).toHaveLength(VALUES);
    const mismatches: string[] = [];
    const tally = new Map<string, number>();
    for (const row of rows) {
      const t = expected(texts[row.id] ?? null);
      const b = expected(blobs[row.id] ?? null);
      tally.set(`text ${t[0]}`, (tally.get(`text ${t[0]}`) ?? 0) + 1);
      tally.set(`bytea ${b[0]}`, (tally.get(`bytea ${b[0]}`) ?? 0) + 1);
      if (row.tk !== t[0] || row.ts !== t[1]) mismatches.push(`text #${row.id}: SQL ${row.tk}/${row.ts}, library ${t}`);
      if (row.bk !== b[0] || row.bs !== b[1])
        mismatches.push(`bytea #${row.id}: SQL ${row.bk}/${row.bs}, library ${b}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    // Every class is exercised in both forms, or the test proves less than it claims.
    for (const form of ["text", "bytea"]) {
      for (const kind of ["null", "key", "unreadable", "plaintext"]) {
        expect(tally.get(`${form} ${kind}`), `${form} ${kind}`).toBeGreaterThan(VALUES / 100);
      }
    }
    // The counting query agrees with the per-row classes.
    const [tv, bv] = counts;
    expect(tv?.unreadable).toBe(tally.get("text unreadable"));
    expect(bv?.unreadable).toBe(tally.get("bytea unreadable"));
    expect(tv?.plaintext).toBe(tally.get("text plaintext"));
    expect([...(bv?.byKey.values() ?? [])].reduce((a, n) => a + n, 0)).toBe(tally.get("bytea key"));
  }, 240_000);

  it("a configured legacy format claims its values before the unreadable test, as the jobs do", async () => {
    const marked = columnStatusSql("v", "x", false, { textPrefixes: ["fc1.A"] });
    const markerless = columnStatusSql("v", "x", true, { textPrefixes: undefined });
    const rows = await db.with(async (q) => ({
      text: (
        await q.query(
          `SELECT kind, n FROM (${marked}) s ORDER BY kind`.replaceAll(
            "FROM v",
            "FROM (VALUES ('fc1.AAA'), ('fc1.B'), ('plain')) AS v(x)",
          ),
        )
      ).rows,
      binary: (
        await q.query(
          `SELECT kind, n FROM (${markerless}) s ORDER BY kind`.replaceAll(
            "FROM v",
            "FROM (VALUES ('\\xfc00'::bytea), ('\\x00'::bytea)) AS v(x)",
          ),
        )
      ).rows,
    }));
    expect(rows.text.map((r) => [(r as { kind: string }).kind, Number((r as { n: unknown }).n)])).toEqual([
      ["legacy", 1],
      ["plaintext", 1],
      ["unreadable", 1],
    ]);
    expect(rows.binary.map((r) => [(r as { kind: string }).kind, Number((r as { n: unknown }).n)])).toEqual([
      ["legacy", 2],
    ]);
  });

  it("in bytea, a legacy format's signature is the value's first bytes (a Fernet token kept as ASCII)", async () => {
    const sql = columnStatusSql("v", "x", true, { textPrefixes: ["gAAAAA"] });
    const values = [Buffer.from("gAAAAABlcut"), Buffer.from("gAAAA"), Buffer.from("plain bytes"), Buffer.of(0xfc, 0)];
    const rows = await db.with(async (q) => {
      const from = `FROM (SELECT decode(h, 'hex') AS x FROM unnest($1::text[]) AS u(h)) AS v`;
      const { rows } = await q.query(`SELECT kind, n FROM (${sql.replace("FROM v", from)}) s ORDER BY kind`, [
        values.map((b) => b.toString("hex")),
      ]);
      return rows as { kind: string; n: unknown }[];
    });
    expect(rows.map((r) => [r.kind, Number(r.n)])).toEqual([
      ["legacy", 1],
      ["plaintext", 2],
      ["unreadable", 1],
    ]);
  });
});
