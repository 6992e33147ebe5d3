import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when a Docker engine (not just the client) answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Where the tests' PostgreSQL is: DATABASE_URL, else the local server on
 * 127.0.0.1:5432, else a testcontainers PostgreSQL where a Docker engine exists.
 * Returns a URL with admin rights (it creates a database per test file).
 */
export async function resolvePostgres(): Promise<{ url: string; stop?: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL };
  if (await reachable(LOCAL_POSTGRES)) return { url: LOCAL_POSTGRES };
  if (await dockerAvailable()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const c = await new PostgreSqlContainer('postgres:15').start();
    return { url: c.getConnectionUri(), stop: async () => void (await c.stop()) };
  }
  throw new Error(
    'No PostgreSQL for the tests: set DATABASE_URL, start the local server ' +
      '(pg_ctlcluster --skip-systemctl-redirect 15 main start), or provide a Docker engine.',
  );
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  /** connection string of a fresh database of its own */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database for one test file, so runs never collide. Requires
 * the global setup (or DATABASE_URL) to have named the server.
 */
export async function createTestDatabase(label = 't'): Promise<TestDatabase> {
  const admin = process.env.ONESTOP_TEST_PG_ADMIN_URL ?? process.env.DATABASE_URL ?? (await resolvePostgres()).url;
  const name = `onestop_${label.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20)}_${randomBytes(5).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return {
    url: withDatabase(admin, name),
    name,
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      try {
        // let closing pools finish their goodbyes first, so FORCE has nobody to cut off mid-sentence
        for (let i = 0; i < 50; i++) {
          const { rows } = await d.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await d.end();
      }
    },
  };
}

const KAFKA_SCRIPT = join(REPO_ROOT, 'infra', 'kafka', 'kafka.sh');

/**
 * The tests' Kafka brokers: KAFKA_BROKERS, else the real broker that
 * infra/kafka assembles from Maven Central jars (started on first use, shared by
 * all test files of the run, stopped by the global teardown).
 */
export async function testKafkaBrokers(): Promise<string[]> {
  const fromEnv = process.env.KAFKA_BROKERS;
  if (fromEnv) return fromEnv.split(',').map((s) => s.trim()).filter(Boolean);
  if (!existsSync(KAFKA_SCRIPT)) throw new Error(`KAFKA_BROKERS is not set and ${KAFKA_SCRIPT} is missing`);
  // flock: several test workers may ask at once; the first starts it, the rest find it running.
  // -o: the broker that kafka.sh leaves running must not inherit (and so keep) the lock.
  const { stdout } = await run('flock', ['-o', join(kafkaCacheDir(), 'start.lock'), 'bash', KAFKA_SCRIPT, 'start'], {
    env: { ...process.env, KAFKA_PORT: process.env.ONESTOP_TEST_KAFKA_PORT ?? '19092' },
    timeout: 600_000,
    maxBuffer: 10 * 1024 * 1024,
  });
  // tell the global teardown that this run started (or reused) the managed broker
  if (process.env.ONESTOP_TEST_RUN_ID) writeFileSync(join(kafkaCacheDir(), `used-by-${process.env.ONESTOP_TEST_RUN_ID}`), '');
  const line = stdout.split('\n').find((l) => l.startsWith('KAFKA_BROKERS='));
  if (!line) throw new Error(`kafka.sh start printed no KAFKA_BROKERS line:\n${stdout}`);
  return line.slice('KAFKA_BROKERS='.length).split(',');
}

export function kafkaCacheDir(): string {
  return process.env.ONESTOP_CACHE_DIR ?? join(process.env.HOME ?? '/tmp', '.cache', 'onestop');
}

/** Stops / starts the test broker (for fault tests); only for the broker infra/kafka runs. */
export async function kafkaControl(command: 'stop' | 'start' | 'status'): Promise<void> {
  if (process.env.KAFKA_BROKERS) throw new Error('cannot stop or start an external KAFKA_BROKERS cluster');
  await run('bash', [KAFKA_SCRIPT, command], {
    env: { ...process.env, KAFKA_PORT: process.env.ONESTOP_TEST_KAFKA_PORT ?? '19092' },
    timeout: 300_000,
  });
}
