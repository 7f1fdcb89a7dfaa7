import { ConfigError } from '../errors.js';
import type { AppManifest, ModelDef } from './types.js';

/**
 * The install order of an app's models: a topological sort of `parent` and `dependencies`
 * edges, plus FK targets wherever adding that edge leaves the graph acyclic (NOT NULL FKs
 * first, so they are the ones kept). Ties keep manifest order, so the order is stable.
 * A cycle through parents/dependencies cannot be broken and is an error naming it.
 */
export function dependencyOrder(manifest: AppManifest): ModelDef[] {
  const models = [...manifest.models.values()];
  const after = new Map<string, Set<string>>(models.map((m) => [m.name, new Set<string>()]));
  const addEdge = (before: string, then: string) => after.get(before)!.add(then);
  for (const m of models) {
    if (m.parent) addEdge(m.parent, m.name);
    for (const dep of m.dependencies) if (dep !== m.name) addEdge(dep, m.name);
  }
  const cycle = findCycle(models.map((m) => m.name), after);
  if (cycle) throw new ConfigError(`Dependency cycle in app ${manifest.app}: ${cycle.join(' -> ')}. Break it in the manifest's parent/dependencies.`);

  const fkEdges = models.flatMap((m) => m.fks.map((fk) => ({ model: m.name, to: fk.to, isNullable: fk.isNullable })));
  fkEdges.sort((a, b) => Number(a.isNullable) - Number(b.isNullable));
  for (const { model, to } of fkEdges) {
    if (model === to || after.get(to)!.has(model)) continue;
    if (!reaches(model, to, after)) addEdge(to, model);
  }
  // Kahn's algorithm, always taking the earliest model in manifest order among the ready ones.
  const indegree = new Map(models.map((m) => [m.name, 0]));
  for (const targets of after.values()) for (const t of targets) indegree.set(t, indegree.get(t)! + 1);
  const ready = models.filter((m) => indegree.get(m.name) === 0);
  const order: ModelDef[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a.index - b.index);
    const next = ready.shift()!;
    order.push(next);
    for (const t of after.get(next.name)!) {
      indegree.set(t, indegree.get(t)! - 1);
      if (indegree.get(t) === 0) ready.push(manifest.models.get(t)!);
    }
  }
  return order;
}

function reaches(from: string, to: string, after: Map<string, Set<string>>): boolean {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node === to) return true;
    if (seen.has(node)) continue;
    seen.add(node);
    stack.push(...after.get(node)!);
  }
  return false;
}

/** A cycle as `[A, B, A]`, or undefined. */
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
