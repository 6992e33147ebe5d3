import { PGlite } from '@electric-sql/pglite';
import { randomBytes } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { issueToken, type Principal } from './auth.js';
import { ManualClock, type Clock } from './clock.js';
import { loadConfig, type BaseConfig } from './config.js';
import { openInfrastructure, type AdapterFactories, type Infrastructure } from './infrastructure.js';
import { createLogger } from './logger.js';

/**
 * Infrastructure for a test: PostgreSQL at `databaseUrl` (a database of the
 * test's own, from @onestop/testkit) or an in-memory PGlite, the embedded bus
 * unless the env says otherwise, fresh secrets, a manual clock, quiet logs.
 */
export async function openTestInfrastructure(
  options: {
    databaseUrl?: string;
    env?: Record<string, string>;
    clock?: Clock;
    adapters?: AdapterFactories;
    pglite?: PGlite;
    /** where the log lines go (stdout by default) */
    logDestination?: DestinationStream;
  } = {},
): Promise<Infrastructure & { clock: Clock; token(p: Principal): Promise<string> }> {
  const secret = randomBytes(32).toString('base64url');
  const config: BaseConfig = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ONESTOP_STORE: options.databaseUrl ? 'postgres' : 'embedded',
    DATABASE_URL: options.databaseUrl,
    JWT_SECRET: secret,
    ONESTOP_MASTER_KEYS: `test-1:${randomBytes(32).toString('base64')}`,
    ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'),
    DATABASE_POOL_SIZE: '10',
    ...options.env,
  });
  const clock = options.clock ?? new ManualClock();
  const pglite = options.databaseUrl ? undefined : (options.pglite ?? new PGlite());
  const infra = await openInfrastructure(config, createLogger('test', config.LOG_LEVEL, { destination: options.logDestination }), {
    clock,
    adapters: options.adapters,
    ...(pglite ? { pglite } : {}),
  });
  return {
    ...infra,
    async close() {
      await infra.close();
      await pglite?.close();
    },
    clock,
    token: (p) => issueToken(config.JWT_SECRET!, p, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  };
}
