/**
 * The legacy target: values of every decoder of `fieldcrypt/legacy` — Fernet (several keys, a TTL,
 * double base64, PBKDF2 per-user keys at 2 iterations, a size limit), @47ng/cloak, raw AES-GCM
 * (bytea and base64, two keys, fixed and per-row AAD, the tag-first layout) and versioned JSON —
 * in text and bytea form, with string, bytes and JSON output. Besides the stored value, the row a
 * decoder reads (the PBKDF2 salt, the AAD column) is mutated too.
 *
 * These formats are read as their producers write them, and the decoders accept every spelling
 * those could produce (padded or unpadded base64, either alphabet where the format allows, JSON
 * formatting): an accepted second spelling of an original is tolerated and counted
 * (`accepted:spelling:*`); anything else that opens is a failure.
 */
import { pbkdf2Sync } from "node:crypto";
import {
  aesGcmFormat,
  cloakFormat,
  fernetFormat,
  type LegacyFormat,
  type LegacyRow,
  versionedJsonFormat,
} from "fieldcrypt/legacy";
import { type Acceptance, type Original, sameValue, type Target } from "../harness.js";
import { BASE64URL, type HeaderField, type Mutation, type Shape } from "../mutate.js";
import { Rng } from "../prng.js";
import {
  cloakFingerprint,
  cloakKeyText,
  cloakString,
  fernetTokenBytes,
  gcmSeal,
  paddedBase64url,
} from "./legacy-producers.js";

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PLAINTEXTS = ["", "hello", "BP 120/80, allergic to penicillin", "\u00e9t\u00e9 \u{1F510}", "x".repeat(100)];
const JSON_PLAINTEXT = '{"note":"BP 120/80","tags":["a",1,null]}';
const OPAQUE = ["ERR_DECRYPTION_FAILED"];

/** A stored value given with a mutated row (the input of a `row` mutation). */
class WithRow {
  constructor(
    readonly stored: unknown,
    readonly row: LegacyRow,
  ) {}
}

/** One decoder and what its originals share: output, row, codes, how inputs are read. */
interface Decoder {
  readonly id: string;
  readonly format: LegacyFormat;
  readonly output: "string" | "bytes" | "json";
  readonly row?: { readonly column: string; readonly value: unknown } | undefined;
  readonly codes: readonly string[];
  readonly semantic: (input: unknown) => string | undefined;
}

function original(d: Decoder, id: string, stored: string | Buffer, plaintext: string, shape: Shape): Original {
  const row: LegacyRow | undefined = d.row === undefined ? undefined : { [d.row.column]: d.row.value };
  const expected =
    d.output === "bytes" ? Buffer.from(plaintext, "utf8") : d.output === "json" ? JSON.parse(plaintext) : plaintext;
  return {
    id: `${d.id}/${id}`,
    group: d.id,
    input: stored,
    expected,
    shape,
    codes: new Set([...d.codes, ...(d.row === undefined ? [] : ["ERR_INVALID_CONTEXT"])]),
    open: (input) =>
      input instanceof WithRow ? d.format.decrypt(input.stored, input.row) : d.format.decrypt(input, row),
    semantic: d.semantic,
  };
}

const text = (input: unknown): string | undefined =>
  typeof input === "string" ? input : input instanceof Uint8Array ? Buffer.from(input).toString("latin1") : undefined;
const hex = (b: Buffer): string => b.toString("hex");

function fernetSemantic(double: boolean): (input: unknown) => string | undefined {
  return (input) => {
    let t = text(input);
    if (t === undefined) return undefined;
    if (double) t = Buffer.from(t, "base64").toString("latin1");
    return hex(Buffer.from(t, "base64url"));
  };
}

const FERNET_HEADER: HeaderField[] = [
  { offset: 0, values: [0x80, 0x00, 0x81, 0x7f, 0xff] },
  ...Array.from({ length: 8 }, (_, i) => ({ offset: 1 + i, values: [0, 1, 0x7f, 0xff] })),
];

function fernetShape(token: Buffer, double: boolean): Shape {
  const single = { decode: (s: string) => Buffer.from(s, "base64url"), encode: paddedBase64url };
  const codec = double
    ? {
        decode: (s: string) => single.decode(Buffer.from(s, "base64").toString("latin1")),
        encode: (b: Buffer) => Buffer.from(paddedBase64url(b), "latin1").toString("base64"),
      }
    : single;
  const alphabet = double ? `${STD}=` : `${BASE64URL}=`;
  return { form: "text", text: codec.encode(token), alphabet, bodyStart: 0, codec, header: FERNET_HEADER };
}

