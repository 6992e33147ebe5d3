import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { createPostgresEventStore } from '../src/index.js';
import { ev, eventStoreContract, rawAppend } from './contract.js';

let db: TestDatabase;

eventStoreContract('PostgreSQL (pg)', async () => {
  db = await createTestDatabase('es');
  const store = await createPostgresEventStore({ connectionString: db.url, maxConnections: 24 });
  const secondStore = await createPostgresEventStore({ connectionString: db.url, maxConnections: 8 });
  const raw = new pg.Pool({ connectionString: db.url, max: 4 });
  return {
    store,
    secondStore,
    sql: async (text, params) => (await raw.query(text, params)).rows,
    slowAppend(streamId, event) {
      let release = () => undefined as void;
      const released = new Promise<void>((r) => (release = r));
      let holding!: (position: number) => void;
      let failed!: (e: unknown) => void;
      const held = new Promise<number>((resolve, reject) => ((holding = resolve), (failed = reject)));
      const committed = (async () => {
        const c = await raw.connect();
        try {
          await c.query('BEGIN');
          const call = rawAppend(streamId, event);
          const { rows } = await c.query<{ global_positions: string[] }>(call.text, call.values);
          holding(Number(rows[0]!.global_positions[0]));
          await released;
          await c.query('COMMIT');
        } catch (e) {
          failed(e);
          throw e;
        } finally {
          c.release();
        }
      })();
      committed.catch(() => undefined);
      return { holding: held, release, committed, mode: 'concurrent' as const };
    },
    async close() {
      await store.close();
      await secondStore.close();
      await raw.end();
      await db.drop();
    },
  };
});

