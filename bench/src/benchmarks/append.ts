// 1. Append: single-event appends from 1, 8 and 32 concurrent writers on
// distinct streams, and 100-event batch appends, beside plain INSERTs of the
// same payload (same number of transactions) and the Emmett PostgreSQL event
// store, all on one database and one connection pool.
import { randomUUID } from 'node:crypto';
import {
  getPostgreSQLEventStore,
  type PostgresEventStore,
} from '@event-driven-io/emmett-postgresql';
import { STREAM_DOES_NOT_EXIST } from '@event-driven-io/emmett';
import type { RawEnvelope } from '@onestop/events';
import { PgDriver, SqlEventStore, type ExpectedRevision } from '@onestop/eventstore';
import pg from 'pg';
import { appendEnvelope, metadataOf } from '../fixtures.js';
import type { Benchmark, CaseSpec, RoundResult, Variant } from '../harness.js';

export const RAW_TABLE = `
CREATE SCHEMA IF NOT EXISTS bench_raw;
CREATE TABLE IF NOT EXISTS bench_raw.events (
  global_position bigserial PRIMARY KEY,
  stream_id       text   NOT NULL,
  stream_position bigint NOT NULL,
  event_id        uuid   NOT NULL,
  event_type      text   NOT NULL,
  schema_version  int    NOT NULL,
  data            jsonb  NOT NULL,
  metadata        jsonb  NOT NULL,
  CONSTRAINT raw_stream_position_uq UNIQUE (stream_id, stream_position),
  CONSTRAINT raw_event_id_uq UNIQUE (event_id)
);`;

export function rawInsertSql(rows: number): string {
  const values = Array.from(
    { length: rows },
    (_, r) => `(${Array.from({ length: 7 }, (_, c) => `$${r * 7 + c + 1}`).join(', ')})`,
  );
  return `INSERT INTO bench_raw.events (stream_id, stream_position, event_id, event_type, schema_version, data, metadata) VALUES ${values.join(', ')}`;
}

/** A writer's stream and where it is. */
export interface Writer {
  personId: string;
  streamId: string;
  revision: number;
  emmettVersion: bigint | undefined;
}

export const newWriter = (): Writer => {
  const personId = randomUUID();
  return { personId, streamId: `person-${personId}`, revision: -1, emmettVersion: undefined };
};

/**
 * `writers` concurrent loops, each on its own stream, each doing `op` back to
 * back until `roundMs` has passed; latency per op, events per op = batch size.
 */
export async function closedLoop(
  writers: number,
  roundMs: number,
  batch: number,
  op: (w: Writer, events: RawEnvelope[]) => Promise<void>,
): Promise<RoundResult> {
  const latencies: number[] = [];
  let events = 0;
  const t0 = performance.now();
  const stopAt = t0 + roundMs;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const w = newWriter();
      while (performance.now() < stopAt) {
        const batchEvents = Array.from({ length: batch }, () =>
          appendEnvelope(w.streamId, w.personId),
        );
        const s = performance.now();
        await op(w, batchEvents);
        latencies.push(performance.now() - s);
        events += batch;
      }
    }),
  );
  return { events, durationMs: performance.now() - t0, latenciesMs: latencies };
}

