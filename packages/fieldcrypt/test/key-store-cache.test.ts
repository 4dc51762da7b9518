/**
 * The key cache is bound to what it cached (issue 12, item 3): an entry serves a load only when
 * the row still has the same id, scope, root key id and wrapped bytes. A database changed under a
 * warm cache — a tampered `wrapped_key`, a key row moved to another scope, another root key id —
 * goes through the full unwrap and fails like a cold load, on PGlite or the server at DATABASE_URL.
 * The stored check value (issue 12, item 1) is part of the binding and checked on every unwrap.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  createDataKey,
  createKeyCache,
  ensureKeyTable,
  listDataKeys,
  loadKeyring,
  rotateRootKey,
} from "../src/key-store/index.js";
import { localRootKey, type RootKeyProvider } from "../src/kms/index.js";
import type { Queryable } from "../src/pg/index.js";
import { type TestDb, useTestDb } from "./db.js";
import { caught, keyBytes } from "./helpers.js";

const root1 = localRootKey("root-1", keyBytes(0x31));
const root2 = localRootKey("root-2", keyBytes(0x32));
const T = "tenant-t";
const U = "tenant-u";

let db: TestDb;
let q: Queryable;

useTestDb(["keys"], (opened) => {
  ({ db, q } = opened);
});
beforeEach(async () => {
  await db.query("DELETE FROM fieldcrypt_keys");
});

/** A provider that counts its unwraps. */
function counting(inner: RootKeyProvider) {
  const calls = { unwrap: 0 };
  const provider: RootKeyProvider = {
    id: inner.id,
    wrap: (k, aad) => inner.wrap(k, aad),
    unwrap: (w, aad) => {
      calls.unwrap++;
      return inner.unwrap(w, aad);
    },
  };
  return { provider, calls };
}

describe("a warm key cache", () => {
  it("serves an unchanged row without a provider call", async () => {
    const { id } = await createDataKey(q, root1, T);
    const cache = createKeyCache();
    const { provider, calls } = counting(root1);
    await loadKeyring(q, provider, { scopes: [T], cache });
    const again = await loadKeyring(q, provider, { scopes: [T], cache });
    expect([calls.unwrap, again.primary(T).id]).toEqual([1, id]);
  });

  it("refuses a tampered wrapped_key with ERR_UNWRAP_FAILED", async () => {
    const { id } = await createDataKey(q, root1, T);
    const cache = createKeyCache();
    await loadKeyring(q, root1, { scopes: [T], cache });
    // Flip the last byte (the GCM tag) of the wrapped key on disk.
    await db.query(
      `UPDATE fieldcrypt_keys SET wrapped_key = overlay(wrapped_key placing
         decode(lpad(to_hex(get_byte(wrapped_key, length(wrapped_key) - 1) # 1), 2, '0'), 'hex')
         from length(wrapped_key) for 1) WHERE id = $1`,
      [id],
    );
    const e = await caught(() => loadKeyring(q, root1, { scopes: [T], cache }));
    expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED", message: 'root key "root-1" could not unwrap the data key' });
  });

  it("refuses a key row whose scope was changed from T to U with ERR_UNWRAP_FAILED", async () => {
    const { id } = await createDataKey(q, root1, T);
    const cache = createKeyCache();
    await loadKeyring(q, root1, { scopes: [T], cache });
    await db.query("UPDATE fieldcrypt_keys SET scope = $1 WHERE id = $2", [U, id]);
    const e = await caught(() => loadKeyring(q, root1, { scopes: [U], cache }));
    expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED", message: 'root key "root-1" could not unwrap the data key' });
  });

  it("refuses a row that now names another root key, through that root key's unwrap", async () => {
    const { id } = await createDataKey(q, root1, T);
    const cache = createKeyCache();
    await loadKeyring(q, root1, { scopes: [T], cache });
    await db.query("UPDATE fieldcrypt_keys SET root_key_id = 'root-2' WHERE id = $1", [id]);
    const e = await caught(() => loadKeyring(q, [root1, root2], { scopes: [T], cache }));
    expect(e).toMatchObject({
      code: "ERR_UNWRAP_FAILED",
      message: 'the data key is wrapped by root key "root-1", not "root-2"',
    });
  });

  it("misses once after a root rotation rewrapped the key, then serves the new binding", async () => {
    const { id } = await createDataKey(q, root1, T);
    const cache = createKeyCache();
    await loadKeyring(q, root1, { scopes: [T], cache });
    await rotateRootKey(q, root1, root2);
    const { provider, calls } = counting(root2);
    const first = await loadKeyring(q, provider, { scopes: [T], cache });
    await loadKeyring(q, provider, { scopes: [T], cache });
    expect([calls.unwrap, first.primary(T).id, cache.size]).toEqual([1, id, 1]);
  });
});

