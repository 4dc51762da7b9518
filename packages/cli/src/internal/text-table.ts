/**
 * The CLI's plain-text tables: columns padded to their widest cell, two spaces apart, no trailing
 * spaces, no final newline. Columns from `rightFrom` on are right-aligned (counts).
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightFrom = Number.POSITIVE_INFINITY,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
