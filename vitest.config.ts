import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    // Generous: CLI tests spawn processes that each open PGlite, and the 2-core CI machine is shared.
    // No test measures speed (benchmarks do, as ratios); a timeout only catches a hang.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Each PGlite instance takes ~0.7 GB: keep test files from piling up on a 2-core machine.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