describe('PostgreSQL adapter specifics', () => {
  it('wakes a subscriber of another process through NOTIFY alone: for a lone append and for a burst', async () => {
    const tdb = await createTestDatabase('es');
    // the subscriber's safety poll is ten minutes away: only a wake-up signal can move it
    const listener = await createPostgresEventStore({ connectionString: tdb.url, pollIntervalMs: 600_000 });
    const writer = await createPostgresEventStore({ connectionString: tdb.url });
    try {
      const got: string[] = [];
      const sub = listener.subscribeToAll({ from: 0, handle: async (es) => void got.push(...es.map((e) => e.subject)) });
      await sub.reached(0, 10_000);
      const one = await writer.append('notify-one', [ev('notify-one')], 'no_stream');
      await sub.reached(one.globalPositions[0]!, 10_000);
      // a burst: the first append carries the signal, the others share one sent just after
      const burst = await Promise.all(
        Array.from({ length: 6 }, (_, i) => writer.append(`notify-burst-${i}`, [ev(`notify-burst-${i}`)], 'no_stream')),
      );
      await sub.reached(Math.max(...burst.map((r) => r.globalPositions[0]!)), 10_000);
      await sub.stop();
      expect(got.sort()).toEqual(['notify-one', ...Array.from({ length: 6 }, (_, i) => `notify-burst-${i}`)].sort());
    } finally {
      await listener.close();
      await writer.close();
      await tdb.drop();
    }
  });

  it('refuses an append that is not the first write of its transaction (it would break gap-safe order)', async () => {
    const tdb = await createTestDatabase('es');
    const store = await createPostgresEventStore({ connectionString: tdb.url });
    const c = new pg.Client({ connectionString: tdb.url });
    await c.connect();
    try {
      await c.query('CREATE TABLE side (x int)');
      await c.query('BEGIN');
      await c.query('INSERT INTO side VALUES (1)');
      const e = ev('test-first-write');
      const call = rawAppend('test-first-write', e);
      await expect(c.query(call.text, call.values)).rejects.toThrow(/first write/);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
      await store.close();
      await tdb.drop();
    }
  });

  it.each([
    ['with the partition_key column and its index', true],
    ['from before the partition key', false],
  ])('migrates a store of an older version (%s) to stream_keys, from several processes at once', async (_name, hadColumn) => {
    const tdb = await createTestDatabase('es');
    const old = await createPostgresEventStore({ connectionString: tdb.url });
    const person = randomUUID();
    const ids: string[] = [];
    const shared = `reservation-${randomUUID()}`;
    for (const [stream, key] of [
      [`person-${person}`, person],
      [`referral-${randomUUID()}`, person],
      [`person-${randomUUID()}`, null],
      [shared, null],
      [shared, person],
    ] as const) {
      const e = ev(stream, {}, 'ConsentGiven', key ?? randomUUID());
      await old.append(stream, [e], 'any');
      if (key === person) ids.push(e.id);
    }
    // the tables as an older version left them
    await old.driver.query('DROP TABLE eventstore.stream_keys');
    if (hadColumn) {
      await old.driver.query(`ALTER TABLE eventstore.events ADD COLUMN partition_key text;
        UPDATE eventstore.events SET partition_key = metadata->>'partitionKey';
        CREATE INDEX events_partition_key_idx ON eventstore.events (partition_key, global_position)`);
    }
    await old.close();
    const stores = await Promise.all([1, 2, 3].map(() => createPostgresEventStore({ connectionString: tdb.url })));
    try {
      // (gap-safe reads wait for transactions anywhere in the cluster: eventually)
      await eventually(async () => expect((await stores[0]!.readCase(person)).map((e) => e.id)).toEqual(ids));
      const [column] = await stores[0]!.driver.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'eventstore.events'::regclass AND attname = 'partition_key' AND NOT attisdropped`,
      );
      expect(column!.n).toBe(0);
      // appends after the migration keep stream_keys up to date
      const later = ev(shared, {}, 'ConsentGiven', person);
      await stores[1]!.append(shared, [later], 'any');
      await eventually(async () => expect((await stores[2]!.readCase(person)).map((e) => e.id)).toEqual([...ids, later.id]));
      // the plan on a log of realistic shape (20,000 events of 2,000 people)
      // rather than these few rows, which any plan reads at once
      await stores[0]!.driver.query(`
        INSERT INTO eventstore.events (global_position, transaction_id, stream_id, stream_position, event_id, event_type, schema_version,
                                       data, metadata, prev_hash, hash)
        SELECT 1000 + g, '3'::xid8, 'person-bulk-' || (g % 2000), g / 2000, gen_random_uuid(), 'ConsentGiven', 1,
               '{}'::jsonb, jsonb_build_object('partitionKey', 'bulk-' || (g % 2000)), NULL, sha256(int8send(g))
          FROM generate_series(1, 20000) g;
        INSERT INTO eventstore.stream_keys SELECT 'bulk-' || g, 'person-bulk-' || g FROM generate_series(0, 1999) g;
        ANALYZE eventstore.events; ANALYZE eventstore.stream_keys`);
      const plan = await stores[0]!.driver.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT * FROM eventstore.events
          WHERE stream_id IN (SELECT stream_id FROM eventstore.stream_keys WHERE partition_key = 'bulk-7')
            AND metadata->>'partitionKey' = 'bulk-7' ORDER BY global_position`,
      );
      const text = plan.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toMatch(/stream_keys_pkey/);
      expect(text).toMatch(/events_stream_position_uq/);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await tdb.drop();
    }
  });

  it('reads a case gap-safely: nothing behind a transaction still open', async () => {
    const tdb = await createTestDatabase('es');
    const store = await createPostgresEventStore({ connectionString: tdb.url });
    const c = new pg.Client({ connectionString: tdb.url });
    await c.connect();
    try {
      const person = randomUUID();
      const early = ev(`person-${person}`, {}, 'ConsentGiven', person);
      await c.query('BEGIN');
      const call = rawAppend(early.subject, early);
      await c.query(call.text, call.values);
      const later = ev(`audit-${person}`, {}, 'CaseHistoryRead', person);
      await store.append(later.subject, [later], 'no_stream');
      expect(await store.readCase(person)).toEqual([]);
      await c.query('COMMIT');
      expect((await store.readCase(person)).map((e) => e.id)).toEqual([early.id, later.id]);
    } finally {
      await c.end();
      await store.close();
      await tdb.drop();
    }
  });

  it('migrates concurrently from several processes', async () => {
    const tdb = await createTestDatabase('es');
    const stores = await Promise.all([1, 2, 3].map(() => createPostgresEventStore({ connectionString: tdb.url })));
    await Promise.all(stores.map((s) => s.close()));
    await tdb.drop();
  });
});
