/**
 * The mutators: one seeded mutation of a byte string or a text, of a named kind. A text whose
 * format is an encoding of bytes (base64url after `fc1.`, a Fernet token) also has `decoded:*`
 * kinds — decode, mutate the bytes, re-encode canonically — so that mutations reach past the text
 * decoder into the header checks and the AEAD.
 */
import type { Rng } from "./prng.js";

/** A byte of a header worth setting to each of `values` (version, algorithm, lengths…). */
export interface HeaderField {
  readonly offset: number;
  readonly values: readonly number[];
}

/** How a text spells bytes: `encode` gives the canonical spelling, `decode` reads one back. */
export interface TextCodec {
  decode(text: string): Buffer;
  encode(bytes: Buffer): string;
}

export interface BytesShape {
  readonly form: "bytes";
  readonly bytes: Buffer;
  readonly header?: readonly HeaderField[] | undefined;
}

export interface TextShape {
  readonly form: "text";
  readonly text: string;
  /** Characters the format is spelled in (replacements are drawn from it; others are "outside"). */
  readonly alphabet: string;
  /** Where the encoded body starts (after a prefix such as `fc1.`); mutations of the body start there. */
  readonly bodyStart: number;
  readonly codec?: TextCodec | undefined;
  /** Header fields of the decoded bytes (needs `codec`). */
  readonly header?: readonly HeaderField[] | undefined;
  /** Other spellings of the prefix `text.slice(0, bodyStart)` to try (`FC1.`, `fc2.`…). */
  readonly prefixes?: readonly string[] | undefined;
}

export type Shape = BytesShape | TextShape;

/** One mutated input: its kind (for the summary), the input, and what was done (for a replay). */
export interface Mutation<I = unknown> {
  readonly kind: string;
  readonly input: I;
  readonly note: string;
}

export const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Characters outside base64url that decoders have been known to skip or misread: base64's "+/=",
// whitespace, the prefix dot, and non-ASCII whose low byte is a base64 character ("Ł" = U+0141).
const OUTSIDE = [
  "+",
  "/",
  "=",
  " ",
  "\n",
  "\t",
  "\r",
  ".",
  "%",
  "!",
  "\0",
  "\u00e9",
  "\u00ff",
  "\u0141",
  "\u0161",
  "\u0100",
  "\u00a0",
  "\ufeff",
  "\ud83d\ude00",
  "\ud800",
];
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x07, 0x08, 0x1f, 0x20, 0x2e, 0x3d, 0x7f, 0x80, 0xfc, 0xfe, 0xff];
const EXTENSION_LENGTHS = [1, 1, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 64, 257];

const BYTE_KINDS = ["bitflip", "byteset", "truncate", "extend", "insert", "delete", "splice"] as const;
const TEXT_KINDS = ["bitflip", "alphabet", "outside", "truncate", "extend", "insert", "delete", "splice"] as const;

/** The kinds a shape can be mutated by. */
export function kindsOf(shape: Shape): readonly string[] {
  if (shape.form === "bytes") return shape.header === undefined ? BYTE_KINDS : [...BYTE_KINDS, "header"];
  const kinds: string[] = [...TEXT_KINDS];
  if (shape.prefixes !== undefined) kinds.push("prefix");
  if (shape.codec !== undefined) {
    kinds.push(...BYTE_KINDS.map((k) => `decoded:${k}`));
    if (shape.header !== undefined) kinds.push("header");
  }
  return kinds;
}

/** One mutation of `shape`; `partners` are other originals of the same form, for splices. */
export function mutate(rng: Rng, shape: Shape, partners: readonly Shape[]): Mutation {
  const kind = rng.pick(kindsOf(shape));
  // Only a splice needs a partner: draw it then, and decode just that one.
  const partner = (): Shape => (partners.length === 0 ? shape : rng.pick(partners));
  if (shape.form === "bytes") {
    if (kind === "header") return headerMutation(rng, shape.bytes, shape.header ?? [], (b) => b);
    return mutateBytes(rng, kind, shape.bytes, () => bytesOf(partner()) ?? shape.bytes);
  }
  const codec = shape.codec;
  if (kind === "header" && codec !== undefined) {
    return headerMutation(rng, codec.decode(shape.text), shape.header ?? [], (b) => codec.encode(b));
  }
  if (kind.startsWith("decoded:") && codec !== undefined) {
    const bytes = codec.decode(shape.text);
    const m = mutateBytes(rng, kind.slice("decoded:".length), bytes, () => {
      const p = partner();
      return p.form === "text" && p.codec !== undefined ? p.codec.decode(p.text) : bytes;
    });
    return { kind, input: codec.encode(m.input), note: `${m.note}, re-encoded` };
  }
  return mutateText(rng, kind, shape, () => {
    const p = partner();
    return p.form === "text" ? p.text : shape.text;
  });
}

function bytesOf(shape: Shape): Buffer | undefined {
  return shape.form === "bytes" ? shape.bytes : undefined;
}

