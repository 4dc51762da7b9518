import type { Cell } from "fieldcrypt/cell";
import { usageError } from "./cli-error.js";
import type { Io } from "./io.js";

const BINARY_MAGIC = 0xfc;

/**
 * The cell a command works on: the positional argument, else standard input. Text is trimmed;
 * PostgreSQL's bytea hex output (`\xfc01…`, as psql prints a bytea column) and raw binary cells
 * on stdin are read as binary cells.
 */
export async function readCellInput(argument: string | undefined, io: Io, command: string): Promise<Cell> {
  if (argument !== undefined) return parseCellText(argument);
  if (io.stdinIsTTY) {
    throw usageError("no cell given", `pass the cell as an argument or pipe it in: … | fieldcrypt ${command}`);
  }
  const bytes = await io.readStdin();
  if (bytes[0] === BINARY_MAGIC) return bytes;
  const text = bytes.toString("utf8");
  if (text.trim() === "") throw usageError("no cell on standard input", `pipe a cell in: … | fieldcrypt ${command}`);
  return parseCellText(text);
}

function parseCellText(input: string): Cell {
  const text = input.trim();
  if (text.startsWith("\\x") && text.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(text.slice(2))) {
    return Buffer.from(text.slice(2), "hex");
  }
  return text;
}
