import { IntSet } from './int-collections.js';

/** What happened to one model's objects. */
export interface ModelCounts {
  model: string;
  objects: number;
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
  /** Rows `--prune` deleted. */
  deleted: number;
}

/** Per-model bookkeeping during one install. */
export class Tally {
  objects = 0;
  skipped = 0;
  deleted = 0;
  /** Remote pks of this model in the fixtures (for --prune). */
  readonly seen = new IntSet();
  readonly inserted = new IntSet();
  readonly updated = new IntSet();
  counts(model: string): ModelCounts {
    const { inserted, updated } = { inserted: this.inserted.size, updated: this.updated.size };
    return { model, objects: this.objects, inserted, updated, unchanged: this.objects - this.skipped - inserted - updated, skipped: this.skipped, deleted: this.deleted };
  }
}

