/**
 * Legacy decoders (fieldcrypt/legacy) without a database: the Fernet spec vectors, the Fernet
 * derivation cache (PBKDF2 once per user), structure and tamper sweeps, option and row errors, and
 * a leak test with canary keys and plaintexts. Producer interop lives in legacy-interop.test.ts.
 */
import { createCipheriv, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  aesGcmFormat,
  cloakFormat,
  fernetFormat,
  type LegacyFormat,
  versionedJsonFormat,
} from "../src/legacy/index.js";
import { assertOpaqueFailure, expectThrows, needs, SHARED_VECTORS_DIR, thrown } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// A Fernet producer written from the spec (checked against the spec's generate vector below).

function fernetToken(key: Uint8Array, plaintext: Uint8Array | string, iv = randomBytes(16), seconds = 1_700_000_000) {
  const cipher = createCipheriv("aes-128-cbc", key.subarray(16, 32), iv);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(seconds));
  const signed = Buffer.concat([Buffer.of(0x80), ts, iv, ct]);
  const mac = createHmac("sha256", key.subarray(0, 16)).update(signed).digest();
  return Buffer.concat([signed, mac])
    .toString("base64url")
    .padEnd(Math.ceil((signed.length + 32) / 3) * 4, "=");
}

function gcmCell(key: Uint8Array, plaintext: string, aad?: Uint8Array): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  if (aad !== undefined) cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([nonce, ct, cipher.getAuthTag()]);
}

