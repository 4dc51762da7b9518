/**
 * Which key material a job's runs used: each run records its keys with their check values, and a
 * run that resumes (or joins) a job refuses a key whose id an earlier run recorded with another
 * check value, before it writes a row. Without it, a resumed job under a regenerated `v1` would
 * finish "0 failed" and leave rows that the original `v1` cannot open. Not exported.
 */
import { KeyMismatch } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import type { Keyring } from "../keyring/keyring.js";
import { listJobRuns, type RunKey } from "./runs.js";

/** The keys of `keyring` as a run records them. */
export function runKeysOf(keyring: Keyring): RunKey[] {
  return keyring.list().map((info) => ({ ...info, checkValue: keyring.get(info.id)?.checkValue }));
}

/**
 * Throws `ERR_KEY_MISMATCH` when a key of `keys` has the id of a key an earlier run of job `jobId`
 * recorded, with another check value. The earliest record of an id is the reference: it is the
 * material that wrote the job's first rows under that id. Runs recorded before check values carry
 * none and are not compared.
 */
export async function checkRunKeys(db: Queryable, jobId: string, keys: readonly RunKey[]): Promise<void> {
  const recorded = new Map<string, string>();
  for (const run of await listJobRuns(db, { jobId })) {
    if (run.event !== "start") continue;
    for (const key of run.keys) {
      if (key.checkValue !== undefined && !recorded.has(key.id)) recorded.set(key.id, key.checkValue);
    }
  }
  for (const key of keys) {
    const expected = recorded.get(key.id);
    if (expected !== undefined && key.checkValue !== undefined && expected !== key.checkValue) {
      throw new KeyMismatch(key.id, expected, key.checkValue);
    }
  }
}
