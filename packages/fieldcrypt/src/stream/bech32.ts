/**
 * Bech32 (BIP-173) without the 90-character limit, as the age spec uses it for `age1…` recipients
 * and `AGE-SECRET-KEY-1…` identities. Internal to `fieldcrypt/stream`.
 */
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i] as number;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function convertBits(data: Iterable<number>, from: number, to: number, pad: boolean): number[] | undefined {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (const value of data) {
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || ((acc << (to - bits)) & max) !== 0) {
    return undefined;
  }
  return out;
}

/** Encodes 5-bit words under `hrp` (lowercase output). */
export function bech32EncodeWords(hrp: string, words: readonly number[]): string {
  const lower = hrp.toLowerCase();
  const mod = polymod([...hrpExpand(lower), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  let out = `${lower}1`;
  for (const w of words) out += CHARSET[w];
  for (let i = 0; i < 6; i++) out += CHARSET[(mod >>> (5 * (5 - i))) & 31];
  return out;
}

/** Decodes a Bech32 string into its lowercase HRP and 5-bit words; `undefined` when invalid. */
export function bech32DecodeWords(text: string): { hrp: string; words: number[] } | undefined {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) return undefined;
  const s = text.toLowerCase();
  const sep = s.lastIndexOf("1");
  if (sep < 1 || sep + 7 > s.length) return undefined;
  const hrp = s.slice(0, sep);
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) return undefined;
  }
  const words: number[] = [];
  for (const ch of s.slice(sep + 1)) {
    const w = CHARSET.indexOf(ch);
    if (w < 0) return undefined;
    words.push(w);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) return undefined;
  return { hrp, words: words.slice(0, -6) };
}

/** Encodes bytes as Bech32 under `hrp`. */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  return bech32EncodeWords(hrp, convertBits(bytes, 8, 5, true) as number[]);
}

/** Decodes a Bech32 string to its HRP and bytes; `undefined` when invalid (checksum, case, padding). */
export function bech32Decode(text: string): { hrp: string; bytes: Uint8Array } | undefined {
  const decoded = bech32DecodeWords(text);
  if (decoded === undefined) return undefined;
  const bytes = convertBits(decoded.words, 5, 8, false);
  if (bytes === undefined) return undefined;
  return { hrp: decoded.hrp, bytes: Uint8Array.from(bytes) };
}
