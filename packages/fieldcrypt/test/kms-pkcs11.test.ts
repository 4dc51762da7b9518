/**
 * The PKCS#11 root-key provider against a real SoftHSM2 token made for this run (a temporary token
 * directory, SOFTHSM2_CONF set before the library loads): round trip, one opaque error for wrong
 * AAD / tampering / truncation, another root key id, login and lookup failures naming the CKR_ code
 * and never the PIN, a non-extractable key, concurrency over one or several sessions, close(), and
 * the data-key store end to end on the test database (PGlite, or the server at DATABASE_URL).
 *
 * Without SoftHSM2 the suite is skipped, except under CI, where its absence fails
 * (`scripts/setup-softhsm.sh` installs it).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import type * as Pkcs11js from "pkcs11js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decrypt, encrypt } from "../src/cell/index.js";
import { createDataKey, listDataKeys, loadKeyring, rotateRootKey } from "../src/key-store/index.js";
import { localRootKey } from "../src/kms/index.js";
import { generatePkcs11RootKey, type Pkcs11RootKey, pkcs11RootKey } from "../src/kms/pkcs11.js";
import type { Queryable } from "../src/pg/index.js";
import { type TestDb, useTestDb } from "./db.js";
import { caught, keyBytes, needs } from "./helpers.js";

const LIBRARY = [
  process.env.FIELDCRYPT_TEST_PKCS11_LIBRARY,
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
].find((path): path is string => path !== undefined && path !== "" && existsSync(path));

function hasSoftHsmUtil(): boolean {
  try {
    execFileSync("softhsm2-util", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const HAVE_SOFTHSM = needs(
  LIBRARY !== undefined && hasSoftHsmUtil(),
  "SoftHSM2 (softhsm2-util and libsofthsm2.so)",
  "run scripts/setup-softhsm.sh",
);

const suite = HAVE_SOFTHSM ? describe : describe.skip;
const SUITE_NAME = `PKCS#11 root key on SoftHSM2${HAVE_SOFTHSM ? "" : " (skipped: SoftHSM2 not found, run scripts/setup-softhsm.sh)"}`;

const PIN = "canary-pin-7731";
const SO_PIN = "canary-so-pin-4409";
const TOKEN = "fieldcrypt-test";
const OTHER_TOKEN = "fieldcrypt-other";
const AAD = Buffer.from("dk-1\0tenant-a");
const FAILED = {
  code: "ERR_UNWRAP_FAILED",
  message: 'root key "hsm-a" could not unwrap the data key',
  rootKeyId: "hsm-a",
};

/** Everything an error shows: message, stack, inspect and JSON. */
function shown(e: unknown): string {
  return [String(e), (e as Error).stack ?? "", inspect(e), JSON.stringify(e)].join("\n");
}

let dir: string;
let library: string;
let slotOfOther: number;
let hsmA: Pkcs11RootKey;
let hsmB: Pkcs11RootKey;

function initToken(label: string): number {
  const out = execFileSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
    { env: process.env, encoding: "utf8" },
  );
  const slot = /reassigned to slot (\d+)/.exec(out)?.[1];
  if (slot === undefined) throw new Error(`softhsm2-util did not say which slot the token got: ${out}`);
  return Number(slot);
}

