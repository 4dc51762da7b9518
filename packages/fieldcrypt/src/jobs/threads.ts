/**
 * Transform threads of a job (`RunJobOptions.threads`): the per-cell crypto of each batch runs on
 * worker threads, so that a job's node process spreads decrypt/encrypt over several cores while
 * its main thread drives the database. Not exported.
 *
 * What crosses to a thread, once: the job kind, the keyrings' key materials (KeyObjects, cloned by
 * postMessage; never bytes in a message) and the target columns' options, which must be plain data
 * (no custom normalizer functions, no legacy formats). Per batch: each row's stored values and its
 * context (scope and row key, computed on the main thread); back: each cell's change or failure (its
 * code and error class).
 */
import { Worker } from "node:worker_threads";
import { InvalidOption } from "../errors/index.js";
import { getKeyMaterial } from "../internal/key-material.js";
import type { Keyring } from "../keyring/keyring.js";
import type { EncryptedTable, TableColumnOptions } from "../table/index.js";
import type { CellFailure } from "./error-code.js";
import type { JobKind } from "./model.js";
import type { JobColumn } from "./transform.js";

/** A keyring as its materials, for a thread to rebuild. */
export interface KeyringData {
  readonly keys: readonly { id: string; scope: string | undefined; primary: boolean; material: unknown }[];
}

/** One target column as plain options. */
export interface TargetData {
  readonly name: string;
  readonly table: string;
  readonly options: Record<string, unknown>;
  readonly blindIndex: { readonly column: string; readonly options: Record<string, unknown> } | undefined;
  /** Stored in a json/jsonb column ({@link JobColumn.json}). */
  readonly json?: boolean | undefined;
}

/** What a thread is started with. */
export interface ThreadSetup {
  readonly kind: JobKind;
  readonly tableKeyring: KeyringData;
  /** The job's keyring (rotate: whose primaries), when it is not the table's. */
  readonly jobKeyring: KeyringData | undefined;
  readonly targets: readonly TargetData[];
}

/**
 * One batch, by column (arrays of primitives clone far faster than arrays of row objects): each
 * row's scope and row key (or the failure computing its context), and per target its
 * stored values and stored blind-index values.
 */
export interface ThreadBatch {
  readonly scopes: readonly (string | undefined)[];
  readonly rowKeys: readonly unknown[];
  readonly contextErrors: readonly (CellFailure | undefined)[];
  readonly stored: readonly (readonly unknown[])[];
  readonly storedIndex: readonly (readonly unknown[])[];
}

/**
 * Per target, per row: `changed[i]` 0 no change, 1 a new value (`values[i]`), 2 a new value and a
 * new blind index (`indexes[i]`); `failures[i]` the failing cell's code and class, else undefined.
 */
export interface ThreadResult {
  readonly changed: Uint8Array;
  readonly values: unknown[];
  readonly indexes: (string | null | undefined)[];
  readonly failures: (CellFailure | undefined)[];
}

export function keyringData(keyring: Keyring): KeyringData {
  return {
    keys: keyring.list().map((info) => ({
      id: info.id,
      scope: info.scope,
      primary: info.state === "primary",
      material: getKeyMaterial(keyring.get(info.id) as object),
    })),
  };
}

/** A fixed set of transform threads; a batch goes to an idle one (or waits for one). */
export class TransformThreads {
  readonly #idle: Worker[] = [];
  readonly #waiting: ((worker: Worker) => void)[] = [];
  readonly #all: Worker[] = [];
  /** Set when a thread died: every later batch fails at once instead of waiting on a dead thread. */
  #broken: Error | undefined;

