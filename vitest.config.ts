import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: most of a test's time is spent waiting on a database, a server or a child process
    // (three were tried: 658 s against 677 s, the two cores saturated, every file slower).
    maxWorkers: 2,
    reporters: ['default'],
  },
});
