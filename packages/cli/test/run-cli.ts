import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

/** The built CLI; the root `npm test` builds it before vitest runs. */
export const BIN = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

export interface CliResult {
  readonly exit: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node dist/bin.js …args` with `stdin` and an environment holding only PATH and `env`,
 * so that no FIELDCRYPT_* or DATABASE_URL of the developer's shell leaks into a test.
 */
export function runCli(
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; stdin?: string | Buffer } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? "", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (exit) =>
      resolve({ exit, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
    // A command that fails before reading stdin closes it early; that is not the test's concern.
    child.stdin.on("error", () => {});
    child.stdin.end(options.stdin ?? "");
  });
}

/** One row of a CLI test table: what goes in and everything that must come out. */
export interface CliCase {
  readonly name: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: string | Buffer;
  readonly exit: number;
  /** Exact text or a pattern; absent means stdout must be empty. */
  readonly stdout?: string | RegExp;
  /** Exact text or a pattern; absent means stderr must be empty. */
  readonly stderr?: string | RegExp;
}

export function expectOutput(actual: string, expected: string | RegExp | undefined): void {
  if (expected instanceof RegExp) expect(actual).toMatch(expected);
  else expect(actual).toBe(expected ?? "");
}

/** Runs a case and checks exit code, stdout and stderr. */
export async function checkCase(c: CliCase): Promise<CliResult> {
  const result = await runCli(c.args, {
    ...(c.env === undefined ? {} : { env: c.env }),
    ...(c.stdin === undefined ? {} : { stdin: c.stdin }),
  });
  expectOutput(result.stderr, c.stderr);
  expectOutput(result.stdout, c.stdout);
  expect(result.exit).toBe(c.exit);
  return result;
}

/** `fieldcrypt: error: …` and `fieldcrypt: hint: …` lines, as the CLI prints them. */
export function errorLines(message: string, hint?: string): string {
  return `fieldcrypt: error: ${message}\n${hint === undefined ? "" : `fieldcrypt: hint: ${hint}\n`}`;
}
