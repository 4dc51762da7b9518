import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { audit } from "./commands/audit.js";
import { decrypt } from "./commands/decrypt.js";
import { demo } from "./commands/demo.js";
import { encrypt } from "./commands/encrypt.js";
import { importCommand } from "./commands/import.js";
import { inspect } from "./commands/inspect.js";
import { jobs } from "./commands/jobs.js";
import { keygen } from "./commands/keygen.js";
import { keys } from "./commands/keys.js";
import { status } from "./commands/status.js";
import { usageError } from "./internal/cli-error.js";
import type { Command } from "./internal/command.js";
import { EXIT_CODES_HELP, EXIT_OK, type ExitCode } from "./internal/exit-codes.js";
import type { Io } from "./internal/io.js";
import { reportError } from "./internal/report-error.js";

const COMMANDS: readonly Command[] = [
  demo,
  keygen,
  encrypt,
  decrypt,
  inspect,
  status,
  jobs,
  importCommand,
  keys,
  audit,
];

// Echoed back only when it looks like a mistyped command, not like data pasted in the wrong place.
const SAFE_WORD = /^[a-z][a-z0-9-]{0,23}$/;

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `Usage: fieldcrypt <command> [options]

Application-level field encryption for PostgreSQL: keys, cells, and a guided demo.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Run \`fieldcrypt <command> --help\` for a command's options.

Keys (encrypt, decrypt): --keys-file FILE, else the environment:
  FIELDCRYPT_KEYS="v1=FIELDCRYPT-SECRET-KEY-1-…,v2=FIELDCRYPT-SECRET-KEY-1-…"
  FIELDCRYPT_PRIMARY_KEY=v2      the key new cells are encrypted with (one key: itself)
  FIELDCRYPT_DEBUG=1             print the details of unexpected failures

${EXIT_CODES_HELP}

Options:
  -h, --help     show this help
  --version      show the version
`;
}

function version(): string {
  const own = readVersion(new URL("../package.json", import.meta.url));
  const library = readVersion(createRequire(import.meta.url).resolve("fieldcrypt/package.json"));
  return `fieldcrypt ${own} (library ${library}, node ${process.version})\n`;
}

function readVersion(path: string | URL): string {
  return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
}

/**
 * Runs `fieldcrypt` with `argv` (the arguments after the program name) and returns the exit code.
 * Every error is printed here, in one shape, by {@link reportError}.
 */
export async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    return reportError(error, io);
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<ExitCode> {
  const [first, ...rest] = argv;
  if (first === undefined) throw usageError("no command given", "run `fieldcrypt --help` to list the commands");
  if (first === "--help" || first === "-h") {
    io.out(topHelp());
    return EXIT_OK;
  }
  if (first === "help") {
    const topic = rest[0] === undefined ? undefined : findCommand(rest[0]);
    io.out(topic === undefined ? topHelp() : topic.help);
    return EXIT_OK;
  }
  if (first === "--version") {
    io.out(version());
    return EXIT_OK;
  }
  const command = findCommand(first);
  if (command === undefined) {
    const shown = SAFE_WORD.test(first.replace(/^-{1,2}/, "")) ? ` ${first}` : "";
    throw usageError(
      first.startsWith("-") ? `unknown option${shown} (options go after the command)` : `unknown command${shown}`,
      `the commands are ${COMMANDS.map((c) => c.name).join(", ")}; run \`fieldcrypt --help\``,
    );
  }
  return command.run(rest, io);
}

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
