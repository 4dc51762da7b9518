/**
 * Legacy decoders against the real producers: Fernet tokens and AES-GCM / versioned JSON cells
 * made by the `cryptography` package of the python3 on PATH (test/interop/legacy_producer.py, the
 * recipes hand-rolled apps use), and cloak strings made by @47ng/cloak itself. Wrong keys and
 * corrupt cells give the opaque failure; per-user PBKDF2 runs once per user across many rows.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decryptStringSync, encryptString, generateKey, getMessageKeyFingerprint } from "@47ng/cloak";
import { beforeAll, describe, expect, it } from "vitest";
import {
  aesGcmFormat,
  classifyLegacy,
  cloakFormat,
  fernetFormat,
  type LegacyFormat,
  versionedJsonFormat,
} from "../src/legacy/index.js";
import { assertOpaqueFailure, expectThrows, needs, thrown } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "legacy_producer.py");
const PYTHON = "python3";
const pythonCheck = spawnSync(PYTHON, ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the producers of legacy-interop)",
  "install python3 and `pip install cryptography`",
);

/** Runs every request through one python3 process. */
function produce(requests: readonly object[]): Record<string, unknown>[] {
  const run = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(requests), encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>[];
}

const MESSAGES = ["hello", "", "Grüße 🌍 — ünïcödé", "x".repeat(1000), '{"diagnosis":"none"}'];

/**
 * Every cut of `value` (short of its base64 pad) that keeps `signature` is unreadable or well-formed (then it fails to open),
 * never "other": none passes for plaintext, and each fails with the opaque error. Returns how many
 * cuts were unreadable.
 */
function sweepCuts(format: LegacyFormat, value: string, signature: string): number {
  let unreadable = 0;
  // Cutting only the base64 "=" pad leaves the same bytes: that value still opens.
  for (let length = signature.length; length < value.replace(/=+$/, "").length; length++) {
    const cut = value.slice(0, length);
    const kind = classifyLegacy(format, cut);
    expect(kind, `cut at ${length}`).not.toBe("other");
    if (kind === "unreadable") unreadable++;
    expect(format.hasSignature?.(cut), `cut at ${length}`).toBe(true);
    assertOpaqueFailure(thrown(() => format.decrypt(cut)));
  }
  return unreadable;
}

/** Flips one byte in the middle of a base64url/base64 text, staying in the alphabet. */
function corruptText(text: string, at = Math.floor(text.length / 2)): string {
  const c = text[at] === "A" ? "B" : "A";
  return text.slice(0, at) + c + text.slice(at + 1);
}

