import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import { issueToken, type Principal } from '@onestop/kit';
import { createTestDatabase, eventually, kafkaControl, REPO_ROOT, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';

// The production topology in a test: N real processes of each service (intake,
// assessment, referral, projections), each `node … service-main.ts` (the
// service's main.ts with a Kafka namespace of the test's own), on one fresh
// PostgreSQL database and the test Kafka broker, sharing one set of secrets.
// Base URLs go round-robin over the live replicas; any process can be killed
// (SIGKILL) and started again on its port; every process writes its stdout and
// stderr to a file of its own; close() leaves nothing behind.

export const SERVICES = ['intake', 'assessment', 'referral', 'projections'] as const;
export type ServiceName = (typeof SERVICES)[number];

const ENTRY = join(REPO_ROOT, 'services', 'platform', 'test', 'service-main.ts');
/** `ONESTOP_TOPOLOGY_ENTRY=main` runs services/<svc>/src/main.ts itself: real topic and group names, no test namespace. */
const REAL_MAIN = process.env.ONESTOP_TOPOLOGY_ENTRY === 'main';

/** One process of a service. */
export interface Proc {
  service: ServiceName;
  index: number;
  /** e.g. referral-2 */
  name: string;
  port: number;
  url: string;
  logFile: string;
  child: ChildProcess | undefined;
  /** how many times it was started */
  starts: number;
  /** extra environment of its current run */
  env: Record<string, string>;
}

export interface TopologyOptions {
  label: string;
  /** processes per service (default 3 each) */
  replicas?: Partial<Record<ServiceName, number>>;
  /** environment of every process (after the defaults) */
  env?: Record<string, string>;
  /** broker to use (default: testKafkaBrokers()) */
  brokers?: string[];
  /**
   * Run on a test broker of its own (infra/kafka on this port and its own data
   * directory), started here and stopped by close(): other test runs stop the
   * shared one when they end. Ignored when KAFKA_BROKERS names a cluster.
   */
  ownKafkaPort?: string;
  /** how long all processes may take to answer /ready (default 180 s) */
  readyTimeoutMs?: number;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs `fn` over `items` with at most `limit` at once; results in order. */
export async function bounded<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Resolves when `check` has passed on every try for `ms` (a property that must stay true), else rethrows its failure. */
export async function holdsFor(check: () => Promise<void>, ms: number, intervalMs = 250): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    await check();
    if (Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A valid Italian fiscal code (born 1985-12-10 in Pistoia, male) made from a
 * number: distinct numbers below 20^6, distinct codes. Its surname and name
 * letters are consonants only, so `namesOf` can give names that match them.
 */
export function fiscalCodeOf(n: number): string {
  const L = 'BCDFGHJKLMNPQRSTVWXZ';
  let x = n;
  let letters = '';
  for (let i = 0; i < 6; i++) {
    letters += L[x % L.length];
    x = Math.floor(x / L.length);
  }
  const first15 = `${letters}85T10G713`;
  const odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    const ch = first15.charAt(i);
    const v = /[0-9]/.test(ch) ? ch.charCodeAt(0) - 48 : ch.charCodeAt(0) - 65;
    sum += i % 2 === 0 ? odd[v]! : v;
  }
  return first15 + String.fromCharCode(65 + (sum % 26));
}

/**
 * Names whose letters are those of a `fiscalCodeOf` code, as registration
 * checks them: three consonants each, so the surname's are its first three and
 * the name's are all it has ("BCD" → "Bacada").
 */
export function namesOf(fiscalCode: string): { givenName: string; familyName: string } {
  const name = (c: string) => `${c[0]}a${c[1]!.toLowerCase()}a${c[2]!.toLowerCase()}a`;
  return { familyName: name(fiscalCode.slice(0, 3)), givenName: name(fiscalCode.slice(3, 6)) };
}
/** The birth date every fiscalCodeOf(n) encodes. */
export const FISCAL_BIRTH_DATE = '1985-12-10';

export interface HttpResult {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** problem+json `code` when the response is an error */
  code?: string;
}

export type Topology = Awaited<ReturnType<typeof startTopology>>;

/** Starts the topology; call close() in afterAll (it also runs when the test process exits). */
export async function startTopology(o: TopologyOptions) {
  const replicas: Record<ServiceName, number> = { intake: 3, assessment: 3, referral: 3, projections: 3, ...o.replicas };
  const ownBroker = !o.brokers && o.ownKafkaPort !== undefined && !process.env.KAFKA_BROKERS;
  const previousPort = process.env.ONESTOP_TEST_KAFKA_PORT;
  if (ownBroker) process.env.ONESTOP_TEST_KAFKA_PORT = o.ownKafkaPort;
  const brokers = o.brokers ?? (await testKafkaBrokers());
  const run = randomBytes(4).toString('hex');
  const prefix = REAL_MAIN ? '' : `t.topo.${o.label}.${run}.`;
  const logDir = join(tmpdir(), 'onestop-topology', `${o.label}-${new Date().toISOString().replace(/[:.]/g, '-')}-${run}`);
  mkdirSync(logDir, { recursive: true });
  const db: TestDatabase = await createTestDatabase(`topo${o.label}`);
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pool.on('error', () => undefined);
  const kafka = new Kafka({ clientId: `topology-${o.label}`, brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });

  const secrets = {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ONESTOP_MASTER_KEYS: `topo-1:${randomBytes(32).toString('base64')}`,
    ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'),
    ONESTOP_AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
  };
  const baseEnv: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TOPOLOGY_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    ONESTOP_DATA_DIR: join(logDir, 'data'),
    ONESTOP_STORE: 'postgres',
    DATABASE_URL: db.url,
    // 4 services × 3 processes on a server of 100 connections, shared with other tests
    DATABASE_POOL_SIZE: '3',
    ONESTOP_BUS: 'kafka',
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_PARTITIONS: '6',
    RATE_LIMIT_PER_MINUTE: '100000000',
    ...secrets,
    ...(REAL_MAIN ? {} : { ONESTOP_TEST_KAFKA_PREFIX: prefix }),
    ...o.env,
  };

  const procs: Proc[] = [];
  for (const service of SERVICES) {
    for (let index = 1; index <= replicas[service]; index++) {
      const port = await freePort();
      procs.push({ service, index, name: `${service}-${index}`, port, url: `http://127.0.0.1:${port}`, logFile: join(logDir, `${service}-${index}.log`), child: undefined, starts: 0, env: {} });
    }
  }
  let closed = false;
  const killAllNow = () => {
    for (const p of procs) if (p.child && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', killAllNow);

  const alive = (p: Proc) => Boolean(p.child && p.child.exitCode === null && p.child.signalCode === null);

  const spawnProc = (p: Proc, env: Record<string, string> = {}) => {
    if (alive(p)) throw new Error(`${p.name} is running`);
    p.env = env;
    p.starts += 1;
    const fd = openSync(p.logFile, 'a');
    const entry = REAL_MAIN ? join(REPO_ROOT, 'services', p.service, 'src', 'main.ts') : ENTRY;
    const child = spawn(process.execPath, ['--conditions=onestop-source', '--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        ...baseEnv,
        PORT: String(p.port),
        KAFKA_CLIENT_ID: `topo-${p.name}`,
        ONESTOP_TEST_SERVICE: p.service,
        ...env,
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    p.child = child;
  };

  const ready = async (p: Proc, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!alive(p)) throw new Error(`${p.name} exited (${p.child?.exitCode ?? p.child?.signalCode}) before it was ready; log ${p.logFile}:\n${tail(p.logFile)}`);
      try {
        const res = await fetch(`${p.url}/ready`, { signal: AbortSignal.timeout(5000) });
        if (res.status === 200) return;
        last = `${res.status} ${await res.text()}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`${p.name} was not ready within ${timeoutMs} ms (${last}); log ${p.logFile}:\n${tail(p.logFile)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  const rr: Record<ServiceName, number> = { intake: 0, assessment: 0, referral: 0, projections: 0 };

  const topology = {
    db,
    pool,
    kafka,
    brokers,
    prefix,
    logDir,
    secrets,
    procs,
    /** The processes of one service. */
    of: (service: ServiceName) => procs.filter((p) => p.service === service),
    alive,
    /** The next live replica of a service, round-robin. */
    url(service: ServiceName): string {
      const list = procs.filter((p) => p.service === service);
      for (let i = 0; i < list.length; i++) {
        const p = list[rr[service]++ % list.length]!;
        if (alive(p)) return p.url;
      }
      return list[rr[service]++ % list.length]!.url;
    },
    /** An HS256 token with the shared JWT_SECRET. */
    token: (p: Principal) => issueToken(secrets.JWT_SECRET, p, { expiresIn: '2h' }),
    /** One HTTP call to a replica of `service` (JSON body, problem code extracted). Network errors reject. */
    async http(service: ServiceName | string, method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<HttpResult> {
      const base = (SERVICES as readonly string[]).includes(service) ? topology.url(service as ServiceName) : service;
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      const code = res.status >= 400 && parsed && typeof parsed === 'object' ? ((parsed as { code?: string }).code ?? undefined) : undefined;
      return { status: res.status, body: parsed, ...(code ? { code } : {}) };
    },
    /** Starts every process not running, in parallel, and waits for their /ready. */
    async startAll(timeoutMs = o.readyTimeoutMs ?? 180_000): Promise<void> {
      const todo = procs.filter((p) => !alive(p));
      for (const p of todo) spawnProc(p, p.env);
      await Promise.all(todo.map((p) => ready(p, timeoutMs)));
    },
    /** SIGKILL, no goodbye: the broker and PostgreSQL find out by themselves. */
    async kill(p: Proc): Promise<void> {
      if (!alive(p)) return;
      const exited = new Promise((r) => p.child!.once('exit', r));
      p.child!.kill('SIGKILL');
      await exited;
    },
    /** SIGTERM (graceful shutdown), SIGKILL after `graceMs`. */
    async stop(p: Proc, graceMs = 20_000): Promise<void> {
      if (!alive(p)) return;
      const exited = new Promise((r) => p.child!.once('exit', r));
      p.child!.kill('SIGTERM');
      const timer = setTimeout(() => alive(p) && p.child!.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    /** Starts a stopped process again on its port (optionally with other extra env) and waits for /ready. */
    async restart(p: Proc, env?: Record<string, string>, timeoutMs = 120_000): Promise<void> {
      if (alive(p)) await topology.kill(p);
      spawnProc(p, env ?? p.env);
      await ready(p, timeoutMs);
    },
    async stopAll(): Promise<void> {
      await Promise.all(procs.map((p) => topology.stop(p)));
    },
    async sql<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
      return (await pool.query(text, params)).rows as R[];
    },
    /** Consumer groups of this run (the test namespace's). */
    async groups(): Promise<string[]> {
      return withAdmin(kafka, async (admin) => (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix) && (prefix || !g.startsWith('reader-'))).sort());
    },
    /** Topics of this run. */
    async topics(): Promise<string[]> {
      return withAdmin(kafka, async (admin) => (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort());
    },
    /**
     * Lag of every group of this run: for each group, the topics its members
     * subscribe to and those it committed offsets on; lag = end − committed
     * (nothing committed on a partition with messages counts it all).
     */
    async lag(): Promise<Record<string, { members: number; state: string; lag: number; topics: string[] }>> {
      const groups = await topology.groups();
      return withAdmin(kafka, async (admin) => {
        const out: Record<string, { members: number; state: string; lag: number; topics: string[] }> = {};
        const { groups: described } = await admin.describeGroups(groups);
        for (const g of described) {
          const topics = new Set<string>();
          for (const m of g.members) {
            try {
              for (const t of AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? []) topics.add(t);
            } catch {
              /* another protocol's metadata */
            }
          }
          for (const t of await admin.fetchOffsets({ groupId: g.groupId })) topics.add(t.topic);
          let lag = 0;
          const list = [...topics].sort();
          if (list.length) {
            const committed = await admin.fetchOffsets({ groupId: g.groupId, topics: list });
            for (const t of committed) {
              const ends = await admin.fetchTopicOffsets(t.topic);
              for (const e of ends) {
                const c = Number(t.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
                const from = c >= 0 ? c : Number(e.low);
                lag += Math.max(0, Number(e.high) - from);
              }
            }
          }
          out[g.groupId] = { members: g.members.length, state: g.state, lag, topics: list };
        }
        return out;
      });
    },
    /** Global position of the last stored event and the relay's checkpoint. */
    async relayState(): Promise<{ head: number; relayed: number }> {
      const [r] = await topology.sql<{ head: string; relayed: string | null }>(
        `SELECT (SELECT coalesce(max(global_position), 0) FROM eventstore.events) AS head,
                (SELECT position FROM eventstore.checkpoints WHERE name = 'relay:kafka') AS relayed`,
      );
      return { head: Number(r!.head), relayed: Number(r!.relayed ?? 0) };
    },
    /**
     * Quiescence: the relay has published the whole log, and every consumer
     * group of this run has members and lag 0 (at least `minGroups` of them).
     */
    async quiescent(timeoutMs = 180_000, minGroups = 1): Promise<Record<string, { members: number; state: string; lag: number; topics: string[] }>> {
      return eventually(async () => {
        const relay = await topology.relayState();
        if (relay.relayed < relay.head) throw new Error(`relay at ${relay.relayed}, head ${relay.head}`);
        const lag = await topology.lag();
        const behind = Object.entries(lag).filter(([, g]) => g.lag > 0 || g.members === 0);
        if (Object.keys(lag).length < minGroups) throw new Error(`only ${Object.keys(lag).length} consumer groups`);
        if (behind.length) throw new Error(`groups not caught up: ${JSON.stringify(Object.fromEntries(behind))}`);
        return lag;
      }, timeoutMs, 500);
    },
    /**
     * Every row of every table outside eventstore, kit and the catalogs, each
     * table's rows as sorted JSON lines: the read models and the services' views.
     */
    async dumpViews(options: { schemas?: string[]; exclude?: string[] } = {}): Promise<Record<string, string[]>> {
      const tables = await topology.sql<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('eventstore', 'kit', 'pg_catalog', 'information_schema')
          ORDER BY 1, 2`,
      );
      const out: Record<string, string[]> = {};
      for (const { s, t } of tables) {
        if (options.schemas && !options.schemas.includes(s)) continue;
        if (options.exclude?.includes(`${s}.${t}`) || options.exclude?.includes(s)) continue;
        const rows = await topology.sql(`SELECT * FROM "${s}"."${t}"`);
        out[`${s}.${t}`] = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).sort();
      }
      return out;
    },
    /** The last lines of a process's log. */
    tail: (p: Proc, lines = 60) => tail(p.logFile, lines),
    /** Stops everything (SIGTERM, then SIGKILL), deletes this run's topics and groups, drops the database. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all(procs.map((p) => topology.stop(p, 10_000).catch(() => undefined)));
      killAllNow();
      process.removeListener('exit', killAllNow);
      if (prefix) {
        await withAdmin(kafka, async (admin) => {
          const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
          if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
          const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
          if (topics.length) await admin.deleteTopics({ topics }).catch(() => undefined);
        }).catch((e) => console.warn(`topology ${o.label}: cleaning the Kafka namespace failed: ${(e as Error).message}`));
      }
      await pool.end().catch(() => undefined);
      if (ownBroker) {
        await kafkaControl('stop').catch((e) => console.warn(`topology ${o.label}: stopping its broker failed: ${(e as Error).message}`));
        if (previousPort === undefined) delete process.env.ONESTOP_TEST_KAFKA_PORT;
        else process.env.ONESTOP_TEST_KAFKA_PORT = previousPort;
      }
      if (process.env.ONESTOP_TOPOLOGY_KEEP_DB) console.warn(`topology ${o.label}: database kept: ${db.url}`);
      else await db.drop().catch((e) => console.warn(`topology ${o.label}: dropping the database failed: ${(e as Error).message}`));
    },
  };

  console.log(`topology ${o.label}: ${procs.length} processes, logs in ${logDir}, database ${db.name}, Kafka ${brokers.join(',')} namespace '${prefix}'`);
  try {
    const t0 = Date.now();
    await topology.startAll();
    console.log(`topology ${o.label}: all ${procs.length} processes ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    await topology.close();
    throw e;
  }
  return topology;
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function tail(file: string, lines = 60): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Counts of stored events by type, for the given stream prefix (e.g. 'referral-'). */
export async function eventCounts(t: Topology, streamPrefix = ''): Promise<Record<string, number>> {
  const rows = await t.sql<{ type: string; n: string }>(
    `SELECT event_type AS type, count(*) AS n FROM eventstore.events WHERE stream_id LIKE $1 GROUP BY 1 ORDER BY 1`,
    [`${streamPrefix}%`],
  );
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

// ── Commands over HTTP, as a careful client sends them ──────────────────────

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CommandResult extends HttpResult {
  key: string;
  attempts: number;
}

/** An answer that says nothing about the command: ask again with the same key. */
export const unanswered = (r: HttpResult): boolean => r.status >= 500 || r.status === 429 || (r.status === 409 && r.code === 'idempotency_key_in_use');

/**
 * A command with an Idempotency-Key, sent again with the same key (to any
 * replica) while it gets no answer: a network error, a timeout, a 5xx, a 429,
 * or the 409 of a key still in flight (a request cut off by a crash holds its
 * key for a minute). Resolves with the first real answer; rejects at the deadline.
 */
export async function command(
  t: Topology,
  service: ServiceName,
  method: string,
  path: string,
  token: string,
  body: unknown,
  o: { key?: string; deadlineMs?: number; requestTimeoutMs?: number } = {},
): Promise<CommandResult> {
  const key = o.key ?? randomBytes(12).toString('hex');
  const deadline = Date.now() + (o.deadlineMs ?? 150_000);
  let last = '';
  for (let attempts = 1; ; attempts++) {
    try {
      const r = await t.http(service, method, path, token, body, { 'idempotency-key': key }, o.requestTimeoutMs ?? 20_000);
      if (!unanswered(r)) return { ...r, key, attempts };
      last = `${r.status} ${r.code ?? ''}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${method} ${path} got no answer within the deadline (${attempts} attempts; last: ${last})`);
    await sleep(Math.min(3000, 200 * 1.5 ** Math.min(attempts, 10)));
  }
}

/**
 * A command whose preconditions reach the service over the bus (a consent,
 * a completed assessment): while it is refused with `notYet`, it is sent again
 * with a fresh key (the refusal is stored under the old one).
 */
export async function commandWhenKnown(
  t: Topology,
  service: ServiceName,
  method: string,
  path: string,
  token: string,
  body: unknown,
  notYet: (r: HttpResult) => boolean,
  o: { deadlineMs?: number } = {},
): Promise<CommandResult> {
  const deadline = Date.now() + (o.deadlineMs ?? 150_000);
  for (;;) {
    const r = await command(t, service, method, path, token, body, { deadlineMs: Math.max(1000, deadline - Date.now()) });
    if (!notYet(r) || Date.now() > deadline) return r;
    await sleep(300);
  }
}

/** The two members of every assessment team here (tokens `sw` and `eo`). */
export const TEAM = [
  { memberId: 'sw-1', role: 'social_worker' },
  { memberId: 'eo-1', role: 'employment_operator' },
] as const;

/** Tokens of every role, with the shared secret. */
export async function roleTokens(t: Topology, partners: readonly string[] = []) {
  const partner: Record<string, string> = {};
  for (const id of partners) partner[id] = await t.token({ sub: `${id}-desk`, role: 'partner', partnerId: id });
  return {
    operator: await t.token({ sub: 'op-1', role: 'operator' }),
    sw: await t.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' }),
    eo: await t.token({ sub: 'eo-1', role: 'team', teamRole: 'employment_operator' }),
    admin: await t.token({ sub: 'admin-1', role: 'admin' }),
    auditor: await t.token({ sub: 'aud-1', role: 'auditor' }),
    partner,
  };
}
export type RoleTokens = Awaited<ReturnType<typeof roleTokens>>;

/** Fails with the response when it is not what was expected. */
export function expectStatus(r: HttpResult, ok: (s: number) => boolean, what: string): HttpResult {
  if (!ok(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}
const is2xx = (s: number) => s >= 200 && s < 300;

/** Needs known over the bus: 404 (not heard of yet) and the consent / assessment rules. */
const NOT_YET = new Set(['not_found', 'assessment_consent_missing', 'referral_consent_missing', 'assessment_not_completed']);
export const notYetKnown = (r: HttpResult): boolean => r.status === 404 || (r.code !== undefined && NOT_YET.has(r.code));

/** Need levels of every assessment here: housing 2 and economic 1, no priority domain (no goals needed). */
export const LEVELS = { economic: 1, employment: 0, education: 0, housing: 2, social_network: 0, health_care: 0, training: 0 } as const;

/** A partner of the agreement, through the referral API. */
export async function partnerInAgreement(
  t: Topology,
  tk: RoleTokens,
  partnerId: string,
  services: Array<{ serviceId: string; domain: string; capacity: number }>,
  responseDays = 1,
): Promise<void> {
  expectStatus(
    await command(t, 'referral', 'POST', '/partners', tk.admin, { partnerId, name: partnerId, sector: 'third_sector', services: services.map((s) => ({ ...s, name: s.serviceId })) }),
    is2xx,
    `partner ${partnerId}`,
  );
  expectStatus(await command(t, 'referral', 'POST', `/partners/${partnerId}/agreements`, tk.admin, { responseDays }), is2xx, `agreement of ${partnerId}`);
}

/** A registered person, with the consents given, over the intake API. */
export async function registeredPerson(t: Topology, tk: RoleTokens, o: { fiscalCode?: string; familyName?: string } = {}): Promise<string> {
  const reg = expectStatus(
    await command(t, 'intake', 'POST', '/persons', tk.operator, {
      accessPoint: 'pistoia-centro',
      municipality: 'Pistoia',
      givenName: 'Rosa',
      familyName: o.familyName ?? `Esposito ${randomBytes(4).toString('hex')}`,
      birthDate: FISCAL_BIRTH_DATE,
      ...(o.fiscalCode ? { fiscalCode: o.fiscalCode } : {}),
    }),
    (s) => s === 201,
    'registration',
  );
  const personId = reg.body.personId as string;
  for (const scope of ['assessment', 'referral_sharing']) {
    expectStatus(await command(t, 'intake', 'POST', `/persons/${personId}/consents`, tk.operator, { scope, legalBasis: 'explicit_consent' }), is2xx, `consent ${scope}`);
  }
  return personId;
}

/** Starts, evaluates and completes an assessment of a person (consent reaches assessment over the bus). */
export async function completedAssessment(t: Topology, tk: RoleTokens, personId: string): Promise<string> {
  const started = expectStatus(
    await commandWhenKnown(t, 'assessment', 'POST', '/assessments', tk.sw, { personId, team: TEAM }, notYetKnown),
    (s) => s === 201,
    'assessment start',
  );
  const assessmentId = started.body.assessmentId as string;
  for (const [domain, needLevel] of Object.entries(LEVELS)) {
    expectStatus(await command(t, 'assessment', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, tk.sw, { needLevel }), is2xx, `domain ${domain}`);
  }
  expectStatus(await command(t, 'assessment', 'POST', `/assessments/${assessmentId}/completion`, tk.sw, { goals: [] }), is2xx, 'completion');
  return assessmentId;
}

/** A referral, once the referral service has heard of the consent and the completed assessment. */
export async function referral(
  t: Topology,
  tk: RoleTokens,
  c: { personId: string; assessmentId: string; partnerId: string; serviceId: string },
): Promise<CommandResult> {
  return commandWhenKnown(t, 'referral', 'POST', '/referrals', tk.sw, { ...c, reason: 'sostegno abitativo', priority: 'routine' }, notYetKnown);
}
