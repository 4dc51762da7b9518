/** The fuzz targets by name, and how a run's mutations are shared among them. */
import type { Target, TargetName } from "../harness.js";
import { auditTarget } from "./audit.js";
import { cellsTarget } from "./cells.js";
import { legacyTarget } from "./legacy.js";
import { wrappedKeyTarget } from "./wrapped-key.js";

/** Share of the mutations each target gets in a run of several (cells first: the format of record). */
export const WEIGHTS: Readonly<Record<TargetName, number>> = {
  cells: 0.45,
  legacy: 0.3,
  "wrapped-key": 0.15,
  audit: 0.1,
};

/** Builds the named targets' originals for `seed` (the same seed always gives the same originals). */
export async function buildTargets(seed: string, names: readonly TargetName[]): Promise<Target[]> {
  const build: Record<TargetName, (seed: string) => Target | Promise<Target>> = {
    cells: cellsTarget,
    legacy: legacyTarget,
    "wrapped-key": wrappedKeyTarget,
    audit: auditTarget,
  };
  return Promise.all(names.map((name) => build[name](seed)));
}

/** How many of `count` mutations each of `names` runs: by weight, the rounding remainder to the first. */
export function planCounts(count: number, names: readonly TargetName[]): Record<string, number> {
  const total = names.reduce((sum, n) => sum + WEIGHTS[n], 0);
  const plan: Record<string, number> = {};
  let assigned = 0;
  for (const name of names) {
    plan[name] = Math.floor((count * WEIGHTS[name]) / total);
    assigned += plan[name];
  }
  const first = names[0];
  if (first !== undefined) plan[first] = (plan[first] as number) + count - assigned;
  return plan;
}
