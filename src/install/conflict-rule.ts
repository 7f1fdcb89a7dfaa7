import type { ModelDef } from '../manifest/types.js';
import type { DecodedObject } from './decode-object.js';

/**
 * Whether the incoming version of an object replaces the stored row of the same origin:
 * `'take'` writes it (its fields, FKs and m2m links), `'keep'` leaves the row and its links
 * as they are (the object then counts as unchanged).
 */
export type Decision = 'take' | 'keep';

/**
 * The conflict rule: decides, for each incoming object whose row (of this origin) is already
 * stored, whether the incoming version is taken. Pull and push leave it out (the origin wins,
 * {@link takeIncoming}); a two-way exchange plugs in its three-way rule. `incoming.row` has its
 * FKs already translated to local ids where their targets are installed; `stored` is the row as
 * read. A rule may change `incoming` before it answers `'take'` (a field merge keeps some
 * stored columns: it copies them into `incoming.row`, and drops an m2m list from
 * `incoming.m2m` to keep the stored links). Not consulted for rows of others claimed by natural key (their `naturalKeyPolicy`
 * decides). Called once per such object on the hot path: it must not allocate when it takes.
 */
export type Decide = (model: ModelDef, incoming: DecodedObject, stored: Record<string, unknown>) => Decision;

/** Pull's rule: the remote owns its objects, so its version always wins. */
export const takeIncoming: Decide = () => 'take';
