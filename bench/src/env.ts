// Where the benchmarks run: the local PostgreSQL and the real Kafka broker of
// infra/kafka, through the same helpers as the tests, and how big they run.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
// The helpers of @onestop/testkit, from their module: the package entry also
// re-exports vitest assertions, which cannot be imported outside a vitest run.
import {
  REPO_ROOT,
  createTestDatabase,
  kafkaControl,
  resolvePostgres,
  testKafkaBrokers,
  type TestDatabase,
} from '../../packages/testkit/src/env.js';

export { REPO_ROOT, createTestDatabase, type TestDatabase };

const run = promisify(execFile);

export type ScaleName = 'smoke' | 'small' | 'full';

/** How much work each benchmark does; `full` is what `npm run bench` runs and the targets are about. */
export interface Scale {
  name: ScaleName;
  /** global deadline for the whole run, ms (the issue: 15 minutes in total) */
  deadlineMs: number;
  /** measured rounds per variant (after warm-up) and warm-up rounds */
  rounds: number;
  warmupRounds: number;
  append: { roundMs: number; writers: number[]; batchSize: number; batchWriters: number };
  catchUp: { events: number };
  relay: { events: number };
  projections: { events: number };
  rebuild: { events: number };
  /** the verifiable log: the size of the tree proofs are made from, and the append rounds beside a following tree */
  verifiableLog: { events: number; roundMs: number; writers: number };
  e2e: {
    rate: number;
    durationMs: number;
    warmupMs: number;
    searchStepMs: number;
    searchRates: number[];
    searchP99Ms: number;
  };
  replay: { events: number; iterations: number };
}

export const SCALES: Record<ScaleName, Scale> = {
  smoke: {
    name: 'smoke',
    deadlineMs: 3 * 60_000,
    rounds: 2,
    warmupRounds: 1,
    append: { roundMs: 150, writers: [1, 8], batchSize: 100, batchWriters: 8 },
    catchUp: { events: 3000 },
    relay: { events: 2000 },
    projections: { events: 2000 },
    rebuild: { events: 5000 },
    verifiableLog: { events: 10_000, roundMs: 300, writers: 8 },
    e2e: {
      rate: 50,
      durationMs: 3000,
      warmupMs: 1000,
      searchStepMs: 1500,
      searchRates: [25, 50, 100],
      searchP99Ms: 50,
    },
    replay: { events: 1000, iterations: 5 },
  },
  small: {
    name: 'small',
    deadlineMs: 6 * 60_000,
    rounds: 2,
    warmupRounds: 1,
    append: { roundMs: 600, writers: [1, 8, 32], batchSize: 100, batchWriters: 8 },
    catchUp: { events: 40_000 },
    relay: { events: 20_000 },
    projections: { events: 10_000 },
    rebuild: { events: 100_000 },
    verifiableLog: { events: 100_000, roundMs: 800, writers: 8 },
    e2e: {
      rate: 200,
      durationMs: 15_000,
      warmupMs: 3000,
      searchStepMs: 5000,
      searchRates: [25, 50, 100, 200, 300, 400],
      searchP99Ms: 50,
    },
    replay: { events: 10_000, iterations: 10 },
  },
  full: {
    name: 'full',
    deadlineMs: 14 * 60_000 + 15_000,
    rounds: 3,
    warmupRounds: 1,
    append: { roundMs: 1200, writers: [1, 8, 32], batchSize: 100, batchWriters: 8 },
    catchUp: { events: 100_000 },
    relay: { events: 50_000 },
    projections: { events: 30_000 },
    rebuild: { events: 1_000_000 },
    verifiableLog: { events: 1_000_000, roundMs: 1500, writers: 8 },
    e2e: {
      rate: 200,
      durationMs: 60_000,
      warmupMs: 5000,
      searchStepMs: 5000,
      searchRates: [25, 50, 100, 200, 300, 400, 600],
      searchP99Ms: 50,
    },
    replay: { events: 10_000, iterations: 20 },
  },
};

export function scaleFromEnv(env: NodeJS.ProcessEnv = process.env): Scale {
  const name = (env.BENCH_SCALE ?? 'full') as ScaleName;
  const scale = SCALES[name];
  if (!scale)
    throw new Error(`BENCH_SCALE must be one of ${Object.keys(SCALES).join(', ')}, not ${name}`);
  const deadline = env.BENCH_DEADLINE_S ? Number(env.BENCH_DEADLINE_S) * 1000 : scale.deadlineMs;
  return { ...scale, deadlineMs: deadline };
}

