/**
 * The fuzzer (packages/fieldcrypt/fuzz, docs/fuzzing.md) at CI size: 200,000 seeded mutations of
 * cells, legacy values, wrapped keys and audit records against the built package, with no untyped
 * error, no unexpected success and no other failure; every mutation kind and the outcomes each
 * target is there to reach actually occur; a run replays identically, in one slice or several;
 * and the harness does report each kind of failure when given a decoder that has it.
 */
import { FieldcryptError } from "fieldcrypt/errors";
import { beforeAll, describe, expect, it } from "vitest";
import { fuzzTarget, kindsOfTarget, type Original, runCase, TARGET_NAMES, type Target } from "../fuzz/harness.js";
import { Rng } from "../fuzz/prng.js";
import { type FuzzSummary, mergeRuns, runFuzz } from "../fuzz/run.js";
import { buildTargets } from "../fuzz/targets/index.js";

const SEED = "fieldcrypt-ci";
const CI_COUNT = 200_000;

let targets: Target[];
beforeAll(async () => {
  targets = await buildTargets(SEED, TARGET_NAMES);
}, 60_000);

const target = (name: string): Target => targets.find((t) => t.name === name) as Target;

describe(`the fuzzer at CI size (seed ${SEED}, ${CI_COUNT} mutations)`, () => {
  let summary: FuzzSummary;
  beforeAll(async () => {
    summary = await runFuzz({ seed: SEED, count: CI_COUNT, targets: TARGET_NAMES, built: targets });
  }, 180_000);

  it("finds no untyped error, no unexpected success and no other failure", () => {
    expect(summary.totals.mutations).toBe(CI_COUNT);
    expect(summary.totals.byFailure).toEqual({});
    for (const report of Object.values(summary.targets)) expect(report.samples).toEqual([]);
    expect(summary.ok).toBe(true);
  });

  it("runs every mutation kind of every target", () => {
    for (const t of targets) {
      const ran = Object.keys(summary.targets[t.name]?.kinds ?? {});
      for (const kind of kindsOfTarget(t)) expect(ran, `${t.name}: ${kind}`).toContain(kind);
    }
    const audit = Object.keys(summary.targets.audit?.kinds ?? {});
    for (const kind of ["log", "expect", "entry:mac", "entry:key_ids", "entry:seq"]) expect(audit).toContain(kind);
    expect(Object.keys(summary.targets.legacy?.kinds ?? {})).toContain("row");
  });

  it("reaches the outcomes each target is there for", () => {
    const reached: Record<string, string[]> = {
      cells: [
        "ERR_DECRYPTION_FAILED",
        "ERR_INVALID_CELL",
        "ERR_KEY_NOT_FOUND",
        "ERR_KEY_DESTROYED",
        "ERR_NOT_ENCRYPTED",
        "accepted:identical",
        "accepted:passed-through",
      ],
      legacy: [
        "ERR_DECRYPTION_FAILED",
        "ERR_KEY_NOT_FOUND",
        "ERR_INVALID_CONTEXT",
        "ERR_VALUE_TOO_LARGE",
        "accepted:identical",
        "accepted:row:same-bytes",
      ],
      "wrapped-key": ["ERR_UNWRAP_FAILED", "accepted:identical"],
      audit: [
        "ERR_INVALID_OPTION",
        "ERR_AUDIT_HEAD_MISMATCH",
        "verify:edited",
        "verify:deleted",
        "verify:reordered",
        "verify:inserted",
        "accepted:another-valid",
        "accepted:head:another-valid",
      ],
    };
    for (const [name, outcomes] of Object.entries(reached)) {
      expect(Object.keys(summary.targets[name]?.outcomes ?? {}), name).toEqual(expect.arrayContaining(outcomes));
    }
  });

  it("tries second spellings of cells (non-canonical base64url) and the library refuses every one", () => {
    const cells = summary.targets.cells;
    expect(cells?.secondSpellings.rejected).toBeGreaterThan(500);
    expect(cells?.secondSpellings.accepted).toBe(0);
  });
});

describe("reproducibility", () => {
  it("gives the same counts in one run and in two slices merged, and a case replays alone", async () => {
    const options = { seed: SEED, count: 4000, targets: TARGET_NAMES, built: targets };
    const whole = await runFuzz(options);
    const halves = mergeRuns([
      await runFuzz({ ...options, part: 0, parts: 2 }),
      await runFuzz({ ...options, part: 1, parts: 2 }),
    ]);
    expect(halves).toEqual(whole);
    expect(await runFuzz(options)).toEqual(whole);
    const cells = target("cells");
    expect(await runCase(cells, SEED, 1234)).toEqual(await runCase(cells, SEED, 1234));
  }, 60_000);

  it("keeps the PRNG's stream (sfc32 seeded from SHA-256), so published seeds keep naming the same cases", () => {
    const rng = new Rng("1", "cells/0");
    expect([rng.u32(), rng.u32(), rng.u32()]).toEqual(PINNED_STREAM);
  });
});

// new Rng("1", "cells/0"): its first three outputs (also computed by a separate Python sfc32).
const PINNED_STREAM = [3594502780, 1211008336, 2214353535];

describe("the harness can fail", () => {
  /** The cells target with every original opened by `open` instead of the library's decrypt. */
  function broken(name: string, open: (o: Original) => (input: unknown) => unknown): Target {
    const cells = target("cells");
    return { ...cells, name, originals: cells.originals.map((o) => ({ ...o, open: open(o) })) };
  }

  async function failures(t: Target, count = 3000): Promise<Record<string, number>> {
    const summary = await fuzzTarget(t, SEED, 0, count);
    expect(summary.samples.length).toBeGreaterThan(0);
    return summary.failures;
  }

  it("reports a decoder that accepts everything as unexpected successes", async () => {
    const f = await failures(broken("accepts-all", (o) => () => o.expected));
    expect(f["unexpected-success"]).toBeGreaterThan(2000);
  });

  it("reports a thrown plain Error as untyped", async () => {
    const f = await failures(
      broken("plain-error", () => () => {
        throw new Error("decryption failed");
      }),
    );
    expect(f.untyped).toBeGreaterThan(2000);
  });

  it("reports an undocumented code, an opaque failure with a message, and a rejected original", async () => {
    const undocumented = await failures(
      broken("undocumented", () => () => {
        throw new FieldcryptError("ERR_SOMETHING" as never, "x");
      }),
    );
    expect(undocumented["unknown-code"]).toBeGreaterThan(2000);
    const chatty = await failures(
      broken("chatty", () => () => {
        throw new FieldcryptError("ERR_DECRYPTION_FAILED", "tag mismatch at byte 17");
      }),
    );
    expect(chatty["opaque-failure-not-opaque"]).toBeGreaterThan(2000);
    const refuses = await failures(
      broken("refuses-all", () => () => {
        throw new FieldcryptError("ERR_DECRYPTION_FAILED", "decryption failed");
      }),
    );
    expect(refuses["valid-rejected"]).toBeGreaterThan(10);
  });

  it("reports a decoder that reads non-canonical base64url text as accepting second spellings", async () => {
    // What decodeTextCell would be without its canonical checks: node's lenient base64url decoder.
    const lenient = broken(
      "lenient-text",
      (o) => (input) =>
        o.open(
          typeof input === "string" && input.startsWith("fc1.") ? Buffer.from(input.slice(4), "base64url") : input,
        ),
    );
    const f = await failures(lenient, 20_000);
    expect(f["spelling-accepted"]).toBeGreaterThan(10);
  });
});
