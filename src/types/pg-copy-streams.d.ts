// pg-copy-streams ships no types: the one function the PostgreSQL adapter uses.
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';
  import type { Submittable } from 'pg';
  /** A `COPY ... FROM STDIN` as a writable stream, passed to a pg client's query(). */
  export function from(sql: string): Writable & Submittable;
}
