/**
 * One base error for everything remotesyncdb reports, plus a subclass per failure family.
 * The CLI maps `exitCode` to the process exit status; nothing else decides exit codes.
 */

/** Where a problem is: any of remote, model, pk, field, file. */
export interface ErrorMeta {
  remote?: string;
  model?: string;
  pk?: number | string;
  field?: string;
  file?: string;
  [key: string]: unknown;
}

/** Base class of every error remotesyncdb throws on purpose. */
export class RemoteSyncError extends Error {
  /** A stable machine-readable code, e.g. `E_MANIFEST`. */
  readonly code: string;
  /** Process exit code the CLI uses for this failure family. */
  readonly exitCode: number;
  readonly meta: ErrorMeta;

  constructor(message: string, options: { code?: string; exitCode?: number; meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'E_SYNC';
    this.exitCode = options.exitCode ?? 1;
    this.meta = options.meta ?? {};
  }
}

/** Bad flags, a bad manifest, a bad `--db`, an unknown app or model: exit 2, nothing touched. */
export class ConfigError extends RemoteSyncError {
  constructor(message: string, options: { code?: string; meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, { code: 'E_CONFIG', ...options, exitCode: 2 });
  }
}

/** The app manifest is invalid; `problems` lists every one as `path: message`. */
export class ManifestError extends ConfigError {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`Invalid app manifest ${source}:\n  ${problems.join('\n  ')}`, { code: 'E_MANIFEST', meta: { file: source } });
    this.problems = problems;
  }
}

/** The remote could not be reached (TCP connect or `GET /api/` failed): exit 3. */
export class RemoteUnreachableError extends RemoteSyncError {
  constructor(message: string, options: { meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, { code: 'E_UNREACHABLE', exitCode: 3, ...options });
  }
}

/** Fetching a fixture failed (HTTP status, timeout, bad body): the run is rolled back, exit 1. */
export class FetchError extends RemoteSyncError {
  constructor(message: string, options: { meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, { code: 'E_FETCH', exitCode: 1, ...options });
  }
}

/** A fixture object is invalid or cannot be installed: the run is rolled back, exit 1. */
export class ModelInstallError extends RemoteSyncError {
  constructor(message: string, options: { meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, { code: 'E_INSTALL', exitCode: 1, ...options });
  }
}

/** Another sync holds the lock on this database: exit 4. */
export class LockError extends RemoteSyncError {
  constructor(message: string, options: { meta?: ErrorMeta; cause?: unknown } = {}) {
    super(message, { code: 'E_LOCKED', exitCode: 4, ...options });
  }
}

/** Replace the password in any URL-ish string (`scheme://user:pass@host`) and bearer tokens. */
export function maskSecrets(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)\S*@/gi, '$1***@')
    .replace(/(Bearer\s+)[^\s"']+/gi, '$1***');
}

/**
 * The driver's own words of a database error, without the statement knex prefixes to it
 * (`<sql> - <message>`): a statement can hold thousands of values, and data is not for logs.
 */
export function databaseMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cut = message.lastIndexOf(' - ');
  return cut >= 0 && /^\s*(insert|update|delete|select|with|create|alter)\b/i.test(message) ? message.slice(cut + 3) : message;
}