export const appendBenchmark: Benchmark = {
  id: 'append',
  title: 'Append',
  method: [
    'Each writer appends to a stream of its own (a `person-…` stream, `ContactDetailsUpdated` events with a ~300-byte ciphertext, ~0.9 kB per stored row), back to back, expecting the revision it last wrote, for a fixed time per round; new streams every round. All three share one `pg.Pool` (as many connections as writers), so connection handling is the same. Latency is per append call as the writer sees it.',
    '',
    '- **OneStop**: `SqlEventStore.append()` on the PostgreSQL adapter (envelope validation, canonical JSON, the `eventstore.append` function: idempotency check, expected-revision check, advisory-locked position/xid assignment, SHA-256 chain, multi-row insert), one statement and one transaction per append.',
    '- **raw pg INSERT**: a plain `INSERT … VALUES` of the same columns and payload (data and the envelope metadata as jsonb) into a table with the same primary key and unique constraints (`(stream_id, stream_position)`, `event_id`), through `pg`, a named prepared statement, one statement and one transaction per append (multi-row `VALUES` for batches): the floor of storing the same rows.',
    '- **Emmett**: `getPostgreSQLEventStore(url).appendToStream(stream, events, { expectedStreamVersion })` of `@event-driven-io/emmett-postgresql` on the same database, events `{ type, data, metadata }` with the same data and metadata.',
  ].join('\n'),
  budget: (scale) => {
    const cases = scale.append.writers.length + 1;
    const per = cases * 3 * (scale.rounds + scale.warmupRounds) * (scale.append.roundMs + 150);
    return { plannedMs: per + 20_000, minMs: Math.min(per, 15_000) + 5_000 };
  },
  async prepare(ctx) {
    const { append } = ctx.scale;
    const db = await ctx.database('append');
    const maxWriters = Math.max(...append.writers, append.batchWriters);
    const pool = new pg.Pool({ connectionString: db.url, max: maxWriters + 2 });
    pool.on('error', () => undefined);
    const store = new SqlEventStore(new PgDriver(pool));
    await store.migrate();
    await pool.query(RAW_TABLE);
    const emmett: PostgresEventStore = getPostgreSQLEventStore(db.url, {
      connectionOptions: { pool },
    });
    await emmett.schema.migrate();
    // open the connections before the first round
    await Promise.all(Array.from({ length: maxWriters }, () => pool.query('SELECT 1')));

    const variantsFor = (writers: number, batch: number): Variant[] => {
      const single = batch === 1;
      const rawSql = rawInsertSql(batch);
      const rawName = `raw_insert_${batch}`;
      const storeLoop = (s: SqlEventStore) =>
        closedLoop(writers, append.roundMs, batch, async (w, events) => {
          const expected: ExpectedRevision = w.revision < 0 ? 'no_stream' : w.revision;
          const r = await s.append(w.streamId, events, expected);
          w.revision = r.nextExpectedRevision;
        });
      return [
        {
          id: 'onestop',
          name: 'OneStop',
          role: 'subject',
          description: 'SqlEventStore.append (PostgreSQL adapter)',
          run: () => storeLoop(store),
        },
        {
          id: 'raw',
          name: 'raw pg INSERT',
          role: 'baseline',
          description: single
            ? 'one INSERT … VALUES per event (autocommit)'
            : `one ${batch}-row INSERT … VALUES per batch (autocommit)`,
          run: () =>
            closedLoop(writers, append.roundMs, batch, async (w, events) => {
              const params: unknown[] = [];
              for (const e of events) {
                w.revision += 1;
                params.push(
                  w.streamId,
                  w.revision,
                  e.id,
                  e.type,
                  e.schemaVersion,
                  JSON.stringify(e.data),
                  JSON.stringify(metadataOf(e)),
                );
              }
              await pool.query({ name: rawName, text: rawSql, values: params });
            }),
        },
        {
          id: 'emmett',
          name: 'Emmett',
          role: 'baseline',
          description: 'emmett-postgresql appendToStream with expectedStreamVersion',
          run: () =>
            closedLoop(writers, append.roundMs, batch, async (w, events) => {
              const r = await emmett.appendToStream(
                w.streamId,
                events.map((e) => ({
                  type: e.type,
                  data: e.data as Record<string, unknown>,
                  metadata: metadataOf(e),
                })),
                { expectedStreamVersion: w.emmettVersion ?? STREAM_DOES_NOT_EXIST },
              );
              w.emmettVersion = r.nextExpectedStreamVersion;
            }),
        },
      ];
    };

    const cases: CaseSpec[] = append.writers.map((n) => ({
      id: `writers-${n}`,
      title: `single-event appends, ${n} concurrent writer${n === 1 ? '' : 's'}`,
      variants: variantsFor(n, 1),
    }));
    cases.push({
      id: `batch-${append.batchSize}`,
      title: `${append.batchSize}-event batch appends, ${append.batchWriters} concurrent writers`,
      variants: variantsFor(append.batchWriters, append.batchSize),
    });

    const info: Record<string, string | number> = {
      database: db.name,
      'pool size': maxWriters + 2,
      'round length': `${append.roundMs} ms per variant`,
    };
    return {
      cases,
      info,
      notes: [],
      async teardown() {
        // the stores really stored what they acknowledged: a stream of ours verifies, and the row counts
        const sample = await pool.query<{ stream_id: string }>(
          'SELECT stream_id FROM eventstore.events ORDER BY global_position DESC LIMIT 1',
        );
        if (sample.rows[0]) {
          const v = await store.verifyStream(sample.rows[0].stream_id);
          info['hash chain of a sample stream'] = v.ok
            ? `verifies (${v.events} events)`
            : `BROKEN at ${v.brokenAt}`;
        }
        const counts = await pool.query<{ onestop: string; raw: string; emmett: string }>(
          `SELECT (SELECT count(*) FROM eventstore.events) AS onestop, (SELECT count(*) FROM bench_raw.events) AS raw,
                  (SELECT count(*) FROM emt_messages) AS emmett`,
        );
        const c = counts.rows[0];
        if (c)
          info['rows stored (OneStop / raw / Emmett)'] = `${c.onestop} / ${c.raw} / ${c.emmett}`;
        await emmett.close().catch(() => undefined);
        await store.close();
        await pool.end();
      },
    };
  },
};
