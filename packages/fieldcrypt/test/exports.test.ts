// The built package, imported by name through its `exports` map, as an app would.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  dependencies?: Record<string, string>;
  exports: Record<string, unknown>;
  sideEffects: boolean;
};

describe("package shape", () => {
  it("has zero runtime dependencies and no side effects", () => {
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.sideEffects).toBe(false);
  });

  it("exports every concept subpath by name", async () => {
    const root = await import("fieldcrypt");
    const cell = await import("fieldcrypt/cell");
    const keyring = await import("fieldcrypt/keyring");
    const errors = await import("fieldcrypt/errors");
    const insecure = await import("fieldcrypt/insecure-key-material");
    expect(Object.keys(cell).sort()).toEqual(["decrypt", "encrypt", "inspectCell", "isCell"]);
    expect(Object.keys(keyring).sort()).toEqual([
      "KEY_STRING_PREFIX",
      "Key",
      "Keyring",
      "createKeyring",
      "generateKeyString",
      "loadKeyringFile",
      "loadKeyringFromEnv",
    ]);
    expect(Object.keys(insecure)).toEqual(["exportInsecureKeyBytes"]);
    expect(typeof errors.isFieldcryptError).toBe("function");
    // Concept and integration subpaths resolve by name from the built package.
    const subpaths = {
      "fieldcrypt/table": await import("fieldcrypt/table"),
      "fieldcrypt/column": await import("fieldcrypt/column"),
      "fieldcrypt/blind-index": await import("fieldcrypt/blind-index"),
      "fieldcrypt/scope": await import("fieldcrypt/scope"),
      "fieldcrypt/pg": await import("fieldcrypt/pg"),
      "fieldcrypt/jobs": await import("fieldcrypt/jobs"),
      "fieldcrypt/audit": await import("fieldcrypt/audit"),
      "fieldcrypt/kms": await import("fieldcrypt/kms"),
      "fieldcrypt/key-store": await import("fieldcrypt/key-store"),
      "fieldcrypt/drizzle": await import("fieldcrypt/drizzle"),
      "fieldcrypt/kysely": await import("fieldcrypt/kysely"),
      "fieldcrypt/typeorm": await import("fieldcrypt/typeorm"),
      "fieldcrypt/prisma": await import("fieldcrypt/prisma"),
      "fieldcrypt/legacy": await import("fieldcrypt/legacy"),
      "fieldcrypt/stream": await import("fieldcrypt/stream"),
      "fieldcrypt/kms/pkcs11": await import("fieldcrypt/kms/pkcs11"),
      "fieldcrypt/kms/aws": await import("fieldcrypt/kms/aws"),
      "fieldcrypt/kms/gcp": await import("fieldcrypt/kms/gcp"),
      "fieldcrypt/kms/vault": await import("fieldcrypt/kms/vault"),
    };
    for (const [name, module] of Object.entries(subpaths)) expect(Object.keys(module).length, name).toBeGreaterThan(0);
    // The root re-exports the concepts, but not the insecure export.
    for (const name of [...Object.keys(cell), ...Object.keys(keyring), ...Object.keys(errors)]) {
      expect(root).toHaveProperty(name);
    }
    expect(root).not.toHaveProperty("exportInsecureKeyBytes");

    const k = keyring.createKeyring([{ id: "v1", secret: keyring.generateKeyString(), primary: true }]);
    const ctx = { table: "t", column: "c" };
    expect(cell.decrypt(k, cell.encrypt(k, "hello", ctx), ctx)).toBe("hello");
    expect(insecure.exportInsecureKeyBytes(k.primary())).toHaveLength(32);
  });

  it("every subpath of the exports map is tested above", () => {
    const tested = readFileSync(new URL(import.meta.url), "utf8");
    for (const path of Object.keys(manifest.exports)) {
      if (path === "." || path === "./package.json") continue;
      expect(tested, path).toContain(`"fieldcrypt${path.slice(1)}"`);
    }
  });

  it("the core never loads an optional SDK or ORM: only its own subpath does", () => {
    const dist = new URL("../dist/", import.meta.url);
    // Static imports and re-exports at the start of a line (as tsc emits them; doc comments start with " *").
    const imports = /^(?:import|export)\b[^\n]*?\sfrom\s*"([^"]+)";$/gm;
    /** Every bare module the built file at `entry` imports, through its relative imports. */
    const reach = (entry: string): Set<string> => {
      const seen = new Set<string>();
      const bare = new Set<string>();
      const visit = (url: URL) => {
        if (seen.has(url.href)) return;
        seen.add(url.href);
        const text = readFileSync(url, "utf8");
        for (const [, name] of text.matchAll(imports)) {
          if ((name as string).startsWith(".")) visit(new URL(name as string, url));
          else bare.add(name as string);
        }
      };
      visit(new URL(entry, dist));
      return bare;
    };
    const core = ["index.js", "cell/index.js", "keyring/index.js", "table/index.js", "kms/index.js"];
    for (const entry of [...core, "key-store/index.js", "jobs/index.js", "legacy/index.js", "audit/index.js"]) {
      const modules = [...reach(entry)].filter((m) => !m.startsWith("node:"));
      expect(modules, entry).toEqual([]);
    }
    expect([...reach("kms/aws.js")].filter((m) => !m.startsWith("node:"))).toEqual(["@aws-sdk/client-kms"]);
  });

  it("keeps internals unreachable", () => {
    expect(() => require.resolve("fieldcrypt/internal/format.js")).toThrow();
    expect(() => require.resolve("fieldcrypt/dist/internal/format.js")).toThrow();
    expect(Object.keys(manifest.exports).some((p) => p.includes("internal"))).toBe(false);
  });
});
