import { defineConfig } from 'vitest/config';

// One test run for the whole monorepo: every package and service is a project,
// and the global setup provisions the services the integration tests need
// (a real Kafka broker when KAFKA_BROKERS is not set).
export default defineConfig({
  resolve: { conditions: ['onestop-source'] },
  ssr: { resolve: { conditions: ['onestop-source'] } },
  test: {
    globalSetup: ['./packages/testkit/src/global-setup.ts'],
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