function fernetOriginals(rng: Rng): Original[] {
  const k1 = rng.bytes(32);
  const k2 = rng.bytes(32);
  const seconds = 1_700_000_000 + rng.int(1_000_000);
  const token = (key: Buffer, p: string): Buffer => fernetTokenBytes(key, p, rng.bytes(16), seconds);
  const semantic = fernetSemantic(false);
  const multi: Decoder = {
    id: "fernet/multi",
    format: fernetFormat({ key: [paddedBase64url(k1), paddedBase64url(k2)] }),
    output: "string",
    codes: OPAQUE,
    semantic,
  };
  const master = "fuzz-master-key";
  const derived = pbkdf2Sync(master, Buffer.from("journal-salt17"), 2, 32, "sha256");
  const derive: Decoder = {
    id: "fernet/pbkdf2",
    format: fernetFormat({
      derive: { masterKey: master, salt: { static: "journal-salt", append: "user_id" }, iterations: 2 },
    }),
    output: "string",
    row: { column: "user_id", value: 17 },
    codes: OPAQUE,
    semantic,
  };
  const ttl: Decoder = {
    id: "fernet/ttl-bytes",
    format: fernetFormat({ key: k1, ttlSeconds: 3600, now: () => seconds * 1000 + 10_000, output: "bytes" }),
    output: "bytes",
    codes: OPAQUE,
    semantic,
  };
  const double: Decoder = {
    id: "fernet/double-json",
    format: fernetFormat({ key: paddedBase64url(k2), doubleBase64: true, output: "json" }),
    output: "json",
    codes: OPAQUE,
    semantic: fernetSemantic(true),
  };
  const out: Original[] = [];
  PLAINTEXTS.forEach((p, i) => {
    const t1 = token(i % 2 === 0 ? k1 : k2, p);
    out.push(original(multi, `text#${i}`, paddedBase64url(t1), p, fernetShape(t1, false)));
    const t2 = token(k1, p);
    const bytea = Buffer.from(paddedBase64url(t2), "latin1");
    out.push(original(multi, `bytea#${i}`, bytea, p, { form: "bytes", bytes: bytea }));
    const t3 = token(derived, p);
    out.push(original(derive, `text#${i}`, paddedBase64url(t3), p, fernetShape(t3, false)));
    const t4 = token(k1, p);
    out.push(original(ttl, `text#${i}`, paddedBase64url(t4), p, fernetShape(t4, false)));
  });
  const t5 = token(k2, JSON_PLAINTEXT);
  const shape5 = fernetShape(t5, true) as { text: string };
  out.push(original(double, "json", shape5.text, JSON_PLAINTEXT, fernetShape(t5, true)));
  // A size limit just above the token: extensions hit ERR_VALUE_TOO_LARGE before any decoding.
  const t6 = token(k1, "limited");
  const limited: Decoder = {
    id: "fernet/max-bytes",
    format: fernetFormat({ key: k1, maxBytes: paddedBase64url(t6).length + 3 }),
    output: "string",
    codes: [...OPAQUE, "ERR_VALUE_TOO_LARGE"],
    semantic,
  };
  out.push(original(limited, "text", paddedBase64url(t6), "limited", fernetShape(t6, false)));
  return out;
}

function cloakSemantic(input: unknown): string | undefined {
  const parts = text(input)?.split(".");
  if (parts?.length !== 5) return undefined;
  const [v, alg, fp, iv, ct] = parts as [string, string, string, string, string];
  return `${v}|${alg}|${fp.toLowerCase()}|${hex(Buffer.from(iv, "base64url"))}|${hex(Buffer.from(ct, "base64url"))}`;
}

