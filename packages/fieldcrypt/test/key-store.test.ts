/**
 * The data-key store on a real database (PGlite, or the server at DATABASE_URL): per-tenant keys
 * and isolation, root rotation with application rows untouched, crypto-shredding (typed error,
 * other scopes unaffected, audited), the cache's TTL and size bound, an unreachable provider.
 */
import { inspect } from "node:util";
import pg from "pg";
import { beforeEach, describe, expect, it } from "vitest";
import { createAuditor, verifyAudit } from "../src/audit/index.js";
import { decrypt, encrypt, inspectCell } from "../src/cell/index.js";
import { encryptedColumn } from "../src/column/index.js";
import { KeyNotFound } from "../src/errors/index.js";
import {
  createDataKey,
  createKeyCache,
  destroyedKeyIds,
  ensureKeyTable,
  listDataKeys,
  loadKeyring,
  rethrowDestroyed,
  rotateRootKey,
  shredScope,
} from "../src/key-store/index.js";
import { createKeyring, type Keyring } from "../src/keyring/index.js";
import { localRootKey, type RootKeyProvider } from "../src/kms/index.js";
import type { Queryable } from "../src/pg/index.js";
import { type TestDb, useTestDb } from "./db.js";
import { caught, keyBytes } from "./helpers.js";

const root1 = localRootKey("root-1", keyBytes(0x21));
const root2 = localRootKey("root-2", keyBytes(0x22));
const auditor = createAuditor(keyBytes(0xad));
const A = "tenant-a";
const B = "tenant-b";
const ctx = (scope: string, id: number) => ({ scope, table: "notes", column: "body", rowKey: id });

let db: TestDb;
let q: Queryable;

useTestDb(
  ["keys", "audit"],
  (opened) => {
    ({ db, q } = opened);
  },
  async () => {
    await ensureKeyTable(q); // idempotent
    await db.query("CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text)");
  },
);
beforeEach(async () => {
  await db.query("DELETE FROM fieldcrypt_keys");
  await db.query("ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER");
  await db.query("DELETE FROM fieldcrypt_audit");
  await db.query("ALTER TABLE fieldcrypt_audit ENABLE TRIGGER USER");
  await db.query("DELETE FROM notes");
});

async function writeNote(keyring: Keyring, id: number, tenant: string, body: string): Promise<void> {
  await db.query("INSERT INTO notes (id, tenant, body) VALUES ($1, $2, $3)", [
    id,
    tenant,
    encrypt(keyring, body, ctx(tenant, id)),
  ]);
}

async function readNote(keyring: Keyring, id: number): Promise<unknown> {
  const [row] = await db.query<{ tenant: string; body: string }>("SELECT tenant, body FROM notes WHERE id = $1", [id]);
  return decrypt(keyring, row!.body, ctx(row!.tenant, id));
}

const auditLog = () =>
  db.query<{ action: string; scope: string | null; key_ids: string[] }>(
    "SELECT action, scope, key_ids FROM fieldcrypt_audit ORDER BY seq",
  );

/** A provider that counts calls and can be made to fail. */
function counting(inner: RootKeyProvider, fail?: () => Error) {
  const calls = { wrap: 0, unwrap: 0 };
  const provider: RootKeyProvider = {
    id: inner.id,
    wrap: (k, aad) => {
      calls.wrap++;
      return inner.wrap(k, aad);
    },
    unwrap: async (w, aad) => {
      calls.unwrap++;
      if (fail !== undefined) throw fail();
      return inner.unwrap(w, aad);
    },
  };
  return { provider, calls };
}

