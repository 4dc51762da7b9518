import {
  aesGcmFormat,
  cloakFormat,
  fernetFormat,
  versionedJsonFormat,
} from "../packages/fieldcrypt/dist/legacy/index.js";

const key32 = Buffer.alloc(32, 7);
const fs = [
  fernetFormat({ key: Buffer.alloc(32, 1).toString("base64url") }),
  cloakFormat({ keys: `k1.aesgcm256.${key32.toString("base64url")}` }),
  aesGcmFormat({ keys: key32 }),
  versionedJsonFormat({ keys: { v1: key32 } }),
];
for (const f of fs) {
  const v = f.textPrefixes
    ? Buffer.from(f.textPrefixes[0] + "A".repeat(100e6)).toString("latin1")
    : Buffer.alloc(100e6, 1); // a flat string, as a driver returns it
  const t = process.hrtime.bigint();
  let code;
  try {
    f.matches(v);
    f.decrypt(v);
  } catch (e) {
    code = e.code;
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  // baseline in the same run: one pass of Buffer.byteLength over the same value (what reading it costs)
  const t2 = process.hrtime.bigint();
  typeof v === "string" ? Buffer.byteLength(v) : v.indexOf(2);
  const base = Number(process.hrtime.bigint() - t2) / 1e6;
  console.log(JSON.stringify({ format: f.name, code, refuseMs: +ms.toFixed(3), onePassMs: +base.toFixed(2) }));
}
