/** The age v1 header: X25519 stanzas and the header MAC (spec/stream-v1.md §Header). */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { DecryptionFailed, InvalidStream } from "../errors/index.js";
import { decodeRawBase64, encodeRawBase64 } from "./base64.js";
import type { X25519Identity, X25519Recipient } from "./keys.js";
import {
  chachaOpen,
  chachaSeal,
  hkdf32,
  hmacSha256,
  x25519,
  x25519PrivateKey,
  x25519PublicBytes,
} from "./primitives.js";

const VERSION = "age-encryption.org/v1";
const X25519_INFO = "age-encryption.org/v1/X25519";
const ZERO_NONCE = new Uint8Array(12);
/** A header longer than this is refused, so that decryption memory stays bounded. */
export const MAX_HEADER_BYTES = 1 << 20;

interface Stanza {
  args: string[];
  body: Uint8Array;
}

function wrapX25519(fileKey: Uint8Array, recipient: X25519Recipient): string {
  const ephemeral = x25519PrivateKey(randomBytes(32));
  const share = x25519PublicBytes(ephemeral);
  const shared = x25519(ephemeral, recipient.publicKey) as Buffer;
  const wrapKey = hkdf32(shared, Buffer.concat([share, recipient.publicKey]), X25519_INFO);
  return `-> X25519 ${encodeRawBase64(share)}\n${wrapBody(chachaSeal(wrapKey, ZERO_NONCE, fileKey))}`;
}

function wrapBody(body: Uint8Array): string {
  const text = encodeRawBase64(body);
  let out = "";
  for (let i = 0; i <= text.length; i += 64) out += `${text.slice(i, i + 64)}\n`;
  return out;
}

/** The header bytes for `fileKey` wrapped to each recipient, MAC included. */
export function writeHeader(fileKey: Uint8Array, recipients: readonly X25519Recipient[]): Buffer {
  const unmacced = `${VERSION}\n${recipients.map((r) => wrapX25519(fileKey, r)).join("")}---`;
  const mac = hmacSha256(hkdf32(fileKey, new Uint8Array(0), "header"), Buffer.from(unmacced));
  return Buffer.from(`${unmacced} ${encodeRawBase64(mac)}\n`);
}

/** The index just past the header's final LF in `buf`, or -1 when the header is not complete yet. */
export function findHeaderEnd(buf: Buffer): number {
  let from = 0;
  for (;;) {
    const nl = buf.indexOf(10, from);
    if (nl < 0) return -1;
    if (buf[nl + 1] === 0x2d && buf[nl + 2] === 0x2d && buf[nl + 3] === 0x2d) {
      const end = buf.indexOf(10, nl + 1);
      return end < 0 ? -1 : end + 1;
    }
    from = nl + 1;
  }
}

const invalid = (why: string) => new InvalidStream(`invalid age header: ${why}`);
const VCHAR = /^[\x21-\x7e]+$/;
const B64LINE = /^[A-Za-z0-9+/]*$/;

function parseStanzas(lines: string[]): { stanzas: Stanza[]; macLine: string } {
  const stanzas: Stanza[] = [];
  let i = 1;
  while (i < lines.length && (lines[i] as string).startsWith("-> ")) {
    const args = (lines[i] as string).slice(3).split(" ");
    if (args.some((a) => !VCHAR.test(a))) throw invalid("bad stanza arguments");
    let text = "";
    for (i++; ; i++) {
      const line = lines[i];
      if (line === undefined || !B64LINE.test(line) || line.length > 64) throw invalid("bad stanza body");
      text += line;
      if (line.length < 64) break;
    }
    const body = decodeRawBase64(text);
    if (body === undefined) throw invalid("stanza body is not canonical base64");
    stanzas.push({ args, body });
    i++;
  }
  if (stanzas.length === 0) throw invalid("no recipient stanza");
  if (i !== lines.length - 1) throw invalid("unexpected line");
  return { stanzas, macLine: lines[i] as string };
}

function unwrapX25519(stanza: Stanza, identity: X25519Identity): Buffer | undefined {
  const share = stanza.args.length === 2 ? decodeRawBase64(stanza.args[1] as string) : undefined;
  if (share === undefined || share.length !== 32) throw invalid("bad X25519 stanza");
  if (stanza.body.length !== 32) throw invalid("bad X25519 stanza body length");
  const shared = x25519(identity.privateKey, share);
  if (shared === undefined) throw invalid("X25519 share is a low-order point");
  const salt = Buffer.concat([share, identity.recipient.publicKey]);
  return chachaOpen(hkdf32(shared, salt, X25519_INFO), ZERO_NONCE, stanza.body);
}

/**
 * Parses `header` (its bytes up to and including the MAC line's LF), unwraps the file key with one
 * of `identities` and checks the MAC. Malformed → InvalidStream; no match or bad MAC → DecryptionFailed.
 */
export function readHeader(header: Buffer, identities: readonly X25519Identity[]): Buffer {
  const text = header.toString("latin1");
  const lines = text.slice(0, -1).split("\n");
  if (lines[0] !== VERSION) throw invalid("unsupported version line (expected age-encryption.org/v1)");
  const { stanzas, macLine } = parseStanzas(lines);
  if (!macLine.startsWith("--- ")) throw invalid("bad MAC line");
  const mac = decodeRawBase64(macLine.slice(4));
  if (mac === undefined || mac.length !== 32) throw invalid("bad MAC line");
  let fileKey: Buffer | undefined;
  for (const stanza of stanzas) {
    if (stanza.args[0] !== "X25519") continue;
    for (const identity of identities) {
      const key = unwrapX25519(stanza, identity);
      if (key !== undefined && fileKey === undefined) fileKey = key;
    }
  }
  if (fileKey === undefined || fileKey.length !== 16) throw new DecryptionFailed();
  const unmacced = header.subarray(0, header.length - macLine.length - 1 + 3);
  const expected = hmacSha256(hkdf32(fileKey, new Uint8Array(0), "header"), unmacced);
  if (!timingSafeEqual(expected, mac)) throw new DecryptionFailed();
  return fileKey;
}