/** Every bit flip and every truncation of `bytes`, re-encoded by `encode`, is the opaque failure. */
function sweep(format: LegacyFormat, bytes: Buffer, encode: (b: Buffer) => unknown, row?: Record<string, unknown>) {
  let cases = 0;
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = (flipped[i] as number) ^ (1 << bit);
      assertOpaqueFailure(thrown(() => format.decrypt(encode(flipped), row)));
      cases++;
    }
  }
  for (let n = 0; n < bytes.length; n++) {
    assertOpaqueFailure(thrown(() => format.decrypt(encode(bytes.subarray(0, n)), row)));
    cases++;
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Fernet spec vectors

const FERNET_DIR = join(SHARED_VECTORS_DIR, "fernet-spec");
const HAS_FERNET = needs(
  existsSync(FERNET_DIR),
  `the Fernet spec vectors (${FERNET_DIR})`,
  "check out ../shared beside the repository",
);

interface FernetVector {
  desc?: string;
  token: string;
  now: string;
  ttl_sec?: number;
  src?: string;
  iv?: number[];
  secret: string;
}
const readVectors = (name: string): FernetVector[] =>
  JSON.parse(readFileSync(join(FERNET_DIR, name), "utf8")) as FernetVector[];

describe("Fernet spec vectors", () => {
  it.runIf(HAS_FERNET)("generate.json: our spec producer makes the token, the decoder opens it", () => {
    const vectors = readVectors("generate.json");
    expect(vectors).toHaveLength(1);
    for (const v of vectors) {
      const key = Buffer.from(v.secret, "base64url");
      const seconds = Date.parse(v.now) / 1000;
      expect(fernetToken(key, v.src as string, Buffer.from(v.iv as number[]), seconds)).toBe(v.token);
      expect(fernetFormat({ key: v.secret }).decrypt(v.token)).toBe(v.src);
    }
  });

  it.runIf(HAS_FERNET)("verify.json: opens with the TTL enforced at the vector's clock", () => {
    const vectors = readVectors("verify.json");
    expect(vectors).toHaveLength(1);
    for (const v of vectors) {
      const format = fernetFormat({ key: v.secret, ttlSeconds: v.ttl_sec as number, now: () => Date.parse(v.now) });
      expect(format.matches(v.token)).toBe(true);
      expect(format.decrypt(v.token)).toBe(v.src);
    }
  });

  it.runIf(HAS_FERNET)("invalid.json: every case is the opaque failure with the TTL enforced", () => {
    const vectors = readVectors("invalid.json");
    expect(vectors.map((v) => v.desc)).toEqual([
      "incorrect mac",
      "too short",
      "invalid base64",
      "payload size not multiple of block size",
      "payload padding error",
      "far-future TS (unacceptable clock skew)",
      "expired TTL",
      "incorrect IV (causes padding error)",
    ]);
    for (const v of vectors) {
      const format = fernetFormat({ key: v.secret, ttlSeconds: v.ttl_sec as number, now: () => new Date(v.now) });
      assertOpaqueFailure(thrown(() => format.decrypt(v.token)));
    }
  });

  it.runIf(HAS_FERNET)("invalid.json with the TTL ignored (the default): only the two clock cases open", () => {
    for (const v of readVectors("invalid.json")) {
      const format = fernetFormat({ key: v.secret });
      if (v.desc === "expired TTL" || v.desc === "far-future TS (unacceptable clock skew)") {
        expect(format.decrypt(v.token)).toBe(""); // as Python's Fernet.decrypt(token) without ttl
      } else {
        assertOpaqueFailure(thrown(() => format.decrypt(v.token)));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Fernet

describe("fernetFormat", () => {
  const key = randomBytes(32);
  const keyText = `${key.toString("base64url")}=`;

  it("opens tokens with a static key, from text and from bytea, and outputs bytes or JSON on request", () => {
    const token = fernetToken(key, "Grüße, journal");
    const format = fernetFormat({ key: keyText });
    expect(format.name).toBe("fernet");
    expect(format.rowColumns).toEqual([]);
    expect(format.matches(token)).toBe(true);
    expect(format.decrypt(token)).toBe("Grüße, journal");
    expect(format.decrypt(Buffer.from(token, "latin1"))).toBe("Grüße, journal");
    expect(format.decrypt(null)).toBe(null);
    expect(fernetFormat({ key, output: "bytes" }).decrypt(token)).toEqual(
      new Uint8Array(Buffer.from("Grüße, journal")),
    );
    expect(fernetFormat({ key: keyText, output: "json" }).decrypt(fernetToken(key, '{"a":[1,2]}'))).toEqual({
      a: [1, 2],
    });
  });

  it("tries several keys in order (MultiFernet) and fails opaquely when none fits", () => {
    const other = randomBytes(32);
    const format = fernetFormat({ key: [other.toString("base64url"), keyText] });
    expect(format.decrypt(fernetToken(key, "old"))).toBe("old");
    expect(format.decrypt(fernetToken(other, "new"))).toBe("new");
    assertOpaqueFailure(thrown(() => format.decrypt(fernetToken(randomBytes(32), "x"))));
  });

  it("doubleBase64 reads tokens encoded once more, in either alphabet", () => {
    const format = fernetFormat({ key: keyText, doubleBase64: true });
    for (let i = 0; i < 20; i++) {
      const token = fernetToken(key, `note ${i} ${"?".repeat(i)}`);
      expect(format.decrypt(Buffer.from(token).toString("base64"))).toBe(`note ${i} ${"?".repeat(i)}`);
      expect(format.decrypt(Buffer.from(token).toString("base64url"))).toBe(`note ${i} ${"?".repeat(i)}`);
    }
    expect(format.matches(fernetToken(key, "single"))).toBe(false);
    expect(fernetFormat({ key: keyText }).matches(Buffer.from(fernetToken(key, "x")).toString("base64"))).toBe(false);
  });

  it("matches only Fernet-shaped values", () => {
    const format = fernetFormat({ key: keyText });
    const token = Buffer.from(fernetToken(key, "x"), "base64url");
    expect(format.matches("plain text")).toBe(false);
    expect(format.matches("")).toBe(false);
    expect(format.matches(42)).toBe(false);
    expect(format.matches(null)).toBe(false);
    expect(format.matches(`${token.toString("base64url")}%`)).toBe(false);
    const v81 = Buffer.from(token);
    v81[0] = 0x81;
    expect(format.matches(v81.toString("base64url"))).toBe(false);
    expect(format.matches(token.subarray(0, token.length - 1).toString("base64url"))).toBe(false);
    expect(format.matches("v1.aesgcm256.01234567.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")).toBe(false);
  });

  it("tamper sweep: every bit flip and truncation of a token is the opaque failure (MAC first)", () => {
    const format = fernetFormat({ key: keyText });
    const token = Buffer.from(fernetToken(key, "sweep me"), "base64url");
    const cases = sweep(format, token, (b) => b.toString("base64url"));
    expect(cases).toBe(token.length * 9);
    assertOpaqueFailure(thrown(() => format.decrypt(12)));
    assertOpaqueFailure(thrown(() => format.decrypt({ token: "x" })));
  });

  it("a valid MAC over bad padding is the same opaque failure (no padding oracle)", () => {
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-128-cbc", key.subarray(16), iv).setAutoPadding(false);
    const ct = Buffer.concat([cipher.update(Buffer.alloc(16, 0x11)), cipher.final()]); // last byte 0x11 > 16
    const signed = Buffer.concat([Buffer.of(0x80), Buffer.alloc(8), iv, ct]);
    const token = Buffer.concat([signed, createHmac("sha256", key.subarray(0, 16)).update(signed).digest()]);
    assertOpaqueFailure(thrown(() => fernetFormat({ key: keyText }).decrypt(token.toString("base64url"))));
  });

  it("enforces the TTL only when asked, with Python's 60 s clock skew", () => {
    const token = fernetToken(key, "old", randomBytes(16), 1_000_000);
    expect(fernetFormat({ key: keyText }).decrypt(token)).toBe("old");
    const at = (seconds: number) => fernetFormat({ key: keyText, ttlSeconds: 100, now: () => seconds * 1000 });
    expect(at(1_000_100).decrypt(token)).toBe("old");
    assertOpaqueFailure(thrown(() => at(1_000_101).decrypt(token)));
    expect(at(999_940).decrypt(token)).toBe("old");
    assertOpaqueFailure(thrown(() => at(999_939).decrypt(token)));
  });

  it("a plaintext that is not UTF-8 asks for output: bytes", () => {
    const token = fernetToken(key, Buffer.of(0xff, 0xfe, 0x00));
    expectThrows(
      () => fernetFormat({ key: keyText }).decrypt(token),
      "ERR_UNSUPPORTED_VALUE",
      'a fernet legacy plaintext is not valid UTF-8; use output: "bytes"',
    );
    expect(fernetFormat({ key: keyText, output: "bytes" }).decrypt(token)).toEqual(new Uint8Array([0xff, 0xfe, 0]));
  });

  it("rejects bad options with typed errors that never quote the key", () => {
    const bad = "not-a-fernet-key-SECRET";
    const e = expectThrows(
      () => fernetFormat({ key: bad }),
      "ERR_INVALID_KEY",
      "Fernet key #1 must be 32 bytes in url-safe base64 (44 characters, as Fernet.generate_key() prints)",
    );
    expect(e.message).not.toContain("SECRET");
    expectThrows(
      () => fernetFormat({ key: randomBytes(16) }),
      "ERR_INVALID_KEY",
      "Fernet key #1 must be 32 bytes (got 16 bytes)",
    );
    expectThrows(() => fernetFormat({ key: [] }), "ERR_INVALID_OPTION", "key must name at least one Fernet key");
    expectThrows(
      () => fernetFormat({} as never),
      "ERR_INVALID_OPTION",
      "fernetFormat needs exactly one of key or derive",
    );
    expectThrows(
      () => fernetFormat({ key: keyText, ttlSeconds: 0 }),
      "ERR_INVALID_OPTION",
      "ttlSeconds must be a positive integer",
    );
    expectThrows(
      () => fernetFormat({ derive: { masterKey: "m", salt: { static: "s" }, iterations: 1, hash: "md5" as never } }),
      "ERR_INVALID_OPTION",
      'derive.hash must be "sha256" or "sha1"',
    );
    expectThrows(
      () => fernetFormat({ derive: { masterKey: "m", salt: {} as never, iterations: 1 } }),
      "ERR_INVALID_OPTION",
      "derive.salt must be { static, append? }, { column }, { template } or a function",
    );
  });
});

describe("fernetFormat derive: PBKDF2 once per user", () => {
  const master = "journal-master-key";
  const staticSalt = Buffer.from("static-salt-\x00\xff", "latin1");
  const iterations = 2_000;
  const userKey = (salt: Buffer, hash = "sha256") => pbkdf2Sync(master, salt, iterations, 32, hash);
  const users = [1, 2, 3, 40, 500];
  const rows = users.flatMap((user_id) =>
    Array.from({ length: 20 }, (_, i) => ({
      user_id,
      body: fernetToken(userKey(Buffer.concat([staticSalt, Buffer.from(String(user_id))])), `u${user_id} n${i}`),
    })),
  );
  const options = {
    derive: { masterKey: master, salt: { static: staticSalt, append: "user_id" }, iterations },
  } as const;

  it("prepare derives each user's key once (async); decrypt then derives nothing", async () => {
    const format = fernetFormat(options);
    expect(format.rowColumns).toEqual(["user_id"]);
    await format.prepare?.(rows);
    expect(format.stats()).toEqual({ derivations: users.length, cached: users.length });
    await format.prepare?.(rows);
    for (const row of rows) expect(format.decrypt(row.body, row)).toBe(`u${row.user_id} n${rows.indexOf(row) % 20}`);
    expect(format.stats().derivations).toBe(users.length);
  });

  it("without prepare, decrypt derives synchronously, still once per user; user ids may be strings or bigints", () => {
    const format = fernetFormat(options);
    for (const row of rows) format.decrypt(row.body, row);
    expect(format.stats().derivations).toBe(users.length);
    const row = rows[0]!;
    expect(format.decrypt(row.body, { user_id: String(row.user_id) })).toBe("u1 n0");
    expect(format.decrypt(row.body, { user_id: BigInt(row.user_id) })).toBe("u1 n0");
    expect(format.stats().derivations).toBe(users.length);
  });

  it("concurrent prepares share in-flight derivations", async () => {
    const format = fernetFormat(options);
    await Promise.all([format.prepare?.(rows), format.prepare?.(rows.slice(20)), format.prepare?.(rows)]);
    expect(format.stats().derivations).toBe(users.length);
  });

  it("the cache is bounded by cacheSize (least recently used dropped)", () => {
    const format = fernetFormat({ ...options, cacheSize: 2 });
    const byUser = users.map((u) => rows.find((r) => r.user_id === u)!);
    for (const row of [...byUser, ...byUser]) format.decrypt(row.body, row);
    expect(format.stats()).toEqual({ derivations: users.length * 2, cached: 2 });
  });

  it("another user's key (or a wrong master key) is the opaque failure; a missing user id is ERR_INVALID_CONTEXT", async () => {
    const format = fernetFormat(options);
    const row = rows[0]!;
    assertOpaqueFailure(thrown(() => format.decrypt(row.body, { user_id: 2 })));
    const wrong = fernetFormat({ derive: { ...options.derive, masterKey: "another-master" } });
    assertOpaqueFailure(thrown(() => wrong.decrypt(row.body, row)));
    const message = 'the fernet legacy format needs the row\'s "user_id" column';
    expectThrows(() => format.decrypt(row.body, {}), "ERR_INVALID_CONTEXT", message);
    expectThrows(() => format.decrypt(row.body), "ERR_INVALID_CONTEXT", message);
    expectThrows(() => format.decrypt(row.body, { user_id: null }), "ERR_INVALID_CONTEXT", message);
    expectThrows(
      () => format.decrypt(row.body, { user_id: { id: 1 } }),
      "ERR_INVALID_CONTEXT",
      'the fernet legacy format needs the row\'s "user_id" column as a string, integer or bytes (got object)',
    );
    // prepare skips rows it cannot key; they fail in decrypt.
    const fresh = fernetFormat(options);
    await fresh.prepare?.([{}, { user_id: 1.5 }, { user_id: true }, row]);
    expect(fresh.stats().derivations).toBe(1);
    expectThrows(() => fresh.decrypt(row.body, { user_id: 1.5 }), "ERR_INVALID_CONTEXT");
  });

  it("a per-row salt column (bytes, hex or base64) and PBKDF2-SHA1", async () => {
    const salts = [randomBytes(16), randomBytes(16), randomBytes(16)];
    const saltRows = salts.map((salt, i) => ({ salt, body: fernetToken(userKey(salt, "sha1"), `s${i}`) }));
    const derive = { masterKey: Buffer.from(master), iterations, hash: "sha1" } as const;
    const bytes = fernetFormat({ derive: { ...derive, salt: { column: "salt" } } });
    expect(bytes.rowColumns).toEqual(["salt"]);
    await bytes.prepare?.(saltRows);
    expect(saltRows.map((r) => bytes.decrypt(r.body, r))).toEqual(["s0", "s1", "s2"]);
    expect(bytes.stats().derivations).toBe(3);
    const hex = fernetFormat({ derive: { ...derive, salt: { column: "salt", encoding: "hex" } } });
    expect(saltRows.map((r) => hex.decrypt(r.body, { salt: r.salt.toString("hex") }))).toEqual(["s0", "s1", "s2"]);
    const b64 = fernetFormat({ derive: { ...derive, salt: { column: "salt", encoding: "base64" } } });
    expect(b64.decrypt(saltRows[1]!.body, { salt: saltRows[1]!.salt.toString("base64") })).toBe("s1");
    const sha256 = fernetFormat({ derive: { ...derive, hash: "sha256", salt: { column: "salt" } } });
    assertOpaqueFailure(thrown(() => sha256.decrypt(saltRows[0]!.body, saltRows[0]!)));
  });

  it("a static salt without a row column derives one key for every row", () => {
    const format = fernetFormat({ derive: { masterKey: master, salt: { static: "app-salt" }, iterations } });
    expect(format.rowColumns).toEqual([]);
    const k = userKey(Buffer.from("app-salt"));
    expect(format.decrypt(fernetToken(k, "a"))).toBe("a");
    expect(format.decrypt(fernetToken(k, "b"))).toBe("b");
    expect(format.stats().derivations).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// AES-GCM, versioned JSON, cloak (structure; real producers in legacy-interop.test.ts)

describe("aesGcmFormat", () => {
  const key = randomBytes(32);

  it("opens nonce ‖ ct ‖ tag from bytea and base64 text, with several keys, AAD fixed, by column or function", () => {
    const cell = gcmCell(key, "sk-live-123");
    const format = aesGcmFormat({ keys: [randomBytes(32), key.toString("base64")] });
    expect(format.rowColumns).toEqual([]);
    expect(format.decrypt(cell)).toBe("sk-live-123");
    expect(format.decrypt(cell.toString("base64"))).toBe("sk-live-123");
    expect(format.decrypt(cell.toString("base64url"))).toBe("sk-live-123");
    const byColumn = aesGcmFormat({ keys: key, aad: { column: "user_id" } });
    expect(byColumn.rowColumns).toEqual(["user_id"]);
    const bound = gcmCell(key, "bound", Buffer.from("77"));
    expect(byColumn.decrypt(bound, { user_id: 77 })).toBe("bound");
    assertOpaqueFailure(thrown(() => byColumn.decrypt(bound, { user_id: 78 })));
    expectThrows(() => byColumn.decrypt(bound, {}), "ERR_INVALID_CONTEXT");
    const byFn = aesGcmFormat({ keys: key, aad: (row) => `t:${String(row.tenant)}`, rowColumns: ["tenant"] });
    expect(byFn.rowColumns).toEqual(["tenant"]);
    expect(byFn.decrypt(gcmCell(key, "fn", Buffer.from("t:9")), { tenant: 9 })).toBe("fn");
    expect(aesGcmFormat({ keys: key, aad: "fixed" }).decrypt(gcmCell(key, "f", Buffer.from("fixed")))).toBe("f");
    expectThrows(
      () => aesGcmFormat({ keys: key, aad: () => "x" }),
      "ERR_INVALID_OPTION",
      "an aad function needs rowColumns: the columns it reads",
    );
  });

  it("tamper sweep over bytes, and the wrong key, are the opaque failure", () => {
    const format = aesGcmFormat({ keys: key });
    const cell = gcmCell(key, "sweep");
    sweep(format, cell, (b) => b);
    assertOpaqueFailure(thrown(() => aesGcmFormat({ keys: randomBytes(32) }).decrypt(cell)));
    assertOpaqueFailure(thrown(() => format.decrypt("not base64 !")));
    expect(format.matches(cell.subarray(0, 27))).toBe(false);
    expect(format.matches(cell.subarray(0, 28))).toBe(true);
  });

  it("key errors name the length, never the key", () => {
    expectThrows(
      () => aesGcmFormat({ keys: randomBytes(31) }),
      "ERR_INVALID_KEY",
      "keys must be 32, 24, 16 bytes (got 31 bytes)",
    );
    expectThrows(
      () => aesGcmFormat({ keys: "SECRET not base64!" }),
      "ERR_INVALID_KEY",
      "keys must be a Uint8Array or base64 text of 32, 24, 16 bytes (got string)",
    );
  });
});

describe("versionedJsonFormat", () => {
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);
  const envelope = (version: string, key: Buffer, text: string) =>
    JSON.stringify({ version, ciphertext: gcmCell(key, text).toString("base64") });

  it("opens by version from JSON text, bytes and parsed jsonb; unknown version is ERR_KEY_NOT_FOUND", () => {
    const format = versionedJsonFormat({ keys: { v1, v2: v2.toString("base64") } });
    expect(format.decrypt(envelope("v1", v1, "one"))).toBe("one");
    expect(format.decrypt(Buffer.from(envelope("v2", v2, "two")))).toBe("two");
    expect(format.decrypt(JSON.parse(envelope("v2", v2, "jsonb")))).toBe("jsonb");
    expect(format.matches(' {"version":"v1","ciphertext":""}')).toBe(true);
    expect(format.matches("{}")).toBe(false);
    expect(format.matches("plain")).toBe(false);
    expectThrows(() => format.decrypt(envelope("v9", v1, "x")), "ERR_KEY_NOT_FOUND", 'key "v9" is not in the keyring');
    // A "version" that is not id-like is never echoed.
    assertOpaqueFailure(thrown(() => format.decrypt(envelope("my secret diagnosis", v1, "x"))));
    assertOpaqueFailure(thrown(() => format.decrypt(envelope("v2", v1, "wrong key"))));
    assertOpaqueFailure(thrown(() => format.decrypt('{"version":"v1","ciphertext":"%%%"}')));
    assertOpaqueFailure(thrown(() => format.decrypt("{not json")));
  });

  it("custom field names and the nonce ‖ tag ‖ ct layout", () => {
    const cell = gcmCell(v1, "layout");
    const moved = Buffer.concat([
      cell.subarray(0, 12),
      cell.subarray(cell.length - 16),
      cell.subarray(12, cell.length - 16),
    ]);
    const format = versionedJsonFormat({
      keys: { k1: v1 },
      fields: { version: "kid", ciphertext: "data" },
      layout: "nonce-tag-ct",
    });
    expect(format.decrypt({ kid: "k1", data: moved.toString("base64") })).toBe("layout");
    assertOpaqueFailure(thrown(() => format.decrypt({ kid: "k1", data: cell.toString("base64") })));
  });

  it("tamper sweep over the decoded ciphertext", () => {
    const format = versionedJsonFormat({ keys: { v1 } });
    const cell = gcmCell(v1, "sweep");
    sweep(format, cell, (b) => JSON.stringify({ version: "v1", ciphertext: b.toString("base64") }));
  });
});

describe("cloakFormat structure", () => {
  it("parses cloak strings and rejects others", () => {
    const keyText = `k1.aesgcm256.${randomBytes(32).toString("base64url")}=`;
    const format = cloakFormat({ keys: keyText });
    expect(format.matches("v1.aesgcm256.0a1b2c3d.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")).toBe(true);
    expect(format.matches("v2.aesgcm256.0a1b2c3d.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")).toBe(false);
    expect(format.matches("v1.aesgcm256.0a1b2c3.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")).toBe(false);
    expect(format.matches("v1.aesgcm256.0a1b2c3d.AAAAAAAAAAAAAAAA.AAAA")).toBe(false);
    expectThrows(
      () => format.decrypt("v1.aesgcm256.0a1b2c3d.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"),
      "ERR_KEY_NOT_FOUND",
      'key "0a1b2c3d" is not in the keyring',
    );
    expectThrows(
      () => cloakFormat({ keys: "k1.aesgcm256.SECRET" }),
      "ERR_INVALID_KEY",
      "cloak key #1 must look like k1.aesgcm256.<32 bytes in base64url> (got string)",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Leak test

describe("leak: keys and plaintexts never appear in errors or inspect", () => {
  it("canary master key, derived keys, static keys and plaintexts stay out of every output", async () => {
    const master = `CANARY-MASTER-${randomBytes(8).toString("hex")}`;
    const plaintext = `CANARY-PLAINTEXT-${randomBytes(8).toString("hex")}`;
    const salt = Buffer.from("salt");
    const derived = pbkdf2Sync(master, Buffer.concat([salt, Buffer.from("7")]), 1000, 32, "sha256");
    const staticKey = randomBytes(32);
    const gcmKey = randomBytes(32);
    const cloakKey = `k1.aesgcm256.${randomBytes(32).toString("base64url")}=`;
    const canaries = [
      master,
      plaintext,
      derived.toString("base64url"),
      derived.toString("base64"),
      derived.toString("hex"),
      derived.subarray(0, 16).toString("hex"),
      derived.subarray(16).toString("hex"),
      staticKey.toString("base64url"),
      staticKey.toString("hex"),
      gcmKey.toString("base64"),
      gcmKey.toString("hex"),
      cloakKey,
      cloakKey.slice(13, 40),
    ];
    const derive = fernetFormat({
      derive: { masterKey: master, salt: { static: salt, append: "user_id" }, iterations: 1000 },
    });
    const fixed = fernetFormat({ key: staticKey.toString("base64url") });
    const gcm = aesGcmFormat({ keys: gcmKey, output: "json" });
    const json = versionedJsonFormat({ keys: { v1: gcmKey } });
    const cloak = cloakFormat({ keys: cloakKey });
    const token = fernetToken(derived, plaintext);
    expect(derive.decrypt(token, { user_id: 7 })).toBe(plaintext);
    await derive.prepare?.([{ user_id: 7 }, { user_id: 8 }]);

    const outputs: string[] = [];
    const record = (value: unknown) => {
      outputs.push(inspect(value, { depth: 10, showHidden: true }), JSON.stringify(value) ?? "", String(value));
      if (value instanceof Error) outputs.push(value.message, value.stack ?? "");
    };
    for (const format of [derive, fixed, gcm, json, cloak]) record(format);
    record(derive.stats());
    const tampered = Buffer.from(token, "base64url");
    tampered[30] = (tampered[30] as number) ^ 1;
    record(thrown(() => derive.decrypt(tampered.toString("base64url"), { user_id: 7 })));
    record(thrown(() => derive.decrypt(token, { user_id: 8 })));
    record(thrown(() => derive.decrypt(token, {})));
    record(thrown(() => fixed.decrypt(token)));
    record(thrown(() => derive.decrypt(plaintext, { user_id: 7 })));
    record(thrown(() => gcm.decrypt(gcmCell(gcmKey, plaintext))));
    record(thrown(() => gcm.decrypt(gcmCell(gcmKey, plaintext).subarray(1))));
    record(thrown(() => json.decrypt(JSON.stringify({ version: plaintext, ciphertext: "AAAA" }))));
    record(thrown(() => json.decrypt(plaintext)));
    record(thrown(() => cloak.decrypt(plaintext)));
    record(thrown(() => fernetFormat({ key: master })));
    record(thrown(() => aesGcmFormat({ keys: master })));
    record(thrown(() => cloakFormat({ keys: master })));
    record(thrown(() => fernetFormat({ key: staticKey.toString("base64url").slice(1) })));
    expect(outputs.length).toBeGreaterThan(50);
    for (const out of outputs) for (const canary of canaries) expect(out).not.toContain(canary);
  });
});

describe("bounded legacy input (maxBytes)", () => {
  const key32 = Buffer.alloc(32, 7);
  const formats = (max?: number): LegacyFormat[] => {
    const limit = max === undefined ? {} : { maxBytes: max }; // absent: the default
    return [
      fernetFormat({ key: Buffer.alloc(32, 1).toString("base64url"), ...limit }),
      cloakFormat({ keys: `k1.aesgcm256.${key32.toString("base64url")}`, ...limit }),
      aesGcmFormat({ keys: key32, ...limit }),
      versionedJsonFormat({ keys: { v1: key32 }, ...limit }),
    ];
  };
  const MB100 = 100 * 1000 * 1000;
  // Values with each format's marker, over the limit: a Fernet token, a cloak string, bytes, JSON.
  const huge = (format: LegacyFormat): unknown => {
    const prefix = format.textPrefixes?.[0];
    return prefix === undefined ? Buffer.alloc(MB100, 1) : prefix + "A".repeat(MB100);
  };

  it("refuses a 100 MB value of every format with ERR_VALUE_TOO_LARGE, naming sizes only", () => {
    for (const format of formats()) {
      const value = huge(format);
      expect(format.matches(value)).toBe(true); // refused as too large, never taken for plaintext
      const size = typeof value === "string" ? value.length : (value as Buffer).length;
      const error = expectThrows(() => format.decrypt(value), "ERR_VALUE_TOO_LARGE");
      expect(error.message).toBe(`a ${format.name} legacy value of ${size} bytes is over maxBytes (89478592)`);
    }
  });

  it("honours a smaller maxBytes, and refuses a bad one", () => {
    for (const format of formats(64)) {
      const value = format.textPrefixes === undefined ? Buffer.alloc(65) : `${format.textPrefixes[0]}${"A".repeat(65)}`;
      expectThrows(() => format.decrypt(value), "ERR_VALUE_TOO_LARGE");
    }
    for (const bad of [0, -1, 1.5, "10", Number.NaN]) {
      expectThrows(
        () => fernetFormat({ key: Buffer.alloc(32, 1).toString("base64url"), maxBytes: bad as number }),
        "ERR_INVALID_OPTION",
      );
    }
  });

  it("does not take an oversized value without its marker for this format", () => {
    const [fernet] = formats(64);
    expect(fernet?.matches(`plain ${"x".repeat(100)}`)).toBe(false);
  });
});
