/**
 * Additions to the data-key store made for the CLI (`fieldcrypt keys …`), on a real database
 * (PGlite, or the server at DATABASE_URL): rotateRootKey reports its progress batch by batch.
 */
import { describe, expect, it } from "vitest";
import { createDataKey, listDataKeys, rotateRootKey } from "../src/key-store/index.js";
import { localRootKey } from "../src/kms/index.js";
import type { Queryable } from "../src/pg/index.js";
import { useTestDb } from "./db.js";
import { keyBytes } from "./helpers.js";

const root1 = localRootKey("root-1", keyBytes(0x31));
const root2 = localRootKey("root-2", keyBytes(0x32));

let q: Queryable;

useTestDb(["keys"], (opened) => {
  ({ q } = opened);
});

describe("rotateRootKey onProgress", () => {
  it("is called once per batch with the running count, and not again on a re-run with nothing left", async () => {
    for (let i = 0; i < 5; i++) await createDataKey(q, root1, `tenant-${i}`);
    const seen: number[] = [];
    const result = await rotateRootKey(q, root1, root2, { batchSize: 2, onProgress: (n) => seen.push(n) });
    expect(result).toEqual({ rewrapped: 5 });
    expect(seen).toEqual([2, 4, 5]);
    expect((await listDataKeys(q)).map((k) => k.rootKeyId)).toEqual(Array(5).fill("root-2"));

    const again: number[] = [];
    expect(await rotateRootKey(q, root1, root2, { onProgress: (n) => again.push(n) })).toEqual({ rewrapped: 0 });
    expect(again).toEqual([]);
  });
});