describe.skipIf(!hasPython)("legacy interop with Python `cryptography` producers", () => {
  const MASTER = "app-master-key-from-env";
  const STATIC_SALT = Buffer.from("journal-static-salt\x00", "latin1");
  const USERS = [7, 19, 123456789];
  const ROWS_PER_USER = 30;
  const rows = USERS.flatMap((user_id) =>
    MESSAGES.concat([`u${user_id}`]).flatMap((m) =>
      Array(ROWS_PER_USER / 6)
        .fill(m)
        .map((message: string) => ({ user_id, message })),
    ),
  );
  let key = "";
  let otherKey = "";
  let out: Record<string, unknown>[] = [];
  const aesKey = randomBytes(32);
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);

  beforeAll(() => {
    const keys = produce([{ op: "fernet_generate_key" }, { op: "fernet_generate_key" }]) as { key: string }[];
    key = keys[0]!.key;
    otherKey = keys[1]!.key;
    out = produce([
      { op: "fernet", key, messages: MESSAGES }, // 0
      { op: "multifernet", keys: [otherKey, key], messages: MESSAGES }, // 1
      { op: "fernet_double", key, messages: MESSAGES, alphabet: "std" }, // 2
      { op: "fernet_double", key, messages: MESSAGES, alphabet: "url" }, // 3
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: STATIC_SALT.toString("hex"),
        iterations: 100_000,
        hash: "sha256",
        rows,
      }, // 4
      {
        op: "fernet_pbkdf2_static",
        master: MASTER,
        static_salt_hex: STATIC_SALT.toString("hex"),
        iterations: 10_000,
        hash: "sha1",
        rows,
      }, // 5
      {
        op: "fernet_pbkdf2_column",
        master: MASTER,
        iterations: 20_000,
        hash: "sha256",
        rows: MESSAGES.map((message) => ({ message })),
      }, // 6
      { op: "aesgcm", key_hex: aesKey.toString("hex"), messages: MESSAGES }, // 7
      { op: "aesgcm", key_hex: aesKey.toString("hex"), messages: MESSAGES, form: "base64", aad: "user:42" }, // 8
      { op: "aesgcm", key_hex: aesKey.toString("hex"), messages: MESSAGES, layout: "nonce-tag-ct" }, // 9
      { op: "versioned_json", key_hex: v1.toString("hex"), version: "v1", messages: MESSAGES }, // 10
      { op: "versioned_json", key_hex: v2.toString("hex"), version: "v2", messages: MESSAGES }, // 11
    ]);
  }, 120_000);

  const tokens = (i: number) => (out[i] as { tokens: string[] }).tokens;
  const cells = (i: number) => (out[i] as { cells: string[] }).cells;

  it("Fernet with a static key (Fernet.generate_key), MultiFernet and double base64", () => {
    const format = fernetFormat({ key });
    expect(tokens(0).map((t) => format.matches(t))).toEqual(MESSAGES.map(() => true));
    expect(tokens(0).map((t) => format.decrypt(t))).toEqual(MESSAGES);
    expect(tokens(0).map((t) => format.decrypt(Buffer.from(t)))).toEqual(MESSAGES); // token bytes in bytea
    const multi = fernetFormat({ key: [key, otherKey] });
    expect(tokens(1).map((t) => multi.decrypt(t))).toEqual(MESSAGES);
    assertOpaqueFailure(thrown(() => format.decrypt(tokens(1)[0])));
    const double = fernetFormat({ key, doubleBase64: true });
    expect(tokens(2).map((t) => double.decrypt(t))).toEqual(MESSAGES);
    expect(tokens(3).map((t) => double.decrypt(t))).toEqual(MESSAGES);
    expect(tokens(2).map((t) => format.matches(t))).toEqual(MESSAGES.map(() => false));
  });

  it("a value cut short keeps its format's signature: unreadable, never plaintext, the opaque failure", () => {
    const format = fernetFormat({ key });
    expect(classifyLegacy(format, tokens(0)[0])).toBe("legacy");
    expect(classifyLegacy(format, "a plaintext entry")).toBe("other");
    expect(classifyLegacy(format, null)).toBe("other");
    expect(format.matches(tokens(0)[3]!.slice(0, 60))).toBe(false); // not well-formed…
    expect(classifyLegacy(format, tokens(0)[3]!.slice(0, 60))).toBe("unreadable"); // …but not plaintext
    expect(classifyLegacy(format, Buffer.from(tokens(0)[3]!.slice(0, 60)))).toBe("unreadable"); // in bytea
    expect(sweepCuts(format, tokens(0)[3]!, "gAAAAA")).toBeGreaterThan(1000);
    // Double base64 over the token without its own pad, so that no cut merely drops that pad.
    const inner = Buffer.from(tokens(2)[0]!, "base64").toString("latin1").replace(/=+$/, "");
    const double = fernetFormat({ key, doubleBase64: true });
    expect(double.decrypt(Buffer.from(inner).toString("base64"))).toBe(MESSAGES[0]);
    expect(sweepCuts(double, Buffer.from(inner).toString("base64"), "Z0FBQUFB")).toBeGreaterThan(100);
    // Versioned JSON: the signature is the envelope's shape, not the "{" every JSON object starts with.
    const json = versionedJsonFormat({ keys: { v1 } });
    const envelope = cells(10)[0]!;
    expect(classifyLegacy(json, envelope)).toBe("legacy");
    expect(sweepCuts(json, envelope, envelope.slice(0, envelope.indexOf('"ciphertext"') + 12))).toBeGreaterThan(10);
    expect(classifyLegacy(json, '{"version": 1, "ciphertext": "AAAA"}')).toBe("unreadable");
    expect(classifyLegacy(json, { version: "v1", ciphertext: 7 })).toBe("unreadable");
    expect(classifyLegacy(json, '{"diagnosis": "none"}')).toBe("other");
    expect(classifyLegacy(json, { diagnosis: "none" })).toBe("other");
    expect(classifyLegacy(json, '{"version": "v1", "note')).toBe("other");
    // Raw AES-GCM has no marker: a cell cut below nonce + tag cannot be told from plaintext.
    const aes = aesGcmFormat({ keys: aesKey });
    const cell = Buffer.from(cells(7)[0]!, "hex");
    expect(classifyLegacy(aes, cell.subarray(0, 28))).toBe("legacy");
    expect(classifyLegacy(aes, cell.subarray(0, 27))).toBe("other");
  });

  it("Fernet wrong key and corrupt tokens are the opaque failure", () => {
    const wrong = fernetFormat({ key: otherKey });
    for (const t of tokens(0)) assertOpaqueFailure(thrown(() => wrong.decrypt(t)));
    const format = fernetFormat({ key });
    for (const t of tokens(0)) {
      assertOpaqueFailure(thrown(() => format.decrypt(corruptText(t))));
      assertOpaqueFailure(thrown(() => format.decrypt(t.slice(0, -8))));
    }
    assertOpaqueFailure(
      thrown(() => fernetFormat({ key, doubleBase64: true }).decrypt(corruptText(tokens(2)[0]!, 20))),
    );
  });

  it("Fernet PBKDF2-SHA256 (100,000 iterations), static salt ‖ user id: derived once per user across many rows", async () => {
    const format = fernetFormat({
      derive: {
        masterKey: MASTER,
        salt: { static: STATIC_SALT, append: "user_id" },
        iterations: 100_000,
        hash: "sha256",
        keyLength: 32,
      },
    });
    const stored = rows.map((row, i) => ({ user_id: row.user_id, body: tokens(4)[i] }));
    expect(stored.length).toBe(USERS.length * ROWS_PER_USER);
    await format.prepare?.(stored);
    expect(stored.map((row) => format.decrypt(row.body, row))).toEqual(rows.map((r) => r.message));
    expect(format.stats().derivations).toBe(USERS.length);
    // Another user's key, a wrong master key, a corrupt token: the opaque failure.
    assertOpaqueFailure(thrown(() => format.decrypt(stored[0]!.body, { user_id: 19 })));
    const wrongMaster = fernetFormat({
      derive: { masterKey: "not-the-master", salt: { static: STATIC_SALT, append: "user_id" }, iterations: 100_000 },
    });
    assertOpaqueFailure(thrown(() => wrongMaster.decrypt(stored[0]!.body, stored[0]!)));
    assertOpaqueFailure(thrown(() => format.decrypt(corruptText(stored[1]!.body as string), stored[1]!)));
    expectThrows(() => format.decrypt(stored[0]!.body, { id: 1 }), "ERR_INVALID_CONTEXT");
  });

  it("Fernet PBKDF2-SHA1 (PyCryptodome's default hash), without prepare: still once per user", () => {
    const format = fernetFormat({
      derive: { masterKey: MASTER, salt: { static: STATIC_SALT, append: "user_id" }, iterations: 10_000, hash: "sha1" },
    });
    const stored = rows.map((row, i) => ({ user_id: row.user_id, body: tokens(5)[i] }));
    expect(stored.map((row) => format.decrypt(row.body, row))).toEqual(rows.map((r) => r.message));
    expect(format.stats().derivations).toBe(USERS.length);
    const sha256 = fernetFormat({
      derive: { masterKey: MASTER, salt: { static: STATIC_SALT, append: "user_id" }, iterations: 10_000 },
    });
    assertOpaqueFailure(thrown(() => sha256.decrypt(stored[0]!.body, stored[0]!)));
  });

  it("Fernet PBKDF2 with a per-user 16-byte salt column", async () => {
    const produced = (out[6] as { rows: { salt_hex: string; token: string }[] }).rows;
    const stored = produced.map((r) => ({ salt: Buffer.from(r.salt_hex, "hex"), note: r.token }));
    const format = fernetFormat({ derive: { masterKey: MASTER, salt: { column: "salt" }, iterations: 20_000 } });
    await format.prepare?.(stored);
    expect(stored.map((row) => format.decrypt(row.note, row))).toEqual(MESSAGES);
    expect(format.stats().derivations).toBe(MESSAGES.length);
    assertOpaqueFailure(thrown(() => format.decrypt(stored[0]!.note, stored[1]!)));
  });

  it("raw AES-GCM nonce ‖ ct ‖ tag: bytea, base64 text with AAD, PyCryptodome-style nonce ‖ tag ‖ ct", () => {
    const format = aesGcmFormat({ keys: aesKey });
    expect(cells(7).map((hex) => format.decrypt(Buffer.from(hex, "hex")))).toEqual(MESSAGES);
    const withAad = aesGcmFormat({ keys: aesKey.toString("base64"), aad: { column: "user_id" } });
    const aadFn = aesGcmFormat({ keys: aesKey, aad: (row) => `user:${String(row.user_id)}`, rowColumns: ["user_id"] });
    expect(cells(8).map((b64) => aadFn.decrypt(b64, { user_id: 42 }))).toEqual(MESSAGES);
    assertOpaqueFailure(thrown(() => aadFn.decrypt(cells(8)[0], { user_id: 43 })));
    assertOpaqueFailure(thrown(() => withAad.decrypt(cells(8)[0], { user_id: 42 }))); // AAD is "user:42", not "42"
    const moved = aesGcmFormat({ keys: aesKey, layout: "nonce-tag-ct" });
    expect(cells(9).map((hex) => moved.decrypt(Buffer.from(hex, "hex")))).toEqual(MESSAGES);
    assertOpaqueFailure(thrown(() => format.decrypt(Buffer.from(cells(9)[2]!, "hex"))));
    assertOpaqueFailure(
      thrown(() => aesGcmFormat({ keys: randomBytes(32) }).decrypt(Buffer.from(cells(7)[0]!, "hex"))),
    );
    const corrupt = Buffer.from(cells(7)[3]!, "hex");
    corrupt[20] = (corrupt[20] as number) ^ 0x40;
    assertOpaqueFailure(thrown(() => format.decrypt(corrupt)));
  });

  it("versioned JSON with a key registry by version", () => {
    const format = versionedJsonFormat({ keys: { v1, v2: v2.toString("base64") } });
    expect(cells(10).map((c) => format.decrypt(c))).toEqual(MESSAGES);
    expect(cells(11).map((c) => format.decrypt(JSON.parse(c)))).toEqual(MESSAGES);
    expectThrows(
      () => versionedJsonFormat({ keys: { v1 } }).decrypt(cells(11)[0]),
      "ERR_KEY_NOT_FOUND",
      'key "v2" is not in the keyring',
    );
    const swapped = versionedJsonFormat({ keys: { v1: v2, v2: v1 } });
    assertOpaqueFailure(thrown(() => swapped.decrypt(cells(10)[0])));
    const envelope = JSON.parse(cells(10)[2]!) as { version: string; ciphertext: string };
    assertOpaqueFailure(
      thrown(() => format.decrypt({ ...envelope, ciphertext: corruptText(envelope.ciphertext, 30) })),
    );
  });
});

