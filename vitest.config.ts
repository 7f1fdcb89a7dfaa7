import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three files at a time on two cores: most of a test's time is spent waiting on a database, a server or a child process.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
