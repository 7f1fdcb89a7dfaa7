import { createWriteStream, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ConfigError } from '../errors.js';

/** A repeatable, comma-separable flag (`-e A -e B,C`) as one list. */
export const list = (values: unknown): string[] => ((values as string[] | undefined) ?? []).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);

/** A file named by a flag (`--ca`, `--tls-cert`...), read now so that a wrong path is a usage error before any network access. */
export function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Non-empty, non-comment lines of a file (token files). */
export function readLines(file: string): string[] {
  return readCa(file).toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}


/** Write through `write` into FILE, whole or not at all: a `.partial` file renamed when complete. */
export async function dumpToFile<T>(file: string, write: (out: Writable) => Promise<T>): Promise<T> {
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  try {
    await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
    const result = await write(out);
    out.end();
    await finished(out);
    await rename(partial, file);
    return result;
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EACCES') throw new ConfigError(`-o ${file}: ${(error as Error).message}`);
    throw error;
  }
}