/** A provider that unwraps every data key to the same other material (a misconfigured KMS alias, say). */
function unwrapsToOther(inner: RootKeyProvider): RootKeyProvider {
  return { id: inner.id, wrap: (k, aad) => inner.wrap(k, aad), unwrap: async () => new Uint8Array(keyBytes(0x77)) };
}

describe("the stored check value", () => {
  it("is the check value of the material a load unwraps, and keys list reports it", async () => {
    const created = await createDataKey(q, root1, T);
    const keyring = await loadKeyring(q, root1, { scopes: [T] });
    const rows = await db.query<{ check_value: string }>("SELECT check_value FROM fieldcrypt_keys WHERE id = $1", [
      created.id,
    ]);
    expect([rows[0]?.check_value, (await listDataKeys(q))[0]?.checkValue]).toEqual([
      keyring.get(created.id)?.checkValue,
      created.checkValue,
    ]);
    expect(created.checkValue).toMatch(/^kcv1:[A-Za-z0-9_-]{22}$/);
  });

  it("refuses material that does not match it, cold and warm, audited as key.unwrap-failed", async () => {
    await createDataKey(q, root1, T);
    const e = await caught(() => loadKeyring(q, unwrapsToOther(root1), { scopes: [T] }));
    expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED", message: 'root key "root-1" could not unwrap the data key' });
    // Warm: a changed check value is another binding, so the cached material is not served.
    const cache = createKeyCache();
    await loadKeyring(q, root1, { scopes: [T], cache });
    await db.query("UPDATE fieldcrypt_keys SET check_value = 'kcv1:AAAAAAAAAAAAAAAAAAAAAA'");
    const warm = await caught(() => loadKeyring(q, root1, { scopes: [T], cache }));
    expect(warm).toMatchObject({ code: "ERR_UNWRAP_FAILED" });
  });

  it("rows from before the column (NULL) still load, and a root rotation fills them in", async () => {
    const { id, checkValue } = await createDataKey(q, root1, T);
    await db.query("UPDATE fieldcrypt_keys SET check_value = NULL");
    expect((await loadKeyring(q, root1, { scopes: [T] })).get(id)?.checkValue).toBe(checkValue);
    expect((await listDataKeys(q))[0]?.checkValue).toBeUndefined();
    await rotateRootKey(q, root1, root2);
    expect((await listDataKeys(q))[0]).toMatchObject({ rootKeyId: "root-2", checkValue });
  });

  it("a root rotation refuses to rewrap material that does not match it, and changes nothing", async () => {
    await createDataKey(q, root1, T);
    const before = await db.query("SELECT root_key_id, wrapped_key, check_value FROM fieldcrypt_keys");
    const e = await caught(() => rotateRootKey(q, unwrapsToOther(root1), root2));
    expect(e).toMatchObject({ code: "ERR_UNWRAP_FAILED" });
    expect(await db.query("SELECT root_key_id, wrapped_key, check_value FROM fieldcrypt_keys")).toEqual(before);
  });

  it("ensureKeyTable adds the column to a table created before it", async () => {
    await db.query("ALTER TABLE fieldcrypt_keys DROP COLUMN check_value");
    await ensureKeyTable(q);
    const { id, checkValue } = await createDataKey(q, root1, T);
    expect((await listDataKeys(q)).map((k) => [k.id, k.checkValue])).toEqual([[id, checkValue]]);
  });
});
