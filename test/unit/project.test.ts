import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('the project as a new user meets it', () => {
  it('sets no npm config that npm does not know (every npm command would warn about it)', () => {
    const r = spawnSync('npm', ['config', 'get', 'registry'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/Unknown (project|user|env) config/);
  });

  it('names no code folder like a data folder: src/ and the bundled fixtures/ do not share names', () => {
    const folders = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
    const top = folders(ROOT);
    expect(folders(path.join(ROOT, 'src')).filter((name) => top.includes(name))).toEqual([]);
  });
});
