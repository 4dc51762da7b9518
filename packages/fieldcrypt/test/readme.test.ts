// The README's reference tables, checked against the source so that they cannot drift.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  exports: Record<string, unknown>;
};

/** The lines of the README section under `heading`, up to the next heading of the same level. */
function section(heading: string): string[] {
  const lines = readme.split("\n");
  const start = lines.indexOf(heading);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const level = heading.split(" ")[0] as string;
  const end = lines.findIndex((line, i) => i > start && line.startsWith(`${level} `));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The cells of each table row in `lines`, header and separator rows left out. */
function tableRows(lines: readonly string[]): string[][] {
  const rows = lines.filter((l) => l.startsWith("| ")).map((l) => l.slice(2, -2).split(" | "));
  return rows.slice(2);
}

/** Every member of the `…ErrorCode` union types declared in src/errors/, read from the source. */
function errorCodeUnion(): Set<string> {
  const dir = new URL("../src/errors/", import.meta.url);
  const codes = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const source = readFileSync(new URL(file, dir), "utf8");
    for (const [, body] of source.matchAll(/export type \w*ErrorCode =([^;]*);/g)) {
      for (const [, code] of (body as string).matchAll(/"(ERR_[A-Z0-9_]+)"/g)) codes.add(code as string);
    }
  }
  return codes;
}

describe("README", () => {
  it("the error table lists every ErrorCode, and no other code", () => {
    const union = errorCodeUnion();
    expect(union.size).toBeGreaterThan(20); // the parse found the union
    const listed = tableRows(section("## Errors")).map(([code]) => code?.match(/^`(ERR_[A-Z0-9_]+)`$/)?.[1]);
    expect(listed).not.toContain(undefined);
    expect(new Set(listed).size, "a code listed twice").toBe(listed.length);
    expect([...listed].sort()).toEqual([...union].sort());
  });

  it("the import table lists every subpath of the exports map, and no other", () => {
    const rows = tableRows(section("## Install"));
    // A first cell names one or more subpaths: `fieldcrypt/kms`, `/kms/aws` (short for fieldcrypt/kms/aws).
    const listed = rows.flatMap(([imports]) =>
      [...(imports ?? "").matchAll(/`([^`]+)`/g)].map(([, name]) => {
        const path = name as string;
        if (path === "fieldcrypt") return ".";
        if (path.startsWith("fieldcrypt/")) return `./${path.slice("fieldcrypt/".length)}`;
        if (path.startsWith("/")) return `.${path}`;
        return `not a subpath: ${path}`;
      }),
    );
    expect(new Set(listed).size, "a subpath listed twice").toBe(listed.length);
    const exported = Object.keys(manifest.exports).filter((p) => p !== "./package.json");
    expect([...listed].sort()).toEqual(exported.sort());
  });

  it("the import table's root row names exactly the subpaths src/index.ts re-exports", () => {
    const index = readFileSync(new URL("../src/index.ts", import.meta.url), "utf8");
    const reexported = [...index.matchAll(/^export \* from "\.\/([a-z-]+)\/index\.js";$/gm)].map(
      ([, dir]) => `fieldcrypt/${dir}`,
    );
    expect(reexported.length).toBeGreaterThan(0);
    const root = tableRows(section("## Install")).find(([imports]) => imports === "`fieldcrypt`");
    expect(root, "a row for `fieldcrypt`").toBeDefined();
    const named = [...(root?.[1] ?? "").matchAll(/`(fieldcrypt\/[a-z-/]+)`/g)].map(([, name]) => name);
    expect(named.sort()).toEqual(reexported.sort());
  });
});
