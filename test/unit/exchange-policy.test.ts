import { describe, expect, it } from 'vitest';
import { mergeFields, threeWay, type Home } from '../../src/exchange/policy.js';
import { hashOf, type Canon } from '../../src/exchange/version.js';

const v = (fields: Canon) => ({ hash: hashOf(fields), fields });
const base = v({ a: 1, b: 1, c: 1 });
const centreHome: Home = { kind: 'centre' };
const siteHome: Home = { kind: 'site' };

describe('the three-way rule', () => {
  it('a version equal to the base changes nothing; one side only is taken; the same change just moves the base', () => {
    expect(threeWay('home-wins', centreHome, base, base, v({ a: 2, b: 1, c: 1 }))).toMatchObject({ decision: 'centre', isConflict: false });
    expect(threeWay('home-wins', centreHome, base, v({ a: 2, b: 1, c: 1 }), base)).toMatchObject({ decision: 'site', isConflict: false });
    expect(threeWay('centre-wins', centreHome, base, v({ a: 2, b: 1, c: 1 }), v({ a: 2, b: 1, c: 1 }))).toMatchObject({ decision: 'centre', isConflict: false });
  });

  it('different changes on both sides are a conflict settled by the policy, never by a clock', () => {
    const site = v({ a: 2, b: 1, c: 1 });
    const centre = v({ a: 3, b: 1, c: 1 });
    expect(threeWay('home-wins', centreHome, base, site, centre)).toMatchObject({ decision: 'centre', isConflict: true });
    expect(threeWay('home-wins', siteHome, base, site, centre)).toMatchObject({ decision: 'site', isConflict: true });
    expect(threeWay('home-wins', { kind: 'other-site', name: 'site b' }, base, site, centre)).toMatchObject({ decision: 'centre', isConflict: true });
    expect(threeWay('site-wins', centreHome, base, site, centre)).toMatchObject({ decision: 'site', isConflict: true });
    expect(threeWay('centre-wins', siteHome, base, site, centre)).toMatchObject({ decision: 'centre', isConflict: true });
    expect(threeWay('manual', siteHome, base, site, centre)).toMatchObject({ decision: 'held', isConflict: true });
  });

  it("a pulled remote's row is never changed by a site, whatever the policy", () => {
    const pulled: Home = { kind: 'pulled', name: 'remote upstream' };
    expect(threeWay('site-wins', pulled, base, v({ a: 2, b: 1, c: 1 }), base)).toMatchObject({ decision: 'centre', isConflict: true, reason: expect.stringMatching(/pulls from/) });
  });

  it('deletes: against an unchanged row it applies, against a changed one it is a conflict', () => {
    expect(threeWay('home-wins', centreHome, base, null, base)).toMatchObject({ decision: 'site', isConflict: false });
    expect(threeWay('home-wins', centreHome, base, null, v({ a: 5, b: 1, c: 1 }))).toMatchObject({ decision: 'centre', isConflict: true });
    expect(threeWay('home-wins', siteHome, base, null, v({ a: 5, b: 1, c: 1 }))).toMatchObject({ decision: 'site', isConflict: true });
    expect(threeWay('field-merge', centreHome, base, v({ a: 2, b: 1, c: 1 }), null)).toMatchObject({ decision: 'centre', isConflict: true });
  });

  it('field-merge: different columns both survive; a column changed on both sides goes to the home', () => {
    const outcome = threeWay('field-merge', centreHome, base, v({ a: 2, b: 1, c: 9 }), v({ a: 1, b: 3, c: 8 }));
    expect(outcome).toMatchObject({ decision: 'merge', isConflict: true, keepFromCentre: ['b', 'c'] });
    expect(mergeFields(base.fields, { a: 2, b: 1, c: 9 }, { a: 1, b: 3, c: 8 }, true)).toMatchObject({ fields: { a: 2, b: 3, c: 9 }, both: ['c'] });
  });
});