describe("creating data keys", () => {
  it("makes the new key primary and the previous one decrypt-only, audited", async () => {
    const first = await createDataKey(q, root1, A, { auditor, actor: "signup" });
    expect(first).toMatchObject({ scope: A, rootKeyId: "root-1", retired: [] });
    expect(first.id).toMatch(/^dk-[A-Za-z0-9_-]{16}$/);
    const second = await createDataKey(q, root1, A, { auditor });
    expect(second.retired).toEqual([first.id]);
    const shared = await createDataKey(q, root1, undefined);
    const keys = await listDataKeys(q);
    expect(keys.map((k) => [k.id, k.scope, k.state, k.rootKeyId])).toEqual([
      [shared.id, undefined, "primary", "root-1"],
      [first.id, A, "decrypt-only", "root-1"],
      [second.id, A, "primary", "root-1"],
    ]);
    expect(keys[1]!.retiredAt).toBeInstanceOf(Date);
    const [row] = await db.query<{ wrapped_key: Uint8Array }>("SELECT wrapped_key FROM fieldcrypt_keys WHERE id = $1", [
      first.id,
    ]);
    expect(Buffer.from(row!.wrapped_key).subarray(0, 11).toString("latin1")).toBe("FCW\x01\x06root-1");
    expect((await auditLog()).map((e) => [e.action, e.scope, e.key_ids])).toEqual([
      ["key.create", A, [first.id]],
      ["key.create", A, [second.id]],
    ]);
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 2 });
    const keyring = await loadKeyring(q, root1, { scopes: [A] });
    expect(keyring.primary(A).id).toBe(second.id);
    expect(keyring.primary().id).toBe(shared.id);
    expect(keyring.has(first.id)).toBe(true);
  });

  it("concurrent creates for one scope leave exactly one primary", async () => {
    const pool = db.kind === "server" ? new pg.Pool({ connectionString: db.connectionString, max: 5 }) : undefined;
    try {
      const created = await Promise.all(
        Array.from({ length: 5 }, () => createDataKey(pool ?? q, root1, A, { auditor })),
      );
      const keys = await listDataKeys(q, { scopes: [A] });
      expect(keys).toHaveLength(5);
      expect(keys.filter((k) => k.state === "primary")).toHaveLength(1);
      expect(created.flatMap((c) => c.retired).sort()).toEqual(
        keys
          .filter((k) => k.state === "decrypt-only")
          .map((k) => k.id)
          .sort(),
      );
      expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 5 });
    } finally {
      await pool?.end();
    }
  });

  it("allows one primary per scope in the table itself", async () => {
    await createDataKey(q, root1, A);
    const e = await caught(() =>
      db
        .query("UPDATE fieldcrypt_keys SET state = 'primary' WHERE state = 'decrypt-only' OR scope = $1", [A])
        .then(() =>
          db.query(
            "INSERT INTO fieldcrypt_keys (id, scope, state, root_key_id, wrapped_key) VALUES ('x', $1, 'primary', 'r', '\\x00')",
            [A],
          ),
        ),
    );
    expect(e.message).toMatch(/fieldcrypt_keys_one_primary|duplicate key/);
  });
});

describe("per-tenant isolation", () => {
  it("tenant A's keyring cannot open tenant B's cells", async () => {
    await createDataKey(q, root1, A);
    await createDataKey(q, root1, B);
    const ringA = await loadKeyring(q, root1, { scopes: [A] });
    const ringB = await loadKeyring(q, root1, { scopes: [B] });
    await writeNote(ringA, 1, A, "A's note");
    await writeNote(ringB, 2, B, "B's note");
    expect(await readNote(ringA, 1)).toBe("A's note");
    expect(await readNote(ringB, 2)).toBe("B's note");
    expect(await caught(() => readNote(ringA, 2))).toMatchObject({ code: "ERR_KEY_NOT_FOUND" });
    expect(await caught(() => readNote(ringB, 1))).toMatchObject({ code: "ERR_KEY_NOT_FOUND" });
    // Even a keyring holding both keys will not open A's cell moved into B's row.
    const both = await loadKeyring(q, root1, { scopes: [A, B] });
    await db.query("UPDATE notes SET body = (SELECT body FROM notes WHERE id = 1) WHERE id = 2");
    expect(await caught(() => readNote(both, 2))).toMatchObject({ code: "ERR_DECRYPTION_FAILED" });
  });

  it("a wrapped key moved to another tenant's row does not unwrap (audited)", async () => {
    const a = await createDataKey(q, root1, A);
    const b = await createDataKey(q, root1, B);
    await db.query(
      "UPDATE fieldcrypt_keys SET wrapped_key = (SELECT wrapped_key FROM fieldcrypt_keys WHERE id = $1) WHERE id = $2",
      [a.id, b.id],
    );
    const e = await caught(() => loadKeyring(q, root1, { scopes: [B], auditor }));
    expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED", message: 'root key "root-1" could not unwrap the data key' });
    expect((await auditLog()).map((x) => [x.action, x.scope, x.key_ids])).toEqual([["key.unwrap-failed", B, [b.id]]]);
    expect((await loadKeyring(q, root1, { scopes: [A] })).has(a.id)).toBe(true);
  });
});

