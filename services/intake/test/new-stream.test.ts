import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedEventStore, type EventStore, type SqlEventStore } from '@onestop/eventstore';
import { handleCommand } from '@onestop/kit';
import { personDecider } from '../src/domain/person.js';
import { registerCommand } from './fixtures.js';

const ctx = { source: '/onestop/test', actor: { id: 'op-1', role: 'operator' as const }, correlationId: 'c-1', causationId: null, time: '2026-11-26T10:00:00.000Z' };
const register = (personId: string) => registerCommand(personId);

let db: PGlite;
let store: SqlEventStore;
let reads = 0;
/** the store, counting the stream reads handleCommand makes */
let counting: EventStore;

beforeAll(async () => {
  db = new PGlite();
  store = await createEmbeddedEventStore({ db });
  counting = Object.create(store, {
    readStream: { value: (...args: Parameters<EventStore['readStream']>) => ((reads += 1), store.readStream(...args)) },
  }) as EventStore;
});
afterAll(async () => {
  await store.close();
  await db.close();
});

describe('handleCommand with newStream (a stream id made for the command)', () => {
  it('appends to the fresh stream without reading it first', async () => {
    const personId = crypto.randomUUID();
    reads = 0;
    const r = await handleCommand(counting, `person-${personId}`, personDecider, register(personId), { partitionKey: personId, ctx, newStream: true });
    expect(reads).toBe(0);
    expect(r.events.map((e) => e.type)).toEqual(['PersonRegistered']);
    expect(r.revision).toBe(0);
  });

  it('when the stream is there after all, reads it on the retry and decides on what it holds', async () => {
    const personId = crypto.randomUUID();
    await handleCommand(store, `person-${personId}`, personDecider, register(personId), { partitionKey: personId, ctx });
    reads = 0;
    await expect(
      handleCommand(counting, `person-${personId}`, personDecider, register(personId), { partitionKey: personId, ctx, newStream: true }),
    ).rejects.toMatchObject({ code: 'person_already_registered' });
    expect(reads).toBe(1);
    expect(await store.readStream(`person-${personId}`)).toHaveLength(1);
  });
});
