import { isFieldcryptError } from "fieldcrypt/errors";
import { rotateRootKey } from "fieldcrypt/key-store";
import type { RootKeyProvider } from "fieldcrypt/kms";
import { parseCommandArgs } from "../../internal/args.js";
import { CliError, configError, usageError } from "../../internal/cli-error.js";
import { EXIT_CONFIG, EXIT_OK, EXIT_USAGE, type ExitCode } from "../../internal/exit-codes.js";
import type { Io } from "../../internal/io.js";
import { createProgress } from "../../internal/progress.js";
import { HELP, ROTATE_ROOT_FLAGS } from "./flags.js";
import { json, prepareWrite, withSession } from "./session.js";

export function batchSizeOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000) {
    throw usageError("--batch-size must be an integer from 1 to 100000", "run `fieldcrypt keys --help`");
  }
  return n;
}

export async function rotateRootCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, ROTATE_ROOT_FLAGS, { command: "keys rotate-root" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const batchSize = batchSizeOf(flags["batch-size"]);
  return withSession(flags, io, true, async (s) => {
    const roots = s.config.rootKeys;
    const to = flags.to === undefined ? (roots[0] as RootKeyProvider) : roots.find((r) => r.id === flags.to);
    if (to === undefined) {
      throw usageError(
        "--to names a root key that is not in the config's rootKeys",
        `the configured root keys are ${roots.map((r) => r.id).join(", ")}`,
      );
    }
    await prepareWrite(s, "require");
    const { rows } = await s.pool.query<{ root_key_id: string; n: string }>(
      `SELECT root_key_id, count(*) AS n FROM fieldcrypt_keys
        WHERE state <> 'destroyed' AND root_key_id <> $1 GROUP BY root_key_id ORDER BY root_key_id`,
      [to.id],
    );
    const sources: { from: RootKeyProvider; count: number }[] = [];
    for (const row of rows) {
      const from = roots.find((r) => r.id === row.root_key_id);
      if (from === undefined) {
        throw configError(
          `${row.n} data ${row.n === "1" ? "key is" : "keys are"} wrapped by root key ${row.root_key_id}, which the config's rootKeys do not hold`,
          "list both the old and the new root key in rootKeys until the rotation is done",
        );
      }
      sources.push({ from, count: Number(row.n) });
    }
    const total = sources.reduce((sum, x) => sum + x.count, 0);
    const progress = flags.json
      ? undefined
      : createProgress({
          stream: { write: (text) => io.out(text), isTTY: io.stdoutIsTTY },
          kind: "rewrap",
          table: "fieldcrypt_keys",
          total,
        });
    let done = 0;
    try {
      for (const { from } of sources) {
        const before = done;
        const result = await rotateRootKey(s.pool, from, to, {
          ...s.events,
          batchSize,
          onProgress: (n) => {
            done = before + n;
            progress?.update({ processed: done });
          },
        });
        done = before + result.rewrapped;
      }
    } catch (error) {
      // Every batch is one statement: what was rewrapped stays rewrapped, and a re-run resumes.
      if (!isFieldcryptError(error)) throw error;
      throw new CliError(
        isFieldcryptError(error, "ERR_INVALID_OPTION") ? EXIT_USAGE : EXIT_CONFIG,
        error.message,
        `${done} of ${total} data keys were rewrapped before it, the rest are untouched; fix the cause and run \`fieldcrypt keys rotate-root\` again: it resumes where it stopped`,
      );
    } finally {
      progress?.done();
    }
    const fromIds = sources.map((x) => x.from.id);
    if (flags.json) {
      json(io, { to: to.id, from: fromIds, rewrapped: done });
      return EXIT_OK;
    }
    if (sources.length === 0) {
      io.out(`every live data key is wrapped by root key ${to.id} already; nothing to do\n`);
    } else {
      io.out(
        `rewrapped ${done} data ${done === 1 ? "key" : "keys"} from root key ${fromIds.join(", ")} to ${to.id}; no application row was touched\n`,
      );
      io.out("once backups that need the old root key have expired, remove it from rootKeys and retire it\n");
    }
    return EXIT_OK;
  });
}
