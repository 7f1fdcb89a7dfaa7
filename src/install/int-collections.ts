/**
 * Compact integer collections for the id map and the per-run bookkeeping of an install: a
 * million objects must not cost a million Map entries (about 80 bytes each in V8).
 */

const INITIAL = 1024;

function grow(array: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  if (need <= array.length) return array;
  const next = new Int32Array(Math.max(need, array.length * 2));
  next.set(array);
  return next;
}

/** One ascending run of keys with their values, in typed arrays. */
class Run {
  keys: Int32Array<ArrayBuffer> = new Int32Array(INITIAL);
  vals: Int32Array<ArrayBuffer> = new Int32Array(INITIAL);
  length = 0;

  find(key: number): number {
    if (this.length === 0 || key < this.keys[0] || key > this.keys[this.length - 1]) return -1;
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.keys[mid];
      if (k === key) return mid;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Append a key larger than every key of the run. */
  push(key: number, value: number): void {
    this.keys = grow(this.keys, this.length + 1);
    this.vals = grow(this.vals, this.length + 1);
    this.keys[this.length] = key;
    this.vals[this.length] = value;
    this.length++;
  }

  last(): number {
    return this.keys[this.length - 1];
  }
}

/** Beyond this many runs, keys out of order go to a Map: lookups stay a few bisections. */
const MAX_RUNS = 8;

/**
 * int -> int, about 8 bytes a key. Keys arrive mostly in ascending runs (fixtures are ordered
 * by pk, maps load ordered, and an MTI root's children come one model after another: Lentity's
 * organisations, then its persons); each run is a pair of sorted typed arrays searched by
 * bisection. A key that starts a new run when there are already MAX_RUNS goes to a small
 * overflow Map. Lookups check the runs and the Map.
 */
export class IntMap {
  private readonly runs: Run[] = [new Run()];
  private readonly overflow = new Map<number, number>();

  get size(): number {
    let n = this.overflow.size;
    for (const run of this.runs) n += run.length;
    return n;
  }

  get(key: number): number | undefined {
    for (const run of this.runs) {
      const i = run.find(key);
      if (i >= 0) return run.vals[i];
    }
    return this.overflow.get(key);
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: number): this {
    for (const run of this.runs) {
      const i = run.find(key);
      if (i >= 0) {
        run.vals[i] = value;
        return this;
      }
    }
    if (this.overflow.has(key)) {
      this.overflow.set(key, value);
      return this;
    }
    const current = this.runs[this.runs.length - 1];
    if (current.length === 0 || key > current.last()) current.push(key, value);
    else if (this.runs.length < MAX_RUNS) {
      const run = new Run();
      run.push(key, value);
      this.runs.push(run);
    } else this.overflow.set(key, value);
    return this;
  }

  *values(): IterableIterator<number> {
    for (const run of this.runs) for (let i = 0; i < run.length; i++) yield run.vals[i];
    yield* this.overflow.values();
  }
}

/**
 * A set of non-negative integers: a bitset while the values are dense enough, a Set when
 * they are sparse (a bitset over pks up to 2^31 would cost 256 MiB).
 */
export class IntSet {
  private bits: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL);
  private sparse: Set<number> | undefined;
  private count = 0;

  /** A set holding `values`. */
  static of(values: Iterable<number>): IntSet {
    const set = new IntSet();
    for (const value of values) set.add(value);
    return set;
  }

  get size(): number {
    return this.sparse ? this.sparse.size : this.count;
  }

  has(value: number): boolean {
    if (this.sparse) return this.sparse.has(value);
    const byte = value >>> 3;
    return value >= 0 && byte < this.bits.length && (this.bits[byte] & (1 << (value & 7))) !== 0;
  }

  add(value: number): this {
    if (this.sparse) {
      this.sparse.add(value);
      return this;
    }
    const byte = value >>> 3;
    if (value < 0 || !Number.isInteger(value) || byte > 8 * (this.count + INITIAL) + (1 << 20)) {
      this.sparse = new Set(this.values());
      this.sparse.add(value);
      return this;
    }
    if (byte >= this.bits.length) {
      const next = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      next.set(this.bits);
      this.bits = next;
    }
    const mask = 1 << (value & 7);
    if ((this.bits[byte] & mask) === 0) {
      this.bits[byte] |= mask;
      this.count++;
    }
    return this;
  }

  *values(): IterableIterator<number> {
    if (this.sparse) {
      yield* this.sparse;
      return;
    }
    for (let byte = 0; byte < this.bits.length; byte++) {
      const b = this.bits[byte];
      if (b === 0) continue;
      for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) yield byte * 8 + bit;
    }
  }
}

/** A growing list of 32-bit integers in one typed array. */
export class IntList {
  private items: Int32Array<ArrayBuffer> = new Int32Array(16);
  length = 0;

  push(value: number): void {
    if (this.length === this.items.length) this.items = grow(this.items, this.length + 1);
    this.items[this.length++] = value;
  }

  get(index: number): number {
    return this.items[index];
  }
}
