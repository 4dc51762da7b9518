/**
 * Keyrings: createKeyring, loadKeyringFromEnv, loadKeyringFile; primaries per scope, rotation,
 * lookups; errors by code and exact message; redaction of Key and Keyring objects.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decrypt, encrypt, inspectCell } from "../src/cell/index.js";
import { NoPrimaryKey } from "../src/errors/index.js";
import { exportInsecureKeyBytes } from "../src/insecure/key-material.js";
import {
  createKeyring,
  generateKeyString,
  KEY_STRING_PREFIX,
  Key,
  Keyring,
  loadKeyringFile,
  loadKeyringFromEnv,
} from "../src/keyring/index.js";
import { assertFieldcryptError, expectThrows, keyBytes, keyString, rejection } from "./helpers.js";

const RULE = "1-32 characters of A-Z a-z 0-9 . _ -";
const KEY_STRING_RULE = "must be FIELDCRYPT-SECRET-KEY-1- followed by 43 base64url characters (32 bytes)";
const hint = (n: number) => ` (got ${n} characters after the prefix, or characters outside base64url)`;

const B1 = keyBytes(0x01);
const B2 = keyBytes(0x02);
const B3 = keyBytes(0x03);
const K1 = keyString(B1);
const K2 = keyString(B2);
const K3 = keyString(B3);
const ctx = { table: "users", column: "email", rowKey: 1 };

/** Every textual rendering of an object that might carry key material. */
function renderings(value: unknown): string[] {
  return [
    inspect(value),
    inspect(value, { depth: 10, showHidden: true, customInspect: true }),
    JSON.stringify(value) ?? "",
    String(value),
    `${value}`,
    inspect({ nested: { value } }, { depth: 10 }),
  ];
}

/** Asserts that no rendering holds the bytes in hex, base64 or base64url, nor the key string. */
function expectRedacted(value: unknown, ...secrets: Buffer[]): void {
  for (const text of renderings(value)) {
    for (const secret of secrets) {
      for (const form of [
        secret.toString("hex"),
        secret.toString("hex").toUpperCase(),
        secret.toString("base64"),
        secret.toString("base64url"),
        secret.toString("base64url").slice(4, 40),
      ]) {
        expect(text).not.toContain(form);
      }
    }
  }
}

