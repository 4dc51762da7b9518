/**
 * Scope contexts: the current scope follows the async call tree of `run` (awaits, timers, promise
 * combinators) and nothing else; interleaved tenants never see each other's scope; invalid scopes
 * are refused with ERR_INVALID_CONTEXT before `fn` runs; two contexts share no state.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { encryptedColumn } from "../src/column/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { createScopeContext } from "../src/scope/index.js";
import { expectThrows, keyBytes } from "./helpers.js";

/** Waits `ms` milliseconds, then calls `fn` (in the async context of the caller). */
async function later<T>(ms: number, fn: () => T): Promise<T> {
  await sleep(ms);
  return fn();
}

describe("createScopeContext: run and current", () => {
  it("current() is undefined outside any run, and again after run returns", () => {
    const scopes = createScopeContext();
    expect(scopes.current()).toBeUndefined();
    expect(scopes.run("clinic-7", () => scopes.current())).toBe("clinic-7");
    expect(scopes.current()).toBeUndefined();
  });

  it("run returns what fn returns (a value, or the promise of an async fn)", async () => {
    const scopes = createScopeContext();
    expect(scopes.run("clinic-7", () => 42)).toBe(42);
    const promise = scopes.run("clinic-7", async () => "done");
    expect(promise).toBeInstanceOf(Promise);
    expect(await promise).toBe("done");
  });

  it("run rethrows what fn throws and leaves no scope behind", () => {
    const scopes = createScopeContext();
    const boom = new Error("boom");
    expect(() =>
      scopes.run("clinic-7", () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(scopes.current()).toBeUndefined();
  });

  it("keeps the scope across awaits, timers, immediates, microtasks and nextTick", async () => {
    const scopes = createScopeContext();
    const seen = await scopes.run("clinic-7", async () => {
      const out: (string | undefined)[] = [scopes.current()];
      await Promise.resolve();
      out.push(scopes.current());
      await sleep(5);
      out.push(scopes.current());
      await nextTurn();
      out.push(scopes.current());
      out.push(await new Promise<string | undefined>((resolve) => setTimeout(() => resolve(scopes.current()), 1)));
      out.push(await new Promise<string | undefined>((resolve) => setImmediate(() => resolve(scopes.current()))));
      out.push(await new Promise<string | undefined>((resolve) => queueMicrotask(() => resolve(scopes.current()))));
      out.push(await new Promise<string | undefined>((resolve) => process.nextTick(() => resolve(scopes.current()))));
      return out;
    });
    expect(seen).toEqual(Array(8).fill("clinic-7"));
    expect(scopes.current()).toBeUndefined();
  });

  it("a timer started inside run still sees the scope when it fires after run has returned", async () => {
    const scopes = createScopeContext();
    const fired = new Promise<string | undefined>((resolve) => {
      scopes.run("clinic-7", () => {
        setTimeout(() => resolve(scopes.current()), 10);
      });
    });
    expect(scopes.current()).toBeUndefined();
    expect(await fired).toBe("clinic-7");
  });

  it("Promise.all of interleaved tenants: each task only ever sees its own scope", async () => {
    const scopes = createScopeContext();
    const tenants = Array.from({ length: 20 }, (_, i) => `tenant-${i}`);
    const results = await Promise.all(
      tenants.map((tenant, i) =>
        scopes.run(tenant, async () => {
          const seen: (string | undefined)[] = [];
          for (let step = 0; step < 10; step++) {
            seen.push(scopes.current());
            // Different delays so the tasks' steps interleave in every order.
            if ((i + step) % 3 === 0) await sleep((i * 7 + step) % 5);
            else if ((i + step) % 3 === 1) await nextTurn();
            else await Promise.resolve();
          }
          seen.push(scopes.current());
          return seen;
        }),
      ),
    );
    for (const [i, seen] of results.entries()) {
      expect(seen).toHaveLength(11);
      expect(new Set(seen)).toEqual(new Set([tenants[i]]));
    }
    expect(scopes.current()).toBeUndefined();
  });

  it("Promise.all and Promise.race inside one run keep that run's scope in every branch", async () => {
    const scopes = createScopeContext();
    const [all, race] = await scopes.run("clinic-7", async () => [
      await Promise.all([1, 2, 3].map((ms) => later(ms, () => scopes.current()))),
      await Promise.race([sleep(2).then(() => scopes.current()), sleep(4).then(() => scopes.current())]),
    ]);
    expect(all).toEqual(["clinic-7", "clinic-7", "clinic-7"]);
    expect(race).toBe("clinic-7");
  });

  it("nesting: the innermost run wins, and the outer scope comes back after it (sync and async)", async () => {
    const scopes = createScopeContext();
    const trace = await scopes.run("outer", async () => {
      const out: (string | undefined)[] = [scopes.current()];
      out.push(scopes.run("inner", () => scopes.current()));
      out.push(scopes.current());
      out.push(
        await scopes.run("inner-async", async () => {
          await sleep(2);
          return scopes.run("innermost", () => scopes.current());
        }),
      );
      await sleep(1);
      out.push(scopes.current());
      return out;
    });
    expect(trace).toEqual(["outer", "inner", "outer", "innermost", "outer"]);
  });

  it("a nested run with the same scope as the outer one is fine", () => {
    const scopes = createScopeContext();
    expect(scopes.run("clinic-7", () => scopes.run("clinic-7", () => scopes.current()))).toBe("clinic-7");
  });

  it("current works detached from its object (adapters take `{ scope: tenants.current }`)", async () => {
    const scopes = createScopeContext();
    const { current } = scopes;
    expect(current()).toBeUndefined();
    expect(await scopes.run("clinic-7", () => later(1, () => current()))).toBe("clinic-7");
  });

  it("accepts any well-formed scope of 1 to 1024 UTF-8 bytes", () => {
    const scopes = createScopeContext();
    for (const scope of ["a", "clinic-7", "Zürich", "租户-42", "🏥", " ", "x".repeat(1024), "é".repeat(512)]) {
      expect(scopes.run(scope, () => scopes.current())).toBe(scope);
    }
  });
});

describe("createScopeContext: invalid scopes → ERR_INVALID_CONTEXT, fn never runs", () => {
  const cases: [string, unknown, string][] = [
    ["empty string", "", "context.scope must be a non-empty string (got an empty string)"],
    ["undefined", undefined, "context.scope must be a non-empty string (got undefined)"],
    ["null", null, "context.scope must be a non-empty string (got null)"],
    ["a number", 7, "context.scope must be a non-empty string (got number)"],
    ["a bigint", 7n, "context.scope must be a non-empty string (got bigint)"],
    ["an object", { tenant: "clinic-7" }, "context.scope must be a non-empty string (got object)"],
    ["an array", ["clinic-7"], "context.scope must be a non-empty string (got array)"],
    ["a String object", new String("clinic-7"), "context.scope must be a non-empty string (got String object)"],
    ["a lone surrogate", "clinic-\uD800", "context.scope is not well-formed UTF-16 (lone surrogate)"],
    ["1025 bytes", "x".repeat(1025), "context.scope must be at most 1024 UTF-8 bytes (got 1025)"],
    ["1026 bytes of é", "é".repeat(513), "context.scope must be at most 1024 UTF-8 bytes (got 1026)"],
  ];

  for (const [what, scope, message] of cases) {
    it(`${what}`, () => {
      const scopes = createScopeContext();
      let ran = false;
      expectThrows(
        () =>
          scopes.run(scope as string, () => {
            ran = true;
          }),
        "ERR_INVALID_CONTEXT",
        message,
      );
      expect(ran).toBe(false);
      expect(scopes.current()).toBeUndefined();
    });
  }

  it("an invalid nested scope leaves the outer scope in place", () => {
    const scopes = createScopeContext();
    scopes.run("outer", () => {
      expectThrows(() => scopes.run("", () => undefined), "ERR_INVALID_CONTEXT");
      expect(scopes.current()).toBe("outer");
    });
  });
});

describe("two scope contexts are independent", () => {
  it("a run of one is invisible to the other, also when nested and across awaits", async () => {
    const a = createScopeContext();
    const b = createScopeContext();
    expect(a.run("tenant-a", () => b.current())).toBeUndefined();
    const seen = await a.run("tenant-a", () =>
      b.run("subject-b", async () => {
        await sleep(1);
        return [a.current(), b.current(), a.run("tenant-a2", () => [a.current(), b.current()])];
      }),
    );
    expect(seen).toEqual(["tenant-a", "subject-b", ["tenant-a2", "subject-b"]]);
    expect(a.current()).toBeUndefined();
    expect(b.current()).toBeUndefined();
  });

  it("interleaved runs of two contexts do not cross", async () => {
    const a = createScopeContext();
    const b = createScopeContext();
    const results = await Promise.all([
      a.run("a-1", () => later(3, () => [a.current(), b.current()])),
      b.run("b-1", () => later(1, () => [a.current(), b.current()])),
      a.run("a-2", () => b.run("b-2", () => later(2, () => [a.current(), b.current()]))),
    ]);
    expect(results).toEqual([
      ["a-1", undefined],
      [undefined, "b-1"],
      ["a-2", "b-2"],
    ]);
  });
});

describe("a scope context feeding an encrypted column", () => {
  it("cells written under a tenant's scope open under it and under no other", async () => {
    const keyring = createKeyring([{ id: "v1", secret: keyBytes(3), primary: true }]);
    const note = encryptedColumn(keyring, { table: "clinic_notes", column: "note", type: "string" });
    const tenants = createScopeContext();
    const write = (value: string, id: number) => note.encrypt(value, { scope: tenants.current(), rowKey: id });
    const read = (stored: unknown, id: number) => note.decrypt(stored, { scope: tenants.current(), rowKey: id });

    const [a, b] = await Promise.all([
      tenants.run("clinic-1", () => later(2, () => write("note of clinic 1", 1))),
      tenants.run("clinic-2", () => later(1, () => write("note of clinic 2", 1))),
    ]);
    expect(await tenants.run("clinic-1", () => later(1, () => read(a, 1)))).toBe("note of clinic 1");
    expect(tenants.run("clinic-2", () => read(b, 1))).toBe("note of clinic 2");
    expectThrows(() => tenants.run("clinic-2", () => read(a, 1)), "ERR_DECRYPTION_FAILED", "decryption failed");
    expectThrows(() => read(a, 1), "ERR_DECRYPTION_FAILED", "decryption failed");
  });
});
