/**
 * Interop proof: cells made by fieldcrypt decrypt with an independent implementation of the cell
 * format (test/interop/fieldcrypt_ref.py: Python `cryptography`, XAES-256-GCM built from AES-ECB and
 * AES-GCM), and cells made by that implementation decrypt with fieldcrypt, for every value type,
 * both algorithms, both forms, with and without scope and row key. Wrong contexts fail both ways.
 *
 * One Python process serves the whole file (requests are batched as JSON lines).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AlgorithmName,
  type CellContext,
  type CellValue,
  decrypt,
  encrypt,
  inspectCell,
  type RowKeyPart,
} from "../src/cell/index.js";
import { createKeyring, generateKeyString } from "../src/keyring/index.js";
import { needs } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "fieldcrypt_ref.py");
const PYTHON = "python3";

const pythonCheck = spawnSync(PYTHON, ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the interop proof of interop-python)",
  "install python3 and `pip install cryptography`",
);

// ---------------------------------------------------------------------------------------------
// Wire format shared with fieldcrypt_ref.py

type WireValue =
  | { type: "string"; value: string }
  | { type: "bytes"; b64: string }
  | { type: "json"; value: unknown }
  | { type: "number"; hex: string }
  | { type: "bigint"; value: string }
  | { type: "boolean"; value: boolean }
  | { type: "date"; ms: number };

type WireRowKeyPart = string | number | { int: string };
type WireCell = string | { hex: string };

interface WireContext {
  scope?: string;
  table: string;
  column: string;
  rowKey?: WireRowKeyPart | WireRowKeyPart[];
}

type Request =
  | { op: "selftest" }
  | {
      op: "encrypt";
      keys: Record<string, string>;
      primary: string;
      context: WireContext;
      algorithm: AlgorithmName;
      form: "text" | "binary";
      value: WireValue;
    }
  | { op: "decrypt"; keys: Record<string, string>; context: WireContext; cell: WireCell };

interface Response {
  ok: boolean;
  error?: string;
  detail?: string;
  cell?: WireCell;
  value?: WireValue & { repr?: string };
  vectors?: number;
}

function toWire(value: CellValue): WireValue {
  if (typeof value === "string") return { type: "string", value };
  if (typeof value === "number") {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return { type: "number", hex: b.toString("hex") };
  }
  if (typeof value === "bigint") return { type: "bigint", value: value.toString() };
  if (typeof value === "boolean") return { type: "boolean", value };
  if (value instanceof Uint8Array) return { type: "bytes", b64: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return { type: "date", ms: value.getTime() };
  return { type: "json", value };
}

/** The comparable part of a wire value (drops the informative `repr` of numbers). */
function normalizeWire(wire: WireValue & { repr?: string }): WireValue {
  const { repr: _repr, ...rest } = wire;
  return rest as WireValue;
}

function rowKeyPartToWire(part: RowKeyPart): WireRowKeyPart {
  return typeof part === "bigint" ? { int: part.toString() } : part;
}

function contextToWire(context: CellContext): WireContext {
  const wire: WireContext = { table: context.table, column: context.column };
  if (context.scope !== undefined) wire.scope = context.scope;
  const rowKey = context.rowKey;
  if (rowKey !== undefined) {
    wire.rowKey = Array.isArray(rowKey)
      ? (rowKey as readonly RowKeyPart[]).map(rowKeyPartToWire)
      : rowKeyPartToWire(rowKey as RowKeyPart);
  }
  return wire;
}

function cellToWire(cell: string | Buffer): WireCell {
  return typeof cell === "string" ? cell : { hex: cell.toString("hex") };
}

/** Python's binary cells come back as plain Uint8Array (not Buffer), to exercise that input too. */
function cellFromWire(cell: WireCell | undefined): string | Uint8Array {
  if (cell === undefined) throw new Error("python returned no cell");
  return typeof cell === "string" ? cell : new Uint8Array(Buffer.from(cell.hex, "hex"));
}

// ---------------------------------------------------------------------------------------------
// The Python process

class PythonReference {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #pending: { resolve: (response: Response) => void; reject: (error: Error) => void }[] = [];
  #stderr = "";
  #exited: Promise<number | null>;

