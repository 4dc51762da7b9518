/**
 * The fuzzer's command line (docs/fuzzing.md):
 *
 *   node packages/fieldcrypt/fuzz/dist/main.js [--seed S] [--count N] [--target cells|legacy|wrapped-key|audit|all]
 *                                              [--workers W] [--progress-every N]
 *   node packages/fieldcrypt/fuzz/dist/main.js --seed S --target T --index I     # replay one case
 *
 * Prints a JSON summary on stdout (counts by outcome per target and per mutation kind, failures
 * with samples); progress goes to stderr (JSON lines, or a bar on a terminal). Exits 1 when any
 * case failed, 2 on a usage error. The same seed and count give the same counts with any number
 * of workers: every case depends only on (seed, target, index).
 */
import { availableParallelism } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { TARGET_NAMES, type TargetName } from "./harness.js";
import { type FuzzSummary, mergeRuns, replayCase, runFuzz } from "./run.js";

interface Flags {
  seed: string;
  count: number;
  targets: TargetName[];
  workers: number;
  progressEvery: number;
  index: number | undefined;
}

class UsageError extends Error {}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = {
    seed: "1",
    count: 200_000,
    targets: [...TARGET_NAMES],
    workers: Math.max(1, Math.min(availableParallelism(), 8)),
    progressEvery: 100_000,
    index: undefined,
  };
  const integer = (name: string, text: string | undefined, min: number): number => {
    const n = Number(text);
    if (text === undefined || !Number.isSafeInteger(n) || n < min) {
      throw new UsageError(`${name} must be an integer of at least ${min}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    i++;
    if (flag === "--seed") {
      if (value === undefined || value === "") throw new UsageError("--seed needs a value");
      flags.seed = value;
    } else if (flag === "--count") flags.count = integer("--count", value, 0);
    else if (flag === "--workers") flags.workers = integer("--workers", value, 1);
    else if (flag === "--progress-every") flags.progressEvery = integer("--progress-every", value, 1);
    else if (flag === "--index") flags.index = integer("--index", value, 0);
    else if (flag === "--target") {
      if (value === "all") flags.targets = [...TARGET_NAMES];
      else if ((TARGET_NAMES as readonly string[]).includes(value ?? "")) flags.targets = [value as TargetName];
      else throw new UsageError(`--target must be one of ${TARGET_NAMES.join(", ")} or all`);
    } else throw new UsageError(`unknown flag ${JSON.stringify(flag)}`);
  }
  if (flags.index !== undefined && flags.targets.length !== 1) throw new UsageError("--index needs one --target");
  return flags;
}

/** Progress on stderr: a bar on a terminal, else a JSON line every `every` mutations. */
function progress(total: number, every: number): (done: number) => void {
  const start = performance.now();
  const tty = process.stderr.isTTY === true;
  let next = every;
  let lastDraw = 0;
  let finished = false;
  return (done) => {
    if (finished) return;
    finished = done >= total;
    const elapsedMs = Math.round(performance.now() - start);
    const perSecond = Math.round((done * 1000) / Math.max(elapsedMs, 1));
    if (tty) {
      if (done < total && elapsedMs - lastDraw < 200) return;
      lastDraw = elapsedMs;
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      const bar = `${"#".repeat(filled)}${".".repeat(width - filled)}`;
      process.stderr.write(`\r[${bar}] ${done}/${total} ${perSecond}/s${done >= total ? "\n" : ""}`);
    } else if (done >= next || done === total) {
      next = done + every;
      process.stderr.write(`${JSON.stringify({ progress: { done, total, elapsedMs, perSecond } })}\n`);
    }
  };
}

interface WorkerJob {
  readonly seed: string;
  readonly count: number;
  readonly targets: TargetName[];
  readonly part: number;
  readonly parts: number;
}

type WorkerMessage = { type: "progress"; cases: number } | { type: "done"; summary: FuzzSummary };

/** A worker thread: runs its slice, reports progress every 1000 cases, then its summary. */
async function workerMain(job: WorkerJob): Promise<void> {
  let pending = 0;
  const post = (message: WorkerMessage): void => parentPort?.postMessage(message);
  const onCase = (): void => {
    if (++pending === 1000) {
      post({ type: "progress", cases: pending });
      pending = 0;
    }
  };
  const summary = await runFuzz({ ...job, onCase });
  post({ type: "progress", cases: pending });
  post({ type: "done", summary });
}

async function runWorkers(flags: Flags): Promise<FuzzSummary> {
  const report = progress(flags.count, flags.progressEvery);
  let done = 0;
  const runs = await Promise.all(
    Array.from({ length: flags.workers }, (_, part) => {
      const job: WorkerJob = { ...flags, part, parts: flags.workers };
      const worker = new Worker(new URL(import.meta.url), { workerData: job });
      return new Promise<FuzzSummary>((resolve, reject) => {
        worker.on("message", (message: WorkerMessage) => {
          if (message.type === "done") resolve(message.summary);
          else {
            done += message.cases;
            report(done);
          }
        });
        worker.on("error", reject);
        worker.on("exit", (code) => code !== 0 && reject(new Error(`fuzz worker ${part} exited with ${code}`)));
      });
    }),
  );
  return mergeRuns(runs);
}

async function main(argv: readonly string[]): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`fuzz: error: ${error.message}\n`);
    return 2;
  }
  if (flags.index !== undefined) {
    const target = flags.targets[0] as TargetName;
    const result = await replayCase(flags.seed, target, flags.index);
    const input =
      result.input instanceof Uint8Array ? { hex: Buffer.from(result.input).toString("hex") } : result.input;
    const out = { seed: flags.seed, target, index: flags.index, ...result, input };
    process.stdout.write(
      `${JSON.stringify(out, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v), 2)}\n`,
    );
    return result.failure === undefined ? 0 : 1;
  }
  const start = performance.now();
  const summary = await runWorkers(flags);
  const elapsedMs = Math.round(performance.now() - start);
  const timing = {
    elapsedMs,
    perSecond: Math.round((summary.totals.mutations * 1000) / elapsedMs),
    workers: flags.workers,
  };
  process.stdout.write(`${JSON.stringify({ ...summary, ...timing }, null, 2)}\n`);
  return summary.ok ? 0 : 1;
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`fuzz: error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 2;
    },
  );
} else {
  await workerMain(workerData as WorkerJob);
}
