/**
 * Typed errors: stable codes and names, the brand check across package copies, and the exact
 * messages of context validation, unsupported values and malformed cells (messages are contract).
 */
import { describe, expect, it } from "vitest";
import { type CellContext, decrypt, encrypt, inspectCell } from "../src/cell/index.js";
import { failureKind } from "../src/errors/foreign.js";
import {
  DecryptionFailed,
  type ErrorCode,
  FieldcryptError,
  InvalidCell,
  InvalidContext,
  InvalidKey,
  InvalidKeyring,
  InvalidOption,
  isFieldcryptError,
  KeyFilePermissions,
  KeyNotFound,
  NoPrimaryKey,
  safeErrorName,
  UnsupportedAlgorithm,
  UnsupportedValue,
  ValueTooLarge,
} from "../src/errors/index.js";
import * as root from "../src/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { expectThrows, forgeCell, keyBytes, thrown } from "./helpers.js";

const keyring = createKeyring([{ id: "v1", secret: keyBytes(7), primary: true }]);
const ctx: CellContext = { table: "notes", column: "body" };

describe("error classes", () => {
  const instances: [FieldcryptError, string, ErrorCode, string][] = [
    [new DecryptionFailed(), "DecryptionFailed", "ERR_DECRYPTION_FAILED", "decryption failed"],
    [new InvalidCell("m"), "InvalidCell", "ERR_INVALID_CELL", "m"],
    [new KeyNotFound("v9"), "KeyNotFound", "ERR_KEY_NOT_FOUND", 'key "v9" is not in the keyring'],
    [new NoPrimaryKey(false), "NoPrimaryKey", "ERR_NO_PRIMARY_KEY", "keyring has no primary key"],
    [
      new NoPrimaryKey(true),
      "NoPrimaryKey",
      "ERR_NO_PRIMARY_KEY",
      "keyring has keys for this scope but none of them is primary",
    ],
    [new InvalidKey("m"), "InvalidKey", "ERR_INVALID_KEY", "m"],
    [new InvalidKeyring("m"), "InvalidKeyring", "ERR_INVALID_KEYRING", "m"],
    [new KeyFilePermissions("m"), "KeyFilePermissions", "ERR_KEY_FILE_PERMISSIONS", "m"],
    [new InvalidContext("m"), "InvalidContext", "ERR_INVALID_CONTEXT", "m"],
    [new UnsupportedValue("m"), "UnsupportedValue", "ERR_UNSUPPORTED_VALUE", "m"],
    [new ValueTooLarge("m"), "ValueTooLarge", "ERR_VALUE_TOO_LARGE", "m"],
    [new UnsupportedAlgorithm("m"), "UnsupportedAlgorithm", "ERR_UNSUPPORTED_ALGORITHM", "m"],
    [new InvalidOption("m"), "InvalidOption", "ERR_INVALID_OPTION", "m"],
  ];

  for (const [error, name, code, message] of instances) {
    it(`${name} has code ${code}, its name, and is branded`, () => {
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(FieldcryptError);
      expect(error.name).toBe(name);
      expect(error.constructor.name).toBe(name);
      expect(error.code).toBe(code);
      expect(error.message).toBe(message);
      expect(String(error)).toBe(`${name}: ${message}`);
      expect(error.stack?.startsWith(`${name}: ${message}\n`)).toBe(true);
      expect("cause" in error).toBe(false);
      expect(isFieldcryptError(error)).toBe(true);
      expect(isFieldcryptError(error, code)).toBe(true);
      expect(isFieldcryptError(error, code === "ERR_INVALID_CELL" ? "ERR_INVALID_KEY" : "ERR_INVALID_CELL")).toBe(
        false,
      );
      expect((error as unknown as Record<symbol, unknown>)[Symbol.for("fieldcrypt.error")]).toBe(true);
    });
  }

  it("covers all 12 codes", () => {
    expect(new Set(instances.map(([, , code]) => code)).size).toBe(12);
  });

  it("KeyNotFound carries its key id; NoPrimaryKey carries no scope (a context value)", () => {
    expect(new KeyNotFound("v9").keyId).toBe("v9");
    expect(Object.keys(new NoPrimaryKey(true))).not.toContain("scope");
  });

  it("the root entry re-exports the same classes", () => {
    expect(root.DecryptionFailed).toBe(DecryptionFailed);
    expect(root.FieldcryptError).toBe(FieldcryptError);
    expect(root.isFieldcryptError).toBe(isFieldcryptError);
  });
});

