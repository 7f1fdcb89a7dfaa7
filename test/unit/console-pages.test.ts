import { describe, expect, it } from 'vitest';
import { secretsMatch } from '../../src/push/tokens.js';
import type { FleetStatus } from '../../src/console/fleet-status.js';
import { conflictPage, duration, esc, fleetPage, sparkline } from '../../src/console/pages.js';
import type { Conflict } from '../../src/exchange/conflicts.js';
import { routeKind } from '../../src/server/serve-metrics.js';

const conflict = (over: Partial<Conflict> = {}): Conflict => ({
  id: 7, site: 'laptop', model: 'EventType', row: 1, ref: 'c1', home: 'centre', policy: 'manual', decision: 'held', reason: 'changed on both sides', status: 'open',
  created: '2026-12-01T10:00:00.000Z', resolved: null, base: { descr: 'a', descr_alt: 'x' }, siteVersion: { descr: 'b', descr_alt: 'x' }, centreVersion: { descr: 'c', descr_alt: 'x' }, ...over,
});

describe('console pages', () => {
  it('escapes text and attribute values', () => {
    expect(esc(`<script>alert("x")</script> & 'y'`)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;');
    expect(esc(null)).toBe('');
  });

  it('a remote name or error message from the database never becomes markup', () => {
    const evil = '"><script>alert(1)</script>';
    const status: FleetStatus = {
      at: '2026-12-02T10:00:00.000Z', database: 'x.sqlite', app: 'hcore', conflicts: { open: 0, decided: 0, resolved: 0 },
      members: [{
        id: 1, kind: 'remote', name: evil, hostname: evil, lastSuccess: null, lastRun: null, failures: 1, runs: 1, rows: 0, lagSeconds: null, sparkline: [null], openConflicts: 0, isEnabled: true, lastContact: null,
        lastFailure: { id: 1, started: '2026-12-02T09:00:00.000Z', finished: null, status: 'failed', objects: null, received: null, rejects: null, durationMs: null, error: evil },
      }],
    };
    const html = fleetPage(status);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain(`href="/remotes/${encodeURIComponent(evil)}"`);
  });

  it('durations read as people say them', () => {
    expect([duration(null), duration(42), duration(125), duration(3 * 3600 + 300), duration(2 * 86400 + 7200)]).toEqual(['–', '42 s', '2 min', '3 h 5 min', '2 d 2 h']);
  });

  it('a sparkline has a bar per run, scaled to the largest, and a red mark per failure', () => {
    const svg = sparkline([10, null, 40]);
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).toContain('fill="#c62828"');
    expect(svg).toContain('height="22"'); // 40 of 40: the full height less the margin
    expect(svg).toContain('aria-label="rows written per run, last 3 runs: 10, failed, 40"');
    expect(sparkline([])).toContain('no runs');
  });

  it('the conflict page marks the fields that differ and the sides that changed them; the form carries the CSRF value', () => {
    const html = conflictPage(conflict(), { csrf: 'f'.repeat(64), isEnabled: true }, Date.parse('2026-12-02T10:00:00Z'));
    expect(html).toMatch(/<tr class="differs"><th>descr <span class="badge warn">differs<\/span><\/th><td>a<\/td><td class="changed">c<\/td><td class="changed">b<\/td><\/tr>/);
    expect(html).toMatch(/<tr class=""><th>descr_alt<\/th>/);
    expect(html).toContain(`<input type="hidden" name="csrf" value="${'f'.repeat(64)}">`);
    expect(conflictPage(conflict(), { csrf: 'x', isEnabled: false }, 0)).toContain('Resolving is off');
    expect(conflictPage(conflict({ status: 'resolved', resolved: '2026-12-02T09:00:00.000Z' }), { csrf: 'x', isEnabled: true }, 0)).not.toContain('<form');
    expect(conflictPage(conflict({ centreVersion: null }), { csrf: 'x', isEnabled: true }, 0)).toContain('The centre deleted the row.');
  });

  it('secrets compare whole, whatever their lengths, and an empty one never matches', () => {
    expect(secretsMatch('token', 'token')).toBe(true);
    expect(secretsMatch('token', 'token2')).toBe(false);
    expect(secretsMatch('', '')).toBe(false);
  });

  it("serve's metrics label requests by kind, never by path", () => {
    expect(['/api/', '/api/Station/', '/api/Station/modified_after/2026-01-01T00:00:00Z/', '/api/Station/ids/', '/api/push/state', '/api/exchange/feed', '/metrics', '/x'].map(routeKind))
      .toEqual(['info', 'fixture', 'fixture', 'ids', 'push', 'exchange', 'metrics', 'other']);
  });
});