/** A byte mutation of one of {@link BYTE_KINDS}. */
export function mutateBytes(rng: Rng, kind: string, bytes: Buffer, other: () => Buffer): Mutation<Buffer> {
  const n = bytes.length;
  switch (kind) {
    case "bitflip": {
      const out = Buffer.from(bytes);
      if (n === 0) return { kind, input: out, note: "empty: unchanged" };
      const bit = rng.int(n * 8);
      out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
      return { kind, input: out, note: `flip bit ${bit & 7} of byte ${bit >> 3}` };
    }
    case "byteset": {
      const out = Buffer.from(bytes);
      if (n === 0) return { kind, input: out, note: "empty: unchanged" };
      const at = rng.int(n);
      const value = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
      out[at] = value;
      return { kind, input: out, note: `set byte ${at} to 0x${value.toString(16)}` };
    }
    case "truncate": {
      const length = rng.int(Math.max(n, 1));
      return { kind, input: Buffer.from(bytes.subarray(0, length)), note: `truncate to ${length} of ${n} bytes` };
    }
    case "extend": {
      const extra = extension(rng);
      return { kind, input: Buffer.concat([bytes, extra]), note: `append ${extra.length} bytes` };
    }
    case "insert": {
      const at = rng.int(n + 1);
      const extra = extension(rng);
      const input = Buffer.concat([bytes.subarray(0, at), extra, bytes.subarray(at)]);
      return { kind, input, note: `insert ${extra.length} bytes at ${at}` };
    }
    case "delete": {
      const at = rng.int(Math.max(n, 1));
      const count = Math.min(n - at, rng.pick(EXTENSION_LENGTHS));
      const input = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + count)]);
      return { kind, input, note: `delete ${count} bytes at ${at}` };
    }
    case "splice": {
      const partner = other();
      const cut = rng.int(n + 1);
      const from = rng.int(partner.length + 1);
      const input = Buffer.concat([bytes.subarray(0, cut), partner.subarray(from)]);
      return { kind, input, note: `first ${cut} bytes, then another original's bytes from ${from}` };
    }
    default:
      throw new RangeError(`unknown byte mutation ${kind}`);
  }
}

function extension(rng: Rng): Buffer {
  const length = rng.pick(EXTENSION_LENGTHS);
  if (rng.chance(0.2)) return Buffer.alloc(length, rng.pick(INTERESTING_BYTES));
  return rng.bytes(length);
}

function headerMutation<I>(
  rng: Rng,
  bytes: Buffer,
  fields: readonly HeaderField[],
  encode: (bytes: Buffer) => I,
): Mutation<I> {
  const out = Buffer.from(bytes);
  const field = rng.pick(fields);
  const value = rng.chance(0.8) ? rng.pick(field.values) : rng.int(256);
  if (field.offset < out.length) out[field.offset] = value;
  return { kind: "header", input: encode(out), note: `set header byte ${field.offset} to 0x${value.toString(16)}` };
}

/** A text mutation of one of {@link TEXT_KINDS} or `prefix`. */
function mutateText(rng: Rng, kind: string, shape: TextShape, other: () => string): Mutation<string> {
  const text = shape.text;
  const n = text.length;
  const body = (): number => (n > shape.bodyStart ? rng.range(shape.bodyStart, n - 1) : rng.int(Math.max(n, 1)));
  const replace = (at: number, s: string): string => text.slice(0, at) + s + text.slice(at + 1);
  switch (kind) {
    case "bitflip": {
      const at = rng.int(Math.max(n, 1));
      const bit = rng.chance(0.9) ? rng.int(7) : rng.range(7, 15);
      const flipped = String.fromCharCode(text.charCodeAt(at) ^ (1 << bit));
      return { kind, input: replace(at, flipped), note: `flip bit ${bit} of character ${at}` };
    }
    case "alphabet": {
      const at = body();
      const current = text[at];
      let c = shape.alphabet[rng.int(shape.alphabet.length)] as string;
      if (c === current) c = shape.alphabet[(shape.alphabet.indexOf(c) + 1) % shape.alphabet.length] as string;
      return { kind, input: replace(at, c), note: `character ${at} replaced by another of the alphabet` };
    }
    case "outside": {
      const at = body();
      const c = rng.pick(OUTSIDE);
      const insert = rng.chance(0.3);
      const input = insert ? text.slice(0, at) + c + text.slice(at) : replace(at, c);
      const what = `U+${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`;
      return { kind, input, note: `${insert ? "insert" : "replace character with"} ${what} at ${at}` };
    }
    case "truncate": {
      const length = rng.int(Math.max(n, 1));
      return { kind, input: text.slice(0, length), note: `truncate to ${length} of ${n} characters` };
    }
    case "extend": {
      const extra = textExtension(rng, shape.alphabet);
      return { kind, input: text + extra, note: `append ${extra.length} characters` };
    }
    case "insert": {
      const at = rng.int(n + 1);
      const extra = textExtension(rng, shape.alphabet);
      return { kind, input: text.slice(0, at) + extra + text.slice(at), note: `insert ${extra.length} at ${at}` };
    }
    case "delete": {
      const at = rng.int(Math.max(n, 1));
      const count = Math.min(n - at, rng.pick(EXTENSION_LENGTHS));
      return { kind, input: text.slice(0, at) + text.slice(at + count), note: `delete ${count} characters at ${at}` };
    }
    case "splice": {
      const partner = other();
      const cut = rng.int(n + 1);
      const from = rng.int(partner.length + 1);
      return {
        kind,
        input: text.slice(0, cut) + partner.slice(from),
        note: `first ${cut} characters, then another original's from ${from}`,
      };
    }
    case "prefix": {
      const prefix = rng.pick(shape.prefixes ?? [""]);
      return { kind, input: prefix + text.slice(shape.bodyStart), note: `prefix replaced (${prefix.length} chars)` };
    }
    default:
      throw new RangeError(`unknown text mutation ${kind}`);
  }
}

function textExtension(rng: Rng, alphabet: string): string {
  const length = rng.pick(EXTENSION_LENGTHS);
  if (rng.chance(0.15)) return rng.pick(["=", "==", " ", "\n", "A", "AA", "AAAA"]).repeat(Math.ceil(length / 4));
  let out = "";
  for (let i = 0; i < length; i++)
    out += rng.chance(0.95) ? (alphabet[rng.int(alphabet.length)] as string) : rng.pick(OUTSIDE);
  return out;
}
