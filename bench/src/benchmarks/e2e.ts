// 4. End-to-end: HTTP command → visible in the read model, at a fixed 200
// commands/s for 60 s, and the highest rate that keeps p99 under 50 ms.
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueToken } from '@onestop/kit';
import pg from 'pg';
import { childExecArgv } from '../env.js';
import { percentile, type Benchmark, type CaseSpec, type RoundResult } from '../harness.js';
import { benchKafka } from '../kafka-util.js';
import type { E2eServiceMessage } from '../workers/e2e-service.js';

const WORKER = fileURLToPath(new URL('../workers/e2e-service.ts', import.meta.url));
const POLL_MS = 5;
const MAX_IN_FLIGHT = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PacedResult {
  offeredRate: number;
  sent: number;
  /** commands answered 201 */
  ok: number;
  errors: number;
  /** answered 201 but not seen in the read model within the drain time */
  notVisible: number;
  /** scheduled send → seen in the read model */
  e2e: number[];
  /** scheduled send → HTTP response */
  http: number[];
  /** first scheduled send → last command answered */
  durationMs: number;
}

/**
 * Watches the read model for registered persons: one query for everything
 * pending every POLL_MS; a person counts as visible at the time the query that
 * found it was sent (resolution: the poll interval plus one query).
 */
class Visibility {
  private readonly pending = new Map<
    string,
    { scheduled: number; onSeen: (latency: number) => void }
  >();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly pool: pg.Pool) {
    this.loop = this.run();
  }

  expect(personId: string, scheduled: number, onSeen: (latency: number) => void): void {
    this.pending.set(personId, { scheduled, onSeen });
  }

  get size(): number {
    return this.pending.size;
  }

  forget(): number {
    const n = this.pending.size;
    this.pending.clear();
    return n;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.pending.size === 0) {
        await sleep(POLL_MS);
        continue;
      }
      const ids = [...this.pending.keys()];
      const sent = performance.now();
      try {
        const { rows } = await this.pool.query<{ person_id: string }>({
          name: 'visible',
          text: 'SELECT person_id FROM projections.persons WHERE person_id = ANY($1::uuid[])',
          values: [ids],
        });
        for (const r of rows) {
          const p = this.pending.get(r.person_id);
          if (!p) continue;
          this.pending.delete(r.person_id);
          p.onSeen(sent - p.scheduled);
        }
      } catch {
        // the read-model table appears with the service's migration; until then nothing is visible
      }
      const spent = performance.now() - sent;
      if (spent < POLL_MS) await sleep(POLL_MS - spent);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** An open-loop client: commands at their scheduled times whatever the answers (no coordinated omission). */
async function paced(
  url: string,
  token: string,
  rate: number,
  durationMs: number,
  visibility: Visibility,
  drainMs: number,
): Promise<PacedResult> {
  const n = Math.max(1, Math.floor((durationMs / 1000) * rate));
  const interval = 1000 / rate;
  const res: PacedResult = {
    offeredRate: rate,
    sent: 0,
    ok: 0,
    errors: 0,
    notVisible: 0,
    e2e: [],
    http: [],
    durationMs: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const seen = new Set<Promise<void>>();
  const start = performance.now() + 5;
  let lastAnswer = start;
  for (let i = 0; i < n; i++) {
    const scheduled = start + i * interval;
    const wait = scheduled - performance.now();
    if (wait >= 1) await sleep(wait);
    if (inFlight.size >= MAX_IN_FLIGHT) {
      res.errors += 1; // the client would only queue: the service is far past its capacity
      continue;
    }
    res.sent += 1;
    const k = i;
    const p = (async () => {
      try {
        const r = await fetch(`${url}/persons`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            accessPoint: 'pistoia-centro',
            municipality: 'Pistoia',
            givenName: `Nome${k}`,
            familyName: `Cognome${randomBytes(3).toString('hex')}`,
            birthDate: `19${50 + (k % 50)}-0${1 + (k % 9)}-1${k % 10}`,
            phone: '+39 0573 123456',
          }),
        });
        const answered = performance.now();
        lastAnswer = Math.max(lastAnswer, answered);
        const body = (await r.json()) as { personId?: string };
        if (r.status !== 201 || !body.personId) {
          res.errors += 1;
          return;
        }
        res.ok += 1;
        res.http.push(answered - scheduled);
        const visible = new Promise<void>((resolve) =>
          visibility.expect(body.personId!, scheduled, (latency) => {
            res.e2e.push(latency);
            resolve();
          }),
        );
        seen.add(visible);
      } catch {
        res.errors += 1;
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all([...inFlight]);
  res.durationMs = lastAnswer - start;
  const drained = Promise.all([...seen]);
  await Promise.race([drained, sleep(drainMs)]);
  res.notVisible = visibility.forget();
  return res;
}

function startService(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; address: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [], {
      execArgv: childExecArgv(),
      env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the service did not start within 60 s'));
    }, 60_000);
    child.on('message', (m: E2eServiceMessage) => {
      clearTimeout(timer);
      if (m.kind === 'ready') resolve({ child, address: m.address });
      else reject(new Error(`the service failed to start: ${m.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited with ${code} during start-up`));
    });
  });
}

