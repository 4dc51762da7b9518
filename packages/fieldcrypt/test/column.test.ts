/**
 * encryptedColumn: round trips per declared type and form, NULL handling, strict and transition
 * modes, the never-encrypt-twice guard, declared-type checks on write and on read, and the binding
 * of every cell to its table, column, scope and row key. Errors by code and exact message.
 */
import { describe, expect, it } from "vitest";
import { encrypt, inspectCell, type ValueTypeName } from "../src/cell/index.js";
import { type EncryptedColumnCodec, encryptedColumn } from "../src/column/index.js";
import type { CellValue } from "../src/internal/value-codec.js";
import { createKeyring } from "../src/keyring/index.js";
import { versionedJsonFormat } from "../src/legacy/index.js";
import { assertOpaqueFailure, expectThrows, keyBytes, seal, thrown } from "./helpers.js";

const keyring = createKeyring([
  { id: "v1", secret: keyBytes(1) },
  { id: "v2", secret: keyBytes(2), primary: true },
]);
const TABLE = "clinic_notes";
const COLUMN = "body";
const FIELD = `${TABLE}.${COLUMN}`;
const FORMS = ["text", "binary"] as const;
const MODES = ["strict", "transition"] as const;
const row = { scope: "clinic-7", rowKey: 42 };

const notEncrypted = `${FIELD} holds a value that is not a fieldcrypt cell (strict mode)`;
const alreadyEncrypted = `${FIELD} was given a fieldcrypt cell to encrypt; a cell is never encrypted twice`;
const mismatch = (declared: string, got: string) => `${FIELD} is declared ${declared} but the value is of type ${got}`;

function column(options: Partial<Parameters<typeof encryptedColumn>[1]> = {}): EncryptedColumnCodec {
  return encryptedColumn(keyring, { table: TABLE, column: COLUMN, ...options });
}

/** Sample values of each declared type, including the edges of each encoding. */
const SAMPLES: Record<ValueTypeName, CellValue[]> = {
  string: ["", "alice@example.com", "Zürich 🏥 租户", "fc1.", "x".repeat(10_000)],
  bytes: [new Uint8Array(0), Buffer.from([0, 1, 0xfc, 255]), new Uint8Array([7, 8, 9]), Buffer.from("plain bytes")],
  json: [{}, [], { a: 1, b: [true, null, "x"], c: { d: "é" } }, [1, "two", { three: 3 }]],
  number: [0, -0, 42, -1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, 2 ** 53],
  bigint: [0n, -1n, 42n, 2n ** 200n, -(2n ** 64n)],
  boolean: [true, false],
  date: [new Date(0), new Date("2026-01-02T03:04:05.678Z"), new Date(-8.64e15), new Date(8.64e15)],
};
const TYPES = Object.keys(SAMPLES) as ValueTypeName[];

/** Same value, compared the way its type needs (bytes by content, numbers with Object.is, dates by time). */
function expectSameValue(actual: CellValue | null, expected: CellValue, type: ValueTypeName): void {
  switch (type) {
    case "bytes":
      expect(actual).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(actual as Uint8Array).equals(Buffer.from(expected as Uint8Array))).toBe(true);
      return;
    case "number":
      expect(typeof actual).toBe("number");
      expect(Object.is(actual, expected)).toBe(true);
      return;
    case "date":
      expect(actual).toBeInstanceOf(Date);
      expect((actual as Date).getTime()).toBe((expected as Date).getTime());
      return;
    default:
      expect(actual).toEqual(expected);
      expect(typeof actual).toBe(typeof expected);
  }
}

describe("encryptedColumn: options and defaults", () => {
  it("defaults to form text, mode strict and no declared type", () => {
    const c = column();
    expect([c.table, c.column, c.type, c.form, c.mode]).toEqual([TABLE, COLUMN, undefined, "text", "strict"]);
    const d = column({ type: "json", form: "binary", mode: "transition" });
    expect([d.type, d.form, d.mode]).toEqual(["json", "binary", "transition"]);
  });

  it("validates table and column when the column is described (ERR_INVALID_CONTEXT)", () => {
    expectThrows(
      () => encryptedColumn(keyring, { table: "", column: COLUMN }),
      "ERR_INVALID_CONTEXT",
      "context.table must be a non-empty string (got an empty string)",
    );
    expectThrows(
      () => encryptedColumn(keyring, { table: TABLE, column: 42 as unknown as string }),
      "ERR_INVALID_CONTEXT",
      "context.column must be a non-empty string (got number)",
    );
    expectThrows(
      () => encryptedColumn(keyring, { table: TABLE, column: "x".repeat(1025) }),
      "ERR_INVALID_CONTEXT",
      "context.column must be at most 1024 UTF-8 bytes (got 1025)",
    );
  });

  it("honors the algorithm option and writes with the primary key", () => {
    const xaes = column().encrypt("v", row) as string;
    const aes = column({ algorithm: "AES-256-GCM" }).encrypt("v", row) as string;
    expect(inspectCell(xaes)).toMatchObject({ algorithm: "XAES-256-GCM", keyId: "v2", type: "string" });
    expect(inspectCell(aes)).toMatchObject({ algorithm: "AES-256-GCM", keyId: "v2", type: "string" });
    expect(column({ algorithm: "AES-256-GCM" }).decrypt(aes, row)).toBe("v");
  });
});

