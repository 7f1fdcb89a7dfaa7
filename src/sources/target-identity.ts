import { createHash } from 'node:crypto';
import path from 'node:path';
import { DEFAULT_DB, dialectOf } from '../dialects/index.js';

/**
 * A stable identity of a local database, without any password: `sqlite:/absolute/path` for a
 * SQLite file, `postgres://user@host:port/db` or `mysql://user@host:port/db` for a server
 * (scheme, host and default port normalized). Backups record it, and the work dir keeps each
 * target database's staged files and backups apart by it. Two spellings of one server
 * (`localhost` and `127.0.0.1`) are two identities: that errs on the side of refusing a restore.
 */
export function targetIdentity(target: string = DEFAULT_DB): string {
  const dialect = dialectOf(target);
  if (dialect === 'sqlite') {
    const file = target.startsWith('sqlite:') ? target.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : target;
    return `sqlite:${file === ':memory:' ? file : path.resolve(file)}`;
  }
  const url = new URL(target);
  const port = url.port || (dialect === 'postgres' ? '5432' : '3306');
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  return `${dialect}://${user}${url.hostname.toLowerCase()}:${port}/${decodeURIComponent(url.pathname.slice(1))}`;
}

/**
 * The directory of a target database under the work dir: a readable part (the SQLite file's
 * name, or `db@host_port`) and the first 8 hex digits of the sha256 of its identity, so that
 * two databases never share a directory, e.g. `target.sqlite-1a2b3c4d`, `enhydris@127.0.0.1_5432-9f8e7d6c`.
 */
export function targetDirName(target: string = DEFAULT_DB): string {
  const identity = targetIdentity(target);
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 8);
  const readable = identity.startsWith('sqlite:')
    ? path.basename(identity.slice('sqlite:'.length))
    : identity.replace(/^[a-z]+:\/\/([^@/]*@)?([^/]+)\/(.*)$/, '$3@$2');
  return `${readable.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64)}-${hash}`;
}