describe("root key rotation", () => {
  it("rewraps every data key, leaves application rows untouched and readable, resumes", async () => {
    await createDataKey(q, root1, A);
    const ringA1 = await loadKeyring(q, root1, { scopes: [A] });
    await writeNote(ringA1, 1, A, "old key");
    await createDataKey(q, root1, A);
    await createDataKey(q, root1, B);
    await createDataKey(q, root1, "tenant-c");
    await shredScope(q, "tenant-c");
    const ring1 = await loadKeyring(q, root1, { scopes: [A, B] });
    await writeNote(ring1, 2, A, "new key");
    await writeNote(ring1, 3, B, "tenant b");
    const before = await db.query("SELECT * FROM notes ORDER BY id");

    const result = await rotateRootKey(q, root1, root2, { auditor, batchSize: 2 });
    expect(result).toEqual({ rewrapped: 3 });
    expect(await db.query("SELECT * FROM notes ORDER BY id")).toEqual(before);
    const keys = await listDataKeys(q);
    expect(keys.filter((k) => k.state !== "destroyed").every((k) => k.rootKeyId === "root-2")).toBe(true);
    expect(keys.filter((k) => k.state === "destroyed").map((k) => k.rootKeyId)).toEqual(["root-1"]);

    const ring2 = await loadKeyring(q, root2, { scopes: [A, B] });
    expect([await readNote(ring2, 1), await readNote(ring2, 2), await readNote(ring2, 3)]).toEqual([
      "old key",
      "new key",
      "tenant b",
    ]);
    expect(await caught(() => loadKeyring(q, root1, { scopes: [A] }))).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      message: expect.stringMatching(
        /^data key "dk-[^"]+" is wrapped by root key "root-2", which no given provider holds$/,
      ),
    });
    // During a rotation both root keys can be given.
    expect((await loadKeyring(q, [root1, root2], { scopes: [A] })).list()).toHaveLength(2);

    const log = await auditLog();
    expect(log.map((e) => e.action)).toEqual(["key.rewrap", "key.rewrap"]);
    expect(log.flatMap((e) => e.key_ids).sort()).toEqual(
      keys
        .filter((k) => k.state !== "destroyed")
        .map((k) => k.id)
        .sort(),
    );
    expect(await rotateRootKey(q, root1, root2)).toEqual({ rewrapped: 0 });
    expect(await caught(() => rotateRootKey(q, root2, root2))).toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("a failed unwrap stops the rotation with rows still under the old root key; a rerun finishes", async () => {
    await createDataKey(q, root1, A);
    await createDataKey(q, root1, B);
    let failing = true;
    const flaky: RootKeyProvider = {
      id: "root-1",
      wrap: (k, aad) => root1.wrap(k, aad),
      unwrap: async (w, aad) => {
        if (failing) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        return root1.unwrap(w, aad);
      },
    };
    expect(await caught(() => rotateRootKey(q, flaky, root2, { auditor }))).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      message: 'root key "root-1" is unavailable (ECONNRESET)',
    });
    expect((await listDataKeys(q)).map((k) => k.rootKeyId)).toEqual(["root-1", "root-1"]);
    failing = false;
    expect(await rotateRootKey(q, flaky, root2)).toEqual({ rewrapped: 2 });
  });
});

