import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each PGlite instance takes ~0.7 GB: keep test files from piling up on a 2-core machine.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