function cloakOriginals(rng: Rng): Original[] {
  const keys = [rng.bytes(32), rng.bytes(32)];
  const texts = keys.map(cloakKeyText);
  const prints = texts.map(cloakFingerprint);
  const decoders: Decoder[] = (["string", "json"] as const).map((output) => ({
    id: `cloak/${output}`,
    format: cloakFormat({ keys: texts, output }),
    output,
    codes: [...OPAQUE, "ERR_KEY_NOT_FOUND"],
    semantic: cloakSemantic,
  }));
  const out: Original[] = [];
  const plaintexts = [...PLAINTEXTS.map((p) => ["string", p] as const), ["json", JSON_PLAINTEXT] as const];
  plaintexts.forEach(([output, p], i) => {
    const k = i % 2;
    const print = prints[k] as string;
    const codec = {
      decode: (s: string) => {
        const parts = s.split(".");
        return Buffer.concat([Buffer.from(parts[3] ?? "", "base64url"), Buffer.from(parts[4] ?? "", "base64url")]);
      },
      encode: (b: Buffer) => cloakString(print, b),
    };
    const stored = cloakString(print, gcmSeal(keys[k] as Buffer, rng.bytes(12), p, undefined));
    const prefixes = ["V1.aesgcm256.", "v2.aesgcm256.", "v1.aesgcm128.", "v1.aesgcm256", "v1..aesgcm256.", ""];
    const shape: Shape = { form: "text", text: stored, alphabet: `${BASE64URL}=.`, bodyStart: 13, codec, prefixes };
    out.push(original(decoders[output === "json" ? 1 : 0] as Decoder, `#${i}`, stored, p, shape));
  });
  return out;
}

function gcmSemantic(input: unknown): string | undefined {
  if (typeof input === "string") return hex(Buffer.from(input, "base64"));
  return input instanceof Uint8Array ? hex(Buffer.from(input)) : undefined;
}

function gcmShapes(sealed: Buffer): [Shape, Shape] {
  const codec = { decode: (s: string) => Buffer.from(s, "base64"), encode: (b: Buffer) => b.toString("base64") };
  const textShape: Shape = { form: "text", text: codec.encode(sealed), alphabet: `${STD}-_=`, bodyStart: 0, codec };
  return [{ form: "bytes", bytes: sealed }, textShape];
}

function gcmOriginals(rng: Rng): Original[] {
  const k256 = rng.bytes(32);
  const k128 = rng.bytes(16);
  const base = { codes: OPAQUE, semantic: gcmSemantic };
  const decoders: [Decoder, Buffer, Buffer | undefined, "nonce-ct-tag" | "nonce-tag-ct"][] = [
    [
      { ...base, id: "aes-gcm/two-keys", format: aesGcmFormat({ keys: [k256, k128] }), output: "string" },
      k128,
      undefined,
      "nonce-ct-tag",
    ],
    [
      {
        ...base,
        id: "aes-gcm/fixed-aad",
        format: aesGcmFormat({ keys: k256.toString("base64"), aad: "notes-v1" }),
        output: "string",
      },
      k256,
      Buffer.from("notes-v1"),
      "nonce-ct-tag",
    ],
    [
      {
        ...base,
        id: "aes-gcm/row-aad",
        format: aesGcmFormat({ keys: k256, aad: { column: "id" } }),
        output: "string",
        row: { column: "id", value: 42 },
      },
      k256,
      Buffer.from("42"),
      "nonce-ct-tag",
    ],
    [
      {
        ...base,
        id: "aes-gcm/tag-first-bytes",
        format: aesGcmFormat({ keys: k256, layout: "nonce-tag-ct", output: "bytes" }),
        output: "bytes",
      },
      k256,
      undefined,
      "nonce-tag-ct",
    ],
  ];
  return decoders.flatMap(([d, key, aad, layout]) =>
    PLAINTEXTS.flatMap((p, i) => {
      const [bytesShape] = gcmShapes(gcmSeal(key, rng.bytes(12), p, aad, layout));
      const other = gcmShapes(gcmSeal(d.id === "aes-gcm/two-keys" ? k256 : key, rng.bytes(12), p, aad, layout));
      const t = other[1] as { text: string };
      return [
        original(d, `bytea#${i}`, (bytesShape as { bytes: Buffer }).bytes, p, bytesShape),
        original(d, `base64#${i}`, t.text, p, other[1]),
      ];
    }),
  );
}

function versionedSemantic(fields: { version: string; ciphertext: string }): (input: unknown) => string | undefined {
  return (input) => {
    const t =
      typeof input === "string" ? input : input instanceof Uint8Array ? Buffer.from(input).toString("utf8") : undefined;
    try {
      const value = JSON.parse(t?.trimStart() ?? "") as Record<string, unknown>;
      const version = value[fields.version];
      const ciphertext = value[fields.ciphertext];
      if (typeof version !== "string" || typeof ciphertext !== "string") return undefined;
      return `${version}|${hex(Buffer.from(ciphertext, "base64"))}`;
    } catch {
      return undefined;
    }
  };
}

