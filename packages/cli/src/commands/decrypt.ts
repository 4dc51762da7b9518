import { decrypt as decryptCell, inspectCell } from "fieldcrypt/cell";
import { parseCommandArgs } from "../internal/args.js";
import { readCellInput } from "../internal/cell-input.js";
import type { Command } from "../internal/command.js";
import { CONTEXT_FLAGS, CONTEXT_HELP, contextFromFlags } from "../internal/context-flags.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import { loadKeys } from "../internal/load-keys.js";
import { renderValue, VALUE_RENDERING_HELP } from "../internal/render-value.js";

const FLAGS = {
  ...CONTEXT_FLAGS,
  "keys-file": { type: "string" },
} as const;

const HELP = `Usage: fieldcrypt decrypt --table T --column C [--scope S] [--row-key K] [options] [CELL]

Decrypts a cell (the argument, else standard input; surrounding whitespace is ignored) and prints
its value. The cell opens only under the --table, --column, --scope and --row-key it was
encrypted for; anything else (another row, a wrong key, a changed character) fails with the one
opaque "decryption failed". Text cells (fc1.…), bytea hex as psql prints it (\\xfc01…) and raw
binary cells on standard input are accepted.

Options:
${CONTEXT_HELP}
  --keys-file F   read keys from F (mode 0600) instead of FIELDCRYPT_KEYS
  -h, --help      show this help

${VALUE_RENDERING_HELP}

Example:
  psql -Atc "select note from clinic_notes where id = 42" \\
    | fieldcrypt decrypt --scope clinic-7 --table clinic_notes --column note --row-key 42
`;

export const decrypt: Command = {
  name: "decrypt",
  summary: "decrypt a cell from stdin and print its value",
  help: HELP,
  async run(argv, io) {
    const { help, flags, positionals } = parseCommandArgs(argv, FLAGS, { command: "decrypt", maxPositionals: 1 });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    const context = contextFromFlags(flags, "decrypt");
    const { keyring } = await loadKeys(flags["keys-file"], io, { requirePrimary: false });
    const cell = await readCellInput(positionals[0], io, "decrypt");
    const { type } = inspectCell(cell);
    io.out(`${renderValue(decryptCell(keyring, cell, context), type)}\n`);
    return EXIT_OK;
  },
};