async function stopService(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

const fmt = (xs: number[], q: number) =>
  xs.length
    ? Math.round(
        percentile(
          [...xs].sort((a, b) => a - b),
          q,
        ) * 10,
      ) / 10
    : Number.NaN;

export const e2eBenchmark: Benchmark = {
  id: 'e2e',
  title: 'End-to-end: HTTP command → read model',
  needsKafka: true,
  method: [
    "One service process (a child of the bench) runs intake and projections on PostgreSQL and the real Kafka broker, started as `npm run start:*` starts them (`startServices`, `NODE_ENV=production`, `LOG_LEVEL=warn`, rate limit raised, topics under a prefix of the run's own), relay included. The bench sends `POST /persons` (register a person: validation, encryption of the personal data with a fresh per-person key, `append()`) over loopback HTTP with keep-alive, **open loop**: each command at its scheduled time whatever the answers, and latencies count from the scheduled time, so a stall cannot hide queued commands.",
    '',
    "A command is **visible** once the person's row is in the projections read model (`projections.persons`): the bench polls it every 5 ms with one query for every pending command, so the path measured is HTTP → command handler → event store → relay → Kafka → projections consumer → read-model transaction → a reader's query. The \"HTTP\" columns are the same commands' response times.",
    '',
    '- **fixed rate**: 200 commands/s for 60 s after a warm-up round at the same rate.',
    '- **rate search**: steps of a few seconds at rising rates; the highest rate whose end-to-end p99 stays under 50 ms, with no errors and ≥ 95 % of the offered rate achieved.',
  ].join('\n'),
  budget: (scale) => ({
    plannedMs:
      25_000 +
      scale.e2e.warmupMs +
      scale.e2e.durationMs +
      scale.e2e.searchRates.length * (scale.e2e.searchStepMs + 2500),
    minMs: Math.min(90_000, 20_000 + scale.e2e.durationMs),
  }),
  async prepare(ctx) {
    const { e2e } = ctx.scale;
    const db = await ctx.database('e2e');
    const dataDir = mkdtempSync(join(tmpdir(), 'onestop-bench-e2e-'));
    const secret = randomBytes(32).toString('base64url');
    const signingKey = generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'der', type: 'pkcs8' })
      .toString('base64');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: process.env.BENCH_E2E_LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      ONESTOP_STORE: 'postgres',
      DATABASE_URL: db.url,
      ONESTOP_BUS: 'kafka',
      KAFKA_BROKERS: ctx.kafka!.brokers.join(','),
      KAFKA_CLIENT_ID: 'onestop-bench-e2e',
      JWT_SECRET: secret,
      // the bench signs its own token (no identity provider): HS256, allowed in production only explicitly
      JWT_ALLOW_HS256_IN_PRODUCTION: 'true',
      ONESTOP_MASTER_KEYS: `bench-1:${randomBytes(32).toString('base64')}`,
      ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'),
      ONESTOP_AUDIT_SIGNING_KEY: signingKey,
      ONESTOP_DATA_DIR: dataDir,
      RATE_LIMIT_PER_MINUTE: '100000000',
      BENCH_TOPIC_PREFIX: `bench${ctx.runId}.e2e.`,
    };
    const started = Date.now();
    const { child, address } = await startService(env);
    ctx.log(
      `  e2e: service listening on ${address} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    // production refuses tokens that live longer than JWT_MAX_LIFETIME_SECONDS (3600 s by default)
    const token = await issueToken(secret, { sub: 'operatore-bench', role: 'operator' }, { expiresIn: '1h' });
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);
    const visibility = new Visibility(pool);
    // the pipeline works before anything is timed: one command all the way through
    const first = await paced(address, token, 10, 300, visibility, 30_000);
    if (first.ok === 0 || first.notVisible > 0)
      throw new Error(
        `the first commands did not come through (ok ${first.ok}, errors ${first.errors}, not visible ${first.notVisible})`,
      );

    const notes: string[] = [];
    const info: Record<string, string | number> = {
      service: address,
      'poll interval': `${POLL_MS} ms`,
      database: db.name,
    };
    const toRound = (r: PacedResult): RoundResult => ({
      events: r.e2e.length,
      durationMs: r.durationMs,
      latenciesMs: r.e2e,
      extra: {
        offeredRate: r.offeredRate,
        achievedRate: (r.ok * 1000) / Math.max(1, r.durationMs),
        errors: r.errors,
        notVisible: r.notVisible,
        httpP50Ms: fmt(r.http, 0.5),
        httpP99Ms: fmt(r.http, 0.99),
      },
    });

    const cases: CaseSpec[] = [
      {
        id: 'fixed-rate',
        title: `${e2e.rate} commands/s for ${e2e.durationMs / 1000} s`,
        unit: 'commands',
        rounds: 1,
        warmupRounds: 1,
        extraColumns: {
          achievedRate: 'achieved/s',
          httpP50Ms: 'HTTP p50',
          httpP99Ms: 'HTTP p99',
          errors: 'errors',
          notVisible: 'not visible',
        },
        aggregate: { errors: 'sum', notVisible: 'sum' },
        variants: [
          {
            id: 'onestop',
            name: 'OneStop end-to-end',
            role: 'subject',
            description: 'POST /persons → row in projections.persons',
            run: async ({ warmup, deadline }) => {
              const room = deadline - Date.now() - 15_000;
              let duration = warmup ? e2e.warmupMs : e2e.durationMs;
              if (!warmup && room < duration) {
                duration = Math.max(5_000, room);
                notes.push(
                  `The fixed-rate run was cut to ${(duration / 1000).toFixed(0)} s by the deadline.`,
                );
              }
              return toRound(await paced(address, token, e2e.rate, duration, visibility, 10_000));
            },
          },
        ],
      },
      {
        id: 'rate-search',
        title: `highest rate with end-to-end p99 < ${e2e.searchP99Ms} ms`,
        unit: 'commands',
        rounds: 1,
        warmupRounds: 0,
        extraColumns: { maxRate: 'highest rate passing', offeredRate: 'last rate tried' },
        aggregate: { maxRate: 'last', offeredRate: 'last' },
        variants: [
          {
            id: 'search',
            name: 'OneStop rate search',
            role: 'reference',
            description: 'steps of rising rate; stops at the first failing step',
            run: async ({ deadline }) => {
              let maxRate = 0;
              let last: PacedResult | undefined;
              const steps: string[] = [];
              let events = 0;
              let durationMs = 0;
              const all: number[] = [];
              for (const rate of e2e.searchRates) {
                if (Date.now() + e2e.searchStepMs + 12_000 > deadline) {
                  steps.push(`stopped before ${rate}/s: deadline`);
                  break;
                }
                const r = await paced(address, token, rate, e2e.searchStepMs, visibility, 10_000);
                last = r;
                events += r.e2e.length;
                durationMs += r.durationMs;
                for (const x of r.e2e) all.push(x);
                const p99 = fmt(r.e2e, 0.99);
                const achieved = (r.ok * 1000) / Math.max(1, r.durationMs);
                const pass =
                  r.errors === 0 &&
                  r.notVisible === 0 &&
                  achieved >= 0.95 * rate &&
                  p99 < e2e.searchP99Ms;
                steps.push(
                  `${rate}/s: achieved ${achieved.toFixed(0)}/s, p50 ${fmt(r.e2e, 0.5)} ms, p99 ${p99} ms${r.errors ? `, ${r.errors} errors` : ''}${r.notVisible ? `, ${r.notVisible} not visible` : ''} → ${pass ? 'pass' : 'fail'}`,
                );
                ctx.log(`  e2e search ${steps.at(-1)}`);
                if (!pass) break;
                maxRate = rate;
                await sleep(1000);
              }
              const tried = steps.filter((x) => !x.startsWith('stopped')).length;
              notes.push(
                tried === 0
                  ? 'The rate search did not run: no time was left before the deadline.'
                  : maxRate > 0
                    ? `Highest command rate with end-to-end p99 under ${e2e.searchP99Ms} ms: **${maxRate} commands/s**. Steps: ${steps.join('; ')}.`
                    : `No rate tried kept the end-to-end p99 under ${e2e.searchP99Ms} ms. Steps: ${steps.join('; ')}.`,
              );
              return {
                events,
                durationMs,
                latenciesMs: all,
                extra: { maxRate, offeredRate: last?.offeredRate ?? 0 },
              };
            },
          },
        ],
      },
    ];
    return {
      info,
      notes,
      cases,
      async teardown() {
        await visibility.stop();
        await stopService(child);
        await pool.end();
        rmSync(dataDir, { recursive: true, force: true });
        const kafka = benchKafka(ctx.kafka!.brokers);
        const admin = kafka.admin();
        await admin.connect();
        const prefix = env.BENCH_TOPIC_PREFIX!;
        await admin
          .deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(prefix)) })
          .catch(() => undefined);
        await admin.disconnect();
      },
    };
  },
};