describe("foreign errors: the one rule for what of them is shown", () => {
  it("safeErrorName passes short plain names and codes, nothing that could be a message", () => {
    for (const plain of ["TypeError", "ECONNRESET", "22021", "CKR_PIN_INCORRECT", "ThrottlingException", "a.b-c$"])
      expect(safeErrorName(plain)).toBe(plain);
    for (const unsafe of ["", "x".repeat(65), "secret value", "line\nbreak", "über", 42, null, undefined, {}])
      expect(safeErrorName(unsafe)).toBeUndefined();
  });

  it("failureKind takes the code, the cause's code (fetch), then a class name other than Error", () => {
    expect(failureKind(Object.assign(new Error("CANARY"), { code: "ECONNREFUSED" }))).toBe("ECONNREFUSED");
    expect(failureKind(new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } }))).toBe("ENOTFOUND");
    expect(failureKind(new RangeError("CANARY"))).toBe("RangeError");
    expect(failureKind(Object.assign(new Error("CANARY"), { code: 7 }))).toBe("code 7");
    expect(failureKind(new Error("CANARY"))).toBe("error");
    expect(failureKind(Object.assign(new Error("x"), { code: "has a space CANARY", name: "Error" }))).toBe("error");
    expect(failureKind("CANARY")).toBe("error");
  });
});

describe("isFieldcryptError", () => {
  const BRAND = Symbol.for("fieldcrypt.error");

  it("recognizes an error from a second copy of the package by its brand", () => {
    // A second installed copy has its own classes: instanceof fails, the registered symbol does not.
    class OtherCopyError extends Error {
      readonly code = "ERR_KEY_NOT_FOUND";
      readonly [BRAND] = true;
    }
    const foreign = new OtherCopyError('key "v1" is not in the keyring');
    expect(foreign).not.toBeInstanceOf(FieldcryptError);
    expect(isFieldcryptError(foreign)).toBe(true);
    expect(isFieldcryptError(foreign, "ERR_KEY_NOT_FOUND")).toBe(true);
    expect(isFieldcryptError(foreign, "ERR_DECRYPTION_FAILED")).toBe(false);

    const plain = { [BRAND]: true, code: "ERR_DECRYPTION_FAILED" };
    expect(isFieldcryptError(plain)).toBe(true);
    expect(isFieldcryptError(plain, "ERR_DECRYPTION_FAILED")).toBe(true);
    expect(isFieldcryptError(plain, "ERR_INVALID_CELL")).toBe(false);
  });

  it("is false for anything without the brand, or with another brand value", () => {
    const lookalike = Object.assign(new Error("decryption failed"), { code: "ERR_DECRYPTION_FAILED" });
    lookalike.name = "DecryptionFailed";
    for (const value of [
      lookalike,
      { code: "ERR_DECRYPTION_FAILED" },
      { [BRAND]: "true", code: "ERR_DECRYPTION_FAILED" },
      { [BRAND]: 1, code: "ERR_DECRYPTION_FAILED" },
      { [Symbol("fieldcrypt.error")]: true, code: "ERR_DECRYPTION_FAILED" },
      { "fieldcrypt.error": true, code: "ERR_DECRYPTION_FAILED" },
      new TypeError("x"),
      null,
      undefined,
      "ERR_DECRYPTION_FAILED",
      42,
      true,
      Symbol.for("fieldcrypt.error"),
    ]) {
      expect(isFieldcryptError(value)).toBe(false);
      expect(isFieldcryptError(value, "ERR_DECRYPTION_FAILED")).toBe(false);
    }
  });

  it("works on errors thrown by the library", () => {
    const e = thrown(() => decrypt(keyring, "fc1.", ctx));
    expect(isFieldcryptError(e)).toBe(true);
    expect(isFieldcryptError(e, "ERR_INVALID_CELL")).toBe(true);
    expect(isFieldcryptError(e, "ERR_DECRYPTION_FAILED")).toBe(false);
  });
});

