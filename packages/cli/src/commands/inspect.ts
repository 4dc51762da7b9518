import { type CellInfo, inspectCell } from "fieldcrypt/cell";
import { parseCommandArgs } from "../internal/args.js";
import { readCellInput } from "../internal/cell-input.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK } from "../internal/exit-codes.js";

const FLAGS = {
  json: { type: "boolean" },
} as const;

const HELP = `Usage: fieldcrypt inspect [--json] [CELL]

Prints the header of a cell (the argument, else standard input): form, format version,
algorithm, key id, value type and sizes. Needs no keys and does not authenticate the cell:
only decrypt does. Use it to see which key a stored cell is on.

Options:
  --json       print one JSON object instead of aligned text
  -h, --help   show this help

Example:
  fieldcrypt inspect fc1._AEBAQJ2MTgslzPpCfqdcm3X4mVz861I_UY68Plb2z3dVHiMCmfGDrBKmxMyQ2nCxg
`;

export const inspect: Command = {
  name: "inspect",
  summary: "print a cell's header (algorithm, key id, value type, sizes); needs no keys",
  help: HELP,
  async run(argv, io) {
    const { help, flags, positionals } = parseCommandArgs(argv, FLAGS, { command: "inspect", maxPositionals: 1 });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    const info = inspectCell(await readCellInput(positionals[0], io, "inspect"));
    io.out(flags.json ? `${JSON.stringify(info)}\n` : formatCellInfo(info, ""));
    return EXIT_OK;
  },
};

/** The aligned text form of a cell header, one field per line, each line starting with `indent`. */
export function formatCellInfo(info: CellInfo, indent: string): string {
  const rows: [string, string][] = [
    ["form", info.form],
    ["version", String(info.version)],
    ["algorithm", info.algorithm],
    ["key id", info.keyId],
    ["value type", info.type],
    ["payload", `${info.payloadBytes} bytes`],
    [
      "cell",
      `${info.cellBytes} bytes${info.form === "text" ? ` (${textLength(info.cellBytes)} characters as text)` : ""}`,
    ],
  ];
  return rows.map(([name, value]) => `${indent}${name.padEnd(12)}${value}\n`).join("");
}

/** Length of the text form: "fc1." plus unpadded base64url. */
function textLength(bytes: number): number {
  return 4 + Math.ceil((bytes * 4) / 3);
}
