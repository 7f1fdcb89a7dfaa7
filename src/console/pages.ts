import type { Conflict } from '../exchange/conflicts.js';
import type { Canon } from '../exchange/version.js';
import type { FleetMember, FleetStatus, MemberDetail, RunSummary } from './fleet-status.js';

/*
 * The console's pages: plain HTML written on the server, one stylesheet, no script, so that
 * nothing is built and nothing is fetched from elsewhere (the Content-Security-Policy says so).
 */

/** Text made safe for HTML (element content and quoted attributes). */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A duration for people: 45 s, 12 min, 3 h 5 min, 4 d 2 h. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const num = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));
const ms = (n: number | null) => (n === null ? '–' : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`);
/** A time as its ISO text, with how long ago (from `now`) in a tooltip-free second line. */
function when(iso: string | null | undefined, now: number): string {
  if (!iso) return '<span class="muted">never</span>';
  const ago = (now - Date.parse(iso)) / 1000;
  return `<time datetime="${esc(iso)}">${esc(iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'))}</time><br><span class="muted">${esc(duration(ago))} ago</span>`;
}
const memberHref = (m: { kind: string; name: string; hostname: string }) => `/${m.kind === 'site' ? 'sites' : 'remotes'}/${encodeURIComponent(m.kind === 'site' ? m.name : m.hostname)}`;

/** Rows written per run as a small bar chart (SVG); a failed run is a red mark at the baseline. */
export function sparkline(values: ReadonlyArray<number | null>): string {
  if (values.length === 0) return '<span class="muted">no runs</span>';
  const width = 120;
  const height = 24;
  const step = width / 30;
  const max = Math.max(1, ...values.map((v) => v ?? 0));
  const bars = values.map((v, i) => {
    const x = (i * step).toFixed(1);
    if (v === null) return `<rect x="${x}" y="${height - 4}" width="${(step - 1).toFixed(1)}" height="4" fill="#c62828"><title>failed</title></rect>`;
    const h = v === 0 ? 1 : Math.max(2, Math.round((v / max) * (height - 2)));
    return `<rect x="${x}" y="${height - h}" width="${(step - 1).toFixed(1)}" height="${h}" fill="#1565c0"><title>${esc(num(v))} rows</title></rect>`;
  });
  const label = `rows written per run, last ${values.length} runs: ${values.map((v) => (v === null ? 'failed' : String(v))).join(', ')}`;
  return `<svg class="spark" role="img" aria-label="${esc(label)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bars.join('')}</svg>`;
}

function layout(title: string, body: string, options: { isTls?: boolean; status?: FleetStatus } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · remotesyncdb console</title><link rel="stylesheet" href="/console.css"></head>
<body><header><a class="brand" href="/">remotesyncdb console</a><nav><a href="/">Fleet</a><a href="/conflicts">Conflicts</a><a href="/metrics">Metrics</a></nav></header>
<main>${body}</main>
<footer>Read from the database's own records${options.status ? ` (${esc(options.status.database)}, app ${esc(options.status.app)})` : ''} at ${esc(new Date().toISOString())}.</footer>
</body></html>
`;
}

function health(m: FleetMember): { label: string; cls: string } {
  if (!m.isEnabled) return { label: 'disabled', cls: 'muted' };
  if (!m.lastRun) return { label: 'no runs yet', cls: 'muted' };
  if (m.lastRun.status === 'failed') return { label: 'failing', cls: 'bad' };
  if (m.openConflicts > 0) return { label: 'conflicts wait', cls: 'warn' };
  return { label: 'ok', cls: 'good' };
}

/** The fleet: every remote and site, one line each. */
export function fleetPage(status: FleetStatus): string {
  const now = Date.parse(status.at);
  const failing = status.members.filter((m) => m.lastRun?.status === 'failed').length;
  const lines = status.members.map((m) => {
    const h = health(m);
    const failure = m.lastFailure ? `${when(m.lastFailure.started, now)}<div class="error">${esc(m.lastFailure.error ?? '(no message)')}</div>` : '<span class="muted">none</span>';
    return `<tr class="${h.cls}" data-member="${esc(m.name)}">
<td><a href="${memberHref(m)}">${esc(m.name)}</a><br><span class="muted">${esc(m.kind)} · ${esc(m.hostname)}</span></td>
<td><span class="badge ${h.cls}">${esc(h.label)}</span>${m.openConflicts ? `<br><a href="/conflicts?site=${encodeURIComponent(m.name)}&amp;status=open">${m.openConflicts} open conflict${m.openConflicts === 1 ? '' : 's'}</a>` : ''}</td>
<td>${when(m.lastSuccess?.started, now)}${m.lastContact ? `<br><span class="muted">last contact ${esc(duration((now - Date.parse(m.lastContact)) / 1000))} ago</span>` : ''}</td><td>${failure}</td>
<td class="n">${num(m.lastRun?.objects)}<br><span class="muted">${num(m.rows)} held</span></td>
<td class="n">${esc(duration(m.lagSeconds))}</td><td>${sparkline(m.sparkline)}</td></tr>`;
  });
  const summary = `<p class="summary"><strong>${status.members.length}</strong> remotes and sites · <strong class="${failing ? 'bad' : ''}">${failing}</strong> failing · <a href="/conflicts?status=open"><strong>${status.conflicts.open}</strong> conflict${status.conflicts.open === 1 ? '' : 's'} waiting</a> · ${status.conflicts.decided} decided by policy</p>`;
  const table = status.members.length === 0
    ? '<p class="muted">No remote or site yet: sync from a remote (remotesyncdb -r HOST) or add a site (remotesyncdb site add NAME).</p>'
    : `<table class="fleet"><thead><tr><th>Remote or site</th><th>State</th><th>Last success</th><th>Last failure</th><th class="n">Rows written last run</th><th class="n">Lag behind its clock</th><th>Rows written, last 30 runs</th></tr></thead><tbody>${lines.join('\n')}</tbody></table>`;
  return layout('Fleet', `<h1>Fleet</h1>${summary}${table}`, { status });
}

function runRow(r: RunSummary, now: number): string {
  return `<tr class="${r.status === 'failed' ? 'bad' : ''}"><td>${r.id}</td><td>${when(r.started, now)}</td><td>${esc(r.status)}</td><td class="n">${ms(r.durationMs)}</td><td class="n">${num(r.received)}</td><td class="n">${num(r.objects)}</td><td class="n">${num(r.rejects)}</td><td class="error">${esc(r.error ?? '')}</td></tr>`;
}

/** One remote or site: its runs, the last run's rejects, its watermarks. */
export function memberPage(m: MemberDetail, at: string): string {
  const now = Date.parse(at);
  const h = health(m);
  const runs = m.recent.map((r) => runRow({
    id: r.id, started: r.started, finished: r.finished, status: r.status, objects: r.objects, received: typeof r.counts?.received === 'number' ? r.counts.received : null,
    rejects: typeof r.counts?.skipped === 'number' ? r.counts.skipped : null, durationMs: r.finished ? Date.parse(r.finished) - Date.parse(r.started) : null, error: r.error,
  }, now));
  const rejects = m.rejects.length === 0 ? '<p class="muted">The last run rejected nothing.</p>'
    : `<table><thead><tr><th>Model</th><th>pk</th><th>Reason</th></tr></thead><tbody>${m.rejects.map((r) => `<tr><td>${esc(r.model)}</td><td>${esc(r.pk)}</td><td>${esc(r.reason)}</td></tr>`).join('')}</tbody></table>${m.lastRun?.rejects && m.lastRun.rejects > m.rejects.length ? `<p class="muted">The first ${m.rejects.length} of ${m.lastRun.rejects}; the rest are in the run's rejects.txt.</p>` : ''}`;
  const marks = m.watermarks.length === 0 ? '<p class="muted">No watermark yet.</p>'
    : `<table><thead><tr><th>App</th><th>Model</th><th>Its clock at the last fetch</th></tr></thead><tbody>${m.watermarks.map((w) => `<tr><td>${esc(w.app)}</td><td>${esc(w.model)}</td><td>${when(w.serverTime, now)}</td></tr>`).join('')}</tbody></table>`;
  const body = `<h1>${esc(m.name)} <span class="badge ${h.cls}">${esc(h.label)}</span></h1>
<dl class="facts"><dt>Kind</dt><dd>${esc(m.kind)}</dd><dt>Registry</dt><dd>${esc(m.hostname)} (id ${m.id})</dd><dt>Rows held</dt><dd>${num(m.rows)}</dd><dt>Lag behind its clock</dt><dd>${esc(duration(m.lagSeconds))}</dd>
<dt>Runs</dt><dd>${num(m.runs)}, ${num(m.failures)} failed</dd>${m.kind === 'site' ? `<dt>Last contact</dt><dd>${when(m.lastContact, now)}</dd>` : ''}${m.kind === 'site' ? `<dt>Conflicts waiting</dt><dd><a href="/conflicts?site=${encodeURIComponent(m.name)}&amp;status=open">${m.openConflicts}</a> (<a href="/conflicts?site=${encodeURIComponent(m.name)}">all of this site's</a>)</dd>` : ''}</dl>
<h2>Rows written, last ${m.sparkline.length} runs</h2>${sparkline(m.sparkline)}
<h2>Runs</h2>${runs.length ? `<table><thead><tr><th>#</th><th>Started</th><th>Status</th><th class="n">Took</th><th class="n">Received</th><th class="n">Written</th><th class="n">Rejected</th><th>Error</th></tr></thead><tbody>${runs.join('\n')}</tbody></table>` : '<p class="muted">No run recorded.</p>'}
<h2>Rejects of the last run</h2>${rejects}
<h2>Watermarks</h2>${marks}`;
  return layout(m.name, body);
}

/** The conflicts, newest first. */
export function conflictsPage(list: readonly Conflict[], filter: { site?: string; status?: string }, total: number, now: number): string {
  const link = (status?: string) => `/conflicts?${new URLSearchParams({ ...(filter.site ? { site: filter.site } : {}), ...(status ? { status } : {}) }).toString()}`;
  const tabs = [['open', 'Waiting'], ['decided', 'Decided by policy'], ['resolved', 'Resolved'], [undefined, 'All']] as const;
  const nav = `<p class="tabs">${tabs.map(([s, label]) => `<a class="${filter.status === s ? 'current' : ''}" href="${esc(link(s))}">${label}</a>`).join(' ')}${filter.site ? ` · site <strong>${esc(filter.site)}</strong> (<a href="${esc(`/conflicts${filter.status ? `?status=${encodeURIComponent(filter.status)}` : ''}`)}">every site</a>)` : ''}</p>`;
  const rows = list.map((c) => `<tr class="${c.status === 'open' ? 'warn' : ''}"><td><a href="/conflicts/${c.id}">${c.id}</a></td><td>${esc(c.site)}</td><td>${esc(c.model)} ${esc(c.ref)}${c.row === null ? '' : ` <span class="muted">(id ${c.row})</span>`}</td><td>${esc(c.policy)}</td><td>${esc(c.decision)}</td><td><span class="badge ${c.status === 'open' ? 'warn' : 'muted'}">${esc(c.status)}</span></td><td>${when(c.created, now)}</td></tr>`);
  const table = rows.length === 0 ? '<p class="muted">No conflict here.</p>'
    : `<table><thead><tr><th>#</th><th>Site</th><th>Row</th><th>Policy</th><th>Kept</th><th>Status</th><th>Met</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>${total > list.length ? `<p class="muted">The newest ${list.length} of ${total}.</p>` : ''}`;
  return layout('Conflicts', `<h1>Conflicts</h1>${nav}${table}`);
}

/** Field names of the three versions, in a stable order (the model's, as the versions hold them). */
function fieldsOf(...versions: Array<Canon | null>): string[] {
  const names: string[] = [];
  for (const v of versions) for (const k of Object.keys(v ?? {})) if (!names.includes(k)) names.push(k);
  return names;
}
const show = (v: Canon | null, field: string) => (v === null ? '<span class="muted">(deleted)</span>' : field in v ? esc(typeof v[field] === 'string' ? v[field] : JSON.stringify(v[field])) : '<span class="muted">–</span>');
const same = (a: Canon | null, b: Canon | null, field: string) => JSON.stringify(a?.[field] ?? null) === JSON.stringify(b?.[field] ?? null) && (a === null) === (b === null);

/** What the resolve form needs: the CSRF value, and whether resolving is on (a console token is set). */
export interface ResolveForm { csrf: string; isEnabled: boolean; message?: { text: string; isError: boolean } }

/** One conflict: base, centre and site side by side, the fields that differ marked; the resolve form. */
export function conflictPage(c: Conflict, form: ResolveForm, now: number): string {
  const fields = fieldsOf(c.base, c.centreVersion, c.siteVersion);
  const rows = fields.map((f) => {
    const differs = !same(c.centreVersion, c.siteVersion, f);
    const mark = (v: Canon | null) => (c.base !== null && !same(v, c.base, f) ? ' class="changed"' : '');
    return `<tr class="${differs ? 'differs' : ''}"><th>${esc(f)}${differs ? ' <span class="badge warn">differs</span>' : ''}</th><td${c.base ? '' : ' class="muted"'}>${c.base ? show(c.base, f) : '–'}</td><td${mark(c.centreVersion)}>${show(c.centreVersion, f)}</td><td${mark(c.siteVersion)}>${show(c.siteVersion, f)}</td></tr>`;
  });
  const deleted = (c.centreVersion === null || c.siteVersion === null) ? `<p class="muted">${c.centreVersion === null ? 'The centre' : 'The site'} deleted the row.</p>` : '';
  const message = form.message ? `<p class="notice ${form.message.isError ? 'bad' : 'good'}" role="status">${esc(form.message.text)}</p>` : '';
  const resolve = c.status === 'resolved'
    ? `<p>Resolved ${when(c.resolved, now)}</p>`
    : form.isEnabled
      ? `<form method="post" action="/conflicts/${c.id}/resolve" class="resolve">
<input type="hidden" name="csrf" value="${esc(form.csrf)}">
<label>Console token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit" name="take" value="centre">Keep the centre's version</button>
<button type="submit" name="take" value="site">Keep the site's version</button>
<p class="muted">The version kept is written at the centre as an edit and reaches every site with its next exchange (as <code>remotesyncdb conflicts resolve ${c.id} --take …</code>).</p></form>`
      : `<p class="muted">Resolving is off: start the console with REMOTESYNCDB_CONSOLE_TOKEN set, or run <code>remotesyncdb conflicts resolve ${c.id} --take site|centre</code>.</p>`;
  const body = `<h1>Conflict ${c.id} <span class="badge ${c.status === 'open' ? 'warn' : 'muted'}">${esc(c.status)}</span></h1>${message}
<dl class="facts"><dt>Site</dt><dd><a href="/sites/${encodeURIComponent(c.site)}">${esc(c.site)}</a></dd><dt>Row</dt><dd>${esc(c.model)} ${esc(c.ref)}${c.row === null ? ' (no longer at the centre)' : `, centre id ${c.row}`}</dd><dt>Home</dt><dd>${esc(c.home)}</dd>
<dt>Policy</dt><dd>${esc(c.policy)}</dd><dt>Kept</dt><dd>${esc(c.decision)}</dd><dt>Why</dt><dd>${esc(c.reason)}</dd><dt>Met</dt><dd>${when(c.created, now)}</dd></dl>
<table class="versions"><thead><tr><th>Field</th><th>Base (last agreed)</th><th>Centre</th><th>Site</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>${deleted}
<h2>Resolve</h2>${resolve}`;
  return layout(`Conflict ${c.id}`, body);
}

/** A page for an error (404, 403, 500). */
export function errorPage(title: string, text: string): string {
  return layout(title, `<h1>${esc(title)}</h1><p>${esc(text)}</p><p><a href="/">Back to the fleet</a></p>`);
}

/** The one stylesheet. */
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #5f6b7a; --line: #d8dee4; --bad: #c62828; --warn: #b26a00; --good: #2e7d32; --accent: #1565c0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f6f8fa; }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 600; color: var(--fg); text-decoration: none; }
header nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 16px 24px; max-width: 1400px; }
footer { padding: 8px 24px 24px; color: var(--muted); font-size: 12px; }
h1 { font-size: 22px; margin: 8px 0 12px; } h2 { font-size: 16px; margin: 24px 0 8px; }
a { color: var(--accent); }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th { background: #f0f3f6; font-weight: 600; font-size: 13px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td:first-child { box-shadow: inset 3px 0 var(--bad); } tr.warn td:first-child { box-shadow: inset 3px 0 var(--warn); }
.muted { color: var(--muted); } .bad { color: var(--bad); } .good { color: var(--good); } .warn { color: var(--warn); }
.error { color: var(--bad); font-size: 12px; max-width: 420px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.summary { font-size: 15px; } .tabs a { margin-right: 12px; } .tabs a.current { font-weight: 700; text-decoration: none; color: var(--fg); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; border: 1px solid var(--line); padding: 10px 14px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
table.versions td { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; overflow-wrap: anywhere; }
table.versions tr.differs { background: #fff8e1; } table.versions td.changed { font-weight: 700; }
form.resolve { background: #fff; border: 1px solid var(--line); padding: 12px 14px; display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
form.resolve p { flex-basis: 100%; margin: 4px 0 0; }
input, button { font: inherit; padding: 5px 10px; } button { cursor: pointer; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; }
button[value="centre"] { background: #fff; color: var(--accent); }
.notice { padding: 8px 12px; border: 1px solid currentColor; background: #fff; }
svg.spark { display: block; }
`;
