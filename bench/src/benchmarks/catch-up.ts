// 2. Catch-up read of the global log, beside raw SELECTs streaming the same rows.
import { PgDriver, SqlEventStore } from '@onestop/eventstore';
import pg from 'pg';
import { bulkLoad } from '../fixtures.js';
import type { Benchmark, RoundResult } from '../harness.js';

const COLUMNS = `global_position, stream_id, stream_position, event_id, event_type, schema_version, data, metadata, prev_hash, hash`;
const PAGE = 500;

export const catchUpBenchmark: Benchmark = {
  id: 'catch-up',
  title: 'Catch-up read of the global log',
  method: [
    'The store holds N realistic events (cases of persons, assessments, referrals and audit reads, bulk-loaded row for row as `append()` writes them, hash chains included). Each round reads all of them from position 0, in pages of 500.',
    '',
    '- **OneStop**: `store.subscribeToAll({ from: 0, handle })` until `reached(head)`: the catch-up subscription (gap-safe pages: `transaction_id < pg_snapshot_xmin(pg_current_snapshot())`, rows mapped to `RawRecordedEvent` with hex hashes) handing each page to a handler that counts.',
    '- **raw keyset SELECT**: `SELECT <same columns> … WHERE global_position > $1 ORDER BY global_position LIMIT 500` in a loop through `pg`, rows as `pg` returns them (jsonb parsed, no mapping).',
    '- **raw cursor**: one transaction, `DECLARE … CURSOR FOR SELECT <same columns> … ORDER BY global_position`, `FETCH 500` until empty: the rows streamed by the server.',
  ].join('\n'),
  budget: (scale) => ({ plannedMs: 20_000 + scale.catchUp.events * 0.4, minMs: 8_000 }),
  async prepare(ctx) {
    const total = ctx.scale.catchUp.events;
    const db = await ctx.database('catchup');
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    const store = new SqlEventStore(new PgDriver(pool));
    await store.migrate();
    const loadStarted = Date.now();
    const head = await bulkLoad(pool, total);
    ctx.log(
      `  catch-up: loaded ${head} events in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s`,
    );
    const size = await pool.query<{ bytes: string }>(
      `SELECT pg_total_relation_size('eventstore.events') AS bytes`,
    );

    const timed = async (read: () => Promise<number>): Promise<RoundResult> => {
      const t0 = performance.now();
      const events = await read();
      const durationMs = performance.now() - t0;
      if (events !== head) throw new Error(`read ${events} events, expected ${head}`);
      return { events, durationMs };
    };

    return {
      info: {
        events: head,
        'table size': `${Math.round(Number(size.rows[0]?.bytes ?? 0) / 2 ** 20)} MiB`,
        'page size': PAGE,
        database: db.name,
      },
      cases: [
        {
          id: 'global-log',
          title: `catch-up read of ${head.toLocaleString('en-US')} events`,
          variants: [
            {
              id: 'onestop',
              name: 'OneStop',
              role: 'subject',
              description: 'store.subscribeToAll catch-up, 500 per page',
              run: () =>
                timed(async () => {
                  let n = 0;
                  const sub = store.subscribeToAll({
                    from: 0,
                    batchSize: PAGE,
                    handle: async (events) => {
                      n += events.length;
                    },
                  });
                  await sub.reached(head, 600_000);
                  await sub.stop();
                  return n;
                }),
            },
            {
              id: 'raw',
              name: 'raw keyset SELECT',
              role: 'baseline',
              description: 'pg: WHERE global_position > $1 ORDER BY … LIMIT 500',
              run: () =>
                timed(async () => {
                  let n = 0;
                  let after = 0;
                  for (;;) {
                    const { rows } = await pool.query<{ global_position: string }>({
                      name: 'raw_page',
                      text: `SELECT ${COLUMNS} FROM eventstore.events WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
                      values: [after, PAGE],
                    });
                    if (rows.length === 0) return n;
                    n += rows.length;
                    after = Number(rows[rows.length - 1]!.global_position);
                  }
                }),
            },
            {
              id: 'cursor',
              name: 'raw cursor',
              role: 'baseline',
              description: 'pg: DECLARE CURSOR … ORDER BY global_position; FETCH 500',
              run: () =>
                timed(async () => {
                  const client = await pool.connect();
                  try {
                    await client.query('BEGIN');
                    await client.query(
                      `DECLARE bench_log NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM eventstore.events ORDER BY global_position`,
                    );
                    let n = 0;
                    for (;;) {
                      const { rows } = await client.query(`FETCH ${PAGE} FROM bench_log`);
                      if (rows.length === 0) break;
                      n += rows.length;
                    }
                    await client.query('COMMIT');
                    return n;
                  } finally {
                    client.release();
                  }
                }),
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
