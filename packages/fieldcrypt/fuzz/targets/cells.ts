/**
 * The cells target: cells of both forms, every value type, both algorithms, three contexts (no
 * scope or row key; scope and composite row key; a scoped key), opened with `decrypt` of
 * `fieldcrypt/cell` and, for some, through `encryptedColumn` of `fieldcrypt/column` in strict and
 * transition mode; plus every valid cell of the frozen vectors (spec/vectors/cell-v1.json).
 *
 * The originals are sealed with the nonces the seed gives (the internal `encryptWithNonce` the
 * vector generator uses, so a case replays byte for byte); every one is checked to open to its
 * value before fuzzing starts. A second spelling of a cell must be refused (spec §3.7): an
 * accepted one is a failure.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { type CellContext, type CellValue, decrypt } from "fieldcrypt/cell";
import { encryptedColumn } from "fieldcrypt/column";
import { createKeyring, type Keyring } from "fieldcrypt/keyring";
import type { encryptWithNonce as EncryptWithNonce } from "../../dist/cell/encrypt.js";
import { type Original, sameValue, type Target } from "../harness.js";
import { BASE64URL, type HeaderField, type Shape } from "../mutate.js";
import { Rng } from "../prng.js";
import { repoFile } from "./files.js";

const ALGORITHMS = ["XAES-256-GCM", "AES-256-GCM"] as const;
const FORMS = ["text", "binary"] as const;
const CELL_CODES = new Set(["ERR_DECRYPTION_FAILED", "ERR_INVALID_CELL", "ERR_KEY_NOT_FOUND", "ERR_KEY_DESTROYED"]);
const STRICT_COLUMN_CODES = new Set([...CELL_CODES, "ERR_NOT_ENCRYPTED"]);
const TEXT_PREFIX = "fc1.";

/** The contexts cells are sealed under: none of scope and row key; both; a scope with its own key. */
const CONTEXTS: Readonly<Record<string, CellContext>> = {
  plain: { table: "clinic_notes", column: "body" },
  row: { scope: "tenant-a", table: "clinic_notes", column: "body", rowKey: [7, "a"] },
  "scoped-key": { scope: "tenant-7", table: "patients", column: "dob", rowKey: 42 },
};

/** Values of every type, edge values included; a few drawn from the seed. */
function values(rng: Rng): Record<string, readonly CellValue[]> {
  const printable = Array.from({ length: rng.range(1, 300) }, () => String.fromCharCode(rng.range(0x20, 0x7e)));
  return {
    string: ["", "hello, world", "\u{1F510} \u00fcn\u00efc\u00f6d\u00e9", printable.join("")],
    bytes: [new Uint8Array(0), rng.bytes(rng.range(1, 64)), Uint8Array.from({ length: 256 }, (_, i) => i)],
    json: [{}, [], { a: [1, "x", null, true], b: { c: "\u00e9" } }],
    number: [0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1.5, rng.u32() / 7],
    bigint: [0n, -12345678901234567890n, 10n ** 80n + BigInt(rng.u32())],
    boolean: [true, false],
    date: [new Date(0), new Date(8.64e15), new Date(-8.64e15), new Date(1_700_000_000_000 + rng.int(1e9))],
  };
}

/** The keyring of the generated cells: a primary, two keys one bit from it, a scoped key, a destroyed id. */
function cellKeyring(rng: Rng): Keyring {
  return createKeyring(
    [
      { id: "v1", secret: rng.bytes(32), primary: true },
      // "v3" and "t1" are one bit from "v1", "v2" (destroyed) one bit from "v3": flipped key ids land on them.
      { id: "v3", secret: rng.bytes(32) },
      { id: "t1", secret: rng.bytes(32) },
      { id: "t7", secret: rng.bytes(32), scope: "tenant-7", primary: true },
    ],
    { destroyed: ["v2"] },
  );
}

/**
 * The internal sealing call with a chosen nonce, from the built package by path (no subpath exports
 * it, on purpose): the vector generator's way to make cells that replay byte for byte.
 */
async function loadEncryptWithNonce(): Promise<typeof EncryptWithNonce> {
  const url = pathToFileURL(repoFile("packages/fieldcrypt/dist/cell/encrypt.js")).href;
  return ((await import(url)) as { encryptWithNonce: typeof EncryptWithNonce }).encryptWithNonce;
}

export async function cellsTarget(seed: string): Promise<Target> {
  const encryptWithNonce = await loadEncryptWithNonce();
  const rng = new Rng(seed, "cells/setup");
  const keyring = cellKeyring(rng);
  const originals: Original[] = [];
  for (const [type, list] of Object.entries(values(rng))) {
    list.forEach((value, v) => {
      for (const algorithm of ALGORITHMS) {
        for (const form of FORMS) {
          for (const [contextName, context] of Object.entries(CONTEXTS)) {
            const nonce = rng.bytes(algorithm === "XAES-256-GCM" ? 24 : 12);
            const cell = encryptWithNonce(keyring, value, context, { form, algorithm }, nonce) as string | Buffer;
            const id = `${algorithm}/${form}/${type}#${v}/${contextName}`;
            originals.push(cellOriginal(id, `generated/${contextName}`, keyring, context, cell, value));
          }
        }
      }
      originals.push(...columnOriginals(encryptWithNonce, rng, keyring, type, value, v));
    });
  }
  originals.push(...vectorOriginals());
  for (const o of originals) checkOpens(o);
  return { name: "cells", originals, spellings: "reject" };
}