describe("createKeyring", () => {
  it("builds a keyring from key strings and bytes; one primary encrypts, others decrypt", () => {
    const keyring = createKeyring([
      { id: "v1", secret: K1 },
      { id: "v2", secret: B2, primary: true },
    ]);
    expect(keyring).toBeInstanceOf(Keyring);
    expect(keyring.primary().id).toBe("v2");
    expect(keyring.list()).toStrictEqual([
      { id: "v1", scope: undefined, state: "decrypt-only" },
      { id: "v2", scope: undefined, state: "primary" },
    ]);
    const cell = encrypt(keyring, "x", ctx);
    expect(inspectCell(cell).keyId).toBe("v2");
    expect(decrypt(keyring, cell, ctx)).toBe("x");
  });

  it("looks keys up by id", () => {
    const keyring = createKeyring([
      { id: "v1", secret: K1 },
      { id: "v2", secret: K2, primary: true },
      { id: "tenant.a_1-x", secret: K3, scope: "tenant-a", primary: true },
    ]);
    const v1 = keyring.get("v1");
    expect(v1).toBeInstanceOf(Key);
    expect(v1?.id).toBe("v1");
    expect(v1?.scope).toBeUndefined();
    expect(keyring.get("tenant.a_1-x")?.scope).toBe("tenant-a");
    expect(keyring.get("v9")).toBeUndefined();
    expect(keyring.get("V1")).toBeUndefined();
    expect(keyring.has("v2")).toBe(true);
    expect(keyring.has("v9")).toBe(false);
    expect(exportInsecureKeyBytes(v1 as Key)).toStrictEqual(B1);
    expect(exportInsecureKeyBytes(keyring.primary())).toStrictEqual(B2);
    expect(exportInsecureKeyBytes(keyring.primary("tenant-a"))).toStrictEqual(B3);
  });

  it("accepts ids at the limits of the rule", () => {
    const id = "A-Za-z0-9._".padEnd(32, "z");
    const keyring = createKeyring([{ id, secret: K1, primary: true }]);
    expect(keyring.primary().id).toBe(id);
    expect(inspectCell(encrypt(keyring, 1, ctx)).keyId).toBe(id);
  });

  it("copies the key bytes: changing the caller's buffer afterwards changes nothing", () => {
    const bytes = keyBytes(0x42);
    const keyring = createKeyring([{ id: "v1", secret: bytes, primary: true }]);
    const cell = encrypt(keyring, "kept", ctx);
    bytes.fill(0);
    expect(exportInsecureKeyBytes(keyring.primary())).toStrictEqual(keyBytes(0x42));
    expect(decrypt(keyring, cell, ctx)).toBe("kept");
  });

  it("exportInsecureKeyBytes returns a fresh copy of exactly the 32 bytes", () => {
    const keyring = createKeyring([{ id: "v1", secret: K1, primary: true }]);
    const copy = exportInsecureKeyBytes(keyring.primary());
    expect(copy).toHaveLength(32);
    expect(copy).toStrictEqual(B1);
    copy.fill(0);
    expect(exportInsecureKeyBytes(keyring.primary())).toStrictEqual(B1);
    expect(() => exportInsecureKeyBytes({ id: "v1", scope: undefined } as unknown as Key)).toThrow(
      new TypeError("not a fieldcrypt Key"),
    );
  });

  it("generateKeyString makes distinct, loadable 32-byte keys", () => {
    const a = generateKeyString();
    const b = generateKeyString();
    expect(a).toMatch(/^FIELDCRYPT-SECRET-KEY-1-[A-Za-z0-9_-]{43}$/);
    expect(a.startsWith(KEY_STRING_PREFIX)).toBe(true);
    expect(a).not.toBe(b);
    const keyring = createKeyring([{ id: "g", secret: a, primary: true }]);
    expect(exportInsecureKeyBytes(keyring.primary()).toString("base64url")).toBe(a.slice(KEY_STRING_PREFIX.length));
  });

  describe("primaries per scope", () => {
    it("a scope with keys uses its own primary; other scopes fall back to the shared primary", () => {
      const keyring = createKeyring([
        { id: "shared1", secret: K1, primary: true },
        { id: "a1", secret: K2, scope: "tenant-a" },
        { id: "a2", secret: K3, scope: "tenant-a", primary: true },
      ]);
      expect(keyring.primary().id).toBe("shared1");
      expect(keyring.primary("tenant-a").id).toBe("a2");
      expect(keyring.primary("tenant-z").id).toBe("shared1");
      expect(inspectCell(encrypt(keyring, "x", { ...ctx, scope: "tenant-a" })).keyId).toBe("a2");
      expect(inspectCell(encrypt(keyring, "x", { ...ctx, scope: "tenant-z" })).keyId).toBe("shared1");
      expect(inspectCell(encrypt(keyring, "x", ctx)).keyId).toBe("shared1");
      expect(keyring.list().map((k) => `${k.id}@${k.scope ?? ""}:${k.state}`)).toStrictEqual([
        "shared1@:primary",
        "a1@tenant-a:decrypt-only",
        "a2@tenant-a:primary",
      ]);
    });

    it("a scope with keys but no primary of its own has no primary (no fallback to the shared one)", () => {
      const keyring = createKeyring([
        { id: "shared1", secret: K1, primary: true },
        { id: "a1", secret: K2, scope: "tenant-a" },
      ]);
      const e = expectThrows(
        () => keyring.primary("tenant-a"),
        "ERR_NO_PRIMARY_KEY",
        "keyring has keys for this scope but none of them is primary",
      );
      expect(e).toBeInstanceOf(NoPrimaryKey);
      expectThrows(
        () => encrypt(keyring, "x", { ...ctx, scope: "tenant-a" }),
        "ERR_NO_PRIMARY_KEY",
        "keyring has keys for this scope but none of them is primary",
      );
      expect(keyring.primary().id).toBe("shared1");
    });

    it("only scoped keys: no shared primary for other scopes or for no scope", () => {
      const keyring = createKeyring([{ id: "a1", secret: K1, scope: "tenant-a", primary: true }]);
      const e = expectThrows(() => keyring.primary(), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
      expect(e).toBeInstanceOf(NoPrimaryKey);
      expectThrows(() => encrypt(keyring, "x", ctx), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
      // The message never quotes the scope (a context value).
      expectThrows(() => keyring.primary("tenant-b"), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
      expectThrows(() => encrypt(keyring, "x", { ...ctx, scope: "tenant-b" }), "ERR_NO_PRIMARY_KEY");
    });

    it("no primary at all", () => {
      const keyring = createKeyring([{ id: "v1", secret: K1 }]);
      expectThrows(() => keyring.primary(), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
      expect(keyring.list()).toStrictEqual([{ id: "v1", scope: undefined, state: "decrypt-only" }]);
    });

    it("an empty keyring is allowed but has no primary", () => {
      const keyring = createKeyring([]);
      expect(keyring.list()).toStrictEqual([]);
      expectThrows(() => keyring.primary(), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
    });
  });

  it("rotation: v1 cells still decrypt once v2 is primary; new cells say v2", () => {
    const before = createKeyring([{ id: "v1", secret: K1, primary: true }]);
    const text = encrypt(before, "old secret", ctx);
    const binary = encrypt(before, 12345n, ctx, { form: "binary" });
    expect(inspectCell(text).keyId).toBe("v1");

    const after = createKeyring([
      { id: "v1", secret: K1 },
      { id: "v2", secret: K2, primary: true },
    ]);
    expect(decrypt(after, text, ctx)).toBe("old secret");
    expect(decrypt(after, binary, ctx)).toBe(12345n);
    const fresh = encrypt(after, "new secret", ctx);
    expect(inspectCell(fresh).keyId).toBe("v2");
    expect(decrypt(after, fresh, ctx)).toBe("new secret");
    // Dropping v1 once every cell is re-encrypted: v1 cells can no longer be read.
    const later = createKeyring([{ id: "v2", secret: K2, primary: true }]);
    expect(decrypt(later, fresh, ctx)).toBe("new secret");
    expectThrows(() => decrypt(later, text, ctx), "ERR_KEY_NOT_FOUND", 'key "v1" is not in the keyring');
  });

  describe("errors (code and exact message)", () => {
    const cases: [string, unknown, string, string][] = [
      ["not an array", { id: "v1" }, "ERR_INVALID_KEYRING", "keyring entries must be an array (got object)"],
      ["a string", "v1=abc", "ERR_INVALID_KEYRING", "keyring entries must be an array (got string)"],
      [
        "an entry that is not an object",
        [null],
        "ERR_INVALID_KEYRING",
        "keyring entry #1 must be an object { id, secret, scope?, primary? }",
      ],
      [
        "a duplicate id",
        [
          { id: "v1", secret: K1, primary: true },
          { id: "v1", secret: K2 },
        ],
        "ERR_INVALID_KEYRING",
        'keyring entry #2: duplicate key id "v1"',
      ],
      [
        "two shared primaries",
        [
          { id: "v1", secret: K1, primary: true },
          { id: "v2", secret: K2, primary: true },
        ],
        "ERR_INVALID_KEYRING",
        "keyring entry #2: more than one shared primary key",
      ],
      [
        "two primaries for one scope",
        [
          { id: "a1", secret: K1, scope: "tenant-a", primary: true },
          { id: "b1", secret: K2, scope: "tenant-b", primary: true },
          { id: "a2", secret: K3, scope: "tenant-a", primary: true },
        ],
        "ERR_INVALID_KEYRING",
        'keyring entry #3: more than one primary key for scope "tenant-a"',
      ],
      [
        "an empty scope",
        [{ id: "v1", secret: K1, scope: "" }],
        "ERR_INVALID_KEYRING",
        "keyring entry #1: scope must be a non-empty string of at most 1024 UTF-8 bytes",
      ],
      [
        "a scope over 1024 bytes",
        [{ id: "v1", secret: K1, scope: "é".repeat(513) }],
        "ERR_INVALID_KEYRING",
        "keyring entry #1: scope must be a non-empty string of at most 1024 UTF-8 bytes",
      ],
      [
        "a non-string scope",
        [{ id: "v1", secret: K1, scope: 7 }],
        "ERR_INVALID_KEYRING",
        "keyring entry #1: scope must be a non-empty string of at most 1024 UTF-8 bytes",
      ],
      [
        "31 key bytes",
        [{ id: "v1", secret: new Uint8Array(31) }],
        "ERR_INVALID_KEY",
        "key v1: key bytes must be 32 bytes (got 31)",
      ],
      [
        "33 key bytes",
        [{ id: "v1", secret: new Uint8Array(33) }],
        "ERR_INVALID_KEY",
        "key v1: key bytes must be 32 bytes (got 33)",
      ],
      [
        "no key bytes",
        [{ id: "v1", secret: new Uint8Array(0) }],
        "ERR_INVALID_KEY",
        "key v1: key bytes must be 32 bytes (got 0)",
      ],
      [
        "a secret that is neither string nor bytes",
        [{ id: "v1", secret: 42 }],
        "ERR_INVALID_KEY",
        "key v1: key must be a key string or a 32-byte Uint8Array (got number)",
      ],
      [
        "a missing secret",
        [{ id: "v1" }],
        "ERR_INVALID_KEY",
        "key v1: key must be a key string or a 32-byte Uint8Array (got undefined)",
      ],
      [
        "an ArrayBuffer secret",
        [{ id: "v1", secret: new ArrayBuffer(32) }],
        "ERR_INVALID_KEY",
        "key v1: key must be a key string or a 32-byte Uint8Array (got ArrayBuffer object)",
      ],
      [
        "a key string one character short (31.5 bytes)",
        [{ id: "v1", secret: K1.slice(0, -1) }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(42)}`,
      ],
      [
        "a key string one character long",
        [{ id: "v1", secret: `${K1}A` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(44)}`,
      ],
      [
        "a key string with base64 '+' (not base64url)",
        [{ id: "v1", secret: `${K1.slice(0, 30)}+${K1.slice(31)}` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(43)}`,
      ],
      [
        "a key string with base64 '/' (not base64url)",
        [{ id: "v1", secret: `${K1.slice(0, 30)}/${K1.slice(31)}` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(43)}`,
      ],
      [
        "a padded key string",
        [{ id: "v1", secret: `${K1}=` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(44)}`,
      ],
      [
        // 32 bytes of 0x01 end in "...AQE": 'E' = 000100 has its low 2 bits zero; 'F' = 000101 does not
        // (Buffer would decode both to the same bytes: only one spelling is accepted).
        "a non-canonical last character",
        [{ id: "v1", secret: `${K1.slice(0, -1)}F` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(43)}`,
      ],
      [
        "a wrong prefix version",
        [{ id: "v1", secret: K1.replace("KEY-1-", "KEY-2-") }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}`,
      ],
      [
        "a lowercase prefix",
        [{ id: "v1", secret: K1.replace("FIELDCRYPT-SECRET", "fieldcrypt-secret") }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}`,
      ],
      [
        "no prefix (bare base64url)",
        [{ id: "v1", secret: B1.toString("base64url") }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}`,
      ],
      [
        "surrounding whitespace",
        [{ id: "v1", secret: ` ${K1}` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}`,
      ],
      [
        "a trailing newline",
        [{ id: "v1", secret: `${K1}\n` }],
        "ERR_INVALID_KEY",
        `key v1: key string ${KEY_STRING_RULE}${hint(44)}`,
      ],
    ];
    for (const [what, entries, code, message] of cases) {
      it(`${what} → ${code}`, () => {
        expectThrows(() => createKeyring(entries as never), code as never, message);
      });
    }

    for (const id of ["", "a b", "x".repeat(33), "v1/", "v:1", "é", "v1\n", 42, undefined, null]) {
      it(`invalid key id ${JSON.stringify(id) ?? String(id)} → ERR_INVALID_KEYRING`, () => {
        expectThrows(
          () => createKeyring([{ id: id as string, secret: K1 }]),
          "ERR_INVALID_KEYRING",
          `keyring entry #1: key id must be ${RULE}`,
        );
      });
    }

    it("the '+', '/' and non-canonical spellings are refused although Buffer would decode them", () => {
      expect(Buffer.from(`${K1.slice(24, -1)}F`, "base64url")).toStrictEqual(B1);
    });
  });
});

describe("loadKeyringFromEnv", () => {
  it("one key is primary by itself", () => {
    const keyring = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1}` });
    expect(keyring.primary().id).toBe("v1");
    expect(exportInsecureKeyBytes(keyring.primary())).toStrictEqual(B1);
  });

  it("FIELDCRYPT_PRIMARY_KEY names the primary; separators are commas, spaces and newlines", () => {
    for (const sep of [",", " ", "\n", " , ", ",\n\t", "\r\n"]) {
      const keyring = loadKeyringFromEnv({
        FIELDCRYPT_KEYS: `v1=${K1}${sep}v2=${K2}${sep}`,
        FIELDCRYPT_PRIMARY_KEY: "v2",
      });
      expect(keyring.list()).toStrictEqual([
        { id: "v1", scope: undefined, state: "decrypt-only" },
        { id: "v2", scope: undefined, state: "primary" },
      ]);
      expect(exportInsecureKeyBytes(keyring.get("v1") as Key)).toStrictEqual(B1);
      expect(exportInsecureKeyBytes(keyring.get("v2") as Key)).toStrictEqual(B2);
    }
  });

  it("a primary= entry names the primary; FIELDCRYPT_PRIMARY_KEY may agree with it or be empty", () => {
    const text = `v1=${K1},primary=v2,v2=${K2}`;
    expect(loadKeyringFromEnv({ FIELDCRYPT_KEYS: text }).primary().id).toBe("v2");
    expect(loadKeyringFromEnv({ FIELDCRYPT_KEYS: text, FIELDCRYPT_PRIMARY_KEY: "v2" }).primary().id).toBe("v2");
    expect(loadKeyringFromEnv({ FIELDCRYPT_KEYS: text, FIELDCRYPT_PRIMARY_KEY: "" }).primary().id).toBe("v2");
  });

  it("reads process.env by default", () => {
    const saved = { keys: process.env.FIELDCRYPT_KEYS, primary: process.env.FIELDCRYPT_PRIMARY_KEY };
    try {
      process.env.FIELDCRYPT_KEYS = `v7=${K3}`;
      delete process.env.FIELDCRYPT_PRIMARY_KEY;
      expect(loadKeyringFromEnv().primary().id).toBe("v7");
    } finally {
      if (saved.keys === undefined) delete process.env.FIELDCRYPT_KEYS;
      else process.env.FIELDCRYPT_KEYS = saved.keys;
      if (saved.primary !== undefined) process.env.FIELDCRYPT_PRIMARY_KEY = saved.primary;
    }
  });

  it("rotation through the environment: old cells decrypt, new cells use the new primary", () => {
    const v1 = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1}` });
    const cell = encrypt(v1, { note: "old" }, ctx);
    const v2 = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}`, FIELDCRYPT_PRIMARY_KEY: "v2" });
    expect(decrypt(v2, cell, ctx)).toStrictEqual({ note: "old" });
    expect(inspectCell(encrypt(v2, "new", ctx)).keyId).toBe("v2");
  });

  it("requirePrimary: false loads several keys without a primary as a decrypt-only keyring", () => {
    const v2 = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}`, FIELDCRYPT_PRIMARY_KEY: "v2" });
    const cell = encrypt(v2, "audited", ctx);
    const auditor = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}` }, { requirePrimary: false });
    expect(auditor.list()).toStrictEqual([
      { id: "v1", scope: undefined, state: "decrypt-only" },
      { id: "v2", scope: undefined, state: "decrypt-only" },
    ]);
    expect(decrypt(auditor, cell, ctx)).toBe("audited");
    expectThrows(() => encrypt(auditor, "x", ctx), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
    // A named primary still counts, and must still exist; one key is still primary by itself.
    const named = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2},primary=v1` }, { requirePrimary: false });
    expect(named.primary().id).toBe("v1");
    expect(loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1}` }, { requirePrimary: false }).primary().id).toBe("v1");
    expectThrows(
      () =>
        loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1}`, FIELDCRYPT_PRIMARY_KEY: "v9" }, { requirePrimary: false }),
      "ERR_INVALID_KEYRING",
      'FIELDCRYPT_PRIMARY_KEY names a key id that is not among the keys of FIELDCRYPT_KEYS (its key ids: "v1")',
    );
    // The default (and an explicit true) refuses several keys without a primary.
    expectThrows(
      () => loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}` }, { requirePrimary: true }),
      "ERR_NO_PRIMARY_KEY",
      "keyring has no primary key",
    );
    expectThrows(
      () => loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}` }, {}),
      "ERR_NO_PRIMARY_KEY",
      "keyring has no primary key",
    );
  });

  const unset = "FIELDCRYPT_KEYS is not set (expected id=FIELDCRYPT-SECRET-KEY-1-… entries)";
  const form = "is not of the form id=FIELDCRYPT-SECRET-KEY-1-… or primary=id";
  const cases: [string, Record<string, string | undefined>, string, string][] = [
    ["FIELDCRYPT_KEYS unset", {}, "ERR_INVALID_KEYRING", unset],
    ["FIELDCRYPT_KEYS undefined", { FIELDCRYPT_KEYS: undefined }, "ERR_INVALID_KEYRING", unset],
    ["FIELDCRYPT_KEYS empty", { FIELDCRYPT_KEYS: "" }, "ERR_INVALID_KEYRING", unset],
    ["FIELDCRYPT_KEYS blank", { FIELDCRYPT_KEYS: " \n\t " }, "ERR_INVALID_KEYRING", unset],
    ["only separators", { FIELDCRYPT_KEYS: ",, ," }, "ERR_INVALID_KEYRING", "FIELDCRYPT_KEYS holds no keys"],
    ["only a primary", { FIELDCRYPT_KEYS: "primary=v1" }, "ERR_INVALID_KEYRING", "FIELDCRYPT_KEYS holds no keys"],
    [
      "two keys and no primary",
      { FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}` },
      "ERR_NO_PRIMARY_KEY",
      "keyring has no primary key",
    ],
    [
      "FIELDCRYPT_PRIMARY_KEY naming an unknown id",
      { FIELDCRYPT_KEYS: `v1=${K1},v2=${K2}`, FIELDCRYPT_PRIMARY_KEY: "v3" },
      "ERR_INVALID_KEYRING",
      'FIELDCRYPT_PRIMARY_KEY names a key id that is not among the keys of FIELDCRYPT_KEYS (its key ids: "v1", "v2")',
    ],
    [
      "FIELDCRYPT_PRIMARY_KEY naming an unknown id, one key",
      { FIELDCRYPT_KEYS: `v1=${K1}`, FIELDCRYPT_PRIMARY_KEY: "v2" },
      "ERR_INVALID_KEYRING",
      'FIELDCRYPT_PRIMARY_KEY names a key id that is not among the keys of FIELDCRYPT_KEYS (its key ids: "v1")',
    ],
    [
      "FIELDCRYPT_PRIMARY_KEY not a key id",
      { FIELDCRYPT_KEYS: `v1=${K1}`, FIELDCRYPT_PRIMARY_KEY: "v 1" },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_PRIMARY_KEY must be a key id (${RULE})`,
    ],
    [
      "a primary= entry naming an unknown id",
      { FIELDCRYPT_KEYS: `v1=${K1},primary=v2` },
      "ERR_INVALID_KEYRING",
      'the primary= entry names a key id that is not among the keys of FIELDCRYPT_KEYS (its key ids: "v1")',
    ],
    [
      "primary= and FIELDCRYPT_PRIMARY_KEY disagree",
      { FIELDCRYPT_KEYS: `v1=${K1},v2=${K2},primary=v1`, FIELDCRYPT_PRIMARY_KEY: "v2" },
      "ERR_INVALID_KEYRING",
      "FIELDCRYPT_PRIMARY_KEY and the primary= entry of FIELDCRYPT_KEYS disagree",
    ],
    [
      "primary= named twice",
      { FIELDCRYPT_KEYS: `v1=${K1},primary=v1,primary=v1` },
      "ERR_INVALID_KEYRING",
      "FIELDCRYPT_KEYS entry #3: primary is named more than once",
    ],
    [
      "primary= not a key id",
      { FIELDCRYPT_KEYS: `v1=${K1} primary=` },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_KEYS entry #2: primary must name a key id (${RULE})`,
    ],
    [
      "an entry without =",
      { FIELDCRYPT_KEYS: `v1=${K1},${K2}` },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_KEYS entry #2 ${form}`,
    ],
    [
      "an entry without an id",
      { FIELDCRYPT_KEYS: `=${K1}` },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_KEYS entry #1 ${form}`,
    ],
    [
      "a duplicate id",
      { FIELDCRYPT_KEYS: `v1=${K1},v1=${K2}` },
      "ERR_INVALID_KEYRING",
      "FIELDCRYPT_KEYS entry #2 repeats the key id of an earlier entry",
    ],
    [
      "an invalid id",
      { FIELDCRYPT_KEYS: `v/1=${K1}` },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_KEYS entry #1: key id must be ${RULE}`,
    ],
    [
      "an id over 32 characters",
      { FIELDCRYPT_KEYS: `${"v".repeat(33)}=${K1}` },
      "ERR_INVALID_KEYRING",
      `FIELDCRYPT_KEYS entry #1: key id must be ${RULE}`,
    ],
    [
      "a bad key string (one character short)",
      { FIELDCRYPT_KEYS: `v1=${K1.slice(0, -1)}` },
      "ERR_INVALID_KEY",
      `key v1: key string ${KEY_STRING_RULE}${hint(42)}`,
    ],
    [
      "a bad key string (padded)",
      { FIELDCRYPT_KEYS: `v1=${K1}=` },
      "ERR_INVALID_KEY",
      `key v1: key string ${KEY_STRING_RULE}${hint(44)}`,
    ],
    [
      "a bad key string (wrong prefix)",
      { FIELDCRYPT_KEYS: `v1=${B1.toString("base64url")}` },
      "ERR_INVALID_KEY",
      `key v1: key string ${KEY_STRING_RULE}`,
    ],
  ];
  for (const [what, env, code, message] of cases) {
    it(`${what} → ${code}`, () => {
      expectThrows(() => loadKeyringFromEnv(env), code as never, message);
    });
  }
});

