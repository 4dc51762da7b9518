// The rules of ARCHITECTURE.md, checked on the source: every relative import of
// packages/fieldcrypt/src points to a lower layer (or stays in its own folder), no module of either
// package takes part in an import cycle, and no function or file outgrows the size limits unless
// ARCHITECTURE.md names it under "Size exceptions".
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIBRARY = join(ROOT, "fieldcrypt/src");
const ARCHITECTURE = join(ROOT, "../ARCHITECTURE.md");

/** The size limits of ARCHITECTURE.md: lines of one function (its whole text) and of one file. */
export const MAX_FUNCTION_LINES = 120;
export const MAX_FILE_LINES = 400;

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
  stream: 3,
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
  // Side-effect imports (`import "./x.js";`) load a module too.
  const bare = [...text.matchAll(/(?:^|\n)\s*import\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1] as string);
  return [...specifiers, ...dynamic, ...bare].map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
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

/**
 * Functions longer than {@link MAX_FUNCTION_LINES} and files longer than {@link MAX_FILE_LINES}, as
 * `path: what (n lines)` lines, paths relative to `packages/`. Functions of every form count: declarations,
 * methods, arrows and function expressions, nested ones on their own.
 */
export function oversized(files: readonly string[], read = (f: string) => readFileSync(f, "utf8")): string[] {
  const found: string[] = [];
  for (const file of files) {
    const text = read(file);
    const path = relative(ROOT, file);
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > MAX_FILE_LINES) found.push(`${path}: file (${lines} lines)`);
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const name = node.name?.getText(source) ?? "(anonymous)";
        if (last - first + 1 > MAX_FUNCTION_LINES) found.push(`${path}: ${name} (${last - first + 1} lines)`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** The paths (relative to `packages/`) that ARCHITECTURE.md's "Size exceptions" section names. */
function sizeExceptions(): Set<string> {
  const text = readFileSync(ARCHITECTURE, "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith("Size exceptions")) ?? "";
  return new Set([...section.matchAll(/`packages\/([^`]+\.ts)`/g)].map((m) => m[1] as string));
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

  it("keeps the CLI on the library's public subpaths, and its helpers below commands/", () => {
    const src = join(ROOT, "cli/src");
    const wrong = cli.flatMap((file) =>
      relativeImports(file)
        .filter((target) => {
          const to = relative(src, target);
          if (to.startsWith("..")) return true; // outside the CLI: the library's src, not its exports
          const from = relative(src, file).split("/")[0] as string;
          return ["internal", "config", "demo"].includes(from) && to.startsWith("commands/");
        })
        .map((target) => `${relative(src, file)} -> ${relative(src, target)}`),
    );
    expect(wrong).toEqual([]);
  });

  it("has no import cycle in the library or the CLI", () => {
    expect(importCycles(library)).toEqual([]);
    expect(importCycles(cli)).toEqual([]);
  });

  it("keeps functions and files within the size limits, or ARCHITECTURE.md says why", () => {
    const allowed = sizeExceptions();
    const over = oversized([...library, ...cli]).filter((line) => !allowed.has(line.slice(0, line.indexOf(":"))));
    expect(over).toEqual([]);
  });

  it("catches a long function and a long file (the size check can fail)", () => {
    const file = join(LIBRARY, "jobs/long.ts");
    const body = Array.from({ length: MAX_FUNCTION_LINES }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const text = `export function long() {\n${body}\n}\n${"// pad\n".repeat(MAX_FILE_LINES)}`;
    expect(oversized([file], () => text)).toEqual([
      `fieldcrypt/src/jobs/long.ts: file (${MAX_FILE_LINES + MAX_FUNCTION_LINES + 2} lines)`,
      `fieldcrypt/src/jobs/long.ts: long (${MAX_FUNCTION_LINES + 2} lines)`,
    ]);
  });

  it("catches a wrong import and a cycle (the checks can fail)", () => {
    const cell = join(LIBRARY, "cell/decrypt.ts");
    const upward = (f: string) => (f === cell ? 'import { KeyCache } from "../key-store/cache.js";\n' : "");
    expect(layerViolations(LIBRARY, [cell], upward)).toEqual([
      "cell/decrypt.ts -> key-store/cache.ts (cell:3 -> key-store:6)",
    ]);
    const sideEffect = (f: string) => (f === cell ? 'import "../jobs/index.js";\n' : "");
    expect(layerViolations(LIBRARY, [cell], sideEffect)).toEqual([
      "cell/decrypt.ts -> jobs/index.ts (cell:3 -> jobs:6)",
    ]);
    const a = join(LIBRARY, "jobs/a.ts");
    const b = join(LIBRARY, "jobs/b.ts");
    const text = (f: string) => (f === a ? 'import type { B } from "./b.js";' : 'export { A } from "./a.js";');
    expect(importCycles([a, b], text)).toEqual([[relative(ROOT, a), relative(ROOT, b)]]);
  });
});
