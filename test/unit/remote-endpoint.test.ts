import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseRemote, remoteDirName } from '../../src/sources/remote-endpoint.js';

describe('parseRemote', () => {
  it('-r host -p 80: the port is left out of the hostname', () => {
    expect(parseRemote('host', 80)).toEqual({ host: 'host', port: 80, isTls: false, hostname: 'host', baseUrl: 'http://host:80' });
    expect(parseRemote('host')).toEqual({ host: 'host', port: 80, isTls: false, hostname: 'host', baseUrl: 'http://host:80' });
  });

  it('-r host -p 8000: the port is part of the identity', () => {
    expect(parseRemote('host', 8000)).toEqual({ host: 'host', port: 8000, isTls: false, hostname: 'host:8000', baseUrl: 'http://host:8000' });
  });

  it('https://host means TLS on 443', () => {
    expect(parseRemote('https://host')).toEqual({ host: 'host', port: 443, isTls: true, hostname: 'host', baseUrl: 'https://host:443' });
    expect(parseRemote('HTTPS://host/api/')).toMatchObject({ host: 'host', port: 443, isTls: true });
    expect(parseRemote('https://host', 8443)).toMatchObject({ port: 8443, isTls: true, hostname: 'host:8443', baseUrl: 'https://host:8443' });
  });

  it('host:8001 without -p, with a scheme and a path, and -p overriding it', () => {
    expect(parseRemote('host:8001')).toEqual({ host: 'host', port: 8001, isTls: false, hostname: 'host:8001', baseUrl: 'http://host:8001' });
    expect(parseRemote('http://openmeteo.example.org:8001/enhydris/')).toMatchObject({ host: 'openmeteo.example.org', port: 8001, hostname: 'openmeteo.example.org:8001' });
    expect(parseRemote('  10.0.0.5:8080  ')).toMatchObject({ host: '10.0.0.5', port: 8080, hostname: '10.0.0.5:8080' });
    expect(parseRemote('host:8001', 9000)).toMatchObject({ port: 9000, hostname: 'host:9000' });
  });

  it('two instances on one host stay apart', () => {
    expect(parseRemote('host', 8000).hostname).not.toBe(parseRemote('host', 8001).hostname);
  });

  it.each([0, -1, 65536, 70000, 80.5, Number.NaN])('rejects -p %s with a ConfigError', (port) => {
    expect(() => parseRemote('host', port)).toThrow(ConfigError);
    expect(() => parseRemote('host', port)).toThrow(/a port is 1 to 65535/);
  });

  it.each(['host:0', 'host:65536', 'host:99999'])('rejects the port in -r %s', (remote) => {
    expect(() => parseRemote(remote)).toThrow(/a port is 1 to 65535/);
  });

  it.each(['', '   ', 'ftp://host', 'http://', 'ho st', 'host;rm -rf', 'user@host'])('rejects -r %j', (remote) => {
    expect(() => parseRemote(remote)).toThrow(ConfigError);
  });

  it('ConfigError means exit code 2', () => {
    try {
      parseRemote('ftp://host');
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as ConfigError).message).toBe('-r ftp://host: only http:// and https:// remotes are supported');
    }
  });

  it('accepts a bracketed IPv6 address without a port', () => {
    expect(parseRemote('[::1]')).toMatchObject({ host: '[::1]', port: 80, hostname: '[::1]', baseUrl: 'http://[::1]:80' });
  });

  // Regression (src/sources/remote-endpoint.ts), fixed: `host:port` splitting is skipped for any text starting
  // with "[", so "[::1]:8000" gives host "[::1]:8000", port 80, baseUrl "http://[::1]:8000:80".
  it('splits the port off a bracketed IPv6 address', () => {
    expect(parseRemote('[::1]:8000')).toEqual({ host: '[::1]', port: 8000, isTls: false, hostname: '[::1]:8000', baseUrl: 'http://[::1]:8000' });
  });
});

describe('remoteDirName', () => {
  it('replaces ":" with "_" and keeps plain hostnames', () => {
    expect(remoteDirName('host:8000')).toBe('host_8000');
    expect(remoteDirName('openmeteo.example.org')).toBe('openmeteo.example.org');
    expect(remoteDirName(parseRemote('host', 8001).hostname)).toBe('host_8001');
  });

  it('never yields a path separator', () => {
    expect(remoteDirName('a/b\\c:1')).toBe('a_b_c_1');
    expect(remoteDirName('[::1]:8000')).toBe('[__1]_8000');
  });
});