function versionedOriginals(rng: Rng): Original[] {
  const keys = { v1: rng.bytes(32), v2: rng.bytes(32) };
  const variants = [
    { id: "versioned-json/default", fields: { version: "version", ciphertext: "ciphertext" }, aad: undefined },
    { id: "versioned-json/fields-aad", fields: { version: "kid", ciphertext: "data" }, aad: "prompts" },
  ];
  return variants.flatMap((v) => {
    const d: Decoder = {
      id: v.id,
      format: versionedJsonFormat({ keys, fields: v.fields, ...(v.aad === undefined ? {} : { aad: v.aad }) }),
      output: "string",
      codes: [...OPAQUE, "ERR_KEY_NOT_FOUND"],
      semantic: versionedSemantic(v.fields),
    };
    return PLAINTEXTS.flatMap((p, i) => {
      const version = i % 2 === 0 ? "v1" : "v2";
      const aad = v.aad === undefined ? undefined : Buffer.from(v.aad);
      const envelope = (b: Buffer) =>
        JSON.stringify({ [v.fields.version]: version, [v.fields.ciphertext]: b.toString("base64") });
      const codec = {
        decode: (s: string) =>
          Buffer.from((JSON.parse(s) as Record<string, string>)[v.fields.ciphertext] ?? "", "base64"),
        encode: envelope,
      };
      const stored = envelope(gcmSeal(keys[version], rng.bytes(12), p, aad));
      const bytea = Buffer.from(envelope(gcmSeal(keys[version], rng.bytes(12), p, aad)), "utf8");
      const alphabet = `${STD}-_={}":, `;
      return [
        original(d, `text#${i}`, stored, p, { form: "text", text: stored, alphabet, bodyStart: 0, codec }),
        original(d, `bytes#${i}`, bytea, p, { form: "bytes", bytes: bytea }),
      ];
    });
  });
}

/** What a row value binds, by the decoders' documented rule (`str(value).encode()`, or the bytes). */
function rowBytes(value: unknown): Buffer | undefined {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value))) {
    return Buffer.from(value.toString(10), "utf8");
  }
  return value instanceof Uint8Array ? Buffer.from(value) : undefined;
}

const MISSING = Symbol("missing");

function rowMutation(rng: Rng, stored: unknown, column: string, value: number): Mutation {
  const candidates: [string, unknown][] = [
    ["column missing", MISSING],
    ["NULL", null],
    ["as text", String(value)],
    ["as bigint", BigInt(value)],
    ["as bytes", Buffer.from(String(value))],
    ["plus one", value + 1],
    ["negated", -value],
    ["leading zero", `0${value}`],
    ["empty text", ""],
    ["leading space", ` ${value}`],
    ["a fraction", value + 0.5],
    ["an object", {}],
    ["a boolean", true],
    ["a suffix", `${value}x`],
  ];
  const [note, v] = rng.pick(candidates);
  const row = v === MISSING ? {} : { [column]: v };
  return { kind: "row", input: new WithRow(stored, row), note: `row ${column} ${note}` };
}

export function legacyTarget(seed: string): Target {
  const rng = new Rng(seed, "legacy/setup");
  const originals = [...fernetOriginals(rng), ...cloakOriginals(rng), ...gcmOriginals(rng), ...versionedOriginals(rng)];
  const rows = new Map<string, { column: string; value: number }>([
    ["fernet/pbkdf2", { column: "user_id", value: 17 }],
    ["aes-gcm/row-aad", { column: "id", value: 42 }],
  ]);
  for (const o of originals) {
    if (!sameValue(o.open(o.input), o.expected)) throw new Error(`fuzz setup: original ${o.id} does not open`);
  }
  return {
    name: "legacy",
    originals,
    spellings: "tolerate",
    spellingNote: "legacy decoders read every spelling their producers write (padding, alphabet, JSON layout)",
    mutate(r, o, generic) {
      const row = rows.get(o.group);
      return row !== undefined && r.chance(0.1) ? rowMutation(r, o.input, row.column, row.value) : generic();
    },
    accept(input, o): Acceptance | null | undefined {
      if (!(input instanceof WithRow)) return undefined;
      const row = rows.get(o.group) as { column: string; value: number };
      const now = rowBytes(input.row[row.column]);
      const same = now?.equals(rowBytes(row.value) as Buffer);
      return same ? { reason: "row:same-bytes", value: o.expected, mustOpen: true, allowed: true } : null;
    },
  };
}
