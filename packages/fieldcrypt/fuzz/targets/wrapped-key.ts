/**
 * The wrapped-key target: data keys wrapped by local root keys (`localRootKey` of `fieldcrypt/kms`),
 * unwrapped with the associated data the key store uses (key id and scope). The header check of
 * every provider (`FCW`/`FCP`/`FCA`/`FCG`/`FCV` ‖ version ‖ id) and the local AES-256-GCM unwrap are
 * what is fuzzed; three root keys, two of whose ids differ in one bit, so that a flipped id can
 * name another root key (its own message, same code).
 *
 * The originals are wrapped here, from the format in src/kms/local.ts, with nonces from the seed;
 * the library unwraps every one before fuzzing starts, and the fuzzer's own unwrap opens what the
 * library's `wrap` makes, so both sides agree on the format.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { type LocalRootKey, localRootKey } from "fieldcrypt/kms";
import { type Original, sameValue, type Target } from "../harness.js";
import type { HeaderField } from "../mutate.js";
import { Rng } from "../prng.js";

const DOMAIN = Buffer.from("fieldcrypt-v1-wrap", "latin1");
const DATA_KEY_AAD = Buffer.from("fieldcrypt-v1-data-key", "latin1");
const CODES = new Set(["ERR_UNWRAP_FAILED"]);

function lp(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const n = Buffer.alloc(4);
      n.writeUInt32BE(p.length);
      return [n, p];
    }),
  );
}

/** The associated data of a stored data key: `"fieldcrypt-v1-data-key" ‖ LP(id) ‖ u8(has scope) ‖ LP(scope)`. */
function dataKeyAad(id: string, scope: string | null): Buffer {
  const scopeBytes = Buffer.from(scope ?? "", "utf8");
  return Buffer.concat([
    DATA_KEY_AAD,
    lp([Buffer.from(id, "latin1")]),
    Buffer.of(scope === null ? 0 : 1),
    lp([scopeBytes]),
  ]);
}

function header(id: string): Buffer {
  return Buffer.concat([Buffer.from("FCW\x01", "latin1"), Buffer.of(id.length), Buffer.from(id, "latin1")]);
}

/** `header ‖ nonce ‖ AES-256-GCM(root, nonce, dataKey, DOMAIN ‖ LP(header) ‖ LP(aad)) ‖ tag`. */
function wrap(root: Buffer, id: string, nonce: Buffer, dataKey: Buffer, aad: Buffer): Buffer {
  const h = header(id);
  const cipher = createCipheriv("aes-256-gcm", root, nonce);
  cipher.setAAD(Buffer.concat([DOMAIN, lp([h, aad])]));
  const sealed = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return Buffer.concat([h, nonce, sealed, cipher.getAuthTag()]);
}

function unwrap(root: Buffer, id: string, wrapped: Buffer, aad: Buffer): Buffer {
  const h = header(id);
  if (!wrapped.subarray(0, h.length).equals(h))
    throw new Error("fuzz setup: the library's wrapped key has another header");
  const decipher = createDecipheriv("aes-256-gcm", root, wrapped.subarray(h.length, h.length + 12));
  decipher.setAAD(Buffer.concat([DOMAIN, lp([h, aad])]));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
  return Buffer.concat([decipher.update(wrapped.subarray(h.length + 12, wrapped.length - 16)), decipher.final()]);
}

function wrappedHeader(idLength: number): HeaderField[] {
  const magic = [..."FCWPAGVfcw"].map((c) => c.charCodeAt(0)).concat([0]);
  const idBytes = [..."67-/:~!"].map((c) => c.charCodeAt(0)).concat([0x00, 0x20, 0x7f, 0x80, 0xff]);
  return [
    { offset: 0, values: magic },
    { offset: 1, values: magic },
    { offset: 2, values: magic },
    { offset: 3, values: [0, 1, 2, 0xff] },
    { offset: 4, values: [0, 1, idLength - 1, idLength, idLength + 1, 128, 129, 255] },
    ...Array.from({ length: idLength }, (_, i) => ({ offset: 5 + i, values: idBytes })),
  ];
}

export async function wrappedKeyTarget(seed: string): Promise<Target> {
  const rng = new Rng(seed, "wrapped-key/setup");
  // "root-2026" and "root-2027" differ in one bit; the third id is as long as a KMS key ARN.
  const ids = ["root-2026", "root-2027", `arn:aws:kms:eu-west-1:123456789012:key/${"0".repeat(36)}`];
  const roots = ids.map((id) => ({ id, material: rng.bytes(32) }));
  const providers = new Map<string, LocalRootKey>(
    roots.map((r) => [r.id, localRootKey({ id: r.id, key: r.material })]),
  );
  const originals: Original[] = [];
  for (const root of roots) {
    const provider = providers.get(root.id) as LocalRootKey;
    for (const [keyId, scope] of [
      ["dk-1", null],
      ["dk-2", "tenant-7"],
      ["k", "\u00e9"],
    ] as const) {
      for (const length of [32, 16, 1, 64]) {
        const aad = dataKeyAad(keyId, scope);
        const dataKey = rng.bytes(length);
        const wrapped = wrap(root.material, root.id, rng.bytes(12), dataKey, aad);
        originals.push({
          id: `${root.id.slice(0, 9)}/${keyId}/${length}`,
          group: `${root.id}/${keyId}`,
          input: wrapped,
          expected: dataKey,
          shape: { form: "bytes", bytes: wrapped, header: wrappedHeader(root.id.length) },
          codes: CODES,
          open: (input) => provider.unwrap(input as Uint8Array, aad),
        });
      }
    }
    // The other direction: what the library wraps, the fuzzer's reading of the format opens.
    const aad = dataKeyAad("dk-check", null);
    const key = rng.bytes(32);
    if (!unwrap(root.material, root.id, Buffer.from(await provider.wrap(key, aad)), aad).equals(key)) {
      throw new Error("fuzz setup: the library's wrapped key does not open with the fuzzer's unwrap");
    }
  }
  for (const o of originals) {
    if (!sameValue(await o.open(o.input), o.expected)) throw new Error(`fuzz setup: ${o.id} does not unwrap`);
  }
  return { name: "wrapped-key", originals, spellings: "reject" };
}
