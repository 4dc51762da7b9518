// The layering rules of ARCHITECTURE.md, checked on the source: every relative import of
// packages/fieldcrypt/src points to a lower layer (or stays in its own folder), and no module of
// either package takes part in an import cycle.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIBRARY = join(ROOT, "fieldcrypt/src");

/**
 * The layer of each top-level folder of the library: a module may import its own folder and any
 * folder of a strictly lower layer, never a folder of its own layer or above.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  errors: 0,
  internal: 1,
  keyring: 2,
  scope: 2,
  legacy: 2,
  cell: 3,
  "blind-index": 3,
  insecure: 3,
  kms: 3,
  audit: 3,
  column: 4,
  table: 5,
  pg: 6,
  drizzle: 6,
  kysely: 6,
  prisma: 6,
  typeorm: 6,
  jobs: 6,
  "key-store": 6,
  ".": 7, // src/index.ts, the root export
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative imports and re-exports of a module (type-only ones included: they are a dependency too). */
export function relativeImports(file: string, text = readFileSync(file, "utf8")): string[] {
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"(\.{1,2}\/[^"]+)"/g)].map(
    (m) => m[1] as string,
  );
  const dynamic = [...text.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)].map((m) => m[1] as string);
  return [...specifiers, ...dynamic].map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

/** The folder of `file` below `root` ("." for a file directly in it). */
function folderOf(root: string, file: string): string {
  const rel = relative(root, file).split("/");
  return rel.length === 1 ? "." : (rel[0] as string);
}

/** Imports that break the layer order, as `from -> to` lines. */
export function layerViolations(root: string, files: readonly string[], read = (f: string) => readFileSync(f, "utf8")) {
  const found: string[] = [];
  for (const file of files) {
    const from = folderOf(root, file);
    for (const target of relativeImports(file, read(file))) {
      const to = folderOf(root, target);
      if (to === from) continue;
      const a = LAYERS[from];
      const b = LAYERS[to];
      if (a === undefined || b === undefined || b >= a) {
        found.push(`${relative(root, file)} -> ${relative(root, target)} (${from}:${a} -> ${to}:${b})`);
      }
    }
  }
  return found;
}

/** Every import cycle among `files`, each as the list of modules around it. */
export function importCycles(files: readonly string[], read = (f: string) => readFileSync(f, "utf8")): string[][] {
  const graph = new Map(files.map((f) => [f, relativeImports(f, read(f)).filter((t) => t !== f)]));
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") cycles.push(stack.slice(stack.indexOf(next)).map((f) => relative(ROOT, f)));
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const file of files) if (state.get(file) === undefined) visit(file);
  return cycles;
}

describe("architecture", () => {
  const library = sourceFiles(LIBRARY);
  const cli = sourceFiles(join(ROOT, "cli/src"));

  it("names a layer for every folder of the library", () => {
    const folders = new Set(library.map((f) => folderOf(LIBRARY, f)));
    expect([...folders].filter((f) => LAYERS[f] === undefined)).toEqual([]);
  });

  it("points every import of the library to a lower layer", () => {
    expect(layerViolations(LIBRARY, library)).toEqual([]);
  });

  it("has no import cycle in the library or the CLI", () => {
    expect(importCycles(library)).toEqual([]);
    expect(importCycles(cli)).toEqual([]);
  });

  it("catches a wrong import and a cycle (the checks can fail)", () => {
    const cell = join(LIBRARY, "cell/decrypt.ts");
    const upward = (f: string) => (f === cell ? 'import { KeyCache } from "../key-store/cache.js";\n' : "");
    expect(layerViolations(LIBRARY, [cell], upward)).toEqual([
      "cell/decrypt.ts -> key-store/cache.ts (cell:3 -> key-store:6)",
    ]);
    const a = join(LIBRARY, "jobs/a.ts");
    const b = join(LIBRARY, "jobs/b.ts");
    const text = (f: string) => (f === a ? 'import type { B } from "./b.js";' : 'export { A } from "./a.js";');
    expect(importCycles([a, b], text)).toEqual([[relative(ROOT, a), relative(ROOT, b)]]);
  });
});
