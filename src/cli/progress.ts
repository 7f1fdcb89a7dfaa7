import type { Writable } from 'node:stream';
import type { Listr, ListrTaskWrapper } from 'listr2';
import type { SyncEvent } from '../sync/events.js';
import { kb } from './render.js';

type Phase = 'prepare' | 'check' | 'fetch' | 'install';
// The remote is checked before anything is created locally (a remote that does not answer creates nothing).
const PHASES: Array<{ phase: Phase; title: string }> = [
  { phase: 'check', title: 'Check the remote' },
  { phase: 'prepare', title: 'Prepare the local database' },
  { phase: 'fetch', title: 'Fetch fixtures' },
  { phase: 'install', title: 'Install in one transaction' },
];

interface Deferred { promise: Promise<void>; resolve(): void; reject(error: unknown): void }
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {});
  return { promise, resolve, reject };
}


/**
 * listr2 on a terminal: one task per phase, its output line showing the model at hand, bytes
 * fetched, objects installed and rows per second. Driven by the sync's events.
 */
export class TerminalProgress {
  private readonly done = new Map<Phase, Deferred>(PHASES.map((p) => [p.phase, deferred()]));
  private readonly tasks = new Map<Phase, ListrTaskWrapper<unknown, never, never>>();
  private current = -1;
  private readonly skipped = new Set<Phase>();
  /** Output for a phase whose task has not started yet (listr2 starts it a tick later). */
  private readonly pending = new Map<Phase, string>();
  private readonly listr: Listr;
  private running: Promise<unknown> | undefined;
  private fetched = { models: 0, bytes: 0, objects: 0 };
  private installed = { models: 0, objects: 0, started: 0, modelStarted: 0 };
  private planned = 0;

  /** A progress display on `stdout` (listr2 is loaded only here: a run under cron never needs it). */
  static async create(stdout: Writable): Promise<TerminalProgress> {
    const { Listr } = await import('listr2');
    return new TerminalProgress(stdout, Listr);
  }

  private constructor(stdout: Writable, ListrClass: typeof Listr) {
    this.listr = new ListrClass(
      PHASES.map(({ phase, title }) => ({
        title,
        rendererOptions: { persistentOutput: true },
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
          this.tasks.set(phase, task);
          if (this.pending.has(phase)) task.output = this.pending.get(phase)!;
          if (this.skipped.has(phase)) return task.skip(`${title}: not needed`);
          await this.done.get(phase)!.promise;
        },
      })) as never,
      { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false }, registerSignalListeners: false, fallbackRendererCondition: () => !(stdout as NodeJS.WriteStream).isTTY } as never,
    );
  }

  start(): void {
    this.running = this.listr.run().catch(() => undefined);
  }

  /** Move to a phase: the ones before it are done, or skipped if they never began. */
  private enter(phase: Phase): void {
    const index = PHASES.findIndex((p) => p.phase === phase);
    for (let i = 0; i < index; i++) {
      if (i > this.current) this.skipped.add(PHASES[i].phase);
      this.done.get(PHASES[i].phase)!.resolve();
    }
    this.current = Math.max(this.current, index);
  }

  private output(phase: Phase, text: string): void {
    const task = this.tasks.get(phase);
    if (task) task.output = text;
    else this.pending.set(phase, text);
  }

  event = (event: SyncEvent | { type: 'demo'; message: string }): void => {
    switch (event.type) {
      case 'phase':
        if (event.phase !== 'plan' && event.phase !== 'report') this.enter(event.phase);
        this.output(event.phase as Phase, event.message);
        return;
      case 'remote-up':
        this.output('check', `Remote host is up: ${event.remote} serves ${event.app}`);
        return;
      case 'plan':
        this.planned = event.models.length;
        return;
      case 'model-fetched':
        this.fetched.models++;
        this.fetched.bytes += event.bytes;
        this.fetched.objects += event.objects;
        this.output('fetch', `${event.model} (${this.fetched.models}/${this.planned}): ${this.fetched.objects} objects, ${kb(this.fetched.bytes)}`);
        return;
      case 'model-installing':
        if (!this.installed.started) this.installed.started = Date.now();
        this.installed.modelStarted = Date.now();
        this.output('install', `${event.model}…`);
        return;
      case 'model-installed': {
        this.installed.models++;
        this.installed.objects += event.counts.objects;
        const seconds = Math.max(0.001, (Date.now() - this.installed.started) / 1000);
        this.output('install', `${event.model} (${this.installed.models}): ${this.installed.objects} objects, ${Math.round(this.installed.objects / seconds)} rows/s`);
        return;
      }
      case 'rewiring':
        this.output('install', `Rewiring ${event.links} deferred links`);
        return;
      case 'rolled-back':
        this.output('install', 'Rolled back: the database is left as it was');
        return;
      default:
        return;
    }
  };

  /** Close the display: every phase done, or the current one failed. */
  async finish(error?: unknown): Promise<void> {
    if (error) this.done.get(PHASES[Math.max(0, this.current)].phase)!.reject(error);
    else {
      for (let i = this.current + 1; i < PHASES.length; i++) this.skipped.add(PHASES[i].phase);
      const seconds = Math.max(0.001, (Date.now() - this.installed.started) / 1000);
      if (this.installed.started) this.output('install', `${this.installed.objects} objects in ${this.installed.models} models, ${Math.round(this.installed.objects / seconds)} rows/s`);
    }
    for (const d of this.done.values()) d.resolve();
    await this.running;
  }
}