describe("loadKeyringFile", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fieldcrypt-keyring-test-"));
  });
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  async function keyFile(name: string, text: string, mode: number): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text, { mode });
    await chmod(path, mode); // the umask may have cleared bits of `mode`
    return path;
  }

  it("reads a 0600 file with comments, one entry per line and a primary= line", async () => {
    const path = await keyFile(
      "keys",
      [
        "# fieldcrypt keys for the clinic app",
        `v1=${K1}   # retired 2026-01, decrypt only`,
        "",
        `v2=${K2}#no space before the comment`,
        "primary=v2 # new cells",
        "# primary=v1",
        "",
      ].join("\n"),
      0o600,
    );
    const keyring = await loadKeyringFile(path);
    expect(keyring.list()).toStrictEqual([
      { id: "v1", scope: undefined, state: "decrypt-only" },
      { id: "v2", scope: undefined, state: "primary" },
    ]);
    expect(exportInsecureKeyBytes(keyring.get("v1") as Key)).toStrictEqual(B1);
    expect(exportInsecureKeyBytes(keyring.get("v2") as Key)).toStrictEqual(B2);
  });

  it("a single key is primary by itself; 0400 is fine too", async () => {
    const path = await keyFile("single", `v1=${K1}\n`, 0o400);
    expect((await loadKeyringFile(path)).primary().id).toBe("v1");
  });

  it("does not consult FIELDCRYPT_PRIMARY_KEY", async () => {
    const saved = process.env.FIELDCRYPT_PRIMARY_KEY;
    try {
      process.env.FIELDCRYPT_PRIMARY_KEY = "v1";
      const path = await keyFile("two", `v1=${K1}\nv2=${K2}\nprimary=v2\n`, 0o600);
      expect((await loadKeyringFile(path)).primary().id).toBe("v2");
    } finally {
      if (saved === undefined) delete process.env.FIELDCRYPT_PRIMARY_KEY;
      else process.env.FIELDCRYPT_PRIMARY_KEY = saved;
    }
  });

  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601, 0o610]) {
    const octal = mode.toString(8).padStart(4, "0");
    it(`refuses a file with mode ${octal} → ERR_KEY_FILE_PERMISSIONS`, async () => {
      const path = await keyFile(`mode-${octal}`, `v1=${K1}\n`, mode);
      const e = await rejection(loadKeyringFile(path));
      assertFieldcryptError(
        e,
        "ERR_KEY_FILE_PERMISSIONS",
        `key file ${path} is accessible by group or others (mode ${octal}); run: chmod 600 ${path}`,
      );
      expect((e as Error).name).toBe("KeyFilePermissions");
    });
  }

  const fileCases: [string, string, string, (path: string) => string][] = [
    ["an empty file", "", "ERR_INVALID_KEYRING", (p) => `key file ${p} holds no keys`],
    ["only comments", `# v1=${K1}\n# primary=v1\n`, "ERR_INVALID_KEYRING", (p) => `key file ${p} holds no keys`],
    ["two keys, no primary", `v1=${K1}\nv2=${K2}\n`, "ERR_NO_PRIMARY_KEY", () => "keyring has no primary key"],
    [
      "a primary= naming an unknown id",
      `v1=${K1}\nprimary=v2\n`,
      "ERR_INVALID_KEYRING",
      (p) => `the primary= entry names a key id that is not among the keys of key file ${p} (its key ids: "v1")`,
    ],
    [
      "a malformed entry",
      `v1=${K1}\n${K2}\n`,
      "ERR_INVALID_KEYRING",
      (p) => `key file ${p} entry #2 is not of the form id=FIELDCRYPT-SECRET-KEY-1-… or primary=id`,
    ],
    [
      "a duplicate id",
      `v1=${K1}\nv1=${K2}\nprimary=v1\n`,
      "ERR_INVALID_KEYRING",
      (p) => `key file ${p} entry #2 repeats the key id of an earlier entry`,
    ],
    [
      "a bad key string",
      `v1=${K1.slice(0, -2)}\n`,
      "ERR_INVALID_KEY",
      () => `key v1: key string ${KEY_STRING_RULE}${hint(41)}`,
    ],
  ];
  for (const [what, text, code, message] of fileCases) {
    it(`${what} → ${code}`, async () => {
      const path = await keyFile(what.replace(/\W+/g, "-"), text, 0o600);
      assertFieldcryptError(await rejection(loadKeyringFile(path)), code as never, message(path));
    });
  }

  it("requirePrimary: false loads a file of several keys without a primary", async () => {
    const path = await keyFile("auditor", `v1=${K1}\nv2=${K2}\n`, 0o600);
    assertFieldcryptError(await rejection(loadKeyringFile(path)), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
    const keyring = await loadKeyringFile(path, { requirePrimary: false });
    expect(keyring.list().map((k) => k.state)).toStrictEqual(["decrypt-only", "decrypt-only"]);
    expectThrows(() => keyring.primary(), "ERR_NO_PRIMARY_KEY", "keyring has no primary key");
  });

  it("a missing file rejects with the file system error", async () => {
    const e = await rejection(loadKeyringFile(join(dir, "does-not-exist")));
    expect((e as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});

describe("redaction of Key and Keyring", () => {
  const keyring = createKeyring([
    { id: "v1", secret: K1 },
    { id: "v2", secret: B2, primary: true },
    { id: "a1", secret: K3, scope: "tenant-a", primary: true },
  ]);

  it("Key: inspect, JSON and String show the id and scope, never the material", () => {
    const v1 = keyring.get("v1") as Key;
    const a1 = keyring.get("a1") as Key;
    expect(inspect(v1)).toBe(
      `Key { id: "v1", scope: undefined, checkValue: "${v1.checkValue}", material: [redacted] }`,
    );
    expect(inspect(a1)).toBe(
      `Key { id: "a1", scope: "tenant-a", checkValue: "${a1.checkValue}", material: [redacted] }`,
    );
    expect(inspect(a1, { showHidden: true, depth: 10 })).toBe(inspect(a1));
    expect(JSON.stringify(v1)).toBe(`{"id":"v1","scope":null,"checkValue":"${v1.checkValue}","material":"[redacted]"}`);
    expect(JSON.stringify(a1)).toBe(
      `{"id":"a1","scope":"tenant-a","checkValue":"${a1.checkValue}","material":"[redacted]"}`,
    );
    expect(String(v1)).toBe("Key(v1, material redacted)");
    expect(`${a1}`).toBe("Key(a1, material redacted)");
    expect(Object.keys(v1)).toStrictEqual(["id", "scope"]);
    expect({ ...a1 }).toStrictEqual({ id: "a1", scope: "tenant-a" });
    expect(Object.isFrozen(v1)).toBe(true);
    for (const key of [v1, a1, keyring.get("v2")]) expectRedacted(key, B1, B2, B3);
  });

  it("Keyring: inspect, JSON and String show ids, scopes and states, never the material", () => {
    expect(inspect(keyring)).toBe(
      "Keyring { keys: [v1 (decrypt-only), v2 (primary), a1@tenant-a (primary)], material: [redacted] }",
    );
    expect(inspect(keyring, { showHidden: true, depth: 10 })).toBe(inspect(keyring));
    expect(JSON.parse(JSON.stringify(keyring))).toStrictEqual({
      keys: [
        { id: "v1", state: "decrypt-only" },
        { id: "v2", state: "primary" },
        { id: "a1", scope: "tenant-a", state: "primary" },
      ],
    });
    expect(String(keyring)).toBe("Keyring(3 keys, material redacted)");
    expect(String(createKeyring([{ id: "v1", secret: K1, primary: true }]))).toBe("Keyring(1 key, material redacted)");
    expect(Object.keys(keyring)).toStrictEqual([]);
    expect(Object.isFrozen(keyring)).toBe(true);
    expectRedacted(keyring, B1, B2, B3);
  });

  it("keyrings loaded from the environment are redacted too", () => {
    const loaded = loadKeyringFromEnv({ FIELDCRYPT_KEYS: `v1=${K1} v2=${K2}`, FIELDCRYPT_PRIMARY_KEY: "v1" });
    expectRedacted(loaded, B1, B2);
    expectRedacted(loaded.primary(), B1, B2);
    for (const text of renderings(loaded)) {
      expect(text).not.toContain(K1);
      expect(text).not.toContain(K2);
    }
  });
});

describe("Keyring.withKey (rotation in code)", () => {
  const ctx = { table: "notes", column: "body" };

  it("adds a new primary; the old one stays for decryption; the original keyring is unchanged", () => {
    const v1 = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
    const old = encrypt(v1, "written under v1", ctx);
    const v2 = v1.withKey({ id: "v2", secret: generateKeyString(), primary: true });
    expect(v2.list()).toEqual([
      { id: "v1", scope: undefined, state: "decrypt-only" },
      { id: "v2", scope: undefined, state: "primary" },
    ]);
    expect(v1.primary().id).toBe("v1");
    expect(decrypt(v2, old, ctx)).toBe("written under v1");
    expect(inspectCell(encrypt(v2, "new", ctx)).keyId).toBe("v2");
  });

  it("a scoped primary replaces only its scope's primary; a decrypt-only key changes no primary", () => {
    const ring = createKeyring([
      { id: "shared", secret: generateKeyString(), primary: true },
      { id: "a1", secret: generateKeyString(), scope: "tenant-a", primary: true },
    ]);
    const next = ring.withKey({ id: "a2", secret: generateKeyString(), scope: "tenant-a", primary: true });
    expect(next.primary().id).toBe("shared");
    expect(next.primary("tenant-a").id).toBe("a2");
    const extra = next.withKey({ id: "old", secret: generateKeyString() });
    expect(extra.primary().id).toBe("shared");
    expect(extra.list().find((k) => k.id === "old")?.state).toBe("decrypt-only");
  });

  it("refuses a duplicate id and a malformed key like createKeyring", () => {
    const ring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
    expect(() => ring.withKey({ id: "v1", secret: generateKeyString() })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEYRING", message: 'duplicate key id "v1"' }),
    );
    expect(() => ring.withKey({ id: "v2", secret: "nope" })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY" }),
    );
  });
});
