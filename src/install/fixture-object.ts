import { ModelInstallError } from '../errors.js';
import { InvalidElement } from '../sources/fixture-splitter.js';
import { fixtureModelKey } from '../manifest/load-manifest.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';

/** One object of a Django fixture, checked for shape. */
export interface FixtureObject {
  readonly pk: number;
  readonly fields: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check an object's shape: `model` is the one requested, `pk` a positive integer, `fields` an
 * object. Anything else is an error naming the remote, the model and the object's position.
 */
export function checkFixtureObject(raw: unknown, manifest: AppManifest, model: ModelDef, remote: string, position: number): FixtureObject {
  const where = `${remote}: ${model.name} fixture, object #${position}`;
  if (raw instanceof InvalidElement) throw new ModelInstallError(`${where} is not valid JSON: ${raw.message}`, { meta: { remote, model: model.name } });
  if (!isObject(raw)) throw new ModelInstallError(`${where} is not a JSON object`, { meta: { remote, model: model.name } });
  const expected = fixtureModelKey(manifest, model);
  if (typeof raw.model !== 'string' || raw.model.toLowerCase() !== expected) {
    throw new ModelInstallError(`${where}: "model" is ${JSON.stringify(raw.model)}, expected "${expected}"`, { meta: { remote, model: model.name } });
  }
  const pk = typeof raw.pk === 'string' && /^\d+$/.test(raw.pk) ? Number(raw.pk) : raw.pk;
  if (typeof pk !== 'number' || !Number.isSafeInteger(pk) || pk < 1 || pk > 2_147_483_647) {
    throw new ModelInstallError(`${where}: pk ${JSON.stringify(raw.pk)} is not a positive integer`, { meta: { remote, model: model.name } });
  }
  if (!isObject(raw.fields)) throw new ModelInstallError(`${where} (pk=${pk}): "fields" is not an object`, { meta: { remote, model: model.name, pk } });
  return { pk, fields: raw.fields };
}

/** A staged file that is not a JSON array (truncated, altered) fails naming remote and model. */
export async function* wrapFixtureErrors(objects: AsyncIterable<unknown[]>, remote: string, model: ModelDef): AsyncGenerator<unknown[]> {
  try {
    yield* objects;
  } catch (error) {
    if (error instanceof Error && error.name === 'FixtureSyntaxError') {
      throw new ModelInstallError(`${remote}: ${model.name} fixture: ${error.message}`, { meta: { remote, model: model.name }, cause: error });
    }
    throw error;
  }
}
