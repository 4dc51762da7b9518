/**
 * Composable Fernet key recipes (docs/legacy-import.md, "Key recipes"): a salt template, a salt
 * function, a chained master key (PBKDF2 over PBKDF2, handed on as bytes or as base64 text) and
 * double-base64 tokens, each against tokens made by the `cryptography` package of the python3 on
 * PATH (test/interop/legacy_producer.py, op fernet_recipe: the salt is the app's own Python line).
 * The master key's chain is derived once per decoder, the per-user keys once per user; every
 * option is checked when the decoder is made, naming the option and never a secret.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { type DerivedSecret, type FernetDerivation, fernetFormat } from "../src/legacy/index.js";
import { assertOpaqueFailure, expectThrows, needs, thrown } from "./helpers.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "interop", "legacy_producer.py");
const pythonCheck = spawnSync("python3", ["-c", "import cryptography"], { encoding: "utf8" });
const hasPython = needs(
  pythonCheck.status === 0,
  "python3 with the cryptography package (the producers of legacy-recipes)",
  "install python3 and `pip install cryptography`",
);

interface RecipeRequest {
  readonly secret: string;
  readonly chain?: readonly object[];
  readonly salt: string;
  readonly iterations: number;
  readonly hash: "sha256" | "sha1";
  readonly double?: "std" | "url";
  readonly rows: readonly Record<string, unknown>[];
}

/** Tokens of each request's rows, made by Python (one process for all of them). */
function produce(requests: readonly RecipeRequest[]): string[][] {
  const input = JSON.stringify(requests.map((r) => ({ op: "fernet_recipe", ...r })));
  const run = spawnSync("python3", [SCRIPT], { input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`legacy_producer.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { tokens: string[] }[]).map((r) => r.tokens);
}

const SECRET = "CANARY-APP-SECRET-7d1e";
const USERS = [7, 19, 123456789];
const ROWS = USERS.flatMap((user_id) =>
  ["hello", "", "Grüße 🌍", `note of ${user_id}`].map((message) => ({ user_id, tenant_id: "acme", message })),
);
const messages = ROWS.map((r) => r.message);

/** The chained master key of the docs: urlsafe_b64encode(PBKDF2-SHA256(secret, "app-master-salt", 20,000)). */
const CHAINED: DerivedSecret = {
  pbkdf2: { secret: SECRET, salt: "app-master-salt", iterations: 20_000, hash: "sha256" },
  encoding: "base64url",
};
const CHAIN_STEP = { salt: "app-master-salt", iterations: 20_000, hash: "sha256", encoding: "base64url" };

describe("fernetFormat key recipes: every option checked when the decoder is made", () => {
  const base = { masterKey: "m", iterations: 1 } as const;
  const derive = (d: Record<string, unknown>) => () => fernetFormat({ derive: { ...base, ...d } as FernetDerivation });

  it("salt templates, salt functions and row columns", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ salt: { template: "" } }, "derive.salt.template must be a non-empty string (got string)"],
      [{ salt: { template: 7 } }, "derive.salt.template must be a non-empty string (got number)"],
      [{ salt: { template: "user_{user_id" } }, "derive.salt.template has a { without its }"],
      [{ salt: { template: "user_}" } }, "derive.salt.template has a } without its {"],
      ...["user_{}", "{user_id:08d}", "{user_id!r}", "{a{b}"].map((template): [Record<string, unknown>, string] => [
        { salt: { template } },
        "derive.salt.template: each {…} must name a row column (no format specs; {{ and }} for literal braces)",
      ]),
      [{ salt: () => "s" }, "a derive.salt function needs derive.rowColumns: the columns it reads"],
      [
        { salt: () => "s", rowColumns: "user_id" },
        "a derive.salt function needs derive.rowColumns: the columns it reads",
      ],
      [{ salt: () => "s", rowColumns: ["user_id", ""] }, "derive.rowColumns[1] must be a column name"],
      [
        { salt: { template: "{user_id}" }, rowColumns: ["user_id"] },
        "derive.rowColumns goes with a salt function only",
      ],
      [{ salt: "static-salt" }, "derive.salt must be an object or a function (got string)"],
      [{ salt: {} }, "derive.salt must be { static, append? }, { column }, { template } or a function"],
      [{ salt: { static: "s", append: "" } }, "derive.salt.append must be a column name"],
    ];
    for (const [options, message] of cases) expectThrows(derive(options), "ERR_INVALID_OPTION", message);
    // Literal braces and a template without columns are fine.
    expect(fernetFormat({ derive: { ...base, salt: { template: "{{v1}}:{user_id}" } } }).rowColumns).toEqual([
      "user_id",
    ]);
    expect(fernetFormat({ derive: { ...base, salt: { template: "fixed" } } }).rowColumns).toEqual([]);
    const fn = fernetFormat({ derive: { ...base, salt: (row) => String(row.a), rowColumns: ["a", "b", "a"] } });
    expect(fn.rowColumns).toEqual(["a", "b"]);
  });

  it("a chained master key, naming the step's option and never the secret", () => {
    const step = { secret: SECRET, salt: "s", iterations: 1 };
    const at = "derive.masterKey";
    const cases: [unknown, string][] = [
      [42, `${at} must be a string, a Uint8Array or { pbkdf2: { secret, salt, iterations } } (got number)`],
      [{ hkdf: step }, `${at} must be a string, a Uint8Array or { pbkdf2: { secret, salt, iterations } } (got object)`],
      [{ pbkdf2: "x" }, `${at}.pbkdf2 must be an object`],
      [{ pbkdf2: step, encodng: "hex" }, `${at} takes only pbkdf2 and encoding`],
      [{ pbkdf2: { ...step, iteration: 5 } }, `${at}.pbkdf2 takes only secret, salt, iterations, hash and length`],
      [{ pbkdf2: step, encoding: "base32" }, `${at}.encoding must be "bytes", "base64url", "base64" or "hex"`],
      [{ pbkdf2: { ...step, iterations: 0 } }, `${at}.pbkdf2.iterations must be a positive integer`],
      [{ pbkdf2: { ...step, hash: "md5" } }, `${at}.pbkdf2.hash must be "sha256" or "sha1"`],
      [{ pbkdf2: { ...step, length: 0 } }, `${at}.pbkdf2.length must be a positive integer`],
      [{ pbkdf2: { ...step, length: 4096 } }, `${at}.pbkdf2.length must be at most 1024`],
      [{ pbkdf2: { ...step, salt: 5 } }, `${at}.pbkdf2.salt must be a string or a Uint8Array (got number)`],
      [
        { pbkdf2: { ...step, secret: null } },
        `${at}.pbkdf2.secret must be a string, a Uint8Array or { pbkdf2: { secret, salt, iterations } } (got null)`,
      ],
    ];
    for (const [masterKey, message] of cases) {
      const error = expectThrows(derive({ masterKey, salt: { static: "s" } }), "ERR_INVALID_OPTION", message);
      expect(`${error.stack} ${inspect(error)}`).not.toContain("CANARY");
    }
    // A cycle (or a chain longer than 8 steps) is refused, not followed forever.
    const cyclic: { pbkdf2: Record<string, unknown> } = { pbkdf2: { salt: "s", iterations: 1 } };
    cyclic.pbkdf2.secret = cyclic;
    expectThrows(
      derive({ masterKey: cyclic, salt: { static: "s" } }),
      "ERR_INVALID_OPTION",
      "derive.masterKey chains at most 8 derivations",
    );
    const format = fernetFormat({
      derive: { masterKey: CHAINED, salt: { template: "user_{user_id}_salt" }, iterations: 1 },
    });
    expect([String(format), inspect(format), JSON.stringify(format)].join(" ")).not.toContain("CANARY");
  });
});

describe.skipIf(!hasPython)("fernetFormat key recipes against Python `cryptography`", () => {
  let tokens: string[][] = [];

  beforeAll(() => {
    tokens = produce([
      // 0: salt template: f"user_{user_id}_salt".encode()
      { secret: SECRET, salt: 'f"user_{user_id}_salt".encode()', iterations: 10_000, hash: "sha256", rows: ROWS },
      // 1: a template of two columns with literal braces
      {
        secret: SECRET,
        salt: 'f"{{v1}}{tenant_id}:{user_id}".encode()',
        iterations: 1_000,
        hash: "sha256",
        rows: ROWS,
      },
      // 2: a salt function: str(user_id).zfill(8).encode()
      { secret: SECRET, salt: "str(user_id).zfill(8).encode()", iterations: 1_000, hash: "sha1", rows: ROWS },
      // 3: chained master (base64 text of PBKDF2-SHA256), per-user PBKDF2-SHA1, double-base64 tokens
      {
        secret: SECRET,
        chain: [CHAIN_STEP],
        salt: 'f"user_{user_id}_salt".encode()',
        iterations: 5_000,
        hash: "sha1",
        double: "std",
        rows: ROWS,
      },
      // 4-6: the chained master handed on as raw bytes, standard base64 and hex
      ...(["bytes", "base64", "hex"] as const).map((encoding) => ({
        secret: SECRET,
        chain: [{ ...CHAIN_STEP, iterations: 1_000, encoding }],
        salt: 'b"journal:" + str(user_id).encode()',
        iterations: 1_000,
        hash: "sha256" as const,
        rows: ROWS,
      })),
      // 7: a two-step chain: PBKDF2-SHA1 → 64 bytes → hex, then PBKDF2-SHA256 → bytes
      {
        secret: SECRET,
        chain: [
          { salt: "outer", iterations: 1_000, hash: "sha1", length: 64, encoding: "hex" },
          { salt: "inner", iterations: 2_000, hash: "sha256" },
        ],
        salt: 'f"user_{user_id}_salt".encode()',
        iterations: 1_000,
        hash: "sha256",
        rows: ROWS,
      },
    ]);
  });

  const stored = (i: number) => ROWS.map((row, r) => ({ ...row, body: tokens[i]?.[r] }));

  it("a salt template: user_{user_id}_salt, once per user; a missing column names it", async () => {
    const format = fernetFormat({
      derive: { masterKey: SECRET, salt: { template: "user_{user_id}_salt" }, iterations: 10_000 },
    });
    expect(format.rowColumns).toEqual(["user_id"]);
    const rows = stored(0);
    await format.prepare?.(rows);
    expect(format.stats().derivations).toBe(USERS.length);
    expect(rows.map((row) => format.decrypt(row.body, row))).toEqual(messages);
    expect(format.stats().derivations).toBe(USERS.length);
    // A string user id is written the same way ("7"), a bigint too.
    expect(format.decrypt(rows[0]?.body, { user_id: "7" })).toBe(messages[0]);
    expect(format.decrypt(rows[0]?.body, { user_id: 7n })).toBe(messages[0]);
    assertOpaqueFailure(thrown(() => format.decrypt(rows[0]?.body, { user_id: 19 })));
    for (const row of [{}, { user_id: null }]) {
      expectThrows(
        () => format.decrypt(rows[0]?.body, row),
        "ERR_INVALID_CONTEXT",
        'the fernet legacy format needs the row\'s "user_id" column',
      );
    }
    const two = fernetFormat({
      derive: { masterKey: SECRET, salt: { template: "{{v1}}{tenant_id}:{user_id}" }, iterations: 1_000 },
    });
    expect(two.rowColumns).toEqual(["tenant_id", "user_id"]);
    expect(stored(1).map((row) => two.decrypt(row.body, row))).toEqual(messages);
    expectThrows(
      () => two.decrypt(stored(1)[0]?.body, { user_id: 7 }),
      "ERR_INVALID_CONTEXT",
      'the fernet legacy format needs the row\'s "tenant_id" column',
    );
  });

  it("a salt function with the columns it reads; its failures are the row's ERR_INVALID_CONTEXT", async () => {
    const format = fernetFormat({
      derive: {
        masterKey: SECRET,
        salt: (row) => String(row.user_id).padStart(8, "0"),
        rowColumns: ["user_id"],
        iterations: 1_000,
        hash: "sha1",
      },
    });
    const rows = stored(2);
    await format.prepare?.([...rows, {}]); // a row the function cannot take fails later, in decrypt
    expect(format.stats().derivations).toBe(USERS.length);
    expect(rows.map((row) => format.decrypt(row.body, row))).toEqual(messages);
    expectThrows(
      () => format.decrypt(rows[0]?.body, {}),
      "ERR_INVALID_CONTEXT",
      'the fernet legacy format needs the row\'s "user_id" column',
    );
    const throwing = fernetFormat({
      derive: {
        masterKey: SECRET,
        salt: (row) => {
          throw new TypeError(`no salt for ${String(row.user_id)} CANARY`);
        },
        rowColumns: ["user_id"],
        iterations: 1,
      },
    });
    const error = expectThrows(
      () => throwing.decrypt(rows[0]?.body, rows[0]),
      "ERR_INVALID_CONTEXT",
      "the fernet legacy format's salt function threw TypeError for this row",
    );
    expect("cause" in error).toBe(false);
    const wrongType = fernetFormat({
      derive: { masterKey: SECRET, salt: () => 42 as never, rowColumns: [], iterations: 1 },
    });
    expectThrows(
      () => wrongType.decrypt(rows[0]?.body, rows[0]),
      "ERR_INVALID_CONTEXT",
      "the fernet legacy format's salt function must return a string or a Uint8Array (got number)",
    );
  });

  it("a chained master key (base64 text of PBKDF2-SHA256), per-user PBKDF2-SHA1, double-base64 tokens", async () => {
    const options = {
      derive: { masterKey: CHAINED, salt: { template: "user_{user_id}_salt" }, iterations: 5_000, hash: "sha1" },
      doubleBase64: true,
    } as const;
    const format = fernetFormat(options);
    const rows = stored(3);
    expect(rows.every((r) => format.matches(r.body))).toBe(true);
    // Two batches at once and a later one: the chain runs once, each user's key once.
    await Promise.all([format.prepare?.(rows.slice(0, 6)), format.prepare?.(rows.slice(3))]);
    await format.prepare?.(rows);
    expect(format.stats().derivations).toBe(1 + USERS.length);
    expect(rows.map((row) => format.decrypt(row.body, row))).toEqual(messages);
    expect(format.stats()).toEqual({ derivations: 1 + USERS.length, cached: USERS.length });
    // Without prepare: derived synchronously, still once.
    const sync = fernetFormat(options);
    expect(rows.map((row) => sync.decrypt(row.body, row))).toEqual(messages);
    expect(sync.stats().derivations).toBe(1 + USERS.length);
    // The master handed on as raw bytes (not its base64 text), a wrong secret, a single base64: opaque.
    const raw = fernetFormat({ ...options, derive: { ...options.derive, masterKey: { pbkdf2: CHAINED.pbkdf2 } } });
    assertOpaqueFailure(thrown(() => raw.decrypt(rows[0]?.body, rows[0])));
    const wrong = { ...CHAINED, pbkdf2: { ...CHAINED.pbkdf2, secret: "another secret" } };
    const wrongSecret = fernetFormat({ ...options, derive: { ...options.derive, masterKey: wrong } });
    assertOpaqueFailure(thrown(() => wrongSecret.decrypt(rows[0]?.body, rows[0])));
    const single = fernetFormat({ ...options, doubleBase64: false });
    expect(single.matches(rows[0]?.body)).toBe(false);
  });

  it("the chained master key handed on as bytes, base64 or hex; a chain of two steps", () => {
    for (const [i, encoding] of (["bytes", "base64", "hex"] as const).entries()) {
      const format = fernetFormat({
        derive: {
          masterKey: { pbkdf2: { ...CHAINED.pbkdf2, iterations: 1_000 }, encoding },
          salt: { static: "journal:", append: "user_id" },
          iterations: 1_000,
        },
      });
      const rows = stored(4 + i);
      expect(rows.map((row) => format.decrypt(row.body, row))).toEqual(messages);
    }
    const twoSteps = fernetFormat({
      derive: {
        masterKey: {
          pbkdf2: {
            secret: {
              pbkdf2: { secret: SECRET, salt: "outer", iterations: 1_000, hash: "sha1", length: 64 },
              encoding: "hex",
            },
            salt: "inner",
            iterations: 2_000,
          },
        },
        salt: { template: "user_{user_id}_salt" },
        iterations: 1_000,
      },
    });
    expect(stored(7).map((row) => twoSteps.decrypt(row.body, row))).toEqual(messages);
    expect(twoSteps.stats().derivations).toBe(2 + USERS.length);
  });
});
