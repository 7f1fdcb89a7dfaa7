/** The body is not a Django fixture (a JSON array of objects). */
export class FixtureSyntaxError extends Error {
  override name = 'FixtureSyntaxError';
}

const enum State { Before, Between, Element, After }
const enum Ch { Tab = 9, Newline = 10, Return = 13, Space = 32, Quote = 34, Comma = 44, OpenBracket = 91, Backslash = 92, CloseBracket = 93, OpenBrace = 123, CloseBrace = 125 }
/** The UTF-8 byte order mark, EF BB BF. */
const BOM = [0xef, 0xbb, 0xbf];
/** An excerpt of 20 characters needs at most 80 bytes of UTF-8. */
const EXCERPT_CHARS = 20;
/** `{` positions looked at from a chunk's end for a cut before giving the chunk to the scanner. */
const MAX_CUT_TRIES = 64;

const isSpace = (c: number) => c === Ch.Space || c === Ch.Newline || c === Ch.Return || c === Ch.Tab;

/**
 * The byte scanner of a streamed JSON array of objects: walks the Buffers as they arrive,
 * tracking strings, escapes and bracket depth across chunks, and records where each element
 * it finishes starts and ends. It finds every element boundary and every syntax error; the
 * FixtureSplitter built on it adds the fast path and the parsing.
 */
export class FixtureScanner {
  protected state = State.Before;
  protected needComma = false;
  /** A comma was just read: the next token must be an object, not "]". */
  protected afterComma = false;
  protected depth = 0;
  protected isInString = false;
  /** The last byte scanned was a backslash inside a string: the next byte is escaped. */
  protected isEscaped = false;
  /** Bytes of a UTF-8 BOM matched so far, before the array. */
  protected bomMatched = 0;
  /** The element in progress: its bytes from earlier chunks. */
  protected parts: Buffer[] = [];
  /** After a scan: the earlier bytes of the first element it finished, when that began in an earlier chunk. */
  protected spanParts: Buffer[] = [];
  /** After a scan: where each element it finished starts (-1: in an earlier chunk) and ends (exclusive) in the chunk. */
  protected readonly starts: number[] = [];
  protected readonly ends: number[] = [];
  protected finished = 0;
  /** Where the last scan began in its buffer. */
  protected scanFrom = 0;
  /** Objects seen so far. */
  count = 0;

  /** Whether the scan is before the array (a cut then brings its own "["). */
  protected isBeforeArray(): boolean {
    return this.state === State.Before;
  }

  /** Between elements, where a cut may start: before the array, after "[" or after a comma. */
  protected isClean(): boolean {
    return (this.state === State.Between && !this.needComma) || (this.state === State.Before && this.bomMatched === 0);
  }

  /** A cut after `parsed` more elements, at the comma that follows the last: between elements. */
  protected acceptCut(parsed: number): void {
    this.count += parsed;
    this.state = State.Between;
    this.needComma = false;
    this.afterComma = true;
  }

  /** Throws unless the array was closed. */
  protected checkClosed(): void {
    if (this.state !== State.After) {
      throw new FixtureSyntaxError(this.state === State.Before ? 'empty body, expected a JSON array' : `truncated: the array ends after ${this.count} complete object(s) without "]"`);
    }
  }

  /** The bytes of element `k` of the last scan. */
  protected elementBytes(buf: Buffer, k: number): Buffer {
    const start = this.starts[k]!;
    return start >= 0 ? buf.subarray(start, this.ends[k]) : Buffer.concat([...this.spanParts, buf.subarray(this.scanFrom, this.ends[k])]);
  }

