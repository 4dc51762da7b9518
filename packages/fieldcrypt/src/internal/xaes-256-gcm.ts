/**
 * XAES-256-GCM (C2SP, https://c2sp.org/XAES-256-GCM): AES-256-GCM with a 192-bit nonce whose
 * per-message key is derived with the NIST SP 800-108r1 counter-mode KDF over AES-256 CMAC.
 *
 * Built only from node:crypto (OpenSSL) AES-256-ECB and AES-256-GCM. The KDF needs CMAC of two
 * single full blocks, which is AES_K(M ⊕ K1); so one persistent ECB cipher per key derives both
 * halves of the message key in a single 32-byte call (ECB keeps no state between blocks).
 */
import { type Cipher, createCipheriv } from "node:crypto";
import { aesGcmOpen, aesGcmSeal } from "./aes-256-gcm.js";

export const XAES_NONCE_BYTES = 24;

/** A loaded XAES-256-GCM key: the CMAC subkey K1 and an ECB cipher, computed once. */
export class XaesKey {
  readonly #ecb: Cipher;
  /** (K1 ⊕ [0x00,0x01,'X',0x00]) ‖ K1[4..16] ‖ (K1 ⊕ [0x00,0x02,'X',0x00]) ‖ K1[4..16] */
  readonly #k1Blocks: Buffer;
  readonly #scratch = Buffer.allocUnsafe(32);

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError("XAES-256-GCM key must be 32 bytes");
    const ecb = createCipheriv("aes-256-ecb", key, null);
    ecb.setAutoPadding(false);
    const l = ecb.update(Buffer.alloc(16));
    const k1 = Buffer.allocUnsafe(16);
    for (let i = 0; i < 15; i++) k1[i] = ((l[i] as number) << 1) | ((l[i + 1] as number) >>> 7);
    k1[15] = ((l[15] as number) << 1) & 0xff;
    if ((l[0] as number) & 0x80) k1[15] = (k1[15] as number) ^ 0x87;
    const blocks = Buffer.concat([k1, k1]);
    blocks[1] = (blocks[1] as number) ^ 0x01;
    blocks[2] = (blocks[2] as number) ^ 0x58;
    blocks[17] = (blocks[17] as number) ^ 0x02;
    blocks[18] = (blocks[18] as number) ^ 0x58;
    l.fill(0);
    k1.fill(0);
    this.#ecb = ecb;
    this.#k1Blocks = blocks;
  }

  /**
   * The AES-256-GCM key for one 24-byte nonce (read at `nonce[offset..offset+24]`):
   * AES_K(M1 ⊕ K1) ‖ AES_K(M2 ⊕ K1), with M_i = [0x00, i, 'X', 0x00] ‖ N[0..12].
   * The GCM nonce is N[12..24].
   */
  deriveKey(nonce: Uint8Array, offset: number): Buffer {
    const s = this.#scratch;
    const b = this.#k1Blocks;
    s[0] = b[0] as number;
    s[1] = b[1] as number;
    s[2] = b[2] as number;
    s[3] = b[3] as number;
    s[16] = b[16] as number;
    s[17] = b[17] as number;
    s[18] = b[18] as number;
    s[19] = b[19] as number;
    for (let i = 4; i < 16; i++) {
      const x = (b[i] as number) ^ (nonce[offset + i - 4] as number);
      s[i] = x;
      s[i + 16] = x;
    }
    return this.#ecb.update(s);
  }
}

/**
 * XAES-256-GCM seal: returns ciphertext ‖ tag. For vectors and interop; cells use the inline path.
 * It is AES-256-GCM under the derived key with the last 12 bytes of the nonce.
 */
export function xaesSeal(key: XaesKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (nonce.length !== XAES_NONCE_BYTES) throw new RangeError("XAES-256-GCM nonce must be 24 bytes");
  return aesGcmSeal(key.deriveKey(nonce, 0), nonce.subarray(12, 24), plaintext, aad);
}

/** XAES-256-GCM open of ciphertext ‖ tag; returns null on any authentication failure. */
export function xaesOpen(key: XaesKey, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | null {
  if (nonce.length !== XAES_NONCE_BYTES) return null;
  return aesGcmOpen(key.deriveKey(nonce, 0), nonce.subarray(12, 24), sealed, aad);
}
