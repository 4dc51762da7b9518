import { describe, expect, it } from "vitest";
import { barLine, createProgress, formatDuration, type ProgressStream } from "../src/internal/progress.js";

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { text: string } {
  const stream = {
    text: "",
    isTTY,
    columns,
    write(text: string) {
      stream.text += text;
    },
  };
  return stream;
}

describe("progress reporter", () => {
  it("writes one JSON object per update when the stream is not a terminal", () => {
    const stream = fakeStream(false);
    const progress = createProgress({ stream, kind: "rotate", table: "journal_archive", total: 2500 });
    progress.update({ processed: 1000, rate: 4000.4 });
    progress.update({ processed: 2000, rate: 4100 });
    progress.update({ processed: 2500, rate: 4200.6 });
    progress.done();
    const lines = stream.text.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { kind: "rotate", table: "journal_archive", processed: 1000, total: 2500, rate: 4000 },
      { kind: "rotate", table: "journal_archive", processed: 2000, total: 2500, rate: 4100 },
      { kind: "rotate", table: "journal_archive", processed: 2500, total: 2500, rate: 4201 },
    ]);
    expect(stream.text).not.toContain("\r");
    expect(stream.text).not.toContain("\x1b");
  });

  it("computes the rate from its clock when the update has none", () => {
    const stream = fakeStream(false);
    let now = 10_000;
    const progress = createProgress({ stream, kind: "encrypt", table: "t", total: 10, now: () => now });
    now += 2000;
    progress.update({ processed: 5 });
    expect(JSON.parse(stream.text)).toEqual({ kind: "encrypt", table: "t", processed: 5, total: 10, rate: 3 });
  });

  it("redraws one bar line in place on a terminal, with rate and ETA, and ends it with a newline", () => {
    const stream = fakeStream(true);
    const progress = createProgress({ stream, kind: "rotate", table: "notes", total: 20_000, indent: "  " });
    progress.update({ processed: 5000, rate: 5000 });
    expect(stream.text).toBe(
      `\r  rotate notes [${"█".repeat(6)}${"·".repeat(18)}] 5,000/20,000 rows  5,000 rows/s  ETA 3s\x1b[K`,
    );
    progress.update({ processed: 20_000, rate: 6000 });
    progress.done();
    const frames = stream.text.split("\r").slice(1);
    expect(frames).toHaveLength(3);
    expect(frames[2]).toBe(`  rotate notes [${"█".repeat(24)}] 20,000/20,000 rows  6,000 rows/s  done\x1b[K\n`);
    expect(stream.text.split("\n")).toHaveLength(2);
  });

  it("says stopped, not done, in the last frame of a stopped run (Ctrl-C), and failed for a failed one", () => {
    const stream = fakeStream(true);
    const progress = createProgress({ stream, kind: "encrypt", table: "bulk", total: 2000 });
    progress.update({ processed: 500, rate: 500 });
    progress.done("stopped");
    const frames = stream.text.split("\r").slice(1);
    expect(frames[1]).toBe(
      `encrypt bulk [${"█".repeat(6)}${"·".repeat(18)}] 500/2,000 rows  500 rows/s  stopped\x1b[K\n`,
    );
    expect(barLine("encrypt", "bulk", 500, 2000, 500, "failed")).toMatch(/ failed$/);
    expect(barLine("encrypt", "bulk", 2000, 2000, 500, "done")).toMatch(/ done$/);
  });

  it("cuts the bar line to the terminal width", () => {
    const stream = fakeStream(true, 30);
    const progress = createProgress({ stream, kind: "rotate", table: "notes", total: 10 });
    progress.update({ processed: 1, rate: 1 });
    expect(stream.text).toBe(`\r${barLine("rotate", "notes", 1, 10, 1).slice(0, 29)}\x1b[K`);
  });

  it("prints nothing on done in JSON mode, and a finished bar for an empty table on a terminal", () => {
    const json = fakeStream(false);
    createProgress({ stream: json, kind: "verify", table: "t", total: 0 }).done();
    expect(json.text).toBe("");
    const tty = fakeStream(true);
    createProgress({ stream: tty, kind: "verify", table: "t", total: 0 }).done();
    expect(tty.text).toBe(`\rverify t [${"█".repeat(24)}] 0/0 rows  0 rows/s  done\x1b[K\n`);
  });

  it("shows an ETA only once there is a rate", () => {
    expect(barLine("rotate", "t", 0, 100, 0)).toMatch(/ETA -$/);
    expect(barLine("rotate", "t", 50, 100, 10)).toMatch(/ETA 5s$/);
  });

  it("formats durations", () => {
    expect(formatDuration(0.2)).toBe("1s");
    expect(formatDuration(59)).toBe("59s");
    expect(formatDuration(75)).toBe("1m15s");
    expect(formatDuration(3700)).toBe("1h01m");
  });
});
