/**
 * One fuzz run in this thread: build the targets for the seed, share the count among them, run
 * each target's cases (or one slice of them, for a worker), and total the failures. Used by the
 * command line (main.ts, once per worker) and by the vitest test.
 */
import {
  type CaseResult,
  type FailureType,
  fuzzTarget,
  mergeSummary,
  runCase,
  type Target,
  type TargetName,
  type TargetSummary,
} from "./harness.js";
import { buildTargets, planCounts } from "./targets/index.js";

export interface FuzzOptions {
  readonly seed: string;
  /** Mutations in all, shared among the targets by weight (targets/index.ts). */
  readonly count: number;
  readonly targets: readonly TargetName[];
  /** This run's share of every target's cases: slice `part` of `parts` (workers). Default: all. */
  readonly part?: number | undefined;
  readonly parts?: number | undefined;
  /** Called after every case (progress). */
  readonly onCase?: (() => void) | undefined;
  /** Targets already built (the test builds them once); default: built from the seed. */
  readonly built?: readonly Target[] | undefined;
}

export interface TargetReport extends TargetSummary {
  readonly spellings: "reject" | "tolerate";
  readonly spellingNote?: string | undefined;
}

export interface FuzzSummary {
  readonly seed: string;
  readonly count: number;
  readonly targets: Record<string, TargetReport>;
  readonly totals: {
    mutations: number;
    failures: number;
    byFailure: Partial<Record<FailureType, number>>;
  };
  /** True when no case failed. */
  readonly ok: boolean;
}

/** Runs `options.count` mutations (or one slice of them) and summarizes them. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const targets = options.built ?? (await buildTargets(options.seed, options.targets));
  const plan = planCounts(options.count, options.targets);
  const part = options.part ?? 0;
  const parts = options.parts ?? 1;
  const reports: Record<string, TargetReport> = {};
  for (const target of targets) {
    const n = plan[target.name] ?? 0;
    const from = Math.floor((n * part) / parts);
    const to = Math.floor((n * (part + 1)) / parts);
    const summary = await fuzzTarget(target, options.seed, from, to, options.onCase);
    reports[target.name] = { ...summary, spellings: target.spellings, spellingNote: target.spellingNote };
  }
  return summarize(options.seed, options.count, reports);
}

/** Totals of per-target reports (also of reports merged from several workers). */
export function summarize(seed: string, count: number, targets: Record<string, TargetReport>): FuzzSummary {
  const byFailure: Partial<Record<FailureType, number>> = {};
  let mutations = 0;
  let failures = 0;
  for (const report of Object.values(targets)) {
    mutations += report.mutations;
    for (const [type, n] of Object.entries(report.failures) as [FailureType, number][]) {
      byFailure[type] = (byFailure[type] ?? 0) + n;
      failures += n;
    }
  }
  return { seed, count, targets, totals: { mutations, failures, byFailure }, ok: failures === 0 };
}

/** Merges the summaries of the slices of one run. */
export function mergeRuns(runs: readonly FuzzSummary[]): FuzzSummary {
  const first = runs[0];
  if (first === undefined) throw new RangeError("no runs to merge");
  const targets: Record<string, TargetReport> = {};
  for (const run of runs) {
    for (const [name, report] of Object.entries(run.targets)) {
      const into = targets[name];
      targets[name] = into === undefined ? structuredClone(report) : { ...into, ...mergeSummary(into, report) };
    }
  }
  return summarize(first.seed, first.count, targets);
}

/** Replays case `index` of one target: the original, the mutation and its outcome. */
export async function replayCase(seed: string, name: TargetName, index: number): Promise<CaseResult> {
  const [target] = await buildTargets(seed, [name]);
  return runCase(target as Target, seed, index);
}