describe("encryptedColumn: round trips per declared type and form", () => {
  for (const form of FORMS) {
    for (const type of TYPES) {
      it(`${type} in ${form} form`, () => {
        const c = column({ type, form });
        for (const value of SAMPLES[type]) {
          const stored = c.encrypt(value, row);
          if (form === "text") {
            expect(typeof stored).toBe("string");
            expect((stored as string).startsWith("fc1.")).toBe(true);
          } else {
            expect(Buffer.isBuffer(stored)).toBe(true);
            expect((stored as Buffer)[0]).toBe(0xfc);
          }
          const info = inspectCell(stored as string | Buffer);
          expect(info.form).toBe(form);
          expect(info.type).toBe(type);
          expectSameValue(c.decrypt(stored, row), value, type);
          // Drivers hand bytea back as a Uint8Array that is not a Buffer (PGlite does).
          if (form === "binary") expectSameValue(c.decrypt(new Uint8Array(stored as Buffer), row), value, type);
        }
      });
    }
  }

  it("a column without a declared type round-trips every type", () => {
    for (const form of FORMS) {
      const c = column({ form });
      for (const type of TYPES) {
        for (const value of SAMPLES[type]) expectSameValue(c.decrypt(c.encrypt(value, row), row), value, type);
      }
    }
  });

  it("two writes of one value give different cells", () => {
    const c = column({ type: "string" });
    expect(c.encrypt("same", row)).not.toBe(c.encrypt("same", row));
  });

  it("a column with no row context round-trips (no scope, no row key)", () => {
    const c = column({ type: "string" });
    expect(c.decrypt(c.encrypt("no context"))).toBe("no context");
    expect(c.decrypt(c.encrypt("empty context", {}), {})).toBe("empty context");
  });
});

describe("encryptedColumn: NULL and undefined", () => {
  for (const mode of MODES) {
    for (const form of FORMS) {
      it(`null stays null both ways; undefined reads as null (${mode}, ${form})`, () => {
        const c = column({ type: "string", mode, form });
        expect(c.encrypt(null, row)).toBeNull();
        expect(c.encrypt(null)).toBeNull();
        expect(c.decrypt(null, row)).toBeNull();
        expect(c.decrypt(undefined, row)).toBeNull();
      });

      it(`undefined is refused on write (${mode}, ${form})`, () => {
        const c = column({ type: "string", mode, form });
        expectThrows(
          () => c.encrypt(undefined as unknown as null, row),
          "ERR_UNSUPPORTED_VALUE",
          `${FIELD}: cannot encrypt undefined (use null for SQL NULL)`,
        );
      });
    }
  }
});

