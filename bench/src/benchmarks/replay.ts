// 5. Case replay: the state of one case of 10,000 events, as an auditor asks
// for it (projections' CaseHistory.asOf), beside a raw SELECT of its events.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liftRecorded, type RawRecordedEvent } from '@onestop/events';
import type { ExpectedRevision } from '@onestop/eventstore';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { AuditSigningKey, projectionsModule } from '@onestop/projections';
import pg from 'pg';
import { bigCase } from '../fixtures.js';
import type { Benchmark, RoundResult } from '../harness.js';

const COLUMNS = `global_position, stream_id, stream_position, event_id, event_type, schema_version, data, metadata, prev_hash, hash`;

export const replayBenchmark: Benchmark = {
  id: 'replay',
  title: 'Case replay',
  method: [
    "One person's case of 10,000 events across 252 streams (a person stream of 3,000 events — contact updates and consent changes over the years —, 50 assessments, 200 referrals, and the audit stream of every read of the case), appended through `store.append()`, every event carrying the person's partition key (the store's case index finds them). Each operation is timed on its own, back to back.",
    '',
    "- **OneStop**: `projections.cases.asOf(personId, now)` of the projections service: the case's events up to the instant read from the store in one query on its case index (`store.readCaseForFold`: global order, only the columns a fold needs — no hashes, no metadata beyond the time), lifted (upcast) and folded through the deciders' `evolve` into the state of the person, assessments and referrals.",
    '- **OneStop history()**: the auditor’s full history (`cases.history(personId)`: every column, hashes included, one `store.readCase` read), for reference.',
    '- **raw SELECT**: one `SELECT <columns> FROM eventstore.events WHERE stream_id = ANY($1) ORDER BY global_position` of the same events through `pg`, no fold.',
  ].join('\n'),
  budget: () => ({ plannedMs: 45_000, minMs: 12_000 }),
  async prepare(ctx) {
    const total = ctx.scale.replay.events;
    const db = await ctx.database('replay');
    const dataDir = mkdtempSync(join(tmpdir(), 'onestop-bench-'));
    const infra = await openTestInfrastructure({
      databaseUrl: db.url,
      env: { ONESTOP_DATA_DIR: dataDir },
    });
    const module = projectionsModule({
      signingKey: new AuditSigningKey(generateKeyPairSync('ed25519').privateKey),
    });
    await module.migrate!(infra);
    const projections = module.projections(infra);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);

    const { personId, streams } = bigCase(total);
    const t0 = Date.now();
    for (const s of streams) {
      let expected: ExpectedRevision = 'no_stream';
      for (let i = 0; i < s.events.length; i += 1000) {
        const r = await infra.store.append(s.streamId, s.events.slice(i, i + 1000), expected);
        expected = r.nextExpectedRevision;
      }
    }
    // the read models learn the case's streams as the live consumer would teach them
    const recorded: RawRecordedEvent[] = [];
    for (let after = 0; ;) {
      const page = await infra.store.readAll({ after, maxCount: 2000 });
      if (page.length === 0) break;
      recorded.push(...page);
      after = page.at(-1)!.globalPosition;
    }
    await projections.readModels.apply(recorded.map(liftRecorded));
    const streamIds = await projections.cases.streamsOf(personId);
    ctx.log(
      `  replay: a case of ${recorded.length} events in ${streamIds.length} streams ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const perRound = Math.max(1, Math.ceil(ctx.scale.replay.iterations / ctx.scale.rounds));

    const repeat = async (op: () => Promise<number>): Promise<RoundResult> => {
      const latenciesMs: number[] = [];
      let events = 0;
      const t = performance.now();
      for (let i = 0; i < perRound; i++) {
        const s = performance.now();
        events = await op();
        latenciesMs.push(performance.now() - s);
      }
      return {
        events: perRound,
        durationMs: performance.now() - t,
        latenciesMs,
        extra: { eventsReplayed: events },
      };
    };

    return {
      info: {
        'events in the case': recorded.length,
        streams: streamIds.length,
        'operations per round': perRound,
        database: db.name,
      },
      cases: [
        {
          id: 'case-replay',
          title: `state of a case of ${recorded.length.toLocaleString('en-US')} events`,
          primary: 'latency',
          unit: 'replays',
          extraColumns: { eventsReplayed: 'events per replay' },
          variants: [
            {
              id: 'onestop',
              name: 'OneStop asOf()',
              role: 'subject',
              description: 'CaseHistory.asOf(personId, now)',
              run: () =>
                repeat(async () => {
                  const state = await projections.cases.asOf(
                    personId,
                    new Date(Date.now() + 3_600_000 * 24 * 365 * 10),
                  );
                  return state.eventsReplayed;
                }),
            },
            {
              id: 'history',
              name: 'OneStop history()',
              role: 'reference',
              description: 'CaseHistory.history(personId): the reads alone',
              run: () =>
                repeat(async () => (await projections.cases.history(personId)).events.length),
            },
            {
              id: 'raw',
              name: 'raw SELECT',
              role: 'baseline',
              description: 'pg: SELECT … WHERE stream_id = ANY($1) ORDER BY global_position',
              run: () =>
                repeat(async () => {
                  const { rows } = await pool.query({
                    name: 'raw_case',
                    text: `SELECT ${COLUMNS} FROM eventstore.events WHERE stream_id = ANY($1) ORDER BY global_position`,
                    values: [streamIds],
                  });
                  return rows.length;
                }),
            },
          ],
        },
      ],
      async teardown() {
        await pool.end();
        await infra.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};