describe("context validation → ERR_INVALID_CONTEXT", () => {
  const nonEmpty = (name: string, got: string) => `context.${name} must be a non-empty string (got ${got})`;
  const cases: [string, unknown, string][] = [
    ["context null", null, "context must be an object { table, column, scope?, rowKey? } (got null)"],
    ["context undefined", undefined, "context must be an object { table, column, scope?, rowKey? } (got undefined)"],
    ["context a string", "notes.body", "context must be an object { table, column, scope?, rowKey? } (got string)"],
    ["missing table", { column: "body" }, nonEmpty("table", "undefined")],
    ["empty table", { table: "", column: "body" }, nonEmpty("table", "an empty string")],
    ["numeric table", { table: 1, column: "body" }, nonEmpty("table", "number")],
    ["missing column", { table: "notes" }, nonEmpty("column", "undefined")],
    ["empty column", { table: "notes", column: "" }, nonEmpty("column", "an empty string")],
    ["column null", { table: "notes", column: null }, nonEmpty("column", "null")],
    ["non-string scope (number)", { ...ctx, scope: 42 }, nonEmpty("scope", "number")],
    ["non-string scope (array)", { ...ctx, scope: ["t"] }, nonEmpty("scope", "array")],
    ["non-string scope (String object)", { ...ctx, scope: new String("t") }, nonEmpty("scope", "String object")],
    ["non-string scope with a row key", { ...ctx, scope: 42, rowKey: 1 }, nonEmpty("scope", "number")],
    ["empty scope string with a row key", { ...ctx, scope: "", rowKey: 1 }, nonEmpty("scope", "an empty string")],
    [
      "table over 1024 UTF-8 bytes",
      { table: "t".repeat(1025), column: "body" },
      "context.table must be at most 1024 UTF-8 bytes (got 1025)",
    ],
    [
      "column over 1024 UTF-8 bytes (multi-byte)",
      { table: "notes", column: "€".repeat(342) },
      "context.column must be at most 1024 UTF-8 bytes (got 1026)",
    ],
    [
      "scope over 1024 UTF-8 bytes",
      { ...ctx, scope: "s".repeat(1025) },
      "context.scope must be at most 1024 UTF-8 bytes (got 1025)",
    ],
    [
      "row key part over 1024 UTF-8 bytes",
      { ...ctx, rowKey: [1, "k".repeat(2000)] },
      "context.rowKey[1] must be at most 1024 UTF-8 bytes (got 2000)",
    ],
    [
      "lone surrogate in table",
      { table: "notes\uD800", column: "body" },
      "context.table is not well-formed UTF-16 (lone surrogate)",
    ],
    [
      "lone surrogate in scope",
      { ...ctx, scope: "\uDC00tenant" },
      "context.scope is not well-formed UTF-16 (lone surrogate)",
    ],
    [
      "lone surrogate in a row key part",
      { ...ctx, rowKey: ["a", "\uD83D"] },
      "context.rowKey[1] is not well-formed UTF-16 (lone surrogate)",
    ],
    ["row key with 0 parts", { ...ctx, rowKey: [] }, "context.rowKey must have 1-16 parts (got 0)"],
    [
      "row key with 17 parts",
      { ...ctx, rowKey: Array.from({ length: 17 }, (_, i) => i) },
      "context.rowKey must have 1-16 parts (got 17)",
    ],
    [
      "float row key",
      { ...ctx, rowKey: 1.5 },
      "context.rowKey[0] must be a string, a bigint or a safe integer (got number)",
    ],
    [
      "unsafe integer row key",
      { ...ctx, rowKey: 2 ** 53 },
      "context.rowKey[0] must be a string, a bigint or a safe integer (got number)",
    ],
    [
      "NaN row key part",
      { ...ctx, rowKey: [1, Number.NaN] },
      "context.rowKey[1] must be a string, a bigint or a safe integer (got number)",
    ],
    [
      "null row key",
      { ...ctx, rowKey: null },
      "context.rowKey[0] must be a string, a bigint or a safe integer (got null)",
    ],
    [
      "object row key part",
      { ...ctx, rowKey: [{ id: 1 }] },
      "context.rowKey[0] must be a string, a bigint or a safe integer (got object)",
    ],
    [
      "Date row key part",
      { ...ctx, rowKey: [new Date(0)] },
      "context.rowKey[0] must be a string, a bigint or a safe integer (got Date)",
    ],
    [
      "empty string row key",
      { ...ctx, rowKey: "" },
      "context.rowKey[0] must be a non-empty string (got an empty string)",
    ],
  ];

  for (const [what, context, message] of cases) {
    it(`${what}: encrypt and decrypt refuse it`, () => {
      const e = expectThrows(() => encrypt(keyring, "x", context as CellContext), "ERR_INVALID_CONTEXT", message);
      expect(e).toBeInstanceOf(InvalidContext);
      expect(e.name).toBe("InvalidContext");
      // decrypt validates the same context (a valid cell of a valid context is presented).
      const cell = encrypt(keyring, "x", { table: "other", column: "col" });
      expectThrows(() => decrypt(keyring, cell, context as CellContext), "ERR_INVALID_CONTEXT", message);
    });
  }

  it("empty scope string (no row key), on a fresh field", () => {
    const fresh: CellContext = { table: "fresh_table_1", column: "c", scope: "" };
    expectThrows(() => encrypt(keyring, "x", fresh), "ERR_INVALID_CONTEXT", nonEmpty("scope", "an empty string"));
  });

  // The AAD cache keys "no scope" as "": an explicit "" must still be refused once that entry exists.
  it("empty scope string (no row key) after the same field was used without a scope", () => {
    const table = "fresh_table_2";
    const cell = encrypt(keyring, "x", { table, column: "c" });
    expect(decrypt(keyring, cell, { table, column: "c" })).toBe("x");
    expectThrows(
      () => encrypt(keyring, "x", { table, column: "c", scope: "" }),
      "ERR_INVALID_CONTEXT",
      nonEmpty("scope", "an empty string"),
    );
    expectThrows(() => decrypt(keyring, cell, { table, column: "c", scope: "" }), "ERR_INVALID_CONTEXT");
  });

  it("a row key of 16 parts of 1024 bytes and a scope of exactly 1024 bytes are accepted", () => {
    const context: CellContext = {
      scope: "s".repeat(1024),
      table: "notes",
      column: "body",
      rowKey: Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? i : "k".repeat(1024))),
    };
    expect(decrypt(keyring, encrypt(keyring, "ok", context), context)).toBe("ok");
  });

  // The HKDF info holds 32 + table + column bytes: more than node:crypto's hkdfSync accepts (1024).
  for (const [what, context] of [
    ["a table of exactly 1024 bytes", { table: "é".repeat(512), column: "body" }],
    ["a column of exactly 1024 bytes", { table: "notes", column: "c".repeat(1024) }],
    ["a table and a column of 1024 bytes each", { table: "t".repeat(1024), column: "c".repeat(1024) }],
    ["a table and a column of 497 bytes each (994 together)", { table: "t".repeat(497), column: "c".repeat(497) }],
  ] as const) {
    it(`${what} is accepted (limit: 1024 bytes each)`, () => {
      expect(decrypt(keyring, encrypt(keyring, "ok", context), context)).toBe("ok");
    });
  }

  it("a bigint row-key part of more than 1024 digits", () => {
    const big = 10n ** 1024n; // 1025 digits
    const message = "context.rowKey[0] must be at most 1024 UTF-8 bytes (got 1025)";
    expectThrows(() => encrypt(keyring, "x", { ...ctx, rowKey: big }), "ERR_INVALID_CONTEXT", message);
    expectThrows(() => encrypt(keyring, "x", { ...ctx, rowKey: -(10n ** 1023n) }), "ERR_INVALID_CONTEXT", message);
    const ok: CellContext = { ...ctx, rowKey: [10n ** 1023n, -(10n ** 1022n)] }; // 1024 bytes each
    expect(decrypt(keyring, encrypt(keyring, "ok", ok), ok)).toBe("ok");
  });

  it("decrypt with a scoped key reports a malformed scope as such", () => {
    const scoped = createKeyring([{ id: "a1", secret: keyBytes(8), scope: "tenant-a", primary: true }]);
    const cell = encrypt(scoped, "x", { ...ctx, scope: "tenant-a" });
    for (const [scope, got] of [
      ["", "an empty string"],
      [42, "number"],
      [{ id: "tenant-a" }, "object"],
    ] as const) {
      expectThrows(
        () => decrypt(scoped, cell, { ...ctx, scope: scope as never }),
        "ERR_INVALID_CONTEXT",
        nonEmpty("scope", got),
      );
    }
    expectThrows(
      () => decrypt(scoped, cell, { ...ctx, scope: "s".repeat(1025) }),
      "ERR_INVALID_CONTEXT",
      "context.scope must be at most 1024 UTF-8 bytes (got 1025)",
    );
  });
});