describe("encryptedColumn: modes", () => {
  const plaintexts: [string, unknown][] = [
    ["a plaintext string", "alice@example.com"],
    ["the empty string", ""],
    ["plaintext bytes", Buffer.from("alice@example.com")],
    ["a plaintext Uint8Array", new Uint8Array([1, 2, 3])],
    ["a number", 42],
    ["a boolean", false],
    ["an object", { email: "alice@example.com" }],
  ];

  it("a damaged cell is never taken for plaintext: ERR_INVALID_CELL in both modes", () => {
    for (const mode of ["strict", "transition"] as const) {
      const c = column({ type: "string", mode });
      expectThrows(() => c.decrypt("fc1.not-a-cell", row), "ERR_INVALID_CELL");
      expectThrows(() => c.decrypt(Buffer.from([0xfc, 1, 9]), row), "ERR_INVALID_CELL");
    }
  });

  for (const form of FORMS) {
    for (const [what, plaintext] of plaintexts) {
      it(`strict refuses ${what} with ERR_NOT_ENCRYPTED (${form})`, () => {
        const c = column({ form, type: "string" });
        expectThrows(() => c.decrypt(plaintext, row), "ERR_NOT_ENCRYPTED", notEncrypted);
        // Strict is the default.
        expectThrows(() => column({ form }).decrypt(plaintext, row), "ERR_NOT_ENCRYPTED", notEncrypted);
      });

      it(`transition returns ${what} unchanged (${form})`, () => {
        const c = column({ form, mode: "transition" });
        expect(c.decrypt(plaintext, row)).toBe(plaintext);
      });
    }
  }

  it("transition returns a legacy plaintext of the declared type unchanged", () => {
    expect(column({ type: "string", mode: "transition" }).decrypt("legacy", row)).toBe("legacy");
  });

  for (const mode of MODES) {
    for (const form of FORMS) {
      it(`writes always encrypt (${mode}, ${form})`, () => {
        const c = column({ mode, form, type: "string" });
        const stored = c.encrypt("alice@example.com", row);
        expect(inspectCell(stored as string | Buffer)).toMatchObject({ form, keyId: "v2", type: "string" });
        const raw = typeof stored === "string" ? stored : (stored as Buffer).toString("latin1");
        expect(raw).not.toContain("alice@example.com");
        expect(c.decrypt(stored, row)).toBe("alice@example.com");
      });
    }
  }

  it("transition mode still decrypts cells, and a cell that fails to open is not passed off as plaintext", () => {
    const c = column({ mode: "transition", type: "string" });
    const stored = c.encrypt("secret", row);
    expect(c.decrypt(stored, row)).toBe("secret");
    assertOpaqueFailure(thrown(() => c.decrypt(stored, { ...row, rowKey: 43 })));
    assertOpaqueFailure(thrown(() => c.decrypt(stored, { ...row, scope: "clinic-8" })));
    // A well-formed cell under a key id the keyring lacks: an error, not the stored text.
    const foreign = createKeyring([{ id: "v9", secret: keyBytes(9), primary: true }]);
    const other = encrypt(foreign, "secret", { table: TABLE, column: COLUMN, ...row });
    expectThrows(() => c.decrypt(other, row), "ERR_KEY_NOT_FOUND", 'key "v9" is not in the keyring');
  });
});

describe("encryptedColumn: a cell is never encrypted twice (ERR_ALREADY_ENCRYPTED)", () => {
  const ctx = { table: TABLE, column: COLUMN, ...row };
  const cells: [string, string | Buffer][] = [
    ["a text cell", encrypt(keyring, "x", ctx)],
    ["a binary cell", encrypt(keyring, "x", ctx, { form: "binary" })],
    ["a binary cell as a Uint8Array", new Uint8Array(encrypt(keyring, "x", ctx, { form: "binary" })) as Buffer],
    ["a cell of a bytes value", encrypt(keyring, Buffer.from("x"), ctx, { form: "binary" })],
    ["a cell of another field", encrypt(keyring, "x", { table: "other", column: "other" })],
    [
      "a cell of a key this keyring lacks",
      encrypt(createKeyring([{ id: "zz", secret: keyBytes(5), primary: true }]), 1, ctx),
    ],
    ["an AES-256-GCM cell", encrypt(keyring, "x", ctx, { algorithm: "AES-256-GCM" })],
  ];

  for (const [what, cell] of cells) {
    for (const mode of MODES) {
      for (const form of FORMS) {
        it(`${what} (${mode}, ${form})`, () => {
          expectThrows(() => column({ mode, form }).encrypt(cell, row), "ERR_ALREADY_ENCRYPTED", alreadyEncrypted);
          // Refused as a cell before the declared type is looked at: a cell is never "just bytes" or "just text".
          for (const type of ["string", "bytes"] as const) {
            expectThrows(
              () => column({ mode, form, type }).encrypt(cell, row),
              "ERR_ALREADY_ENCRYPTED",
              alreadyEncrypted,
            );
          }
        });
      }
    }
  }

  it("a column's own output fed back to it is refused", () => {
    for (const form of FORMS) {
      const c = column({ form });
      const once = c.encrypt("x", row);
      expectThrows(() => c.encrypt(once as string, row), "ERR_ALREADY_ENCRYPTED", alreadyEncrypted);
    }
  });
});