describe("legacy interop with @47ng/cloak", () => {
  it("opens cloak strings made by @47ng/cloak, choosing the key by fingerprint", async () => {
    const k1 = generateKey();
    const k2 = generateKey();
    const made = await Promise.all(MESSAGES.map((m, i) => encryptString(m, i % 2 === 0 ? k1 : k2)));
    expect(made.every((c) => c.startsWith("v1.aesgcm256."))).toBe(true);
    expect(made.map((c, i) => decryptStringSync(c, i % 2 === 0 ? k1 : k2))).toEqual(MESSAGES); // the producer agrees
    const format = cloakFormat({ keys: [k1, k2] });
    expect(made.map((c) => format.matches(c))).toEqual(MESSAGES.map(() => true));
    expect(made.map((c) => format.decrypt(c))).toEqual(MESSAGES);
    expect(made.map((c) => format.decrypt(Buffer.from(c)))).toEqual(MESSAGES);
    // The key text without its "=" pad is accepted too (cloak's own regex allows it).
    expect(cloakFormat({ keys: [k1.replace(/=$/, "")] }).decrypt(made[0])).toBe(MESSAGES[0]);
    const fp = getMessageKeyFingerprint(made[1]!);
    expectThrows(
      () => cloakFormat({ keys: k1 }).decrypt(made[1]),
      "ERR_KEY_NOT_FOUND",
      `key "${fp}" is not in the keyring`,
    );
    // A cell moved under another key's fingerprint, or corrupted: the opaque failure.
    const [v, alg, , iv, ct] = made[1]!.split(".");
    assertOpaqueFailure(thrown(() => format.decrypt([v, alg, getMessageKeyFingerprint(made[0]!), iv, ct].join("."))));
    assertOpaqueFailure(thrown(() => format.decrypt([v, alg, fp, iv, corruptText(ct!, 5)].join("."))));
    assertOpaqueFailure(thrown(() => format.decrypt([v, alg, fp, corruptText(iv!, 3), ct].join("."))));
    assertOpaqueFailure(thrown(() => format.decrypt(made[1]!.slice(0, -6))));
  });

  it("a cloak string cut short at any length after v1.aesgcm256. is unreadable, never plaintext", async () => {
    const key = generateKey();
    const format = cloakFormat({ keys: key });
    const made = await encryptString(MESSAGES[2]!, key);
    expect(format.matches(made.slice(0, 50))).toBe(false);
    expect(classifyLegacy(format, made.slice(0, 50))).toBe("unreadable");
    expect(sweepCuts(format, made, "v1.aesgcm256.")).toBeGreaterThan(30);
    expect(classifyLegacy(format, "v1.aesgcm25")).toBe("other");
  });
});
