import type { Writable } from 'node:stream';

/**
 * A table for people or for pipes: on a terminal a header and columns padded to align; when
 * stdout is not a terminal, tab-separated values with a header line (tabs and newlines inside
 * a value become spaces, so every row stays one line of the same number of fields).
 */
export function writeTable(out: Writable, header: readonly string[], rows: readonly (readonly unknown[])[]): void {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v).replace(/[\t\r\n]+/g, ' '));
  const lines = [header.map(cell), ...rows.map((r) => r.map(cell))];
  if (!(out as NodeJS.WriteStream).isTTY) {
    out.write(lines.map((l) => `${l.join('\t')}\n`).join(''));
    return;
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  // The last column is not padded: no trailing blanks.
  out.write(lines.map((l) => `${l.map((v, i) => (i === l.length - 1 ? v : v.padEnd(widths[i]))).join('  ')}\n`).join(''));
}