describe("encryptedColumn: a declared type the legacy format's output cannot give is refused when the column is made", () => {
  const prompts = (output?: "string" | "bytes" | "json") =>
    versionedJsonFormat({ keys: { v1: keyBytes(7) }, ...(output === undefined ? {} : { output }) });
  it.each([
    [
      "json",
      undefined,
      'notes.body: declared json, but its legacy format versioned-json gives string; set the format\'s output: "json"',
    ],
    [
      "bytes",
      "json",
      'notes.body: declared bytes, but its legacy format versioned-json gives JSON; set the format\'s output: "bytes"',
    ],
    [
      "string",
      "bytes",
      'notes.body: declared string, but its legacy format versioned-json gives bytes; set the format\'s output: "string"',
    ],
    ["number", undefined, "notes.body: declared number, but a legacy format gives strings, bytes or JSON only"],
  ] as const)("type %s with output %s", (type, output, message) => {
    expectThrows(
      () => encryptedColumn(keyring, { table: "notes", column: "body", type, legacy: prompts(output) }),
      "ERR_INVALID_OPTION",
      message,
    );
  });
  it("accepts the output that gives the declared type, and no declared type with any output", () => {
    for (const [type, output] of [
      ["json", "json"],
      ["bytes", "bytes"],
      ["string", undefined],
    ] as const) {
      expect(encryptedColumn(keyring, { table: "notes", column: "body", type, legacy: prompts(output) }).type).toBe(
        type,
      );
    }
    expect(encryptedColumn(keyring, { table: "notes", column: "body", legacy: prompts("bytes") }).type).toBeUndefined();
  });
});

describe("encryptedColumn: declared type (ERR_TYPE_MISMATCH)", () => {
  const writes: [ValueTypeName, unknown, string][] = [
    ["string", 42, "number"],
    ["string", Buffer.from("x"), "bytes"],
    ["string", new Uint8Array(1), "bytes"],
    ["string", { a: 1 }, "json"],
    ["string", [], "json"],
    ["string", 1n, "bigint"],
    ["string", true, "boolean"],
    ["string", new Date(0), "date"],
    ["string", Symbol("s"), "symbol"],
    ["string", () => "x", "function"],
    ["number", "42", "string"],
    ["number", 42n, "bigint"],
    ["bigint", 42, "number"],
    ["bigint", "42", "string"],
    ["bytes", "abc", "string"],
    ["bytes", [1, 2, 3], "json"],
    ["json", "{}", "string"],
    ["json", new Uint8Array(0), "bytes"],
    ["json", new Date(0), "date"],
    ["boolean", 0, "number"],
    ["boolean", "true", "string"],
    ["date", "2026-01-01", "string"],
    ["date", 0, "number"],
  ];

  for (const form of FORMS) {
    for (const [declared, value, got] of writes) {
      it(`write: declared ${declared}, given a ${got} (${form})`, () => {
        for (const mode of MODES) {
          expectThrows(
            () => column({ type: declared, form, mode }).encrypt(value as CellValue, row),
            "ERR_TYPE_MISMATCH",
            mismatch(declared, got),
          );
        }
      });
    }
  }

  // A cell of another type under the very same context, as a plain encrypt() call (or a buggy job) writes it.
  const reads: [ValueTypeName, CellValue, string][] = [
    ["string", 42, "number"],
    ["string", Buffer.from("x"), "bytes"],
    ["string", { a: 1 }, "json"],
    ["number", "42", "string"],
    ["number", 42n, "bigint"],
    ["bigint", 42, "number"],
    ["bytes", [1, 2, 3], "json"],
    ["bytes", "abc", "string"],
    ["json", Buffer.from("{}"), "bytes"],
    ["boolean", 1, "number"],
    ["date", 1_767_225_600_000, "number"],
    ["date", "2026-01-01", "string"],
  ];

  for (const form of FORMS) {
    for (const [declared, value, got] of reads) {
      it(`read: declared ${declared}, the cell holds a ${got} (${form})`, () => {
        const stored = seal(keyring, value, { table: TABLE, column: COLUMN, ...row }, form);
        // The cell is genuine: a column without a declared type opens it.
        expect(column({ form }).decrypt(stored, row)).toEqual(value);
        for (const mode of MODES) {
          expectThrows(
            () => column({ type: declared, form, mode }).decrypt(stored, row),
            "ERR_TYPE_MISMATCH",
            mismatch(declared, got),
          );
        }
      });
    }
  }

  it("the mismatch message names types, never the value", () => {
    const e = thrown(() => column({ type: "number" }).encrypt("alice@example.com", row)) as Error;
    expect(e.message).not.toContain("alice");
    const stored = encrypt(keyring, "alice@example.com", { table: TABLE, column: COLUMN, ...row });
    const r = thrown(() => column({ type: "number" }).decrypt(stored, row)) as Error;
    expect(r.message).toBe(mismatch("number", "string"));
    expect(r.message).not.toContain("alice");
  });
});