  constructor(script: string) {
    this.#process = spawn(PYTHON, [script, "serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.#process.stderr.setEncoding("utf8");
    this.#process.stderr.on("data", (chunk: string) => {
      this.#stderr += chunk;
    });
    createInterface({ input: this.#process.stdout }).on("line", (line) => {
      const waiter = this.#pending.shift();
      if (waiter === undefined) return;
      try {
        waiter.resolve(JSON.parse(line) as Response);
      } catch (error) {
        waiter.reject(error as Error);
      }
    });
    this.#exited = new Promise((resolve) => {
      this.#process.on("exit", (code) => {
        for (const waiter of this.#pending.splice(0)) {
          waiter.reject(new Error(`python reference exited with ${code}: ${this.#stderr}`));
        }
        resolve(code);
      });
    });
  }

  /** Sends every request in one write; responses come back in order, one line each. */
  call(requests: readonly Request[]): Promise<Response[]> {
    const replies = requests.map(
      () => new Promise<Response>((resolve, reject) => this.#pending.push({ resolve, reject })),
    );
    const text = requests.map((r) => JSON.stringify(r)).join("\n");
    this.#process.stdin.write(`${text}\n`);
    return Promise.all(replies);
  }

  async close(): Promise<number | null> {
    this.#process.stdin.end();
    return this.#exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Test matrix

const VALUES: Record<string, readonly CellValue[]> = {
  string: [
    "",
    "BP 120/80, allergic to penicillin",
    "Grüße aus Köln · 日本語 · עברית · Ελληνικά",
    "emoji 🔐👩🏽‍⚕️🏳️‍🌈 and a NUL \u0000 in the middle",
    "x".repeat(5000),
  ],
  bytes: [new Uint8Array(0), Uint8Array.of(0, 1, 2, 0xfe, 0xff), randomBytes(1000)],
  json: [
    { name: "Ada", tags: ["a", "b"], nested: { ok: true, none: null, n: -1.5e-7 }, ключ: "🔐" },
    [1, "two", null, false, { k: [] }],
    {},
    [],
  ],
  number: [0, -0, Number.NaN, 1e308, -1.5, Math.PI, 0.1, Number.MIN_VALUE, Number.POSITIVE_INFINITY, -Infinity],
  bigint: [0n, 42n, -1n, -9007199254740993n, 2n ** 64n + 1n, -(2n ** 200n) + 7n],
  boolean: [true, false],
  date: [
    new Date(0),
    new Date(-1),
    new Date("1912-06-23T09:15:00.250Z"),
    new Date("2024-02-29T12:34:56.789Z"),
    new Date(8.64e15),
    new Date(-8.64e15),
  ],
};
const TYPES = Object.keys(VALUES);

const CONTEXTS: readonly CellContext[] = [
  { table: "patients", column: "notes" },
  { scope: "clinic-7", table: "patients", column: "notes" },
  { table: "public.patients", column: "ssn", rowKey: 42 },
  { scope: "tenant-ü", table: "orders", column: "card", rowKey: "ord_9f2" },
  { scope: "tenant-ü", table: "order_lines", column: "note", rowKey: ["eu-west", 7, 18446744073709551617n] },
];
const ALGORITHMS: readonly AlgorithmName[] = ["XAES-256-GCM", "AES-256-GCM"];
const FORMS = ["text", "binary"] as const;

interface Case {
  readonly value: CellValue;
  readonly context: CellContext;
  readonly algorithm: AlgorithmName;
  readonly form: "text" | "binary";
}

function casesOf(type: string): Case[] {
  const cases: Case[] = [];
  for (const value of VALUES[type] ?? []) {
    for (const context of CONTEXTS) {
      for (const algorithm of ALGORITHMS) {
        for (const form of FORMS) cases.push({ value, context, algorithm, form });
      }
    }
  }
  return cases;
}

// Two keys: a decrypt-only "v1" and a primary with a longer id; lookup is by the id in the header.
const OLD_ID = "v1";
const PRIMARY_ID = "2025-06.primary_k";
const SECRETS: Record<string, string> = { [OLD_ID]: generateKeyString(), [PRIMARY_ID]: generateKeyString() };
const keyring = createKeyring([
  { id: OLD_ID, secret: SECRETS[OLD_ID] as string },
  { id: PRIMARY_ID, secret: SECRETS[PRIMARY_ID] as string, primary: true },
]);

/** fieldcrypt's cell for a case: a string in the text form, a Buffer in the binary form. */
function seal(c: Case): string | Buffer {
  const { value, context, algorithm, form } = c;
  return form === "text"
    ? encrypt(keyring, value, context, { algorithm, form })
    : encrypt(keyring, value, context, { algorithm, form });
}

function pyDecrypt(cell: string | Buffer, context: CellContext, keys = SECRETS): Request {
  return { op: "decrypt", keys, context: contextToWire(context), cell: cellToWire(cell) };
}

function pyEncrypt(c: Case, primary: string): Request {
  return {
    op: "encrypt",
    keys: SECRETS,
    primary,
    context: contextToWire(c.context),
    algorithm: c.algorithm,
    form: c.form,
    value: toWire(c.value),
  };
}

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return undefined;
}

/** Contexts that differ from `base` in exactly one way. */
function wrongContexts(base: CellContext): [string, CellContext][] {
  return [
    ["other table", { ...base, table: `${base.table}_archive` }],
    ["other column", { ...base, column: "other" }],
    ["other scope", { ...base, scope: "clinic-8" }],
    ["scope removed", { table: base.table, column: base.column, rowKey: base.rowKey }],
    ["other row key", { ...base, rowKey: ["eu-west", 8, 18446744073709551617n] }],
    ["row key bigint part changed", { ...base, rowKey: ["eu-west", 7, 18446744073709551616n] }],
    ["row key parts reordered", { ...base, rowKey: [7, "eu-west", 18446744073709551617n] }],
    ["row key part missing", { ...base, rowKey: ["eu-west", 7] }],
    ["row key removed", { scope: base.scope, table: base.table, column: base.column }],
  ];
}

const NEGATIVE_BASE: CellContext = {
  scope: "clinic-7",
  table: "patients",
  column: "notes",
  rowKey: ["eu-west", 7, 18446744073709551617n],
};

describe.skipIf(!hasPython)("interop with an independent Python implementation (python3 + cryptography)", () => {
  let python: PythonReference;

  beforeAll(() => {
    python = new PythonReference(SCRIPT);
  });

  afterAll(async () => {
    expect(await python.close()).toBe(0);
  });

  it("the Python reference passes the C2SP XAES-256-GCM vectors", async () => {
    const [response] = await python.call([{ op: "selftest" }]);
    expect(response).toEqual({ ok: true, vectors: 2 });
  });

  it.each(TYPES)("fieldcrypt → python: %s values, both algorithms, forms and contexts", async (type) => {
    const cases = casesOf(type);
    const responses = await python.call(cases.map((c) => pyDecrypt(seal(c), c.context)));
    expect(responses).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      const response = responses[i] as Response;
      const label = `${type} #${i} ${c.algorithm} ${c.form} ${JSON.stringify(contextToWire(c.context))}`;
      expect(response.ok, `${label}: ${response.error} ${response.detail}`).toBe(true);
      expect(normalizeWire(response.value as WireValue), label).toEqual(toWire(c.value));
    });
  });

  it.each(TYPES)("python → fieldcrypt: %s values, both algorithms, forms and contexts", async (type) => {
    const cases = casesOf(type);
    // Alternate between the primary and the decrypt-only key: fieldcrypt finds either by id.
    const keyIds = cases.map((_, i) => (i % 2 === 0 ? PRIMARY_ID : OLD_ID));
    const responses = await python.call(cases.map((c, i) => pyEncrypt(c, keyIds[i] as string)));
    cases.forEach((c, i) => {
      const response = responses[i] as Response;
      const label = `${type} #${i} ${c.algorithm} ${c.form} ${JSON.stringify(contextToWire(c.context))}`;
      expect(response.ok, `${label}: ${response.error} ${response.detail}`).toBe(true);
      const cell = cellFromWire(response.cell);
      expect(typeof cell === "string" ? "text" : "binary", label).toBe(c.form);
      const info = inspectCell(cell);
      expect({ algorithm: info.algorithm, keyId: info.keyId, type: info.type }, label).toEqual({
        algorithm: c.algorithm,
        keyId: keyIds[i],
        type,
      });
      expect(toWire(decrypt(keyring, cell, c.context)), label).toEqual(toWire(c.value));
    });
  });

  it("integer row-key parts bind as decimal strings on both sides (42, 42n and '42' are one row)", async () => {
    const base = { table: "t", column: "c" };
    const [fromPython] = await python.call([
      pyEncrypt({ value: "row 42", context: { ...base, rowKey: 42 }, algorithm: "XAES-256-GCM", form: "text" }, OLD_ID),
    ]);
    const pyCell = cellFromWire(fromPython?.cell);
    for (const rowKey of [42, 42n, "42", [42n]]) expect(decrypt(keyring, pyCell, { ...base, rowKey })).toBe("row 42");

    const tsCell = encrypt(keyring, "row 42", { ...base, rowKey: 42n });
    const responses = await python.call(
      [42, "42", { int: "42" }].map((rowKey) => ({
        op: "decrypt" as const,
        keys: SECRETS,
        context: { ...base, rowKey },
        cell: tsCell,
      })),
    );
    for (const response of responses)
      expect(response).toEqual({ ok: true, value: { type: "string", value: "row 42" } });
  });

  it("a python cell under a wrong context, key or header fails in fieldcrypt with ERR_DECRYPTION_FAILED", async () => {
    const cases = ALGORITHMS.flatMap((algorithm) =>
      FORMS.map((form): Case => ({ value: "secret note", context: NEGATIVE_BASE, algorithm, form })),
    );
    const responses = await python.call(cases.map((c) => pyEncrypt(c, PRIMARY_ID)));
    const otherMaterial = createKeyring([{ id: PRIMARY_ID, secret: generateKeyString(), primary: true }]);
    cases.forEach((c, i) => {
      const cell = cellFromWire(responses[i]?.cell);
      expect(decrypt(keyring, cell, NEGATIVE_BASE)).toBe("secret note");
      for (const [what, context] of wrongContexts(NEGATIVE_BASE)) {
        expect(
          errorCode(() => decrypt(keyring, cell, context)),
          `${c.algorithm} ${c.form}: ${what}`,
        ).toBe("ERR_DECRYPTION_FAILED");
      }
      expect(
        errorCode(() => decrypt(otherMaterial, cell, NEGATIVE_BASE)),
        "other key material",
      ).toBe("ERR_DECRYPTION_FAILED");
      // The header (here: the value type byte, string → bytes) is part of the associated data.
      const bytes = Buffer.from(typeof cell === "string" ? Buffer.from(cell.slice(4), "base64url") : cell);
      bytes[3] = 2;
      expect(
        errorCode(() => decrypt(keyring, bytes, NEGATIVE_BASE)),
        "type byte changed",
      ).toBe("ERR_DECRYPTION_FAILED");
    });
  });

  it("a fieldcrypt cell under a wrong context, key or header is refused by python", async () => {
    const requests: Request[] = [];
    const labels: string[] = [];
    const otherSecrets = { ...SECRETS, [PRIMARY_ID]: generateKeyString() };
    for (const algorithm of ALGORITHMS) {
      for (const form of FORMS) {
        const cell = seal({ value: "secret note", context: NEGATIVE_BASE, algorithm, form });
        const tag = `${algorithm} ${form}`;
        requests.push(pyDecrypt(cell, NEGATIVE_BASE));
        labels.push(`${tag}: right context`);
        for (const [what, context] of wrongContexts(NEGATIVE_BASE)) {
          requests.push(pyDecrypt(cell, context));
          labels.push(`${tag}: ${what}`);
        }
        requests.push(pyDecrypt(cell, NEGATIVE_BASE, otherSecrets));
        labels.push(`${tag}: other key material`);
        const bytes = Buffer.from(typeof cell === "string" ? Buffer.from(cell.slice(4), "base64url") : cell);
        bytes[3] = 2;
        requests.push(pyDecrypt(bytes, NEGATIVE_BASE));
        labels.push(`${tag}: type byte changed`);
        requests.push(pyDecrypt(cell, NEGATIVE_BASE, { [OLD_ID]: SECRETS[OLD_ID] as string }));
        labels.push(`${tag}: key not in keyring`);
      }
    }
    const responses = await python.call(requests);
    const outcome = (r: Response | undefined): string => (r?.ok === true ? "ok" : (r?.error ?? "no response"));
    responses.forEach((response, i) => {
      const label = labels[i] as string;
      const expected = label.endsWith("right context")
        ? "ok"
        : label.endsWith("key not in keyring")
          ? "key not found"
          : "decryption failed";
      expect(outcome(response), label).toBe(expected);
    });
  });

  it("both sides refuse the same malformed text cells", async () => {
    const good = encrypt(keyring, "x", NEGATIVE_BASE);
    const malformed = [`${good}=`, `fc2.${good.slice(4)}`, good.slice(0, 4 + 4 * 7 + 1), `${good.slice(0, -1)}+`];
    const responses = await python.call(malformed.map((cell) => pyDecrypt(cell, NEGATIVE_BASE)));
    malformed.forEach((cell, i) => {
      expect(
        errorCode(() => decrypt(keyring, cell, NEGATIVE_BASE)),
        `fieldcrypt, malformed #${i}`,
      ).toBe("ERR_INVALID_CELL");
      expect(responses[i]?.error, `python, malformed #${i}`).toBe("invalid cell");
    });
  });
});
