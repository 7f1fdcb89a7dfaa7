/**
 * Rows (`width` values each, one flat array) as tab-separated lines, each value written by
 * `encode`, in strings of about 1 MiB: the text of PostgreSQL's COPY and of MySQL's LOAD DATA.
 */
export function* tsvChunks(width: number, values: readonly unknown[], encode: (value: unknown) => string): Generator<string> {
  let text = '';
  for (let at = 0; at < values.length; at += width) {
    let line = encode(values[at]);
    for (let c = 1; c < width; c++) line += `\t${encode(values[at + c])}`;
    text += `${line}\n`;
    if (text.length >= 1 << 20) {
      yield text;
      text = '';
    }
  }
  if (text) yield text;
}
