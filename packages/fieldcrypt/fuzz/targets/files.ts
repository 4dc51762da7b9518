/** Files of the repository, found from this module whether it runs as TypeScript source or from dist. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The absolute path of `relative` (e.g. `spec/vectors/cell-v1.json`) in the repository. */
export function repoFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`fuzz setup: ${relative} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
