/**
 * Generates the Prisma client of the test schema into ./generated (gitignored), when it is missing,
 * older than schema.prisma, or from another Prisma version. By hand:
 *
 *   PRISMA_SCHEMA_ENGINE_BINARY=/bin/false npx prisma generate --schema packages/fieldcrypt/test/adapters/prisma/schema.prisma
 *
 * `prisma generate` insists on a schema-engine binary (and downloads one when none is set) but, for
 * the `prisma-client` generator of Prisma 7, never runs it: a placeholder path that fails when run
 * is enough, so the tests need no network. Any failure throws with the CLI's output: the tests fail
 * loudly, they are never skipped.
 */
import { execFile } from "node:child_process";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const schema = join(here, "schema.prisma");
const output = join(here, "generated");
const clientModule = join(output, "client.ts");

async function mtime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function isCurrent(cliVersion: string): Promise<boolean> {
  const generated = await mtime(clientModule);
  const source = await mtime(schema);
  if (generated === undefined || source === undefined || generated < source) return false;
  const internal = await readFile(join(output, "internal", "class.ts"), "utf8").catch(() => "");
  return internal.includes(`"clientVersion": "${cliVersion}"`);
}

/** A stand-in schema engine: never run by `prisma generate`, and loud if it ever is. */
async function placeholderEngine(): Promise<string> {
  const path = join(tmpdir(), "fieldcrypt-test-no-schema-engine");
  await writeFile(path, "#!/bin/sh\necho 'fieldcrypt tests: no schema engine here' >&2\nexit 1\n");
  await chmod(path, 0o755);
  return path;
}

let generating: Promise<string> | undefined;

/** Generates the client if needed (once per test file); resolves to the module to import. */
export function ensurePrismaClient(): Promise<string> {
  generating ??= (async () => {
    const require = createRequire(import.meta.url);
    const cliPackage = require.resolve("prisma/package.json");
    const { version } = JSON.parse(await readFile(cliPackage, "utf8")) as { version: string };
    if (await isCurrent(version)) return clientModule;
    const env = {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? (await placeholderEngine()),
      CHECKPOINT_DISABLE: "1",
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
    };
    const cli = join(dirname(cliPackage), "build", "index.js");
    try {
      await promisify(execFile)(process.execPath, [cli, "generate", "--schema", schema], { cwd: here, env });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`prisma generate failed:\n${stdout ?? ""}${stderr ?? ""}`, { cause: error });
    }
    if (!(await isCurrent(version))) throw new Error(`prisma generate did not write ${clientModule}`);
    return clientModule;
  })();
  return generating;
}
