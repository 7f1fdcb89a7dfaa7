import type { ConflictPolicy } from '../manifest/types.js';
import { stableStringify } from '../values/values.js';
import { hashOf, type Canon, type Version } from './version.js';

/** Where a row was created, as the centre sees it. */
export type Home =
  | { kind: 'site' }
  | { kind: 'centre' }
  /** Another exchange or push site. */
  | { kind: 'other-site'; name: string }
  /** A remote the centre pulls from (DESIGN §6): it never hears of a site's edit. */
  | { kind: 'pulled'; name: string };

/** What the three-way rule makes of one row. */
export interface Outcome {
  /**
   * Which version the centre keeps: `site` (take the site's), `centre` (keep the centre's),
   * `merge` (the columns of `keepFromCentre` stay the centre's, the rest are the site's),
   * `held` (manual: keep the centre's and hold the row for that site until resolved).
   */
  decision: 'site' | 'centre' | 'merge' | 'held';
  /** Columns (fields, FK and m2m names) whose centre value stays, for `merge`. */
  keepFromCentre: string[];
  /** Whether both sides changed the row differently (a conflict record is written). */
  isConflict: boolean;
  reason: string;
}

const same = (a: Version | null, b: Version | null) => (a === null ? b === null : b !== null && a.hash === b.hash);
const homeName = (home: Home) => (home.kind === 'site' || home.kind === 'centre' ? `the ${home.kind}` : home.name);

/**
 * The three-way rule of DESIGN §10 for one row: `base` is the version the site and the centre
 * last agreed on (null: none, the row is new to the exchange), `site` and `centre` the two
 * current versions (null: deleted on that side). A version equal to the base changed nothing;
 * a change on one side only is taken; the same change on both sides just moves the base;
 * different changes are a conflict, settled by the model's policy. Never by wall clock.
 */
export function threeWay(policy: ConflictPolicy, home: Home, base: Version | null, site: Version | null, centre: Version | null): Outcome {
  const none = (decision: Outcome['decision'], reason: string): Outcome => ({ decision, keepFromCentre: [], isConflict: false, reason });
  if (same(site, centre)) return none('centre', 'the same on both sides');
  if (base !== null && same(site, base)) return none('centre', 'changed at the centre only');
  if (home.kind === 'pulled') {
    return { decision: 'centre', keepFromCentre: [], isConflict: true, reason: `the row belongs to ${home.name}, a remote the centre pulls from; a site's change to it is kept here and not applied` };
  }
  if (base !== null && same(centre, base)) return none('site', 'changed at the site only');
  const conflict = (decision: Outcome['decision'], reason: string, keepFromCentre: string[] = []): Outcome => ({ decision, keepFromCentre, isConflict: true, reason });
  const change = (v: Version | null) => (v === null ? 'deleted' : 'changed');
  const what = base === null ? 'created or changed on both sides without a common version' : `${change(site)} at the site and ${change(centre)} at the centre`;
  const homeWins = () => (home.kind === 'site' ? conflict('site', `${what}; home-wins: the row's home is the site`) : conflict('centre', `${what}; home-wins: the row's home is ${homeName(home)}`));
  switch (policy) {
    case 'manual':
      return conflict('held', `${what}; manual: the centre's version stays and the row is held for this site until "conflicts resolve"`);
    case 'centre-wins':
      return conflict('centre', `${what}; centre-wins`);
    case 'site-wins':
      return conflict('site', `${what}; site-wins`);
    case 'home-wins':
      return homeWins();
    case 'field-merge': {
      if (base === null || site === null || centre === null) return homeWins();
      const merged = mergeFields(base.fields, site.fields, centre.fields, home.kind === 'site');
      if (merged.keepFromCentre.length === 0) return conflict('site', `${what}; field-merge: the site's columns taken`);
      const isCentre = hashOf(merged.fields) === centre.hash;
      return conflict(isCentre ? 'centre' : 'merge', `${what}; field-merge: ${merged.both.length > 0 ? `${merged.both.join(', ')} changed on both sides (home-wins: ${homeName(home)}), ` : ''}the site's ${merged.fromSite.join(', ') || 'nothing'} and the centre's ${merged.keepFromCentre.join(', ')} kept`, merged.keepFromCentre);
    }
  }
}

/**
 * Column by column: a column changed on one side only takes that side's value; one changed on
 * both sides differently takes the home's (the site's when `siteIsHome`).
 */
export function mergeFields(base: Canon, site: Canon, centre: Canon, siteIsHome: boolean): { fields: Canon; keepFromCentre: string[]; fromSite: string[]; both: string[] } {
  const eq = (a: unknown, b: unknown) => stableStringify(a) === stableStringify(b);
  const fields: Canon = {};
  const keepFromCentre: string[] = [];
  const fromSite: string[] = [];
  const both: string[] = [];
  for (const key of Object.keys({ ...base, ...site, ...centre })) {
    const s = site[key];
    const c = centre[key];
    const b = base[key];
    let useSite: boolean;
    if (eq(s, c)) useSite = true;
    else if (eq(c, b)) useSite = true;
    else if (eq(s, b)) useSite = false;
    else {
      both.push(key);
      useSite = siteIsHome;
    }
    fields[key] = useSite ? s : c;
    if (!useSite) keepFromCentre.push(key);
    else if (!eq(s, c)) fromSite.push(key);
  }
  return { fields, keepFromCentre, fromSite, both };
}
