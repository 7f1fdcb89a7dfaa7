import toposort from 'toposort';
import { ConfigError } from '../errors.js';
import type { AppManifest, ModelDef } from './types.js';

/** `[before, after]`: the first model is installed before the second. */
type Edge = [string, string];

/**
 * The install order of an app's models: toposort's order of the `parent` and `dependencies`
 * edges, plus FK targets wherever adding that edge leaves the graph acyclic (NOT NULL FKs
 * first, so they are the ones kept when a cycle forces a choice).
 *
 * Ties are stable and follow the manifest: toposort walks the models from the last to the
 * first and puts each in the last free place before everything it must precede, so models
 * the edges leave free keep manifest order, and the same manifest always gives the same
 * order. (This is toposort's depth-first order, not "earliest ready model first": on some
 * graphs the two differ; hcore's order is the same under both, `order.test.ts`.)
 *
 * A cycle through parents/dependencies cannot be broken and is an error naming it: toposort
 * says only that there is one, so {@link findCycle} names the whole of it.
 */
export function dependencyOrder(manifest: AppManifest): ModelDef[] {
  const models = [...manifest.models.values()];
  const names = models.map((m) => m.name);
  const edges: Edge[] = [];
  for (const m of models) {
    if (m.parent) edges.push([m.parent, m.name]);
    for (const dep of m.dependencies) if (dep !== m.name) edges.push([dep, m.name]);
  }
  if (!isAcyclic(names, edges)) {
    const cycle = findCycle(names, successors(names, edges))!;
    throw new ConfigError(`Dependency cycle in app ${manifest.app}: ${cycle.join(' -> ')}. Break it in the manifest's parent/dependencies.`);
  }

  const fkEdges = models.flatMap((m) => m.fks.map((fk) => ({ edge: [fk.to, m.name] as Edge, isNullable: fk.isNullable })));
  fkEdges.sort((a, b) => Number(a.isNullable) - Number(b.isNullable));
  for (const { edge } of fkEdges) {
    if (edge[0] === edge[1]) continue; // a self reference orders nothing
    if (isAcyclic(names, [...edges, edge])) edges.push(edge);
  }
  return toposort.array(names, edges).map((name) => manifest.models.get(name)!);
}

/** Whether toposort can order these edges (it throws on a cycle). */
function isAcyclic(names: string[], edges: Edge[]): boolean {
  try {
    toposort.array(names, edges);
    return true;
  } catch {
    return false;
  }
}

function successors(names: string[], edges: Edge[]): Map<string, Set<string>> {
  const after = new Map(names.map((name) => [name, new Set<string>()]));
  for (const [before, then] of edges) after.get(before)!.add(then);
  return after;
}

/**
 * A cycle as `[A, B, A]`, or undefined. Kept by hand because toposort reports only one node
 * of a cycle ("Cyclic dependency, node was: A"), and the error must name the whole cycle.
 */
export function findCycle(nodes: string[], after: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of after.get(node) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of nodes) {
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}
