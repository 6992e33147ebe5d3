import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaCacheDir, kafkaControl, resolvePostgres } from './env.js';

/**
 * Vitest global setup: finds the PostgreSQL server once for every test file
 * (DATABASE_URL, the local server, or testcontainers). Test files that need
 * Kafka start the infra/kafka broker on first use (testKafkaBrokers); the
 * teardown stops it again when this run used it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  mkdirSync(kafkaCacheDir(), { recursive: true });
  const runId = randomBytes(6).toString('hex');
  process.env.ONESTOP_TEST_RUN_ID = runId;
  const pg = await resolvePostgres();
  process.env.ONESTOP_TEST_PG_ADMIN_URL = pg.url;
  return async () => {
    const marker = join(kafkaCacheDir(), `used-by-${runId}`);
    if (existsSync(marker) && !process.env.KAFKA_BROKERS && !process.env.ONESTOP_TEST_KEEP_KAFKA) {
      await kafkaControl('stop').catch((e) => console.error('stopping the test Kafka broker failed:', e));
    }
    rmSync(marker, { force: true });
    await pg.stop?.();
  };
}