describe("crypto-shredding", () => {
  it("destroys a scope's keys: its cells fail with ERR_KEY_DESTROYED, other scopes unaffected, audited", async () => {
    const a1 = await createDataKey(q, root1, A, { auditor });
    const ringOld = await loadKeyring(q, root1, { scopes: [A] });
    await writeNote(ringOld, 1, A, "erase me");
    const a2 = await createDataKey(q, root1, A, { auditor });
    await createDataKey(q, root1, B, { auditor });
    const cache = createKeyCache();
    const ring = await loadKeyring(q, root1, { scopes: [A, B], cache });
    await writeNote(ring, 2, A, "erase me too");
    await writeNote(ring, 3, B, "keep me");
    expect(cache.size).toBe(3);

    const result = await shredScope(q, A, { auditor, actor: "gdpr-erasure", cache });
    expect(result.destroyed).toEqual([a1.id, a2.id].sort());
    expect(cache.size).toBe(1);
    const rows = await db.query<{ state: string; wrapped_key: unknown; destroyed_at: unknown }>(
      "SELECT state, wrapped_key, destroyed_at FROM fieldcrypt_keys WHERE scope = $1",
      [A],
    );
    expect(rows.map((r) => [r.state, r.wrapped_key, r.destroyed_at instanceof Date])).toEqual([
      ["destroyed", null, true],
      ["destroyed", null, true],
    ]);

    const after = await loadKeyring(q, root1, { scopes: [A, B] });
    expect(destroyedKeyIds(after).sort()).toEqual([a1.id, a2.id].sort());
    for (const id of [1, 2]) {
      // decrypt itself tells a destroyed key from an unknown one.
      const e = await caught(() => readNote(after, id));
      expect(e).toMatchObject({ code: "ERR_KEY_DESTROYED", name: "KeyDestroyed" });
      expect(e.message).toMatch(/^key "dk-[^"]+" was destroyed \(crypto-shredded\)$/);
      // rethrowDestroyed keeps working for errors caught elsewhere.
      const keyId = (e as { keyId?: string }).keyId as string;
      const again = await caught(async () => rethrowDestroyed(after, new KeyNotFound(keyId)));
      expect(again).toMatchObject({ code: "ERR_KEY_DESTROYED" });
    }
    // A keyring that never knew the key (not loaded from the key table) still says "not found".
    const unrelated = await loadKeyring(q, root1, { scopes: [B] });
    expect(await caught(() => readNote(unrelated, 1))).toMatchObject({ code: "ERR_KEY_NOT_FOUND" });
    // A column may read a shredded cell as null instead; other failures still throw.
    const lenient = encryptedColumn(after, { table: "notes", column: "body", destroyed: "null" });
    const [row1] = await db.query<{ body: string }>("SELECT body FROM notes WHERE id = 1");
    expect(lenient.decrypt(row1?.body, { scope: A, rowKey: 1 })).toBeNull();
    expect(() => lenient.decrypt(`fc1.${"A".repeat(80)}`, { scope: A, rowKey: 1 })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_CELL" }),
    );
    expect(await readNote(after, 3)).toBe("keep me");
    // Other errors pass through rethrowDestroyed unchanged.
    const plain = new Error("x");
    expect(await caught(() => rethrowDestroyed(after, plain))).toBe(plain);
    // A new write for the shredded scope needs a new key, created explicitly.
    expect(await caught(() => encrypt(after, "new", ctx(A, 9)))).toMatchObject({ code: "ERR_NO_PRIMARY_KEY" });

    const log = await auditLog();
    expect(log.at(-1)).toEqual({ action: "scope.shred", scope: A, key_ids: [a1.id, a2.id].sort() });
    expect(await verifyAudit(q, auditor)).toMatchObject({ ok: true, entries: 4 });
    expect(await shredScope(q, A)).toEqual({ destroyed: [], jobErrorsPurged: 0 });
  });
});

