// Appends of several checkouts of OneStop compared in one process: the same
// machine, the same moment, rounds rotated, so a change to the append path
// (schema.sql, sql-store.ts) is measured before and after even on a busy
// machine, where two separate `npm run bench` runs minutes apart differ by
// more than the change.
//
//   AB_CHECKOUTS=/path/before,/path/after npm run -w @onestop/bench ab-append
//   (each checkout with its own node_modules: git worktree add + npm ci)
//   AB_WRITERS (8), AB_BATCH (1), AB_ROUNDS (40), AB_ROUND_MS (500)
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { usePostgres } from './env.js';
import { appendEnvelope } from './fixtures.js';

interface Store {
  append(stream: string, events: unknown[], expected: number | 'no_stream'): Promise<{ nextExpectedRevision: number }>;
  migrate(): Promise<unknown>;
}
interface Subject {
  name: string;
  db: TestDatabase;
  pool: pg.Pool;
  store: Store;
  rates: number[];
}

const checkouts = (process.env.AB_CHECKOUTS ?? '').split(',').filter(Boolean);
if (checkouts.length < 2) throw new Error('AB_CHECKOUTS: at least two checkouts, comma-separated (the first is the baseline)');
const writers = Number(process.env.AB_WRITERS ?? 8);
const batch = Number(process.env.AB_BATCH ?? 1);
const rounds = Number(process.env.AB_ROUNDS ?? 40);
const roundMs = Number(process.env.AB_ROUND_MS ?? 500);

const pgServer = await usePostgres();
const subjects: Subject[] = [];
for (const dir of checkouts) {
  const mod = (await import(pathToFileURL(resolve(dir, 'packages/eventstore/src/index.ts')).href)) as {
    SqlEventStore: new (driver: unknown) => Store;
    PgDriver: new (pool: pg.Pool) => unknown;
  };
  const db = await createTestDatabase('ab');
  const pool = new pg.Pool({ connectionString: db.url, max: writers + 2 });
  pool.on('error', () => undefined);
  const store = new mod.SqlEventStore(new mod.PgDriver(pool));
  await store.migrate();
  await Promise.all(Array.from({ length: writers }, () => pool.query('SELECT 1')));
  subjects.push({ name: dir, db, pool, store, rates: [] });
}

/** events/s of `writers` closed loops, each on a new stream of its own, for roundMs */
async function round(s: Subject): Promise<number> {
  let events = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const personId = randomUUID();
      const streamId = `person-${personId}`;
      let revision = -1;
      while (performance.now() - t0 < roundMs) {
        const batchEvents = Array.from({ length: batch }, () => appendEnvelope(streamId, personId));
        revision = (await s.store.append(streamId, batchEvents, revision < 0 ? 'no_stream' : revision)).nextExpectedRevision;
        events += batch;
      }
    }),
  );
  return events / ((performance.now() - t0) / 1000);
}

for (let w = 0; w < 2; w++) for (const s of subjects) await round(s);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < subjects.length; i++) {
    const s = subjects[(i + r) % subjects.length]!;
    s.rates.push(await round(s));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = subjects[0]!;
console.log(`${writers} writers, ${batch}-event appends, ${rounds} rounds of ${roundMs} ms, order rotated each round`);
console.log('| checkout | events/s (median) | vs the first (median of per-round ratios) | per-round range |');
console.log('| --- | ---: | ---: | ---: |');
for (const s of subjects) {
  const ratios = s.rates.map((x, i) => x / base.rates[i]!);
  console.log(`| ${s.name} | ${median(s.rates).toFixed(0)} | **${median(ratios).toFixed(3)}×** | ${Math.min(...ratios).toFixed(2)}×–${Math.max(...ratios).toFixed(2)}× |`);
}
for (const s of subjects) {
  await s.pool.end();
  await s.db.drop();
}
await pgServer.stop?.();
