/** CRC-32C for the Cloud KMS provider (`fieldcrypt/kms/gcp`). @internal */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C (Castagnoli), the transport checksum Cloud KMS uses in its `*Crc32c` fields. An integrity
 * check against corruption in transit, not a cryptographic primitive (node:zlib only has CRC-32).
 * Not reachable from any subpath.
 */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
