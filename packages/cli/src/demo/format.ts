import { stripVTControlCharacters } from "node:util";
import type { Io } from "../internal/io.js";

/** Terminal emphasis, on only for a TTY without NO_COLOR. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
}

export function createStyle(io: Io): Style {
  const on = io.stdoutIsTTY && (io.env.NO_COLOR ?? "") === "" && io.env.TERM !== "dumb";
  const sgr = (open: number, close: number) => (text: string) => (on ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return { bold: sgr(1, 22), dim: sgr(2, 22), green: sgr(32, 39), red: sgr(31, 39) };
}

/** Width in terminal columns, close enough for the demo's text (one column per code point). */
function width(text: string): number {
  return [...stripVTControlCharacters(text)].length;
}

function padEnd(text: string, columns: number): string {
  return text + " ".repeat(Math.max(0, columns - width(text)));
}

/** `text` cut to `max` columns with a trailing ellipsis. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** A cell as shown next to its value: head…tail, enough to recognise it, never the whole payload. */
export function shortenCell(cell: string): string {
  return cell.length <= 24 ? cell : `${cell.slice(0, 14)}…${cell.slice(-8)}`;
}

/** A psql-like grid: header, rule, rows; each line starts with `indent`. */
export function formatGrid(indent: string, headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    `${indent} ${cells.map((c, i) => padEnd(c, widths[i] ?? 0)).join(" | ")}`.trimEnd();
  return [line(headers), `${indent}${widths.map((w) => "-".repeat(w + 2)).join("+")}`, ...rows.map(line)]
    .map((l) => `${l}\n`)
    .join("");
}
