/**
 * Plain text tables for the reports of the demos and tools.
 *
 * @module
 */

/** A plain text table; `rightAligned` lists columns aligned right. */
export function table(
  header: string[],
  rows: string[][],
  rightAligned: number[] = [],
): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0))
  );
  const render = (row: string[]) =>
    "  " +
    row.map((cell, column) =>
      rightAligned.includes(column)
        ? cell.padStart(widths[column])
        : cell.padEnd(widths[column])
    ).join("  ").trimEnd();
  return [render(header), ...rows.map(render)].join("\n");
}