describe("encryptedColumn: cells are bound to table, column, scope and row key", () => {
  for (const form of FORMS) {
    it(`a cell moved to another row, scope, column or table fails opaquely (${form})`, () => {
      const c = column({ type: "string", form });
      const stored = c.encrypt("BP 120/80", { scope: "clinic-7", rowKey: [7, "a"] });
      expect(c.decrypt(stored, { scope: "clinic-7", rowKey: [7, "a"] })).toBe("BP 120/80");
      // The integer row-key part binds the same row as a number, a bigint or its decimal string.
      expect(c.decrypt(stored, { scope: "clinic-7", rowKey: [7n, "a"] })).toBe("BP 120/80");
      expect(c.decrypt(stored, { scope: "clinic-7", rowKey: ["7", "a"] })).toBe("BP 120/80");

      const moved: [string, EncryptedColumnCodec, unknown][] = [
        ["another row", c, { scope: "clinic-7", rowKey: [8, "a"] }],
        ["reordered row key", c, { scope: "clinic-7", rowKey: ["a", 7] }],
        ["one part of the row key", c, { scope: "clinic-7", rowKey: 7 }],
        ["no row key", c, { scope: "clinic-7" }],
        ["another scope", c, { scope: "clinic-8", rowKey: [7, "a"] }],
        ["no scope", c, { rowKey: [7, "a"] }],
        ["no row context", c, undefined],
        ["another column", column({ column: "summary", form }), { scope: "clinic-7", rowKey: [7, "a"] }],
        [
          "another table",
          encryptedColumn(keyring, { table: "clinic_notes_archive", column: COLUMN, form }),
          { scope: "clinic-7", rowKey: [7, "a"] },
        ],
        ["a transition column elsewhere", column({ mode: "transition", form }), { scope: "clinic-7", rowKey: 8 }],
      ];
      for (const [, target, where] of moved) {
        assertOpaqueFailure(
          thrown(() => target.decrypt(stored, where as Parameters<EncryptedColumnCodec["decrypt"]>[1])),
        );
      }
    });
  }

  it("a cell written without a row context does not open with one", () => {
    const c = column({ type: "string" });
    const stored = c.encrypt("x");
    assertOpaqueFailure(thrown(() => c.decrypt(stored, { rowKey: 1 })));
    assertOpaqueFailure(thrown(() => c.decrypt(stored, { scope: "clinic-7" })));
  });

  it("scoped keys: a scope with its own keys writes with its own primary, others with the shared one", () => {
    const scoped = createKeyring([
      { id: "shared", secret: keyBytes(1), primary: true },
      { id: "c7", secret: keyBytes(7), scope: "clinic-7", primary: true },
    ]);
    const c = encryptedColumn(scoped, { table: TABLE, column: COLUMN, type: "string" });
    const mine = c.encrypt("x", { scope: "clinic-7", rowKey: 1 }) as string;
    const theirs = c.encrypt("x", { scope: "clinic-8", rowKey: 1 }) as string;
    expect(inspectCell(mine).keyId).toBe("c7");
    expect(inspectCell(theirs).keyId).toBe("shared");
    expect(c.decrypt(mine, { scope: "clinic-7", rowKey: 1 })).toBe("x");
    assertOpaqueFailure(thrown(() => c.decrypt(mine, { scope: "clinic-8", rowKey: 1 })));
  });

  it("an invalid row context is refused with ERR_INVALID_CONTEXT, on write and on read", () => {
    const c = column({ type: "string" });
    const stored = c.encrypt("x", row);
    expectThrows(
      () => c.encrypt("x", { scope: "" }),
      "ERR_INVALID_CONTEXT",
      "context.scope must be a non-empty string (got an empty string)",
    );
    expectThrows(
      () => c.encrypt("x", { rowKey: 1.5 }),
      "ERR_INVALID_CONTEXT",
      "context.rowKey[0] must be a string, a bigint or a safe integer (got number)",
    );
    expectThrows(
      () => c.decrypt(stored, { ...row, rowKey: [] }),
      "ERR_INVALID_CONTEXT",
      "context.rowKey must have 1-16 parts (got 0)",
    );
  });
});