describe("from simple mode to the key table", () => {
  it("include keeps environment keys decrypt-only while the table's keys become the primaries", async () => {
    const env = createKeyring([
      { id: "v1", secret: keyBytes(0x31) },
      { id: "v2", secret: keyBytes(0x32), primary: true },
    ]);
    await writeNote(env, 1, A, "written in simple mode");
    const a = await createDataKey(q, root1, A);
    const ring = await loadKeyring(q, root1, { scopes: [A], include: env });
    expect(ring.list()).toEqual([
      { id: a.id, scope: A, state: "primary" },
      { id: "v1", scope: undefined, state: "decrypt-only" },
      { id: "v2", scope: undefined, state: "decrypt-only" },
    ]);
    expect(await readNote(ring, 1)).toBe("written in simple mode");
    expect(encrypt(ring, "new", ctx(A, 2)).startsWith("fc1.")).toBe(true);
    expect(inspectCell(encrypt(ring, "new", ctx(A, 2))).keyId).toBe(a.id);
    // A scope without a table key has no primary: the environment keys never encrypt again.
    expect(await caught(() => encrypt(ring, "x", ctx(B, 3)))).toMatchObject({ code: "ERR_NO_PRIMARY_KEY" });
  });
});

describe("the key cache", () => {
  it("costs one provider call per data key until the TTL ends", async () => {
    await createDataKey(q, root1, A);
    await createDataKey(q, root1, A);
    let now = 1_000_000;
    const cache = createKeyCache({ ttlMs: 60_000, now: () => now });
    const { provider, calls } = counting(root1);
    await loadKeyring(q, provider, { scopes: [A], cache });
    expect(calls.unwrap).toBe(2);
    await writeNote(await loadKeyring(q, provider, { scopes: [A], cache }), 1, A, "cached");
    now += 59_999;
    expect(await readNote(await loadKeyring(q, provider, { scopes: [A], cache }), 1)).toBe("cached");
    expect(calls.unwrap).toBe(2);
    now += 1;
    await loadKeyring(q, provider, { scopes: [A], cache });
    expect(calls.unwrap).toBe(4);
    await loadKeyring(q, provider, { scopes: [A] }); // no cache: every load unwraps
    expect(calls.unwrap).toBe(6);
  });

  it("makes one provider call per key when many requests load a cold scope at once", async () => {
    await createDataKey(q, root1, A);
    await createDataKey(q, root1, A);
    const cache = createKeyCache();
    const { provider, calls } = counting(root1);
    const rings = await Promise.all(Array.from({ length: 20 }, () => loadKeyring(q, provider, { scopes: [A], cache })));
    expect(calls.unwrap).toBe(2);
    expect(new Set(rings.map((r) => r.primary(A).id)).size).toBe(1);
  });

  it("does not cache a failed unwrap", async () => {
    await createDataKey(q, root1, A);
    const cache = createKeyCache();
    const { provider } = counting(root1, () => new Error("down"));
    expect(await caught(() => loadKeyring(q, provider, { scopes: [A], cache }))).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
    });
    expect(cache.size).toBe(0);
    const { provider: up, calls } = counting(root1);
    await loadKeyring(q, up, { scopes: [A], cache });
    expect([calls.unwrap, cache.size]).toEqual([1, 1]);
  });

  it("holds at most maxKeys, dropping the least recently used", async () => {
    for (const scope of ["s1", "s2", "s3"]) await createDataKey(q, root1, scope);
    const cache = createKeyCache({ maxKeys: 2 });
    const { provider, calls } = counting(root1);
    await loadKeyring(q, provider, { scopes: ["s1", "s2", "s3"], cache });
    expect([calls.unwrap, cache.size]).toEqual([3, 2]);
    for (const scope of ["s1", "s2", "s3"]) await loadKeyring(q, provider, { scopes: [scope], cache });
    // Loaded s1, s2, s3 in that order: s2 and s3 are cached, s1 (least recently used) was dropped.
    calls.unwrap = 0;
    await loadKeyring(q, provider, { scopes: ["s3"], cache });
    await loadKeyring(q, provider, { scopes: ["s2"], cache });
    expect(calls.unwrap).toBe(0);
    await loadKeyring(q, provider, { scopes: ["s1"], cache });
    expect([calls.unwrap, cache.size]).toEqual([1, 2]);
    await loadKeyring(q, provider, { scopes: ["s3"], cache }); // s3 was now the least recently used
    expect(calls.unwrap).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(() => createKeyCache({ maxKeys: 0 })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });

  it("redacts material in inspect and JSON", async () => {
    await createDataKey(q, root1, A);
    const cache = createKeyCache({ ttlMs: 1000, maxKeys: 5 });
    const keyring = await loadKeyring(q, root1, { scopes: [A], cache });
    expect(inspect(cache)).toBe("KeyCache { keys: 1, ttlMs: 1000, maxKeys: 5, material: [redacted] }");
    expect(JSON.parse(JSON.stringify(cache))).toEqual({ keys: 1, ttlMs: 1000, maxKeys: 5, material: "[redacted]" });
    expect(inspect(keyring)).toContain("material: [redacted]");
  });
});

