/**
 * The body of a job's transform thread (see threads.ts): rebuilds the keyrings and the target
 * columns from the setup, then transforms each batch it is sent with the same `transformCell` the
 * main thread uses. Replies carry values, error codes and class names only: never messages, never key bytes.
 * Not exported.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createBlindIndex } from "../blind-index/index.js";
import type { RowContext } from "../column/index.js";
import { encryptedColumn } from "../column/index.js";
import { keyringFromMaterials } from "../keyring/keyring.js";
import { type CellFailure, cellFailure } from "./error-code.js";
import type { KeyringData, ThreadBatch, ThreadResult, ThreadSetup } from "./threads.js";
import { type JobColumn, transformCell } from "./transform.js";

const setup = workerData as ThreadSetup;

function rebuild(data: KeyringData) {
  return keyringFromMaterials(
    data.keys.map((k) => ({ ...k, material: k.material as Parameters<typeof keyringFromMaterials>[0][0]["material"] })),
  );
}

const tableKeyring = rebuild(setup.tableKeyring);
const jobKeyring = setup.jobKeyring === undefined ? tableKeyring : rebuild(setup.jobKeyring);
const targets: JobColumn[] = setup.targets.map((t) => ({
  name: t.name,
  json: t.json,
  column: encryptedColumn(tableKeyring, { ...t.options, table: t.table, column: t.name } as Parameters<
    typeof encryptedColumn
  >[1]),
  blindIndex:
    t.blindIndex === undefined
      ? undefined
      : {
          column: t.blindIndex.column,
          index: createBlindIndex(tableKeyring, {
            ...t.blindIndex.options,
            table: t.table,
            column: t.name,
          } as Parameters<typeof createBlindIndex>[1]),
        },
}));

/** A context error from the main thread, rethrown where the transform first needs the context. */
class ContextError extends Error {
  constructor(readonly failure: CellFailure) {
    super(failure.code);
  }
}

function failureOf(error: unknown): CellFailure {
  return error instanceof ContextError ? error.failure : cellFailure(error);
}

parentPort?.on("message", (batch: ThreadBatch) => {
  try {
    const n = batch.scopes.length;
    const results: ThreadResult[] = targets.map((target, t) => {
      const result: ThreadResult = { changed: new Uint8Array(n), values: [], indexes: [], failures: [] };
      const stored = batch.stored[t] as readonly unknown[];
      const storedIndex = batch.storedIndex[t] as readonly unknown[];
      for (let i = 0; i < n; i++) {
        const context = (): RowContext => {
          const error = batch.contextErrors[i];
          if (error !== undefined) throw new ContextError(error);
          return { scope: batch.scopes[i], rowKey: batch.rowKeys[i] as RowContext["rowKey"] };
        };
        try {
          const change = transformCell(setup.kind, target, stored[i], storedIndex[i], context, jobKeyring, {});
          if (change === undefined) continue;
          result.values[i] = change.value;
          if ("blindIndex" in change) {
            result.changed[i] = 2;
            result.indexes[i] = change.blindIndex;
          } else {
            result.changed[i] = 1;
          }
        } catch (error) {
          result.failures[i] = failureOf(error);
        }
      }
      return result;
    });
    parentPort?.postMessage({ results });
  } catch (error) {
    parentPort?.postMessage({ failure: failureOf(error).code });
  }
});
