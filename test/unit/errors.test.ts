import { describe, expect, it } from 'vitest';
import { ConfigError, FetchError, LockError, ManifestError, maskSecrets, RemoteSyncError, RemoteUnreachableError } from '../../src/errors.js';

describe('maskSecrets', () => {
  it('masks the password of a database URL', () => {
    const masked = maskSecrets('cannot connect to postgres://u:secret@h/db: refused');
    expect(masked).toBe('cannot connect to postgres://u:***@h/db: refused');
    expect(masked).not.toContain('secret');
  });

  it('masks every URL, with or without a user name', () => {
    expect(maskSecrets('mysql://root:pw1@db:3306/x and redis://:pw2@cache')).toBe('mysql://root:***@db:3306/x and redis://:***@cache');
  });

  it('masks bearer tokens', () => {
    expect(maskSecrets('Authorization: Bearer abc.def-123')).toBe('Authorization: Bearer ***');
    expect(maskSecrets('{"auth":"bearer xyz"}')).toBe('{"auth":"bearer ***"}');
  });

  it('leaves text without secrets alone', () => {
    for (const text of ['postgres://u@h/db', 'http://host:8000/api/', 'sqlite:./local.db', 'no url here']) expect(maskSecrets(text)).toBe(text);
  });
});

describe('error classes', () => {
  it('carry their code and exit code', () => {
    expect(new ConfigError('x')).toMatchObject({ code: 'E_CONFIG', exitCode: 2, name: 'ConfigError' });
    expect(new ManifestError('a.json', ['p: q'])).toMatchObject({ code: 'E_MANIFEST', exitCode: 2, problems: ['p: q'], meta: { file: 'a.json' } });
    expect(new RemoteUnreachableError('x')).toMatchObject({ code: 'E_UNREACHABLE', exitCode: 3 });
    expect(new FetchError('x', { meta: { remote: 'h' } })).toMatchObject({ code: 'E_FETCH', exitCode: 1, meta: { remote: 'h' } });
    expect(new LockError('x')).toMatchObject({ code: 'E_LOCKED', exitCode: 4 });
    expect(new LockError('x')).toBeInstanceOf(RemoteSyncError);
  });
});
