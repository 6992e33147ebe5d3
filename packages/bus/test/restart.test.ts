import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@onestop/events';
import { PgDriver, createPostgresEventStore, type EventStore, type SqlEventStore, type SubscribeOptions } from '@onestop/eventstore';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { EmbeddedBus } from '../src/index.js';
import { consentGiven, until } from './helpers.js';

// A consumer whose checkpoint cannot be loaded fails loudly and starts over
// from the stored checkpoint once the store answers again: it never starts
// from the beginning of the log, and it does not stay stopped.

let tdb: TestDatabase;
let store: SqlEventStore;
let pool: pg.Pool;

beforeAll(async () => {
  tdb = await createTestDatabase('busrestart');
  store = await createPostgresEventStore({ connectionString: tdb.url, maxConnections: 6 });
  pool = new pg.Pool({ connectionString: tdb.url, max: 2 });
});

afterAll(async () => {
  await store?.close();
  await pool?.end();
  await tdb?.drop();
});

describe('an embedded consumer whose checkpoint load keeps failing', () => {
  it('fails loudly, then starts over from its stored checkpoint, handing over nothing twice', async () => {
    let failing = false;
    // the real store, with checkpoint loads failing on demand and a short load budget
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'loadCheckpoint') {
          return (name: string) => (failing ? Promise.reject(new Error('injected: connection reset')) : target.loadCheckpoint(name));
        }
        if (prop === 'subscribeToAll') {
          return (o: SubscribeOptions) => target.subscribeToAll.call(receiver, { ...o, checkpointLoadTimeoutMs: 300 });
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as EventStore;
    const errors: string[] = [];
    const logger = { warn: () => undefined, error: (_o: object, m?: string) => void errors.push(m ?? '') };
    const bus = new EmbeddedBus(flaky, new PgDriver(pool), logger, { restartAfterMs: 200 });
    await bus.migrate();
    const group = `g-${randomUUID()}`;
    const person = randomUUID();
    const handled: string[] = [];
    const handle = async (batch: readonly RecordedEvent[]) => void handled.push(...batch.filter((e) => e.partitionKey === person).map((e) => e.id));

    const first = [consentGiven(person)];
    await store.append(`person-${person}`, first as never, 'no_stream');
    const c1 = await bus.consume({ group, topics: ['onestop.intake.v1'], handle });
    await until('the first event handled', () => handled.length === 1);
    await c1.stop();

    const later = consentGiven(person);
    await store.append(`person-${person}`, [later] as never, 0);
    failing = true;
    const c2 = await bus.consume({ group, topics: ['onestop.intake.v1'], handle });
    await until('the subscription to fail for good', () => errors.some((m) => m.includes('failed; starting over')));
    expect(handled).toEqual([first[0]!.id]);
    failing = false;
    await until('the later event handled after the restart', () => handled.length === 2, 15_000);
    expect(handled).toEqual([first[0]!.id, later.id]);
    await c2.stop();
  });
});