suite(SUITE_NAME, () => {
  beforeAll(async () => {
    library = LIBRARY as string;
    dir = mkdtempSync(join(tmpdir(), "fieldcrypt-softhsm-"));
    mkdirSync(join(dir, "tokens"));
    writeFileSync(
      join(dir, "softhsm2.conf"),
      `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    // SoftHSM reads its configuration when the library is initialized: set it before any provider.
    process.env.SOFTHSM2_CONF = join(dir, "softhsm2.conf");
    initToken(TOKEN);
    slotOfOther = initToken(OTHER_TOKEN);
    await generatePkcs11RootKey({ library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" });
    await generatePkcs11RootKey({ library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-b" });
    await generatePkcs11RootKey({ library, slot: slotOfOther, pin: PIN, keyLabel: "root-a" });
    hsmA = await pkcs11RootKey({ id: "hsm-a", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" });
    hsmB = await pkcs11RootKey({ id: "hsm-b", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-b", sessions: 3 });
  });
  afterAll(async () => {
    await hsmA?.close();
    await hsmB?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe("wrap and unwrap on the token", () => {
    it("round-trips a data key with a fresh IV per wrap; the key bytes are not in the wrapped form", async () => {
      const dataKey = randomBytes(32);
      const a = Buffer.from(await hsmA.wrap(dataKey, AAD));
      const b = Buffer.from(await hsmA.wrap(dataKey, AAD));
      expect(a.equals(b)).toBe(false);
      expect(a.length).toBe(4 + 1 + 5 + 12 + 32 + 16);
      expect(a.subarray(0, 10).toString("latin1")).toBe("FCP\x01\x05hsm-a");
      expect(a.includes(dataKey)).toBe(false);
      expect(Buffer.from(await hsmA.unwrap(a, AAD)).equals(dataKey)).toBe(true);
      expect(Buffer.from(await hsmA.unwrap(b, AAD)).equals(dataKey)).toBe(true);
    });

    it("the same key opened by slot id unwraps what the token label opened (and other tokens' keys differ)", async () => {
      const bySlot = await pkcs11RootKey({ id: "hsm-a", library, slot: slotOfOther, pin: PIN, keyLabel: "root-a" });
      try {
        // Same label and id, another token: another key, so the wrapped key does not open.
        const wrapped = await hsmA.wrap(keyBytes(3), AAD);
        expect(await caught(() => bySlot.unwrap(wrapped, AAD))).toMatchObject(FAILED);
        expect(Buffer.from(await bySlot.unwrap(await bySlot.wrap(keyBytes(3), AAD), AAD)).equals(keyBytes(3))).toBe(
          true,
        );
      } finally {
        await bySlot.close();
      }
    });

    it("wrong AAD, tampering of any bit and truncation give one opaque KeyUnwrapFailed", async () => {
      const wrapped = Buffer.from(await hsmA.wrap(keyBytes(7), AAD));
      const wrongAad = await caught(() => hsmA.unwrap(wrapped, Buffer.from("dk-1\0tenant-b")));
      expect(wrongAad).toMatchObject(FAILED);
      expect(wrongAad.cause).toBeUndefined();
      for (let bit = 0; bit < wrapped.length * 8; bit++) {
        const copy = Buffer.from(wrapped);
        copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
        const e = await caught(() => hsmA.unwrap(copy, AAD));
        // A flip in the id's length or bytes may name another (printable) root key id: same code.
        if (bit >= 8 * 4 && bit < 8 * 10) expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED", rootKeyId: "hsm-a" });
        else expect(e).toMatchObject(FAILED);
      }
      for (let n = 0; n < wrapped.length; n++) {
        expect(await caught(() => hsmA.unwrap(wrapped.subarray(0, n), AAD))).toMatchObject(FAILED);
      }
      // Appended bytes change the tag position: the token rejects it too.
      expect(await caught(() => hsmA.unwrap(Buffer.concat([wrapped, Buffer.of(0)]), AAD))).toMatchObject(FAILED);
      // The provider still works after the token rejected all of that.
      expect(Buffer.from(await hsmA.unwrap(wrapped, AAD)).equals(keyBytes(7))).toBe(true);
    });

    it("a key wrapped by another root key id says which; a locally wrapped key is opaque", async () => {
      const byB = await hsmB.wrap(keyBytes(9), AAD);
      expect(await caught(() => hsmA.unwrap(byB, AAD))).toMatchObject({
        code: "ERR_UNWRAP_FAILED",
        message: 'the data key is wrapped by root key "hsm-b", not "hsm-a"',
        rootKeyId: "hsm-a",
      });
      const local = await localRootKey("hsm-a", keyBytes(1)).wrap(keyBytes(9), AAD);
      expect(await caught(() => hsmA.unwrap(local, AAD))).toMatchObject(FAILED);
    });

    it("rejects bad arguments with ERR_INVALID_OPTION", async () => {
      expect(await caught(() => hsmA.wrap("key" as unknown as Uint8Array, AAD))).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: "dataKey must be a Uint8Array (got string)",
      });
      expect(await caught(() => hsmA.wrap(new Uint8Array(0), AAD))).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect(await caught(() => hsmA.unwrap(new Uint8Array(80), null as unknown as Uint8Array))).toMatchObject({
        code: "ERR_INVALID_OPTION",
      });
    });

    it("queues concurrent calls on one session, and spreads them over several", async () => {
      for (const provider of [hsmA, hsmB]) {
        const keys = Array.from({ length: 300 }, () => randomBytes(32));
        const aads = keys.map((_, i) => Buffer.from(`dk-${i}`));
        const wrapped = await Promise.all(keys.map((k, i) => provider.wrap(k, aads[i] as Buffer)));
        const opened = await Promise.all(wrapped.map((w, i) => provider.unwrap(w, aads[i] as Buffer)));
        expect(opened.every((k, i) => Buffer.from(k).equals(keys[i] as Buffer))).toBe(true);
      }
    });
  });

  describe("opening the token", () => {
    it("a wrong PIN gives ERR_ROOT_KEY_UNAVAILABLE with the CKR_ code and without the PIN", async () => {
      const wrongPin = "wrong-pin-canary-5521";
      // A token nobody is logged in to, then the token this process is logged in to already
      // (where the token itself would not check the PIN again).
      for (const where of [{ slot: slotOfOther }, { tokenLabel: TOKEN }]) {
        await hsmA.wrap(keyBytes(1), AAD); // keeps the first token logged in
        const e = await caught(() =>
          pkcs11RootKey({ id: "hsm-x", library, ...where, pin: wrongPin, keyLabel: "root-a" }),
        );
        expect(e).toMatchObject({
          code: "ERR_ROOT_KEY_UNAVAILABLE",
          name: "RootKeyUnavailable",
          message: 'root key "hsm-x" is unavailable (C_Login: CKR_PIN_INCORRECT)',
          rootKeyId: "hsm-x",
        });
        expect(e.cause).toBeUndefined();
        expect(shown(e)).not.toContain(wrongPin);
        expect(shown(e)).not.toContain(PIN);
      }
      // The failed logins did not log the first token out.
      expect(Buffer.from(await hsmA.unwrap(await hsmA.wrap(keyBytes(2), AAD), AAD)).equals(keyBytes(2))).toBe(true);
    });

    it("a missing library, token or key gives ERR_ROOT_KEY_UNAVAILABLE naming what is missing", async () => {
      const base = { id: "hsm-x", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" };
      const cases: [Parameters<typeof pkcs11RootKey>[0], string][] = [
        [
          { ...base, library: join(dir, "nope.so") },
          `cannot load the PKCS#11 library ${JSON.stringify(join(dir, "nope.so"))}`,
        ],
        [{ ...base, tokenLabel: "no-such-token" }, 'no token labelled "no-such-token"'],
        [{ ...base, tokenLabel: undefined, slot: 424242 }, "no token in slot 424242"],
        [{ ...base, keyLabel: "no-such-key" }, `no AES secret key labelled "no-such-key" on token "${TOKEN}"`],
      ];
      for (const [options, what] of cases) {
        const e = await caught(() => pkcs11RootKey(options));
        expect(e).toMatchObject({
          code: "ERR_ROOT_KEY_UNAVAILABLE",
          message: `root key "hsm-x" is unavailable (${what})`,
        });
        expect(shown(e)).not.toContain(PIN);
      }
    });

    it("validates its options without echoing the PIN", async () => {
      const base = { id: "hsm-x", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" };
      expect(await caught(() => pkcs11RootKey({ ...base, slot: 1 }))).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: "pkcs11RootKey needs exactly one of options.slot and options.tokenLabel",
      });
      expect(await caught(() => pkcs11RootKey({ ...base, pin: "" }))).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect(await caught(() => pkcs11RootKey({ ...base, id: "has space" }))).toMatchObject({
        code: "ERR_INVALID_KEY",
      });
      expect(await caught(() => pkcs11RootKey({ ...base, sessions: 0 }))).toMatchObject({ code: "ERR_INVALID_OPTION" });
      expect(
        await caught(() => generatePkcs11RootKey({ library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" })),
      ).toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: `an AES key labelled "root-a" already exists on token "${TOKEN}"`,
      });
    });

    it("the generated key is non-extractable and sensitive; a readable key is refused", async () => {
      const p11js = createRequire(import.meta.url)("pkcs11js") as typeof Pkcs11js;
      const p11 = new p11js.PKCS11();
      p11.load(library); // the same library instance the providers initialized
      const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === TOKEN) as Buffer;
      const session = p11.C_OpenSession(slot, p11js.CKF_SERIAL_SESSION | p11js.CKF_RW_SESSION);
      try {
        p11.C_FindObjectsInit(session, [{ type: p11js.CKA_LABEL, value: "root-a" }]);
        const [key] = p11.C_FindObjects(session, 2);
        p11.C_FindObjectsFinal(session);
        const read = await caught(() => p11.C_GetAttributeValue(session, key as Buffer, [{ type: p11js.CKA_VALUE }]));
        expect(read.message).toBe("CKR_ATTRIBUTE_SENSITIVE");
        const flags = p11.C_GetAttributeValue(session, key as Buffer, [
          { type: p11js.CKA_EXTRACTABLE },
          { type: p11js.CKA_SENSITIVE },
          { type: p11js.CKA_TOKEN },
          { type: p11js.CKA_VALUE_LEN },
        ]);
        expect(flags.map((a) => (a.value as Buffer)[0])).toEqual([0, 1, 1, 32]);

        // A key whose value can be read off the token is not accepted as a root key.
        p11.C_GenerateKey(session, { mechanism: p11js.CKM_AES_KEY_GEN }, [
          { type: p11js.CKA_CLASS, value: p11js.CKO_SECRET_KEY },
          { type: p11js.CKA_KEY_TYPE, value: p11js.CKK_AES },
          { type: p11js.CKA_VALUE_LEN, value: 32 },
          { type: p11js.CKA_LABEL, value: "readable" },
          { type: p11js.CKA_TOKEN, value: true },
          { type: p11js.CKA_SENSITIVE, value: false },
          { type: p11js.CKA_EXTRACTABLE, value: true },
          { type: p11js.CKA_ENCRYPT, value: true },
          { type: p11js.CKA_DECRYPT, value: true },
        ]);
        expect(
          await caught(() =>
            pkcs11RootKey({ id: "hsm-r", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "readable" }),
          ),
        ).toMatchObject({
          code: "ERR_INVALID_KEY",
          message: 'root key "hsm-r": key "readable" must be CKA_SENSITIVE (its value is readable)',
        });
      } finally {
        p11.C_CloseSession(session);
      }
    });

    it("close() waits for calls in flight; later calls fail with ERR_ROOT_KEY_UNAVAILABLE; other providers go on", async () => {
      const extra = await pkcs11RootKey({ id: "hsm-a", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" });
      const inFlight = Array.from({ length: 20 }, () => extra.wrap(keyBytes(4), AAD));
      const settled = Promise.allSettled(inFlight);
      await extra.close();
      const done = await settled;
      // The first call holds the one session; the queued ones are refused by close().
      expect(done[0]?.status).toBe("fulfilled");
      for (const r of done.slice(1)) {
        expect(r).toMatchObject({
          status: "rejected",
          reason: {
            code: "ERR_ROOT_KEY_UNAVAILABLE",
            message: 'root key "hsm-a" is unavailable (the provider was closed)',
          },
        });
      }
      const wrapped = (done[0] as PromiseFulfilledResult<Uint8Array>).value;
      expect(await caught(() => extra.unwrap(wrapped, AAD))).toMatchObject({ code: "ERR_ROOT_KEY_UNAVAILABLE" });
      await extra.close(); // idempotent
      expect(Buffer.from(await hsmA.unwrap(wrapped, AAD)).equals(keyBytes(4))).toBe(true);
    });

    it("inspect, JSON and toString show ids and labels, never the PIN", () => {
      for (const text of [inspect(hsmA), JSON.stringify(hsmA), String(hsmA), inspect({ hsmA }, { depth: 5 })]) {
        expect(text).not.toContain(PIN);
        expect(text).toContain("hsm-a");
      }
      expect(JSON.parse(JSON.stringify(hsmA))).toEqual({
        id: "hsm-a",
        type: "pkcs11",
        token: `${library} token "${TOKEN}"`,
        keyLabel: "root-a",
        pin: "[redacted]",
      });
      expect(Object.keys(hsmA)).toEqual(["id", "keyLabel", "token"]);
    });
  });

  describe("with the data-key store on the test database", () => {
    let db: TestDb;
    let q: Queryable;
    const local = localRootKey("local-1", keyBytes(0x31));
    const ctx = (scope: string, id: number) => ({ scope, table: "notes", column: "body", rowKey: id });

    useTestDb(
      ["keys"],
      (opened) => {
        ({ db, q } = opened);
      },
      async () => {
        await db.query("CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text)");
      },
    );
    beforeEach(async () => {
      await db.query("DELETE FROM fieldcrypt_keys");
      await db.query("DELETE FROM notes");
    });

    it(`creates data keys wrapped by the HSM key and loads them to encrypt and decrypt (${process.env.DATABASE_URL ? "server" : "PGlite"})`, async () => {
      const { id, rootKeyId } = await createDataKey(q, hsmA, "tenant-a");
      expect(rootKeyId).toBe("hsm-a");
      const [row] = await db.query<{ root_key_id: string; wrapped_key: Uint8Array }>(
        "SELECT root_key_id, wrapped_key FROM fieldcrypt_keys WHERE id = $1",
        [id],
      );
      expect(row?.root_key_id).toBe("hsm-a");
      expect(
        Buffer.from(row?.wrapped_key as Uint8Array)
          .subarray(0, 10)
          .toString("latin1"),
      ).toBe("FCP\x01\x05hsm-a");

      const keyring = await loadKeyring(q, hsmA, { scopes: ["tenant-a"] });
      const cell = encrypt(keyring, "a journal entry", ctx("tenant-a", 1));
      await db.query("INSERT INTO notes VALUES (1, 'tenant-a', $1)", [cell]);
      const [note] = await db.query<{ body: string }>("SELECT body FROM notes WHERE id = 1");
      expect(
        decrypt(await loadKeyring(q, hsmA, { scopes: ["tenant-a"] }), note?.body as string, ctx("tenant-a", 1)),
      ).toBe("a journal entry");
      // The other HSM key does not hold it: no provider for "hsm-a".
      expect(await caught(() => loadKeyring(q, hsmB, { scopes: ["tenant-a"] }))).toMatchObject({
        code: "ERR_ROOT_KEY_UNAVAILABLE",
      });
    });

    it("rotates the root key local → PKCS#11 → local with application rows untouched and readable", async () => {
      const tenants = ["tenant-a", "tenant-b", "tenant-c"];
      for (const t of tenants) await createDataKey(q, local, t);
      const ring0 = await loadKeyring(q, local, { scopes: tenants });
      for (const [i, t] of tenants.entries()) {
        await db.query("INSERT INTO notes VALUES ($1, $2, $3)", [i, t, encrypt(ring0, `note of ${t}`, ctx(t, i))]);
      }
      const rowsBefore = await db.query("SELECT * FROM notes ORDER BY id");
      const read = async (provider: Parameters<typeof loadKeyring>[1]) => {
        const ring = await loadKeyring(q, provider, { scopes: tenants });
        const rows = await db.query<{ id: number; tenant: string; body: string }>("SELECT * FROM notes ORDER BY id");
        return rows.map((r) => decrypt(ring, r.body, ctx(r.tenant, r.id)));
      };
      const expected = tenants.map((t) => `note of ${t}`);

      expect(await rotateRootKey(q, local, hsmB, { batchSize: 2 })).toEqual({ rewrapped: 3 });
      expect((await listDataKeys(q)).map((k) => k.rootKeyId)).toEqual(["hsm-b", "hsm-b", "hsm-b"]);
      const wrapped = await db.query<{ wrapped_key: Uint8Array }>("SELECT wrapped_key FROM fieldcrypt_keys");
      expect(wrapped.every((r) => Buffer.from(r.wrapped_key).subarray(0, 3).toString("latin1") === "FCP")).toBe(true);
      expect(await db.query("SELECT * FROM notes ORDER BY id")).toEqual(rowsBefore);
      expect(await read(hsmB)).toEqual(expected);
      expect(await caught(() => loadKeyring(q, local, { scopes: tenants }))).toMatchObject({
        code: "ERR_ROOT_KEY_UNAVAILABLE",
      });

      expect(await rotateRootKey(q, hsmB, local)).toEqual({ rewrapped: 3 });
      expect((await listDataKeys(q)).map((k) => k.rootKeyId)).toEqual(["local-1", "local-1", "local-1"]);
      expect(await db.query("SELECT * FROM notes ORDER BY id")).toEqual(rowsBefore);
      expect(await read(local)).toEqual(expected);
    });

    it("a wrapped key moved to another tenant's row does not unwrap on the token", async () => {
      const a = await createDataKey(q, hsmA, "tenant-a");
      const b = await createDataKey(q, hsmA, "tenant-b");
      await db.query(
        "UPDATE fieldcrypt_keys SET wrapped_key = (SELECT wrapped_key FROM fieldcrypt_keys WHERE id = $1) WHERE id = $2",
        [a.id, b.id],
      );
      expect(await caught(() => loadKeyring(q, hsmA, { scopes: ["tenant-b"] }))).toMatchObject(FAILED);
    });
  });

  it("closing the last provider finalizes the library; the next provider initializes it again", async () => {
    const wrapped = await hsmA.wrap(keyBytes(5), AAD);
    await hsmA.close();
    await hsmB.close();
    const p11js = createRequire(import.meta.url)("pkcs11js") as typeof Pkcs11js;
    const p11 = new p11js.PKCS11();
    p11.load(library);
    expect((await caught(() => p11.C_GetSlotList(true))).message).toBe("CKR_CRYPTOKI_NOT_INITIALIZED");
    hsmA = await pkcs11RootKey({ id: "hsm-a", library, tokenLabel: TOKEN, pin: PIN, keyLabel: "root-a" });
    expect(Buffer.from(await hsmA.unwrap(wrapped, AAD)).equals(keyBytes(5))).toBe(true);
    // A different PIN is still refused on the logged-in token.
    expect(
      await caught(() => pkcs11RootKey({ id: "hsm-b", library, tokenLabel: TOKEN, pin: "nope", keyLabel: "root-b" })),
    ).toMatchObject({ message: 'root key "hsm-b" is unavailable (C_Login: CKR_PIN_INCORRECT)' });
  });
});
