import { randomBytes } from 'node:crypto';
import path from 'node:path';
import knexPackage, { type Knex } from 'knex';
import tmp from 'tmp';
import type { DialectName } from '../../src/dialects/index.js';

const createKnex = knexPackage as unknown as (config: Knex.Config) => Knex;

/** Admin connections used to create and drop throwaway databases. */
export const PG_ADMIN_URL = process.env.RSDB_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.RSDB_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const IS_CI = process.env.CI === 'true';

function adminKnex(dialect: Exclude<DialectName, 'sqlite'>): Knex {
  if (dialect === 'postgres') return createKnex({ client: 'pg', connection: PG_ADMIN_URL, pool: { min: 0, max: 1 } });
  const url = new URL(MYSQL_ADMIN_URL);
  return createKnex({ client: 'mysql2', connection: { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), password: decodeURIComponent(url.password), database: url.pathname.slice(1) }, pool: { min: 0, max: 1 } });
}

/**
 * The dialects to test: SQLite always; PostgreSQL and MySQL when their servers answer.
 * Under CI=true a server that does not answer is a failure, never a skip.
 */
export async function availableDialects(): Promise<DialectName[]> {
  const result: DialectName[] = ['sqlite'];
  for (const dialect of ['postgres', 'mysql'] as const) {
    const knex = adminKnex(dialect);
    try {
      await knex.raw('SELECT 1');
      result.push(dialect);
    } catch (error) {
      if (IS_CI) throw new Error(`CI=true and the ${dialect} test server is unreachable: ${(error as Error).message}`);
      console.warn(`skipping ${dialect}: ${(error as Error).message}`);
    } finally {
      await knex.destroy();
    }
  }
  return result;
}

/** A fresh empty database of a dialect, and how to drop it. */
export interface TestDatabase {
  dialect: DialectName;
  url: string;
  drop(): Promise<void>;
}

/** Create a throwaway database (a temporary file for SQLite). */
export async function createDatabase(dialect: DialectName): Promise<TestDatabase> {
  const name = `rsdb_${process.pid}_${randomBytes(4).toString('hex')}`;
  if (dialect === 'sqlite') {
    const dir = tmp.dirSync({ unsafeCleanup: true });
    return { dialect, url: path.join(dir.name, `${name}.sqlite`), drop: async () => dir.removeCallback() };
  }
  const admin = adminKnex(dialect);
  try {
    if (dialect === 'postgres') await admin.raw(`CREATE DATABASE ${name}`);
    else await admin.raw(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.destroy();
  }
  const base = new URL(dialect === 'postgres' ? PG_ADMIN_URL : MYSQL_ADMIN_URL);
  base.pathname = `/${name}`;
  return {
    dialect,
    url: base.toString(),
    async drop() {
      const k = adminKnex(dialect);
      try {
        await k.raw(dialect === 'postgres' ? `DROP DATABASE IF EXISTS ${name} WITH (FORCE)` : `DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await k.destroy();
      }
    },
  };
}
