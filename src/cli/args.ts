import { readFileSync } from 'node:fs';
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

