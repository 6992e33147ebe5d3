// 8. The verifiable log: what the Merkle tree costs the appends (it follows
// the log in the same database while writers append), and what an inclusion
// proof costs beside the single indexed row read of the same store.
import { randomInt } from 'node:crypto';
import { PgDriver, SqlEventStore, type ExpectedRevision, type Subscription } from '@onestop/eventstore';
import pg from 'pg';
import { metadataOf } from '../fixtures.js';
import type { Benchmark, CaseSpec, RoundResult } from '../harness.js';
import { RAW_TABLE, closedLoop, rawInsertSql } from './append.js';

export const verifiableLogBenchmark: Benchmark = {
  id: 'verifiable-log',
  title: 'Verifiable log (Merkle tree)',
  method: [
    '**Appends with and without the tree.** Single-event appends from concurrent writers, each on a stream of its own (as in the append benchmark), for a fixed time per round:',
    '',
    '- **OneStop + tree**: `SqlEventStore.append()` while the Merkle tree follows the log in the same process and database (`store.log.follow()`: a subscription that, woken by appends, lets them gather for 200 ms and adds the leaves and the subtrees they complete in one transaction). The tree is caught up before the round (untimed); how far it is behind when the round ends is reported.',
    '- **OneStop**: the same appends with no tree following.',
    '- **raw pg INSERT**: one plain `INSERT … VALUES` of the same row per event (the append benchmark\'s baseline).',
    '',
    '**Inclusion proof vs one indexed row read.** A store of N events (BENCH_SCALE: 10k smoke, 100k small, 1M full; written with one INSERT … SELECT, with 32-byte hashes, then the tree built by `catchUp()`), read back to back from one connection, a random event each time:',
    '',
    '- **inclusion proof**: `store.log.inclusionProof(position, N)`: the leaf index by position, then the O(log N) stored subtrees the proof needs in one query.',
    '- **indexed row read**: `SELECT … FROM eventstore.events WHERE global_position = $1` (the primary key).',
  ].join('\n'),
  budget: (scale) => {
    const v = scale.verifiableLog;
    const rounds = scale.rounds + scale.warmupRounds;
    const plannedMs = 3 * rounds * (v.roundMs + 300) + 2 * rounds * (v.roundMs + 100) + v.events / 8 + 20_000;
    return { plannedMs, minMs: Math.min(plannedMs, 30_000) };
  },
  async prepare(ctx) {
    const v = ctx.scale.verifiableLog;
    const db = await ctx.database('vlog');
    const pool = new pg.Pool({ connectionString: db.url, max: v.writers + 4 });
    pool.on('error', () => undefined);
    const store = new SqlEventStore(new PgDriver(pool));
    await store.migrate();
    await pool.query(RAW_TABLE);
    await Promise.all(Array.from({ length: v.writers + 2 }, () => pool.query('SELECT 1')));
    const info: Record<string, string | number> = { database: db.name, writers: v.writers, 'round length': `${v.roundMs} ms per variant` };

    // the proof store: N events in a second database, and its tree
    const proofDb = await ctx.database('vlog-proofs');
    const proofPool = new pg.Pool({ connectionString: proofDb.url, max: 4 });
    proofPool.on('error', () => undefined);
    const proofStore = new SqlEventStore(new PgDriver(proofPool));
    await proofStore.migrate();
    ctx.log(`writing ${v.events} events…`);
    await proofPool.query(
      `INSERT INTO eventstore.events (global_position, transaction_id, stream_id, stream_position, event_id, event_type, schema_version,
                                      data, metadata, prev_hash, hash)
       SELECT g, '3'::xid8, 'person-' || (g % 10000), g / 10000, gen_random_uuid(), 'ContactDetailsUpdated', 1,
              '{"updatedBy":"op-1"}'::jsonb, '{"source":"/onestop/intake"}'::jsonb, NULL, sha256(int8send(g))
         FROM generate_series(1, $1::bigint) g`,
      [v.events],
    );
    await proofPool.query(`SELECT setval('eventstore.global_position_seq', $1)`, [v.events]);
    await proofPool.query('ANALYZE eventstore.events');
    ctx.log(`building the tree of ${v.events} leaves…`);
    const t0 = performance.now();
    const head = await proofStore.log.catchUp();
    const buildMs = performance.now() - t0;
    await proofPool.query('ANALYZE eventstore.merkle_nodes; ANALYZE eventstore.merkle_leaves');
    info['proof store'] = `${head.size} events; tree built by catchUp() in ${(buildMs / 1000).toFixed(1)} s (${Math.round(head.size / (buildMs / 1000))} leaves/s)`;
    const rows = await proofPool.query<{ n: string }>('SELECT count(*) AS n FROM eventstore.merkle_nodes');
    info['stored subtrees'] = Number(rows.rows[0]!.n);

    let following: Subscription | undefined;
    const append = (withTree: boolean) => async (): Promise<RoundResult> => {
      if (withTree) {
        await store.log.catchUp();
        following = await store.log.follow();
      }
      try {
        const r = await closedLoop(v.writers, v.roundMs, 1, async (w, events) => {
          const expected: ExpectedRevision = w.revision < 0 ? 'no_stream' : w.revision;
          w.revision = (await store.append(w.streamId, events, expected)).nextExpectedRevision;
        });
        if (!withTree) return r;
        const [behind] = (
          await pool.query<{ n: string }>(
            'SELECT count(*) AS n FROM eventstore.events WHERE global_position > (SELECT coalesce(max(global_position), 0) FROM eventstore.merkle_leaves)',
          )
        ).rows;
        return { ...r, extra: { treeBehind: Number(behind!.n) } };
      } finally {
        await following?.stop();
        following = undefined;
      }
    };
    const sql = rawInsertSql(1);
    const cases: CaseSpec[] = [
      {
        id: 'append',
        title: `single-event appends, ${v.writers} concurrent writers, with and without the tree following`,
        extraColumns: { treeBehind: 'tree behind at round end (events)' },
        aggregate: { treeBehind: 'max' },
        variants: [
          { id: 'tree', name: 'OneStop + tree', role: 'subject', description: 'append while store.log.follow() adds the leaves', run: append(true) },
          { id: 'onestop', name: 'OneStop', role: 'baseline', description: 'append, no tree', run: append(false) },
          {
            id: 'raw',
            name: 'raw pg INSERT',
            role: 'baseline',
            description: 'one INSERT … VALUES per event (autocommit)',
            run: () =>
              closedLoop(v.writers, v.roundMs, 1, async (w, events) => {
                const e = events[0]!;
                w.revision += 1;
                await pool.query({
                  name: 'raw_insert_1',
                  text: sql,
                  values: [w.streamId, w.revision, e.id, e.type, e.schemaVersion, JSON.stringify(e.data), JSON.stringify(metadataOf(e))],
                });
              }),
          },
        ],
      },
      {
        id: 'proof',
        title: `inclusion proof in a tree of ${head.size} events vs one indexed row read`,
        primary: 'latency',
        unit: 'reads',
        variants: [
          {
            id: 'proof',
            name: 'inclusion proof',
            role: 'subject',
            description: 'store.log.inclusionProof(random position, N)',
            run: () =>
              readLoop(v.roundMs, async () => {
                const p = await proofStore.log.inclusionProof(randomInt(1, head.size + 1), head.size);
                if (!p) throw new Error('no proof');
              }),
          },
          {
            id: 'row',
            name: 'indexed row read',
            role: 'baseline',
            description: 'SELECT … WHERE global_position = $1',
            run: () =>
              readLoop(v.roundMs, async () => {
                const r = await proofPool.query({
                  name: 'bench_row',
                  text: `SELECT global_position, stream_id, stream_position, event_id, event_type, data, metadata, encode(hash, 'hex') AS hash
                           FROM eventstore.events WHERE global_position = $1`,
                  values: [randomInt(1, head.size + 1)],
                });
                if (r.rows.length !== 1) throw new Error('no row');
              }),
          },
        ],
      },
    ];
    return {
      cases,
      info,
      notes: ['Ratios: OneStop + tree ÷ OneStop is what the tree costs an append (goal ≥ 0.90, a cost of at most 10%); inclusion proof ÷ row read is of p50 latency.'],
      async teardown() {
        await store.close();
        await proofStore.close();
        await pool.end().catch(() => undefined);
        await proofPool.end().catch(() => undefined);
      },
    };
  },
};

/** One reader, back to back, for `ms`. */
async function readLoop(ms: number, read: () => Promise<void>): Promise<RoundResult> {
  const latencies: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const s = performance.now();
    await read();
    latencies.push(performance.now() - s);
  }
  return { events: latencies.length, durationMs: performance.now() - t0, latenciesMs: latencies };
}