function cellOriginal(
  id: string,
  group: string,
  keyring: Keyring,
  context: CellContext,
  cell: string | Uint8Array,
  value: unknown,
): Original {
  return {
    id,
    group,
    input: cell,
    expected: value,
    shape: cellShape(cell),
    codes: CELL_CODES,
    open: (input) => decrypt(keyring, input as string | Uint8Array, context),
    semantic: cellSemantic,
  };
}

/** A cell of one type through an encrypted column of that type, strict and transition. */
function columnOriginals(
  encryptWithNonce: typeof EncryptWithNonce,
  rng: Rng,
  keyring: Keyring,
  type: string,
  value: CellValue,
  v: number,
): Original[] {
  if (v !== 1) return [];
  const row = { scope: "tenant-a", rowKey: [7, "a"] as const };
  return FORMS.flatMap((form) =>
    (["strict", "transition"] as const).map((mode): Original => {
      const options = { table: "clinic_notes", column: `${type}_col`, type: type as never, form, mode };
      const column = encryptedColumn(keyring, options);
      const context = { table: options.table, column: options.column, ...row };
      const nonce = rng.bytes(24);
      const cell = encryptWithNonce(keyring, value, context, { form }, nonce) as string | Buffer;
      return {
        id: `column/${mode}/${form}/${type}`,
        group: `column/${mode}/${type}`,
        input: cell,
        expected: value,
        shape: cellShape(cell),
        codes: mode === "strict" ? STRICT_COLUMN_CODES : CELL_CODES,
        open: (input) => column.decrypt(input, row),
        semantic: cellSemantic,
        // Transition mode passes a value that does not start like a cell through as plaintext.
        passThrough: mode === "transition" ? (input) => !looksLikeCell(input) : undefined,
      };
    }),
  );
}

function looksLikeCell(value: unknown): boolean {
  return typeof value === "string" ? value.startsWith(TEXT_PREFIX) : value instanceof Uint8Array && value[0] === 0xfc;
}

interface VectorCase {
  readonly id: string;
  readonly keys: Readonly<Record<string, string>>;
  readonly keyScopes?: Readonly<Record<string, string>>;
  readonly context: CellContext;
  readonly form: "text" | "binary";
  readonly cell: string;
  readonly result: string;
}

/** Every valid case of the frozen vectors, opened with its own keys and context. */
function vectorOriginals(): Original[] {
  const file = JSON.parse(readFileSync(repoFile("spec/vectors/cell-v1.json"), "utf8")) as { cases: VectorCase[] };
  return file.cases
    .filter((c) => c.result === "valid")
    .map((c) => {
      const keyring = createKeyring(
        Object.entries(c.keys).map(([id, secret]) => ({ id, secret, scope: c.keyScopes?.[id] })),
      );
      const cell = c.form === "text" ? c.cell : Buffer.from(c.cell, "hex");
      const expected = decrypt(keyring, cell, c.context);
      // Vectors with the same keys and context open each other's cells: one group (a splice may rebuild one).
      const group = `vector/${JSON.stringify([c.keys, c.keyScopes ?? {}, c.context])}`;
      return cellOriginal(`vector/${c.id}`, group, keyring, c.context, cell, expected);
    });
}

function checkOpens(o: Original): void {
  const value = o.open(o.input);
  if (!sameValue(value, o.expected)) throw new Error(`fuzz setup: original ${o.id} does not open to its value`);
}

/** The binary cell a text or binary input stands for, leniently decoded (so a second spelling shows). */
function cellSemantic(input: unknown): string | undefined {
  if (typeof input === "string") {
    return input.startsWith(TEXT_PREFIX) ? Buffer.from(input.slice(4), "base64url").toString("hex") : undefined;
  }
  return input instanceof Uint8Array ? Buffer.from(input).toString("hex") : undefined;
}

const TEXT_CODEC = {
  decode: (text: string): Buffer => Buffer.from(text.slice(TEXT_PREFIX.length), "base64url"),
  encode: (bytes: Buffer): string => TEXT_PREFIX + bytes.toString("base64url"),
};

function cellShape(cell: string | Uint8Array): Shape {
  if (typeof cell !== "string") {
    const bytes = Buffer.from(cell);
    return { form: "bytes", bytes, header: cellHeader(bytes[4] as number) };
  }
  return {
    form: "text",
    text: cell,
    alphabet: BASE64URL,
    bodyStart: TEXT_PREFIX.length,
    codec: TEXT_CODEC,
    header: cellHeader(TEXT_CODEC.decode(cell)[4] as number),
    prefixes: ["FC1.", "fc2.", "fc0.", "fc1", "fc1..", "", "Fc1.", "fc1:", " fc1.", "fc1.fc1."],
  };
}

const KEY_ID_BYTES = [..."vt123.-_A"].map((c) => c.charCodeAt(0)).concat([0x00, 0x20, 0x7f, 0x80, 0xff]);

/** Magic, version, algorithm, type, key id length and key id bytes, each with values worth trying. */
function cellHeader(kidLength: number): HeaderField[] {
  const fields: HeaderField[] = [
    { offset: 0, values: [0xfc, 0xfd, 0x00, 0xfe, 0x66] },
    { offset: 1, values: [0, 1, 2, 0xff] },
    { offset: 2, values: [0, 1, 2, 3, 0xff] },
    { offset: 3, values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xff] },
    { offset: 4, values: [0, 1, kidLength - 1, kidLength, kidLength + 1, 32, 33, 0xff] },
  ];
  for (let i = 0; i < kidLength; i++) fields.push({ offset: 5 + i, values: KEY_ID_BYTES });
  return fields;
}
