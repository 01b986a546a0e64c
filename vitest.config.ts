import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // The daemon runs as it ships: bundled (scripts/bundle-daemon.mjs).
          globalSetup: ['test/integration/setup.ts'],
          environment: 'node',
          // Namespaces, routes and a shared dbus-daemon are per file; files run one at a time so
          // two 2-core CI runs never fight over the same kernel objects or CPU.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