describe("unsupported values → ERR_UNSUPPORTED_VALUE", () => {
  const expected = "(expected string, Uint8Array, number, bigint, boolean, Date, plain object or array)";
  class Patient {
    name = "x";
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: [string, unknown, string][] = [
    ["undefined", undefined, "cannot encrypt undefined (use null for SQL NULL)"],
    ["a function", () => 1, `cannot encrypt a value of type function ${expected}`],
    ["a symbol", Symbol("s"), `cannot encrypt a value of type symbol ${expected}`],
    ["a Map", new Map([["k", "v"]]), `cannot encrypt a value of type Map object ${expected}`],
    ["a Set", new Set([1]), `cannot encrypt a value of type Set object ${expected}`],
    ["a class instance", new Patient(), `cannot encrypt a value of type class instance ${expected}`],
    ["a RegExp", /x/, `cannot encrypt a value of type RegExp object ${expected}`],
    ["an ArrayBuffer", new ArrayBuffer(4), `cannot encrypt a value of type ArrayBuffer object ${expected}`],
    ["a boxed string", new String("x"), `cannot encrypt a value of type String object ${expected}`],
    ["an invalid Date", new Date(Number.NaN), "Date is invalid (NaN time); it cannot be encrypted"],
    [
      "a lone-surrogate string",
      "abc\uD800def",
      "string is not well-formed UTF-16 (lone surrogate); it cannot round-trip through UTF-8",
    ],
    ["a cyclic object", cyclic, "value cannot be serialized as JSON (cycle, bigint or a throwing toJSON)"],
    [
      "an object holding a bigint",
      { n: 1n },
      "value cannot be serialized as JSON (cycle, bigint or a throwing toJSON)",
    ],
    [
      "an object whose toJSON throws",
      {
        toJSON() {
          throw new Error("boom");
        },
      },
      "value cannot be serialized as JSON (cycle, bigint or a throwing toJSON)",
    ],
    ["an object whose toJSON returns undefined", { toJSON: () => undefined }, "value of type object has no JSON form"],
  ];
  for (const [what, value, message] of cases) {
    it(`${what}`, () => {
      for (const form of ["text", "binary"] as const) {
        const e = expectThrows(() => encrypt(keyring, value as never, ctx, { form }), "ERR_UNSUPPORTED_VALUE", message);
        expect(e).toBeInstanceOf(UnsupportedValue);
        expect("cause" in e).toBe(false);
      }
    });
  }
});

describe("error precedence (spec §9: 2 validate the context, 3 encode the value, 4 choose the key)", () => {
  const scopedOnly = createKeyring([{ id: "a1", secret: keyBytes(8), scope: "tenant-a", primary: true }]);
  const badContext: CellContext = { table: "", column: "body" };

  it("an invalid context wins over a value too large", () => {
    expectThrows(
      () => encrypt(keyring, new Uint8Array(64 * 1024 * 1024 + 1), { ...ctx, rowKey: 1.5 }),
      "ERR_INVALID_CONTEXT",
    );
  });

  // Defect (spec §9 order): encrypt encodes the value and picks the primary key before it validates
  // the context (src/cell/encrypt.ts encryptWithNonce: encodeValue, then keyring.primary(), then
  // getFieldCipher/aad validate table, column, scope and row key).
  it("an invalid context wins over an unsupported value", () => {
    expectThrows(() => encrypt(keyring, undefined as never, badContext), "ERR_INVALID_CONTEXT");
    expectThrows(() => encrypt(keyring, new Map() as never, badContext), "ERR_INVALID_CONTEXT");
  });

  it("an invalid context wins over a missing primary key", () => {
    expectThrows(() => encrypt(scopedOnly, "x", badContext), "ERR_INVALID_CONTEXT");
  });

  it("a value too large wins over a missing primary key", () => {
    expectThrows(() => encrypt(scopedOnly, new Uint8Array(64 * 1024 * 1024 + 1), ctx), "ERR_VALUE_TOO_LARGE");
  });
});

describe("null, algorithms, sizes and malformed cells", () => {
  it("encrypt(null) and decrypt(null) return null (SQL NULL stays NULL)", () => {
    expect(encrypt(keyring, null, ctx)).toBeNull();
    expect(encrypt(keyring, null, ctx, { form: "binary" })).toBeNull();
    expect(decrypt(keyring, null, ctx)).toBeNull();
  });

  it("an unknown algorithm → ERR_UNSUPPORTED_ALGORITHM", () => {
    for (const algorithm of ["ChaCha20-Poly1305", "xaes-256-gcm", "", 1]) {
      expectThrows(
        () => encrypt(keyring, "x", ctx, { algorithm: algorithm as never }),
        "ERR_UNSUPPORTED_ALGORITHM",
        'options.algorithm must be "XAES-256-GCM" or "AES-256-GCM"',
      );
    }
  });

  it("an unknown form → ERR_INVALID_OPTION", () => {
    for (const form of ["bytea", "TEXT", "", 1, null]) {
      expectThrows(
        () => encrypt(keyring, "x", ctx, { form: form as never }),
        "ERR_INVALID_OPTION",
        'options.form must be "text" or "binary"',
      );
    }
    expect(typeof encrypt(keyring, "x", ctx, { form: undefined })).toBe("string");
    expect(typeof encrypt(keyring, "x", ctx, { form: "text" })).toBe("string");
  });

  it("a value over 64 MiB encoded → ERR_VALUE_TOO_LARGE", () => {
    const max = 64 * 1024 * 1024;
    expectThrows(
      () => encrypt(keyring, new Uint8Array(max + 1), ctx),
      "ERR_VALUE_TOO_LARGE",
      `value is ${max + 1} bytes encoded; a cell holds at most ${max}`,
    );
  });

  const notCells: [string, unknown, string][] = [
    ["a number", 42, "number"],
    ["a bigint", 42n, "bigint"],
    ["undefined", undefined, "undefined"],
    ["a boolean", true, "boolean"],
    ["an object", { cell: "fc1.x" }, "object"],
    ["an array", [0xfc, 1], "array"],
    ["an ArrayBuffer", new ArrayBuffer(40), "ArrayBuffer object"],
    ["a DataView", new DataView(new ArrayBuffer(40)), "DataView object"],
    ["a boxed string", new String("fc1.AAAA"), "String object"],
  ];
  for (const [what, cell, type] of notCells) {
    it(`a cell that is ${what} → ERR_INVALID_CELL`, () => {
      const message = `a cell must be a string or a Uint8Array (got ${type})`;
      expectThrows(() => decrypt(keyring, cell as never, ctx), "ERR_INVALID_CELL", message);
      expectThrows(() => inspectCell(cell as never), "ERR_INVALID_CELL", message);
    });
  }

  it("malformed cells → ERR_INVALID_CELL with messages that name what was expected", () => {
    const good = encrypt(keyring, "x", ctx, { form: "binary" });
    const notCell = "not a fieldcrypt cell (expected a binary cell starting with 0xFC, or text starting with fc1.)";
    const notBase64url = "text cell is not canonical unpadded base64url after the fc1. prefix";
    const patched = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    const cases: [unknown, string][] = [
      ["", notCell],
      ["hello", notCell],
      ["FC1.AAAA", notCell],
      ["fc1.", notCell],
      ["fc1.AAAA=", notBase64url],
      ["fc1.AA+A", notBase64url],
      ["fc1.AA/A", notBase64url],
      ["fc1.AA A", notBase64url],
      ["fc1.AAAA\n", notBase64url],
      ["fc1.AAAAA", notBase64url],
      ["fc1.AB", notBase64url],
      ["fc1.AAB", notBase64url],
      ["fc1.AA.A", notBase64url],
      ["fc1.AAé", notBase64url],
      [new Uint8Array(0), notCell],
      [Buffer.of(0xfc, 1, 1, 1, 2), notCell],
      [patched(0, 0xfd), notCell],
      [patched(1, 2), "unsupported cell version 2 (this fieldcrypt reads version 1)"],
      [patched(2, 3), "unknown algorithm id 3 in cell header"],
      [patched(2, 0), "unknown algorithm id 0 in cell header"],
      [patched(3, 0), "unknown value type id 0 in cell header"],
      [patched(3, 8), "unknown value type id 8 in cell header"],
      [patched(4, 0), "key id length 0 is outside 1-32"],
      [patched(4, 33), "key id length 33 is outside 1-32"],
      [patched(5, 0x20), "key id in cell header is not 1-32 characters of A-Z a-z 0-9 . _ -"],
      [good.subarray(0, 5 + 2 + 24 + 15), "cell is truncated: 46 bytes, at least 47 expected"],
    ];
    for (const [cell, message] of cases) {
      expectThrows(() => decrypt(keyring, cell as never, ctx), "ERR_INVALID_CELL", message);
      expectThrows(() => inspectCell(cell as never), "ERR_INVALID_CELL", message);
    }
  });

  it("a faulty producer's well-sealed payloads decode when they are canonical", () => {
    const f64 = Buffer.alloc(8);
    f64.writeDoubleBE(-0);
    const ms = Buffer.alloc(8);
    ms.writeBigInt64BE(-8_640_000_000_000_000n);
    const good: [number, Buffer, unknown][] = [
      [1, Buffer.from("héllo"), "héllo"],
      [2, Buffer.of(0xff, 0), Buffer.of(0xff, 0)],
      [3, Buffer.from('{"a":[1]}'), { a: [1] }],
      [3, Buffer.from("[]"), []],
      [4, f64, -0],
      [5, Buffer.from("-12"), -12n],
      [5, Buffer.from("0"), 0n],
      [6, Buffer.of(0), false],
      [7, ms, new Date(-8.64e15)],
    ];
    for (const [type, payload, value] of good) {
      expect(decrypt(keyring, forgeCell(keyring, ctx, type, payload), ctx)).toStrictEqual(value);
    }
  });

  it("a well-sealed payload that does not decode for its type → ERR_INVALID_CELL", () => {
    const dateOf = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(n);
      return b;
    };
    const bad: [number, Buffer, string][] = [
      [1, Buffer.of(0x61, 0xff), "string payload is not well-formed UTF-8"],
      [1, Buffer.from([0xed, 0xa0, 0x80]), "string payload is not well-formed UTF-8"], // CESU surrogate
      [3, Buffer.from("{"), "json payload is not a JSON object or array"],
      [3, Buffer.from('"s"'), "json payload is not a JSON object or array"],
      [3, Buffer.from("42"), "json payload is not a JSON object or array"],
      [3, Buffer.from("null"), "json payload is not a JSON object or array"],
      [3, Buffer.from(""), "json payload is not a JSON object or array"],
      [3, Buffer.of(0x5b, 0xff, 0x5d), "json payload is not a JSON object or array"],
      [4, Buffer.alloc(7), "number payload must be 8 bytes"],
      [4, Buffer.alloc(9), "number payload must be 8 bytes"],
      [5, Buffer.from("-0"), "bigint payload is not a canonical decimal integer"],
      [5, Buffer.from("01"), "bigint payload is not a canonical decimal integer"],
      [5, Buffer.from("+1"), "bigint payload is not a canonical decimal integer"],
      [5, Buffer.from(""), "bigint payload is not a canonical decimal integer"],
      [5, Buffer.from("1 "), "bigint payload is not a canonical decimal integer"],
      [6, Buffer.of(2), "boolean payload must be one byte 0 or 1"],
      [6, Buffer.of(0, 0), "boolean payload must be one byte 0 or 1"],
      [6, Buffer.alloc(0), "boolean payload must be one byte 0 or 1"],
      [7, Buffer.alloc(7), "date payload must be 8 bytes"],
      [7, dateOf(8_640_000_000_000_001n), "date payload is outside the range of a JavaScript Date"],
      [7, dateOf(-8_640_000_000_000_001n), "date payload is outside the range of a JavaScript Date"],
    ];
    for (const [type, payload, message] of bad) {
      const e = expectThrows(
        () => decrypt(keyring, forgeCell(keyring, ctx, type, payload), ctx),
        "ERR_INVALID_CELL",
        message,
      );
      expect("cause" in e).toBe(false);
    }
  });
});
