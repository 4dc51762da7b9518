/**
 * Progress of a long run over a table (a job's batches): a bar with rate and ETA on a terminal,
 * one JSON object per update otherwise, so that logs and scripts can read it.
 */

/** Where progress goes: stdout or stderr, or a fake one in tests. */
export interface ProgressStream {
  write(text: string): void;
  /** A terminal: draw a bar redrawn in place; otherwise write JSON lines. */
  readonly isTTY: boolean;
  /** Terminal width, when known. */
  readonly columns?: number | undefined;
}

/** One update: rows done so far out of `total`. */
export interface ProgressUpdate {
  readonly processed: number;
  /** Rows per second; computed from the elapsed time when absent. */
  readonly rate?: number | undefined;
}

/** A JSON progress line. */
export interface ProgressLine {
  readonly kind: string;
  readonly table: string;
  readonly processed: number;
  readonly total: number;
  /** Rows per second, rounded. */
  readonly rate: number;
}

/** How a run ended, as the bar's last frame says it. */
export type ProgressEnding = "done" | "stopped" | "failed";

export interface ProgressReporter {
  update(update: ProgressUpdate): void;
  /**
   * Ends the display (the bar's final state and a newline on a terminal; nothing in JSON mode):
   * `done` unless the run was `stopped` (Ctrl-C) or `failed`.
   */
  done(ending?: ProgressEnding): void;
}

export interface ProgressOptions {
  readonly stream: ProgressStream;
  /** What runs, e.g. `rotate`. */
  readonly kind: string;
  readonly table: string;
  /** Rows to go through in all. */
  readonly total: number;
  /** Prefix of each bar line on a terminal. */
  readonly indent?: string | undefined;
  /** Clock in milliseconds (tests pass a fake one). */
  readonly now?: (() => number) | undefined;
}

const BAR_WIDTH = 24;

/** A reporter for one run over one table. */
export function createProgress(options: ProgressOptions): ProgressReporter {
  const { stream, kind, table, total } = options;
  const now = options.now ?? Date.now;
  const indent = options.indent ?? "";
  const started = now();
  let last: { processed: number; rate: number } = { processed: 0, rate: 0 };
  let drawn = false;

  const rateOf = (update: ProgressUpdate): number => {
    if (update.rate !== undefined && Number.isFinite(update.rate)) return update.rate;
    const seconds = (now() - started) / 1000;
    return seconds > 0 ? update.processed / seconds : 0;
  };

  const draw = (ending: ProgressEnding | undefined) => {
    const line = `${indent}${barLine(kind, table, last.processed, total, last.rate, ending)}`;
    const columns = stream.columns;
    const fitted = columns !== undefined && columns > 0 && line.length >= columns ? line.slice(0, columns - 1) : line;
    // \r back to the line's start, \x1b[K clears what a longer previous line left.
    stream.write(`\r${fitted}\x1b[K${ending === undefined ? "" : "\n"}`);
    drawn = true;
  };

  return {
    update(update) {
      last = { processed: update.processed, rate: rateOf(update) };
      if (stream.isTTY) {
        draw(undefined);
        return;
      }
      const json: ProgressLine = { kind, table, processed: update.processed, total, rate: Math.round(last.rate) };
      stream.write(`${JSON.stringify(json)}\n`);
    },
    done(ending = "done") {
      if (stream.isTTY && (drawn || total === 0)) draw(ending);
    },
  };
}

/**
 * `rotate journal_bulk [██████······] 12,000/20,000 rows  8,400 rows/s  ETA 1s`; the last frame
 * (`ending` given) says how the run ended instead of the ETA.
 */
export function barLine(
  kind: string,
  table: string,
  processed: number,
  total: number,
  rate: number,
  ending?: ProgressEnding,
): string {
  const fraction = total > 0 ? Math.min(1, processed / total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `${"█".repeat(filled)}${"·".repeat(BAR_WIDTH - filled)}`;
  const left = Math.max(0, total - processed);
  const eta = ending ?? (left === 0 ? "done" : rate > 0 ? `ETA ${formatDuration(left / rate)}` : "ETA -");
  return `${kind} ${table} [${bar}] ${count(processed)}/${count(total)} rows  ${count(Math.round(rate))} rows/s  ${eta}`;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** 0.4 → "1s", 75 → "1m15s", 3700 → "1h01m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