// ── Kafka ─────────────────────────────────────────────────────────────────────
/**
 * The bench's own infra/kafka broker (port 19392 unless BENCH_KAFKA_PORT), so
 * that test runs of other engineers on the shared broker (19092), which stop
 * it in their teardown, neither disturb the figures nor are disturbed by them.
 * KAFKA_BROKERS, when set, is used instead and never stopped.
 */
export interface BenchKafka {
  brokers: string[];
  /** what it is, for the report */
  description: string;
  version: string;
  /** stops the broker if this run started it */
  release(): Promise<void>;
}

export function kafkaVersionOfInfra(): string {
  try {
    const pom = readFileSync(join(REPO_ROOT, 'infra', 'kafka', 'pom.xml'), 'utf8');
    return /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function startKafka(log: (msg: string) => void): Promise<BenchKafka> {
  if (process.env.KAFKA_BROKERS) {
    return {
      brokers: process.env.KAFKA_BROKERS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      description: `external cluster from KAFKA_BROKERS (${process.env.KAFKA_BROKERS})`,
      version: 'unknown (external)',
      release: async () => undefined,
    };
  }
  process.env.ONESTOP_TEST_KAFKA_PORT ??= process.env.BENCH_KAFKA_PORT ?? '19392';
  const wasRunning = await kafkaControl('status').then(
    () => true,
    () => false,
  );
  const started = Date.now();
  const brokers = await testKafkaBrokers();
  const version = kafkaVersionOfInfra();
  log(
    `kafka: ${wasRunning ? 'reusing the running' : 'started the'} infra/kafka broker ${brokers.join(',')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  return {
    brokers,
    description: `infra/kafka single-node KRaft broker on ${brokers.join(',')}${wasRunning ? ' (already running)' : ' (started by the bench)'}`,
    version,
    release: async () => {
      if (wasRunning || process.env.BENCH_KEEP_KAFKA) return;
      await kafkaControl('stop').catch((e: unknown) =>
        console.error('stopping the bench Kafka broker failed:', e),
      );
      log('kafka: stopped the broker this run started');
    },
  };
}

// ── Machine ───────────────────────────────────────────────────────────────────
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  kafka: string;
  loadAverageStart: [number, number, number];
  loadAverageEnd?: [number, number, number];
  gitCommit: string;
  startedAt: string;
  packages: Record<string, string>;
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'),
    ) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

export async function machineInfo(adminUrl: string): Promise<MachineInfo> {
  const c = new pg.Client({ connectionString: adminUrl });
  let postgres = 'unknown';
  const postgresSettings: Record<string, string> = {};
  try {
    await c.connect();
    postgres = (
      (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? 'unknown'
    ).replace(/ on .*$/, '');
    for (const s of [
      'shared_buffers',
      'synchronous_commit',
      'fsync',
      'max_connections',
      'work_mem',
    ]) {
      postgresSettings[s] =
        (await c.query<Record<string, string>>(`SHOW ${s}`)).rows[0]?.[s] ?? '?';
    }
  } catch {
    // the report says unknown
  } finally {
    await c.end().catch(() => undefined);
  }
  let gitCommit = 'unknown';
  try {
    const { stdout } = await run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
    const { stdout: dirty } = await run('git', ['-C', REPO_ROOT, 'status', '--porcelain']);
    gitCommit = stdout.trim() + (dirty.trim() ? ' (with uncommitted changes)' : '');
  } catch {
    // not a git checkout
  }
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    postgres,
    postgresSettings,
    kafka: 'not used',
    loadAverageStart: loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number],
    gitCommit,
    startedAt: new Date().toISOString(),
    packages: Object.fromEntries(
      [
        '@event-driven-io/emmett-postgresql',
        '@event-driven-io/emmett',
        'pg',
        'kafkajs',
        'fastify',
      ].map((n) => [n, packageVersion(n)]),
    ),
  };
}

/**
 * Finds PostgreSQL as the tests do (DATABASE_URL, the local server, or a
 * testcontainer) and remembers it for createTestDatabase; returns the admin URL.
 */
export async function usePostgres(): Promise<{ url: string; stop?: () => Promise<void> }> {
  const existing = process.env.ONESTOP_TEST_PG_ADMIN_URL;
  if (existing) return { url: existing };
  const found = await resolvePostgres();
  process.env.ONESTOP_TEST_PG_ADMIN_URL = found.url;
  return found;
}

/**
 * How child processes (the rebuild worker, the e2e service) are started: like
 * `npm run bench` (node + tsx, sources), plus `--cpu-prof` into
 * BENCH_CPU_PROF_DIR when it is set, to find their hot spots.
 */
export function childExecArgv(): string[] {
  const args = ['--conditions=onestop-source', '--import', 'tsx'];
  if (process.env.BENCH_CPU_PROF_DIR)
    args.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`);
  return args;
}