  constructor(count: number, setup: ThreadSetup) {
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(new URL("./transform-thread.js", import.meta.url), { workerData: setup });
      } catch (error) {
        for (const w of this.#all) void w.terminate();
        if ((error as { name?: unknown }).name === "DataCloneError") {
          throw new InvalidOption(
            "threads need columns described by plain data: no custom normalizer functions, no legacy formats",
          );
        }
        throw error;
      }
      // An idle thread does not keep the process alive; one with a batch in flight does (below).
      worker.unref();
      this.#all.push(worker);
      this.#idle.push(worker);
    }
  }

  /** Transforms one batch on the next idle thread. */
  async transform(batch: ThreadBatch): Promise<ThreadResult[]> {
    if (this.#broken !== undefined) throw this.#broken;
    const worker = this.#idle.pop() ?? (await new Promise<Worker>((resolve) => this.#waiting.push(resolve)));
    if (this.#broken !== undefined) throw this.#broken;
    try {
      return await new Promise<ThreadResult[]>((resolve, reject) => {
        const done = () => {
          worker.off("message", onMessage);
          worker.off("error", onError);
          worker.off("exit", onExit);
        };
        const onMessage = (message: { results?: ThreadResult[]; failure?: string }) => {
          done();
          if (message.results !== undefined) resolve(message.results);
          else reject(new Error(`transform thread failed (${message.failure ?? "unknown"})`));
        };
        const onError = (error: Error) => {
          done();
          this.#broken = error;
          reject(error);
        };
        const onExit = (code: number) => {
          done();
          this.#broken = new Error(`transform thread exited (code ${code})`);
          reject(this.#broken);
        };
        worker.on("message", onMessage);
        worker.on("error", onError);
        worker.on("exit", onExit);
        worker.ref();
        worker.postMessage(batch);
      });
    } finally {
      worker.unref();
      if (this.#broken === undefined) {
        const next = this.#waiting.shift();
        if (next !== undefined) next(worker);
        else this.#idle.push(worker);
      } else {
        // Wake every waiter: each fails at once.
        for (const next of this.#waiting.splice(0)) next(worker);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#all.map((w) => w.terminate()));
  }
}

/**
 * What the transform threads start with: the keyrings' materials and the target columns' options,
 * checked to be plain data (a custom normalizer function or a legacy format cannot cross threads).
 */
export function threadSetupOf(
  kind: JobKind,
  table: EncryptedTable,
  targets: readonly JobColumn[],
  keyring: Keyring | undefined,
): ThreadSetup {
  const { options, keyring: tableKeyring } = table;
  const data: TargetData[] = targets.map((target) => {
    const { blindIndex, ...columnOptions } = options.columns[target.name] as TableColumnOptions;
    if (columnOptions.legacy !== undefined) {
      throw new InvalidOption(
        `${table.table}.${target.name}: threads are not available for columns with a legacy format`,
      );
    }
    if (blindIndex === undefined) {
      return {
        name: target.name,
        table: table.table,
        options: { ...columnOptions },
        blindIndex: undefined,
        json: target.json === true,
      };
    }
    const { column, ...indexOptions } = blindIndex;
    if (indexOptions.normalize?.some((step) => typeof step === "function") === true) {
      throw new InvalidOption(
        `${table.table}.${target.name}: threads are not available for blind indexes with custom normalizer functions`,
      );
    }
    return {
      name: target.name,
      table: table.table,
      options: { ...columnOptions },
      blindIndex: { column, options: { ...indexOptions } },
      json: target.json === true,
    };
  });
  return {
    kind,
    tableKeyring: keyringData(tableKeyring),
    jobKeyring: keyring === undefined || keyring === tableKeyring ? undefined : keyringData(keyring),
    targets: data,
  };
}

/**
 * The transform threads of one run, started by the first batch that needs them (a run that finds
 * nothing to do starts none) and closed when the run ends.
 */
export class LazyTransformThreads {
  readonly #count: number;
  readonly #setup: ThreadSetup | undefined;
  #threads: TransformThreads | undefined;

  constructor(count: number, setup: ThreadSetup | undefined) {
    this.#count = count;
    this.#setup = setup;
  }

  /** The threads, or undefined when the run transforms on the main thread. */
  get(): TransformThreads | undefined {
    if (this.#setup !== undefined) this.#threads ??= new TransformThreads(this.#count, this.#setup);
    return this.#threads;
  }

  async close(): Promise<void> {
    await this.#threads?.close();
  }
}
