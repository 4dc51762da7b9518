import { type AlgorithmName, encrypt as encryptCell } from "fieldcrypt/cell";
import { parseCommandArgs } from "../internal/args.js";
import { operationError, usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { CONTEXT_FLAGS, CONTEXT_HELP, contextFromFlags } from "../internal/context-flags.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import { loadKeys } from "../internal/load-keys.js";

const FLAGS = {
  ...CONTEXT_FLAGS,
  algorithm: { type: "string" },
  "keys-file": { type: "string" },
} as const;

const ALGORITHMS: readonly AlgorithmName[] = ["XAES-256-GCM", "AES-256-GCM"];

const HELP = `Usage: fieldcrypt encrypt --table T --column C [--scope S] [--row-key K] [options] < value

Encrypts the value read from standard input with the keyring's primary key and prints the
text-form cell (fc1.…) followed by a newline. The value is UTF-8 text; exactly one trailing
newline is removed, so \`echo hi | fieldcrypt encrypt …\` encrypts "hi" (and \`decrypt\` prints it
back with one newline). Decrypt with the same --table, --column, --scope and --row-key.

Options:
${CONTEXT_HELP}
  --algorithm A   XAES-256-GCM (default) or AES-256-GCM (legacy/interop)
  --keys-file F   read keys from F (mode 0600) instead of FIELDCRYPT_KEYS
  -h, --help      show this help

Keys: --keys-file, else FIELDCRYPT_KEYS="v1=FIELDCRYPT-SECRET-KEY-1-…,v2=…" with the primary
named by FIELDCRYPT_PRIMARY_KEY (or a primary=ID entry; a single key is the primary).

Example:
  echo 'BP 120/80' | fieldcrypt encrypt --scope clinic-7 --table clinic_notes --column note --row-key 42
`;

export const encrypt: Command = {
  name: "encrypt",
  summary: "encrypt a value from stdin into a cell for --table/--column (--scope, --row-key)",
  help: HELP,
  async run(argv, io) {
    const { help, flags } = parseCommandArgs(argv, FLAGS, {
      command: "encrypt",
      positionalHint: "encrypt reads the value from standard input, e.g. echo VALUE | fieldcrypt encrypt …",
    });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    const context = contextFromFlags(flags, "encrypt");
    const algorithm = flags.algorithm === undefined ? undefined : parseAlgorithm(flags.algorithm);
    const { keyring } = await loadKeys(flags["keys-file"], io);
    if (io.stdinIsTTY) io.err("fieldcrypt: reading the value from standard input (end it with Ctrl-D)\n");
    const value = decodeValue(await io.readStdin());
    io.out(`${encryptCell(keyring, value, context, { algorithm })}\n`);
    return EXIT_OK;
  },
};

function parseAlgorithm(name: string): AlgorithmName {
  const found = ALGORITHMS.find((a) => a.toLowerCase() === name.toLowerCase());
  if (found === undefined) {
    throw usageError("unknown --algorithm", "--algorithm takes XAES-256-GCM (the default) or AES-256-GCM");
  }
  return found;
}

/** UTF-8 text without one trailing newline; other bytes are refused rather than mangled. */
function decodeValue(bytes: Buffer): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw operationError(
      "standard input is not valid UTF-8 text",
      "the CLI encrypts text; encode binary data first (e.g. base64)",
    );
  }
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}
