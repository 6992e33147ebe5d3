// 3c. Rebuild of the read models from 1,000,000 events of the store: time,
// events/s and peak RSS of the rebuilding process, beside a raw read of the
// same rows (the floor: reading alone).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PgDriver, SqlEventStore } from '@onestop/eventstore';
import pg from 'pg';
import { bulkLoad } from '../fixtures.js';
import { childExecArgv } from '../env.js';
import type { Benchmark, RoundResult } from '../harness.js';
import type { RebuildWorkerMessage } from '../workers/rebuild-worker.js';

const WORKER = fileURLToPath(new URL('../workers/rebuild-worker.ts', import.meta.url));
const COLUMNS = `global_position, stream_id, stream_position, event_id, event_type, schema_version, data, metadata, prev_hash, hash`;

/** Runs the rebuild in a child process (node + tsx, as `npm run bench` runs) until done or the deadline. */
function rebuildInChild(
  url: string,
  deadline: number,
  log: (m: string) => void,
): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [], {
      execArgv: childExecArgv(),
      env: { ...process.env, BENCH_DATABASE_URL: url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let progress = 0;
    let settled = false;
    const timer = setTimeout(
      () => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(
          new Error(
            `rebuild not finished by the deadline (${progress.toLocaleString('en-US')} events applied)`,
          ),
        );
      },
      Math.max(30_000, deadline - Date.now()),
    );
    child.on('message', (m: RebuildWorkerMessage) => {
      if (m.kind === 'progress') {
        progress = m.events;
        log(
          `  rebuild: ${m.phase} ${m.events.toLocaleString('en-US')} / ${m.headPosition.toLocaleString('en-US')}`,
        );
      } else if (m.kind === 'done' && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({
          events: m.events,
          durationMs: m.durationMs,
          extra: {
            peakRssBytes: m.peakRssBytes,
            rssBeforeBytes: m.rssBeforeBytes,
            skipped: m.skipped,
          },
        });
      } else if (m.kind === 'error' && !settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`rebuild failed: ${m.message}`));
      }
    });
    child.on('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`rebuild worker exited with ${code} before reporting`));
    });
  });
}

export const rebuildBenchmark: Benchmark = {
  id: 'rebuild',
  title: 'Rebuild of the read models from the store',
  method: [
    'The store holds N realistic events (1,000,000 at the full scale; bulk-loaded as `append()` writes them). One round (a rebuild of a million events is long enough to average itself).',
    '',
    "- **OneStop**: `Projections.rebuild()` of the projections service — a shadow schema filled from the global log page by page (2,000 per page, the next page read while one is applied; the catalog validation and upcasting of the bus; `ReadModels.applyWith()`), the catch-up, and the atomic swap — in a **child process of its own**, so that its peak RSS (the kernel's high-water mark, `process.resourceUsage().maxRSS`, and 50 ms samples of `rss`) is the rebuild's alone. Time and events/s are the service's own report (`RebuildReport.durationMs`).",
    '- **raw keyset SELECT**: the same rows read in pages of 2,000 through `pg` and thrown away: the floor of reading them.',
  ].join('\n'),
  budget: (scale) => ({ plannedMs: 60_000 + scale.rebuild.events * 0.3, minMs: 60_000 }),
  async prepare(ctx) {
    const total = ctx.scale.rebuild.events;
    const db = await ctx.database('rebuild');
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    const store = new SqlEventStore(new PgDriver(pool));
    await store.migrate();
    const t0 = Date.now();
    let last = 0;
    const head = await bulkLoad(pool, total, (done) => {
      if (done - last >= 200_000) {
        last = done;
        ctx.log(
          `  rebuild: loading ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`,
        );
      }
    });
    const loadS = (Date.now() - t0) / 1000;
    const size = await pool.query<{ bytes: string }>(
      `SELECT pg_total_relation_size('eventstore.events') AS bytes`,
    );
    ctx.log(`  rebuild: ${head} events loaded in ${loadS.toFixed(1)} s`);
    return {
      info: {
        events: head,
        'table size': `${Math.round(Number(size.rows[0]?.bytes ?? 0) / 2 ** 20)} MiB`,
        'fixture load time': `${loadS.toFixed(0)} s`,
        database: db.name,
      },
      cases: [
        {
          id: 'rebuild',
          title: `rebuild of ${head.toLocaleString('en-US')} events`,
          rounds: 1,
          warmupRounds: 0,
          extraColumns: { peakRssBytes: 'peak RSS', rssBeforeBytes: 'RSS before' },
          aggregate: { peakRssBytes: 'max', rssBeforeBytes: 'max' },
          variants: [
            {
              id: 'onestop',
              name: 'OneStop rebuild',
              role: 'subject',
              description: 'Projections.rebuild() in a child process',
              run: ({ deadline }) => rebuildInChild(db.url, deadline, ctx.log),
            },
            {
              id: 'raw',
              name: 'raw keyset SELECT',
              role: 'baseline',
              description: 'pg: the same rows in pages of 2,000',
              run: async () => {
                const t = performance.now();
                let n = 0;
                for (let after = 0; ;) {
                  const { rows } = await pool.query<{ global_position: string }>({
                    name: 'raw_rebuild_page',
                    text: `SELECT ${COLUMNS} FROM eventstore.events WHERE global_position > $1 ORDER BY global_position LIMIT 2000`,
                    values: [after],
                  });
                  if (rows.length === 0) break;
                  n += rows.length;
                  after = Number(rows[rows.length - 1]!.global_position);
                }
                return { events: n, durationMs: performance.now() - t };
              },
            },
          ],
        },
      ],
      async teardown() {
        await store.close();
        await pool.end();
      },
    };
  },
};