  /**
   * Scan `buf` from `from`, recording the elements it finishes in starts/ends; with
   * `stopWhenClean`, stop after the "[" or comma that precedes an element and return where.
   */
  protected scan(buf: Buffer, from: number, stopWhenClean: boolean): number {
    const len = buf.length;
    const { starts, ends } = this;
    let n = 0;
    let state = this.state;
    let depth = this.depth;
    let isInString = this.isInString;
    let isEscaped = this.isEscaped;
    let start = -1;
    let i = from;
    this.scanFrom = from;
    this.spanParts = [];
    for (;;) {
      if (state === State.Element) {
        if (isInString) {
          if (isEscaped) {
            if (i >= len) break;
            i++;
            isEscaped = false;
          }
          // The hot loop: skip a string's bytes, two at a time after a backslash.
          while (i < len) {
            const c = buf[i]!;
            if (c === Ch.Quote) break;
            i += c === Ch.Backslash ? 2 : 1;
          }
          if (i >= len) {
            // Past the end: the chunk's last byte was a backslash, so the next chunk's first is escaped.
            isEscaped = i > len;
            break;
          }
          i++;
          isInString = false;
        }
        while (i < len) {
          const c = buf[i++]!;
          if (c === Ch.Quote) {
            isInString = true;
            break;
          }
          if (c === Ch.OpenBrace || c === Ch.OpenBracket) depth++;
          else if ((c === Ch.CloseBrace || c === Ch.CloseBracket) && --depth === 0) {
            if (start < 0) {
              this.spanParts = this.parts;
              this.parts = [];
            }
            starts[n] = start;
            ends[n++] = i;
            this.count++;
            state = State.Between;
            this.needComma = true;
            break;
          }
        }
        if (isInString || state !== State.Element) continue;
        break;
      }
      if (i >= len) break;
      const c = buf[i]!;
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (state === State.Before) {
        if (c === BOM[this.bomMatched]) {
          this.bomMatched = (this.bomMatched + 1) % BOM.length;
        } else if (c === Ch.OpenBracket && this.bomMatched === 0) {
          state = State.Between;
        } else {
          throw new FixtureSyntaxError(`expected a JSON array "[", found ${excerpt(buf, i)}`);
        }
      } else if (state === State.Between) {
        if (c === Ch.CloseBracket && !this.afterComma) state = State.After;
        else if (c === Ch.Comma && this.needComma) {
          this.needComma = false;
          this.afterComma = true;
        } else if (c === Ch.OpenBrace && !this.needComma) {
          this.afterComma = false;
          state = State.Element;
          depth = 1;
          start = i;
        } else {
          this.state = state;
          throw new FixtureSyntaxError(`unexpected ${excerpt(buf, i)} after object ${this.count}: expected ${this.needComma ? '"," or "]"' : 'an object'}`);
        }
      } else {
        this.state = state;
        throw new FixtureSyntaxError(`unexpected ${excerpt(buf, i)} after the end of the array`);
      }
      i++;
      if (stopWhenClean && state === State.Between && !this.needComma) break;
    }
    if (state === State.Element) this.parts.push(Buffer.from(buf.subarray(start < 0 ? from : start)));
    this.state = state;
    this.depth = depth;
    this.isInString = isInString;
    this.isEscaped = isEscaped;
    this.finished = n;
    return stopWhenClean ? i : len;
  }
}

/** Up to 20 characters from byte `i`, quoted, for a message. */
function excerpt(buf: Buffer, i: number): string {
  return JSON.stringify(buf.toString('utf8', i, Math.min(buf.length, i + 4 * EXCERPT_CHARS)).slice(0, EXCERPT_CHARS));
}

/**
 * The last comma of `buf` (after `from`) between a `}` and a `{`, whitespace aside: where a cut
 * may end; -1 when there is none among the last few `{`.
 */
export function lastBoundary(buf: Buffer, from: number): number {
  let open = buf.length;
  for (let tries = 0; tries < MAX_CUT_TRIES && open - 1 > from; tries++) {
    open = buf.lastIndexOf(Ch.OpenBrace, open - 1);
    if (open <= from) return -1;
    let k = open - 1;
    while (k > from && isSpace(buf[k]!)) k--;
    if (buf[k] !== Ch.Comma) continue;
    const comma = k--;
    while (k >= from && isSpace(buf[k]!)) k--;
    if (k >= from && buf[k] === Ch.CloseBrace) return comma;
  }
  return -1;
}