describe("leaks", () => {
  it("data-key material never reaches the database, the audit log, inspect or JSON", async () => {
    const seen: Buffer[] = [];
    const recording: RootKeyProvider = {
      id: root1.id,
      wrap: (k, aad) => {
        seen.push(Buffer.from(k));
        return root1.wrap(k, aad);
      },
      unwrap: (w, aad) => root1.unwrap(w, aad),
    };
    await createDataKey(q, recording, A, { auditor });
    await createDataKey(q, recording, B, { auditor });
    await rotateRootKey(q, root1, root2, { auditor });
    await shredScope(q, B, { auditor });
    const cache = createKeyCache();
    const keyring = await loadKeyring(q, root2, { scopes: [A, B], cache, auditor });
    const dumps = [
      JSON.stringify(
        await db.query("SELECT id, scope, state, root_key_id, encode(wrapped_key, 'hex') AS w FROM fieldcrypt_keys"),
      ),
      JSON.stringify(await db.query("SELECT *, encode(mac, 'hex') AS m FROM fieldcrypt_audit")),
      inspect(keyring),
      JSON.stringify(keyring),
      inspect(cache),
      JSON.stringify(await listDataKeys(q)),
    ].join("\n");
    expect(seen).toHaveLength(2);
    for (const material of seen) {
      for (const encoding of ["hex", "base64", "base64url"] as const) {
        expect(dumps).not.toContain(material.toString(encoding));
      }
    }
  });
});

describe("an unreachable or missing provider", () => {
  it("gives ERR_ROOT_KEY_UNAVAILABLE without the provider's message, audited, nothing changed", async () => {
    const created = await createDataKey(q, root1, A);
    const { provider } = counting(root1, () =>
      Object.assign(new Error("connect ECONNREFUSED 10.1.2.3:443 token=abc"), { code: "ECONNREFUSED" }),
    );
    const before = await db.query("SELECT * FROM fieldcrypt_keys");
    const e = await caught(() => loadKeyring(q, provider, { scopes: [A], auditor }));
    expect(e).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      name: "RootKeyUnavailable",
      message: 'root key "root-1" is unavailable (ECONNREFUSED)',
      rootKeyId: "root-1",
    });
    expect(e.cause).toBeUndefined();
    expect(inspect(e)).not.toContain("10.1.2.3");
    expect(await db.query("SELECT * FROM fieldcrypt_keys")).toEqual(before);
    expect((await auditLog()).map((x) => [x.action, x.key_ids])).toEqual([["key.unwrap-failed", [created.id]]]);
    const down: RootKeyProvider = {
      id: "root-1",
      wrap: async () => {
        throw new TypeError("fetch failed");
      },
      unwrap: async () => {
        throw "not even an Error";
      },
    };
    expect(await caught(() => createDataKey(q, down, B))).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      message: 'root key "root-1" is unavailable (TypeError)',
    });
    expect(await caught(() => loadKeyring(q, down, { scopes: [A] }))).toMatchObject({
      message: 'root key "root-1" is unavailable (error)',
    });
    expect(await listDataKeys(q, { scopes: [B] })).toEqual([]);
  });
});
