import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEventError, WrongExpectedVersion, canonicalEnvelope, type EventType, type RawEnvelope, type RawRecordedEvent } from '@onestop/events';
import { eventually } from '@onestop/testkit';
import { merkle, type EventStore, type VerifiableLog } from '../src/index.js';

/** What each adapter under contract provides. */
export interface ContractSubject {
  store: EventStore;
  /** a second store instance on the same data (another process, as far as the store can tell) */
  secondStore?: EventStore;
  /** raw SQL behind the store's back (tampering); only where `capabilities.rawSqlTampering` */
  sql?(text: string, params?: unknown[]): Promise<unknown[]>;
  /** appends one event in a transaction that takes its (early) position and stays open until released */
  slowAppend(streamId: string, event: RawEnvelope): SlowAppend;
  close(): Promise<void>;
}

/** An append held open after it took its position (the gap-safety test). */
export interface SlowAppend {
  /** resolves with the event's global position once the append statement returned inside the still open transaction */
  holding: Promise<number>;
  /** commits the held transaction */
  release(): void;
  /** resolves once committed */
  committed: Promise<void>;
  /**
   * How other writers fare meanwhile: `concurrent` (PostgreSQL: they append and
   * commit while it is open), `serial` (PGlite, one connection: they wait for
   * its release), `immediate` (KurrentDB: no client transactions, the append is
   * committed as soon as it has its position).
   */
  mode: 'concurrent' | 'serial' | 'immediate';
}

/** What an adapter can be put through beyond the port itself. */
export interface ContractCapabilities {
  /**
   * Stored events can be rewritten or deleted with raw SQL behind the store's
   * back (the hash-chain tampering cases). Not on KurrentDB: its events are
   * immutable and a stream has no holes, so its test file forges events its own
   * way (kurrentdb.test.ts).
   */
  rawSqlTampering: boolean;
  /** The adapter keeps the Merkle tree over the global log (`store.log`): PostgreSQL and PGlite, not KurrentDB. */
  verifiableLog?: boolean;
}

const enc = { alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct: 'Y2lwaGVy', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' } as const;

/** A valid catalog payload of each event type the contract appends (the store checks every payload). */
export const payloads = {
  ConsentGiven: { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' },
  ConsentWithdrawn: { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' },
  ContactDetailsUpdated: { pii: enc, updatedBy: 'op-1' },
  DomainEvaluated: { domain: 'housing', needLevel: 3, evaluatedBy: 'sw-1' },
  AssessmentCancelled: { reason: 'team_decision' },
  ReferralAccepted: {},
  ServiceStarted: {},
  ServiceCapacityChanged: { serviceId: 'housing-desk', capacity: 3 },
  CaseHistoryRead: { personId: '00000000-0000-4000-8000-000000000001', purpose: 'audit', readBy: 'aud-1' },
} satisfies Partial<Record<EventType, Record<string, unknown>>>;
export type ContractEventType = keyof typeof payloads;

let seq = 0;
/**
 * A valid catalog event for stream `streamId`: the example payload of `type`
 * with `data` over it (recordedBy, updatedBy, … tell events apart where a test
 * needs to). The partition key is the stream id unless given.
 */
export function ev(
  streamId: string,
  data: Record<string, unknown> = {},
  type: ContractEventType = 'ConsentGiven',
  partitionKey = streamId,
): RawEnvelope {
  seq += 1;
  return {
    id: randomUUID(),
    type,
    schemaVersion: 1,
    source: '/onestop/test',
    subject: streamId,
    time: new Date(Date.UTC(2026, 10, 26, 10, 0, 0, seq % 1000)).toISOString(),
    partitionKey,
    correlationId: `c-${seq}`,
    causationId: null,
    actor: { id: 'tester', role: 'system' },
    data: { ...payloads[type], ...data },
  };
}

/** The raw SQL call of eventstore.append for one event (for tests that hold their own transaction). */
export function rawAppend(streamId: string, event: RawEnvelope): { text: string; values: unknown[] } {
  const { subject: _s, id, type, schemaVersion, data, ...metadata } = event;
  return {
    text: 'SELECT * FROM eventstore.append($1, -2, $2::uuid[], $3::text[], $4::int[], $5::jsonb[], $6::jsonb[], $7::text[], NULL)',
    values: [streamId, [id], [type], [schemaVersion], [JSON.stringify(data)], [JSON.stringify(metadata)], [canonicalEnvelope(event)]],
  };
}

const sid = (prefix = 'test') => `${prefix}-${randomUUID()}`;

/** The behaviour every EventStore adapter must have (DESIGN §1, issue "Foundation"). */
export function eventStoreContract(
  name: string,
  open: () => Promise<ContractSubject>,
  scale = { appends: 10_000 },
  capabilities: ContractCapabilities = { rawSqlTampering: true, verifiableLog: true },
): void {
  describe(`EventStore contract: ${name}`, () => {
    let s: ContractSubject;
    const sql = (text: string, params?: unknown[]): Promise<unknown[]> => {
      if (!s.sql) throw new Error(`${name} offers no raw SQL`);
      return s.sql(text, params);
    };
    beforeAll(async () => {
      s = await open();
    });
    afterAll(async () => {
      await s?.close();
    });

    describe('append and read a stream', () => {
      it('appends to a new stream with no_stream and reads it back in order', async () => {
        const id = sid();
        const events = [ev(id, { recordedBy: 'n1' }), ev(id, { recordedBy: 'n2' }), ev(id, { recordedBy: 'n3' })];
        const r = await s.store.append(id, events, 'no_stream');
        expect(r.nextExpectedRevision).toBe(2);
        expect(r.replayed).toBe(false);
        expect(r.globalPositions).toHaveLength(3);
        expect([...r.globalPositions].sort((a, b) => a - b)).toEqual(r.globalPositions);
        const read = await s.store.readStream(id);
        expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
        expect(read.map((e) => e.streamPosition)).toEqual([0, 1, 2]);
        expect(read.map((e) => e.globalPosition)).toEqual(r.globalPositions);
        expect(read[1]).toMatchObject({ type: 'ConsentGiven', data: events[1]!.data, actor: events[1]!.actor, time: events[1]!.time });
        expect(read[0]!.prevHash).toBeNull();
        expect(read[1]!.prevHash).toBe(read[0]!.hash);
      });

      it('honours every expected revision and reports expected and actual on conflict', async () => {
        const id = sid();
        await expect(s.store.append(id, [ev(id)], 'stream_exists')).rejects.toMatchObject({
          code: 'wrong_expected_version', expected: 'stream_exists', actual: -1,
        });
        await expect(s.store.append(id, [ev(id)], 3)).rejects.toBeInstanceOf(WrongExpectedVersion);
        expect((await s.store.append(id, [ev(id)], 'no_stream')).nextExpectedRevision).toBe(0);
        await expect(s.store.append(id, [ev(id)], 'no_stream')).rejects.toMatchObject({ expected: 'no_stream', actual: 0 });
        expect((await s.store.append(id, [ev(id)], 0)).nextExpectedRevision).toBe(1);
        await expect(s.store.append(id, [ev(id)], 0)).rejects.toMatchObject({ expected: 0, actual: 1 });
        expect((await s.store.append(id, [ev(id)], 'stream_exists')).nextExpectedRevision).toBe(2);
        expect((await s.store.append(id, [ev(id), ev(id)], 'any')).nextExpectedRevision).toBe(4);
        expect(await s.store.readStream(id)).toHaveLength(5);
      });

      it('refuses an event whose subject is another stream, and an empty append', async () => {
        const id = sid();
        await expect(s.store.append(id, [ev(sid())], 'any')).rejects.toMatchObject({ code: 'validation_failed' });
        await expect(s.store.append(id, [], 'any')).rejects.toMatchObject({ code: 'validation_failed' });
        expect(await s.store.readStream(id)).toEqual([]);
      });

      it('refuses an event whose payload breaks the catalog, or of an unknown type, as a programmer error: nothing is stored', async () => {
        const id = sid();
        const valid = ev(id);
        // the right type, the wrong data: a decider bug
        const invalid = ev(id, { scope: 'everything', recordedBy: '' });
        const refused = s.store.append(id, [valid, invalid], 'no_stream');
        await expect(refused).rejects.toBeInstanceOf(InvalidEventError);
        await expect(refused).rejects.toMatchObject({
          code: 'invalid_event',
          status: 500,
          issues: [
            { path: 'events[1].data.scope', message: expect.any(String) },
            { path: 'events[1].data.recordedBy', message: expect.any(String) },
          ],
        });
        await expect(s.store.append(id, [{ ...ev(id), type: 'PersonTeleported' }], 'any')).rejects.toMatchObject({
          code: 'invalid_event',
          issues: [{ path: 'events[0].type' }],
        });
        await expect(s.store.append(id, [{ ...ev(id), schemaVersion: 9 }], 'any')).rejects.toMatchObject({ code: 'invalid_event' });
        expect(await s.store.readStream(id)).toEqual([]);
        expect((await s.store.append(id, [valid], 'no_stream')).nextExpectedRevision).toBe(0);
      });

      it('is idempotent: the same event ids again return the first result and store nothing twice', async () => {
        const id = sid();
        const events = [ev(id), ev(id)];
        const first = await s.store.append(id, events, 'no_stream');
        const again = await s.store.append(id, events, 'no_stream');
        expect(again).toEqual({ ...first, replayed: true });
        const withAny = await s.store.append(id, events, 'any');
        expect(withAny.globalPositions).toEqual(first.globalPositions);
        expect(await s.store.readStream(id)).toHaveLength(2);
        // the same ids in another stream are refused, not silently dropped
        const other = sid();
        await expect(s.store.append(other, events.map((e) => ({ ...e, subject: other })), 'any')).rejects.toMatchObject({
          code: 'validation_failed',
        });
      });

      it('reads backwards and from a revision', async () => {
        const id = sid();
        await s.store.append(id, [0, 1, 2, 3, 4].map((n) => ev(id, { recordedBy: `n${n}` })), 'no_stream');
        const fw = await s.store.readStream(id, { fromRevision: 2, maxCount: 2 });
        expect(fw.map((e) => e.streamPosition)).toEqual([2, 3]);
        const bw = await s.store.readStream(id, { direction: 'backwards', maxCount: 2 });
        expect(bw.map((e) => e.streamPosition)).toEqual([4, 3]);
        const bwFrom = await s.store.readStream(id, { direction: 'backwards', fromRevision: 1 });
        expect(bwFrom.map((e) => e.streamPosition)).toEqual([1, 0]);
      });

      it('reads several streams for a fold: merged in global order, up to an instant, with what a fold needs', async () => {
        const a = sid('fold');
        const b = sid('fold');
        const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();
        const a0 = { ...ev(a), time: at(10) };
        const b0 = { ...ev(b), time: at(20) };
        const a1 = { ...ev(a, {}, 'ConsentWithdrawn'), time: at(30) };
        await s.store.append(a, [a0], 'no_stream');
        await s.store.append(b, [b0], 'no_stream');
        const last = await s.store.append(a, [a1], 0);
        const all = await s.store.readForFold([a, b, sid('absent')], new Date(at(30)));
        expect(all.map((e) => e.id)).toEqual([a0.id, b0.id, a1.id]);
        expect(all[2]).toEqual({
          id: a1.id,
          type: 'ConsentWithdrawn',
          schemaVersion: 1,
          subject: a,
          time: at(30),
          data: a1.data,
          globalPosition: last.globalPositions[0],
        });
        // an instant between two events: the later one is not folded
        expect((await s.store.readForFold([a, b], new Date(at(29)))).map((e) => e.id)).toEqual([a0.id, b0.id]);
        expect(await s.store.readForFold([b], new Date(at(19)))).toEqual([]);
      });
    });

    describe('the global log', () => {
      it('reads from a position with type and stream-prefix filters', async () => {
        const start = await s.store.headPosition();
        const a = sid('alpha');
        const b = sid('beta');
        await s.store.append(a, [ev(a, {}, 'ConsentGiven'), ev(a, {}, 'ConsentWithdrawn')], 'no_stream');
        await s.store.append(b, [ev(b, {}, 'ConsentGiven')], 'no_stream');
        const all = await s.store.readAll({ after: start });
        expect(all.map((e) => e.subject)).toEqual([a, a, b]);
        expect((await s.store.readAll({ after: start, types: ['ConsentGiven'] })).map((e) => e.subject)).toEqual([a, b]);
        expect((await s.store.readAll({ after: start, streamPrefix: 'beta-' })).map((e) => e.subject)).toEqual([b]);
        expect(await s.store.readAll({ after: start, maxCount: 1 })).toHaveLength(1);
        expect(await s.store.headPosition()).toBe(all[2]!.globalPosition);
      });

      it('reports stream heads as of a global position', async () => {
        const a = sid('heads');
        const r1 = await s.store.append(a, [ev(a)], 'no_stream');
        const r2 = await s.store.append(a, [ev(a)], 0);
        const at1 = (await s.store.streamHeads(r1.globalPositions[0])).find((h) => h.streamId === a);
        const now = (await s.store.streamHeads()).find((h) => h.streamId === a);
        expect(at1).toMatchObject({ revision: 0, globalPosition: r1.globalPositions[0] });
        expect(now).toMatchObject({ revision: 1, globalPosition: r2.globalPositions[0] });
      });
    });

    describe('concurrency', () => {
      it('32 concurrent writers on overlapping streams: exactly the winners are stored, every loser gets WrongExpectedVersion', async () => {
        const streams = Array.from({ length: 8 }, () => sid('race'));
        const won = new Map<string, string[]>(streams.map((x) => [x, []]));
        let losers = 0;
        const other: unknown[] = [];
        await Promise.all(
          Array.from({ length: 32 }, async (_, w) => {
            const stream = streams[w % streams.length]!;
            for (let round = 0; round < 15; round++) {
              const head = await s.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
              const expected = head[0]?.streamPosition ?? 'no_stream';
              const e = ev(stream, { recordedBy: `w${w}-r${round}` });
              try {
                await s.store.append(stream, [e], expected);
                won.get(stream)!.push(e.id);
              } catch (err) {
                if (err instanceof WrongExpectedVersion) losers += 1;
                else other.push(err);
              }
            }
          }),
        );
        expect(other).toEqual([]);
        let winners = 0;
        for (const stream of streams) {
          const stored = await s.store.readStream(stream);
          expect(stored.map((e) => e.id).sort()).toEqual([...won.get(stream)!].sort());
          expect(stored.map((e) => e.streamPosition)).toEqual(stored.map((_, i) => i));
          expect((await s.store.verifyStream(stream)).ok).toBe(true);
          winners += stored.length;
        }
        expect(winners + losers).toBe(32 * 15);
        expect(winners).toBeGreaterThan(0);
      });

      it(`a subscriber during ${scale.appends} concurrent appends, with a slow early transaction, gets every event once in global order`, async () => {
        const start = await s.store.headPosition();
        const prefix = `gap${randomUUID().slice(0, 8)}`;
        const seen: RawRecordedEvent[] = [];
        const sub = s.store.subscribeToAll({
          from: start,
          filter: { streamPrefix: `${prefix}-` },
          handle: async (events) => void seen.push(...events),
        });
        const slowStream = `${prefix}-slow`;
        const slowEvent = ev(slowStream, { recordedBy: 'slow' });
        const writer = s.secondStore ?? s.store;
        // the slow transaction takes its (early) position first, then holds it uncommitted
        const slow = s.slowAppend(slowStream, slowEvent);
        try {
          const slowPosition = await slow.holding;
          expect(slowPosition).toBeGreaterThan(start);
          const writers = 16;
          const per = scale.appends / writers;
          // released once a tenth of the appends committed behind it (where they can: `concurrent`)
          const behind = Math.max(1, Math.floor(scale.appends / 10));
          let committed = 0;
          let signal = () => undefined as void;
          const enoughBehind = new Promise<void>((resolve) => (signal = resolve));
          const writing = Promise.all(
            Array.from({ length: writers }, async (_, w) => {
              for (let i = 0; i < per; i++) {
                const stream = `${prefix}-${w}-${i % 10}`;
                await writer.append(stream, [ev(stream, { recordedBy: `w${w}-${i}` })], 'any');
                if (++committed >= behind) signal();
              }
            }),
          );
          writing.catch(() => undefined);
          if (slow.mode === 'concurrent') {
            await Promise.race([enoughBehind, writing]);
            // appends after the held position are committed, yet nothing from it on may be seen
            expect(committed).toBeGreaterThanOrEqual(behind);
            expect(await s.store.headPosition()).toBeLessThan(slowPosition);
            expect(await s.store.readAll({ after: start, streamPrefix: `${prefix}-`, maxCount: 10 })).toEqual([]);
            expect(sub.position).toBeLessThan(slowPosition);
          }
          slow.release();
          await writing;
          await slow.committed;
        } finally {
          slow.release();
        }
        const head = await s.store.headPosition();
        await sub.reached(head, 60_000);
        await sub.stop();
        const stored = await s.store.readAll({ after: start, streamPrefix: `${prefix}-`, maxCount: 1_000_000 });
        expect(stored).toHaveLength(scale.appends + 1);
        const ids = seen.map((e) => e.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toEqual(stored.map((e) => e.id));
        expect(ids).toContain(slowEvent.id);
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.globalPosition).toBeGreaterThan(seen[i - 1]!.globalPosition);
        // 10 000 appends on PGlite take 10-25 s on an idle machine, over 60 s on a busy one
      }, 180_000);
    });

    describe('atomic multi-stream append', () => {
      it('appends to two streams at once: results in order, each chain continued from its own head', async () => {
        const a = sid('multi');
        const b = sid('multi');
        const [ra, rb] = await s.store.appendToStreams([
          { streamId: a, events: [ev(a), ev(a)], expected: 'no_stream' },
          { streamId: b, events: [ev(b)], expected: 'no_stream' },
        ]);
        expect(ra).toMatchObject({ nextExpectedRevision: 1, replayed: false });
        expect(rb).toMatchObject({ nextExpectedRevision: 0, replayed: false });
        expect((await s.store.readStream(a)).map((e) => e.globalPosition)).toEqual(ra!.globalPositions);
        expect((await s.store.readStream(b)).map((e) => e.globalPosition)).toEqual(rb!.globalPositions);
        // existing streams at exact revisions, one of them through a single append in between
        await s.store.append(a, [ev(a)], 1);
        const next = await s.store.appendToStreams([
          { streamId: b, events: [ev(b), ev(b)], expected: 0 },
          { streamId: a, events: [ev(a)], expected: 2 },
        ]);
        expect(next.map((r) => r.nextExpectedRevision)).toEqual([2, 3]);
        expect((await s.store.readStream(a)).map((e) => e.streamPosition)).toEqual([0, 1, 2, 3]);
        expect(await s.store.verifyStream(a)).toMatchObject({ ok: true, events: 4 });
        expect(await s.store.verifyStream(b)).toMatchObject({ ok: true, events: 3 });
      });

      it('stores nothing in any stream when one is not at its expected revision, and names that stream', async () => {
        const a = sid('multi');
        const b = sid('multi');
        const fresh = sid('multi');
        await s.store.append(b, [ev(b), ev(b)], 'no_stream');
        const refused = s.store.appendToStreams([
          { streamId: fresh, events: [ev(fresh)], expected: 'no_stream' },
          { streamId: b, events: [ev(b)], expected: 0 },
        ]);
        await expect(refused).rejects.toBeInstanceOf(WrongExpectedVersion);
        await expect(refused).rejects.toMatchObject({ code: 'wrong_expected_version', streamId: b, expected: 0, actual: 1 });
        await expect(
          s.store.appendToStreams([
            { streamId: b, events: [ev(b)], expected: 1 },
            { streamId: a, events: [ev(a)], expected: 'stream_exists' },
          ]),
        ).rejects.toMatchObject({ streamId: a, expected: 'stream_exists', actual: -1 });
        expect(await s.store.readStream(fresh)).toEqual([]);
        expect(await s.store.readStream(a)).toEqual([]);
        expect(await s.store.readStream(b)).toHaveLength(2);
      });

      it('refuses a stream twice, an empty call, an event id twice and an invalid event, storing nothing', async () => {
        const a = sid('multi');
        const b = sid('multi');
        await expect(s.store.appendToStreams([])).rejects.toMatchObject({ code: 'validation_failed' });
        await expect(
          s.store.appendToStreams([
            { streamId: a, events: [ev(a)], expected: 'any' },
            { streamId: a, events: [ev(a)], expected: 'any' },
          ]),
        ).rejects.toMatchObject({ code: 'validation_failed', issues: [{ path: 'appends[1].streamId' }] });
        const e = ev(a);
        await expect(
          s.store.appendToStreams([
            { streamId: a, events: [e], expected: 'any' },
            { streamId: b, events: [{ ...e, subject: b }], expected: 'any' },
          ]),
        ).rejects.toMatchObject({ code: 'validation_failed' });
        await expect(
          s.store.appendToStreams([
            { streamId: a, events: [ev(a)], expected: 'no_stream' },
            { streamId: b, events: [ev(b), ev(b, { scope: 'everything' })], expected: 'no_stream' },
          ]),
        ).rejects.toMatchObject({ code: 'invalid_event', status: 500, issues: [{ path: 'appends[1].events[1].data.scope' }] });
        expect(await s.store.readStream(a)).toEqual([]);
        expect(await s.store.readStream(b)).toEqual([]);
      });

      it('is idempotent: the same call again returns the first results, replayed; a partial overlap is refused', async () => {
        const a = sid('multi');
        const b = sid('multi');
        const appends = [
          { streamId: a, events: [ev(a), ev(a)], expected: 'no_stream' as const },
          { streamId: b, events: [ev(b)], expected: 'no_stream' as const },
        ];
        const first = await s.store.appendToStreams(appends);
        const again = await s.store.appendToStreams(appends);
        expect(again).toEqual(first.map((r) => ({ ...r, replayed: true })));
        const c = sid('multi');
        await expect(
          s.store.appendToStreams([appends[0]!, { streamId: c, events: [ev(c)], expected: 'no_stream' }]),
        ).rejects.toMatchObject({ code: 'validation_failed' });
        expect(await s.store.readStream(a)).toHaveLength(2);
        expect(await s.store.readStream(b)).toHaveLength(1);
        expect(await s.store.readStream(c)).toEqual([]);
      });

      it('writers naming the same two streams in opposite orders all get through with any (no deadlock), both chains intact', async () => {
        const a = sid('multi');
        const b = sid('multi');
        const other: unknown[] = [];
        await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            for (let round = 0; round < 5; round++) {
              const parts = [
                { streamId: a, events: [ev(a, { recordedBy: `w${w}-r${round}` })], expected: 'any' as const },
                { streamId: b, events: [ev(b, { recordedBy: `w${w}-r${round}` })], expected: 'any' as const },
              ];
              const store = w % 2 === 0 ? s.store : (s.secondStore ?? s.store);
              await store.appendToStreams(w % 2 === 0 ? parts : parts.reverse()).catch((e: unknown) => void other.push(e));
            }
          }),
        );
        expect(other).toEqual([]);
        expect(await s.store.verifyStream(a)).toMatchObject({ ok: true, events: 40 });
        expect(await s.store.verifyStream(b)).toMatchObject({ ok: true, events: 40 });
      });

      it('20 writers race on a shared guard stream, each with a new stream of its own: exactly the winners are stored, in both', async () => {
        const prefix = `mrace${randomUUID().slice(0, 8)}`;
        const guard = `${prefix}-guard`;
        const start = await s.store.headPosition();
        const seen: RawRecordedEvent[] = [];
        const sub = s.store.subscribeToAll({
          from: start,
          filter: { streamPrefix: `${prefix}-` },
          handle: async (events) => void seen.push(...events),
        });
        await s.store.append(guard, [ev(guard)], 'no_stream');
        const won: Array<{ own: string; guardEvent: string }> = [];
        const lost: string[] = [];
        const other: unknown[] = [];
        await Promise.all(
          Array.from({ length: 20 }, async (_, w) => {
            const store = w % 2 === 1 && s.secondStore ? s.secondStore : s.store;
            for (let round = 0; round < 4; round++) {
              const own = `${prefix}-own-${w}-${round}`;
              const [head] = await store.readStream(guard, { direction: 'backwards', maxCount: 1 });
              const g = ev(guard, { recordedBy: `w${w}-r${round}` });
              try {
                await store.appendToStreams([
                  { streamId: own, events: [ev(own), ev(own)], expected: 'no_stream' },
                  { streamId: guard, events: [g], expected: head!.streamPosition },
                ]);
                won.push({ own, guardEvent: g.id });
              } catch (err) {
                if (err instanceof WrongExpectedVersion && err.streamId === guard) lost.push(own);
                else other.push(err);
              }
            }
          }),
        );
        expect(other).toEqual([]);
        expect(won.length + lost.length).toBe(80);
        expect(won.length).toBeGreaterThan(0);
        const guarded = await s.store.readStream(guard);
        expect(guarded.slice(1).map((e) => e.id).sort()).toEqual(won.map((x) => x.guardEvent).sort());
        expect(await s.store.verifyStream(guard)).toMatchObject({ ok: true, events: won.length + 1 });
        for (const { own } of won) expect(await s.store.verifyStream(own)).toMatchObject({ ok: true, events: 2 });
        for (const own of lost) expect(await s.store.readStream(own)).toEqual([]);

        // a subscriber saw every stored event once, in global order
        const head = await s.store.headPosition();
        await sub.reached(head, 30_000);
        await sub.stop();
        const stored = await s.store.readAll({ after: start, streamPrefix: `${prefix}-`, maxCount: 1_000_000 });
        expect(stored).toHaveLength(1 + won.length * 3);
        expect(seen.map((e) => e.id)).toEqual(stored.map((e) => e.id));
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.globalPosition).toBeGreaterThan(seen[i - 1]!.globalPosition);
      });
    });

    describe('reading a case', () => {
      it("returns every event of one person's case across streams, in global order, and nothing else", async () => {
        const p1 = randomUUID();
        const p2 = randomUUID();
        const assessment = `assessment-${randomUUID()}`;
        const referral1 = `referral-${randomUUID()}`;
        const referral2 = `referral-${randomUUID()}`;
        const partner = `partner-p${randomUUID().slice(0, 8)}`;
        const expected = new Map<string, string[]>([[p1, []], [p2, []]]);
        const add = async (stream: string, person: string | null, type: ContractEventType, data: Record<string, unknown> = {}) => {
          const e = ev(stream, data, type, person ?? partner.slice('partner-'.length));
          await s.store.append(stream, [e], 'any');
          if (person) expected.get(person)!.push(e.id);
        };
        await add(`person-${p1}`, p1, 'ConsentGiven');
        await add(`person-${p2}`, p2, 'ConsentGiven');
        await add(assessment, p1, 'DomainEvaluated');
        await add(partner, null, 'ServiceCapacityChanged');
        // a stream that holds several people's events (as a reservation may),
        // its key changing and coming back
        const shared = `reservation-${randomUUID()}`;
        await add(shared, p1, 'ConsentGiven');
        await add(shared, p2, 'ConsentGiven');
        await add(shared, p1, 'ConsentGiven');
        await add(referral2, p2, 'ReferralAccepted');
        await add(`audit-${p1}`, p1, 'CaseHistoryRead', { personId: p1 });
        // one multi-stream append: both of its events are p1's
        const r = ev(referral1, {}, 'ReferralAccepted', p1);
        const c = ev(`person-${p1}`, {}, 'ConsentWithdrawn', p1);
        await s.store.appendToStreams([
          { streamId: referral1, events: [r], expected: 'no_stream' },
          { streamId: `person-${p1}`, events: [c], expected: 0 },
        ]);
        expected.get(p1)!.push(r.id, c.id);
        await add(`audit-${p2}`, p2, 'CaseHistoryRead', { personId: p2 });
        await add(referral1, p1, 'ServiceStarted');

        for (const person of [p1, p2]) {
          const got = await s.store.readCase(person);
          expect(got.map((e) => e.id)).toEqual(expected.get(person));
          expect(got.every((e) => e.partitionKey === person)).toBe(true);
          for (let i = 1; i < got.length; i++) expect(got[i]!.globalPosition).toBeGreaterThan(got[i - 1]!.globalPosition);
        }
        expect((await s.store.readCase(p1)).map((e) => e.subject)).toEqual([
          `person-${p1}`, assessment, shared, shared, `audit-${p1}`, referral1, `person-${p1}`, referral1,
        ]);
        expect(await s.store.readCase(randomUUID())).toEqual([]);
      });
    });

    describe('subscriptions and checkpoints', () => {
      it('a checkpoint only moves forward; resetCheckpoint moves it back on purpose', async () => {
        const name = `forward-${randomUUID().slice(0, 8)}`;
        await s.store.saveCheckpoint(name, 10);
        await s.store.saveCheckpoint(name, 5);
        expect(await s.store.loadCheckpoint(name)).toBe(10);
        // a second instance (another process) that last saw an older position
        await (s.secondStore ?? s.store).saveCheckpoint(name, 7);
        expect(await s.store.loadCheckpoint(name)).toBe(10);
        await s.store.saveCheckpoint(name, 12);
        expect(await s.store.loadCheckpoint(name)).toBe(12);
        await s.store.resetCheckpoint(name, 3);
        expect(await s.store.loadCheckpoint(name)).toBe(3);
        await s.store.saveCheckpoint(name, 2);
        expect(await s.store.loadCheckpoint(name)).toBe(3);
        await Promise.all([9, 4, 8, 6].map((p) => s.store.saveCheckpoint(name, p)));
        expect(await s.store.loadCheckpoint(name)).toBe(9);
      });

      it('resumes from its named checkpoint after a restart', async () => {
        const prefix = `cp${randomUUID().slice(0, 8)}`;
        const checkpoint = `test-${prefix}`;
        const start = await s.store.headPosition();
        await s.store.saveCheckpoint(checkpoint, start);
        const a = `${prefix}-a`;
        await s.store.append(a, [ev(a), ev(a), ev(a)], 'no_stream');
        const first: string[] = [];
        const sub1 = s.store.subscribeToAll({
          checkpoint,
          filter: { streamPrefix: `${prefix}-` },
          handle: async (es) => void first.push(...es.map((e) => e.id)),
        });
        await sub1.reached(await s.store.headPosition());
        await sub1.stop();
        expect(first).toHaveLength(3);
        expect(await s.store.loadCheckpoint(checkpoint)).toBe(sub1.position);

        const later = [ev(a), ev(a)];
        await s.store.append(a, later, 2);
        const second: string[] = [];
        const sub2 = s.store.subscribeToAll({
          checkpoint,
          filter: { streamPrefix: `${prefix}-` },
          handle: async (es) => void second.push(...es.map((e) => e.id)),
        });
        await sub2.reached(await s.store.headPosition());
        await sub2.stop();
        expect(second).toEqual(later.map((e) => e.id));
      });

      it('with checkpointEveryMs, holds checkpoint saves back, saves the held one when the interval is over, and on stop', async () => {
        const prefix = `cpe${randomUUID().slice(0, 8)}`;
        const a = `${prefix}-a`;
        const start = await s.store.headPosition();
        await s.store.append(a, Array.from({ length: 30 }, () => ev(a)), 'no_stream');
        const head = await s.store.headPosition();
        const subscribe = (checkpoint: string, checkpointEveryMs: number) =>
          s.store.subscribeToAll({ from: start, checkpoint, checkpointEveryMs, batchSize: 10, handle: async () => undefined });

        // a long interval: the first batch is saved, the next ones wait for stop()
        const held = subscribe(`held-${prefix}`, 600_000);
        await held.reached(head);
        const stored = await s.store.loadCheckpoint(`held-${prefix}`);
        expect(stored).toBeGreaterThan(start);
        expect(stored).toBeLessThan(head);
        await held.stop();
        expect(await s.store.loadCheckpoint(`held-${prefix}`)).toBe(head);

        // a short one: the held checkpoint is saved when the interval is over, with no batch to follow
        const short = subscribe(`short-${prefix}`, 200);
        await short.reached(head);
        const deadline = Date.now() + 10_000;
        while ((await s.store.loadCheckpoint(`short-${prefix}`)) !== head && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(await s.store.loadCheckpoint(`short-${prefix}`)).toBe(head);
        await short.stop();
      });

      it('retries a batch whose handler failed instead of skipping it', async () => {
        const prefix = `retry${randomUUID().slice(0, 8)}`;
        const a = `${prefix}-a`;
        const start = await s.store.headPosition();
        await s.store.append(a, [ev(a), ev(a)], 'no_stream');
        let failures = 0;
        const got: string[] = [];
        const errors: unknown[] = [];
        const sub = s.store.subscribeToAll({
          from: start,
          filter: { streamPrefix: `${prefix}-` },
          handle: async (es) => {
            if (failures < 2) {
              failures += 1;
              throw new Error('transient');
            }
            got.push(...es.map((e) => e.id));
          },
          onError: (e) => errors.push(e),
        });
        await sub.reached(await s.store.headPosition());
        await sub.stop();
        expect(errors).toHaveLength(2);
        expect(got).toHaveLength(2);
      });

      it('wakes live subscribers without waiting for the safety poll', async () => {
        const prefix = `live${randomUUID().slice(0, 8)}`;
        const got: RawRecordedEvent[] = [];
        const sub = s.store.subscribeToAll({
          from: await s.store.headPosition(),
          filter: { streamPrefix: `${prefix}-` },
          handle: async (es) => void got.push(...es),
        });
        const a = `${prefix}-a`;
        const r = await (s.secondStore ?? s.store).append(a, [ev(a)], 'no_stream');
        await sub.reached(r.globalPositions[0]!, 10_000);
        await sub.stop();
        expect(got.map((e) => e.subject)).toEqual([a]);
      });
    });

    describe.skipIf(!capabilities.verifiableLog)('verifiable log (RFC 9162 Merkle tree over the global log)', () => {
      const log = (): VerifiableLog => s.store.log!;
      /** MTH straight from RFC 9162 §2.1.1 over the leaf hashes (independent of the stored subtrees) */
      const mth = (leaves: Buffer[]): Buffer => {
        if (leaves.length === 1) return leaves[0]!;
        const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
        return merkle.nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
      };
      const everything = async () => {
        const all: RawRecordedEvent[] = [];
        for (;;) {
          const page = await s.store.readAll({ after: all.at(-1)?.globalPosition ?? 0, maxCount: 5000 });
          all.push(...page);
          if (page.length < 5000) return all;
        }
      };

      const caughtUp = (tree: VerifiableLog, position: number) =>
        eventually(async () => {
          const head = await tree.catchUp();
          expect(head.lastPosition).toBeGreaterThanOrEqual(position);
          return head;
        });

      it('has one leaf per event in global order, whatever the gaps of rolled-back appends, and its root is the MTH of the log', async () => {
        const id = sid('tree');
        await s.store.append(id, [ev(id)], 'no_stream');
        // positions a rolled-back append took and gave back: gaps in global_position
        await sql(`SELECT nextval('eventstore.global_position_seq') FROM generate_series(1, 3)`);
        const last = (await s.store.append(id, [ev(id), ev(id)], 0)).globalPositions.at(-1)!;
        // (gap-safe: a transaction still open anywhere in the cluster holds the log back a moment)
        const head = await caughtUp(log(), last);
        const events = (await everything()).slice(0, head.size);
        expect(head).toEqual({ size: events.length, lastPosition: events.at(-1)!.globalPosition });
        expect(events.some((e, i) => i > 0 && e.globalPosition > events[i - 1]!.globalPosition + 1)).toBe(true);
        const leaves = events.map((e) => merkle.leafHash(Buffer.from(e.hash, 'hex')));
        expect((await log().rootHash(head.size)).equals(mth(leaves))).toBe(true);
        for (const i of [0, Math.floor(events.length / 3), events.length - 1]) {
          expect(await log().leafIndexOf(events[i]!.globalPosition)).toBe(i);
        }
      });

      it('proves the inclusion of any event at any size, and the consistency of any two sizes', async () => {
        const head = await log().catchUp();
        const sizes = [1, Math.ceil(head.size / 2), head.size - 1, head.size];
        const events = (await everything()).slice(0, head.size);
        for (const size of sizes) {
          const root = await log().rootHash(size);
          for (const i of [0, size - 1, Math.floor(size / 2)]) {
            const p = (await log().inclusionProof(events[i]!.globalPosition, size))!;
            expect(p).toMatchObject({ leafIndex: i, treeSize: size });
            expect(p.proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(size)));
            const b = (x: string) => Buffer.from(x, 'base64');
            expect(merkle.verifyInclusion(i, size, merkle.leafHash(Buffer.from(events[i]!.hash, 'hex')), p.proof.map(b), root)).toBe(true);
          }
          expect(await log().inclusionProof(events[size - 1]!.globalPosition, size - 1)).toBeUndefined();
        }
        for (const [m, n] of [[1, head.size], [sizes[1]!, head.size], [head.size - 1, head.size]] as const) {
          const proof = (await log().consistencyProof(m, n)).map((x) => Buffer.from(x, 'base64'));
          expect(merkle.verifyConsistency(m, n, proof, await log().rootHash(m), await log().rootHash(n))).toBe(true);
        }
        await expect(log().rootHash(head.size + 1)).rejects.toThrow(RangeError);
      });

      it('follows the log as events are appended; two followers racing on the same leaves build one tree', async () => {
        const before = await log().catchUp();
        const other = s.secondStore?.log ?? log();
        const ids = Array.from({ length: 6 }, () => sid('tree'));
        const sub = await log().follow();
        try {
          const appended = await Promise.all(ids.map((id) => s.store.append(id, [ev(id), ev(id)], 'no_stream')));
          const last = Math.max(...appended.flatMap((a) => a.globalPositions));
          // the second instance (another process) catches up at the same time
          await Promise.all([caughtUp(other, last), caughtUp(log(), last), caughtUp(other, last)]);
          const head = await log().head();
          expect(head.size).toBeGreaterThanOrEqual(before.size + 12);
          const events = (await everything()).slice(0, head.size);
          expect(events.at(-1)!.globalPosition).toBe(head.lastPosition);
          expect((await other.rootHash(head.size)).equals(mth(events.map((e) => merkle.leafHash(Buffer.from(e.hash, 'hex')))))).toBe(true);
          // a redelivered batch adds nothing
          expect(await (log() as unknown as { extend(e: RawRecordedEvent[]): Promise<unknown> }).extend(events.slice(-3))).toEqual(head);
        } finally {
          await sub.stop();
        }
      });
    });

    describe('hash chain', () => {
      it('verifies an untouched stream', async () => {
        const id = sid('chain');
        await s.store.append(id, [ev(id), ev(id)], 'no_stream');
        await s.store.append(id, [ev(id)], 1);
        expect(await s.store.verifyStream(id)).toMatchObject({ ok: true, events: 3 });
      });

      it.skipIf(!capabilities.rawSqlTampering)('reports the first broken link after an UPDATE behind the store’s back', async () => {
        const id = sid('chain');
        await s.store.append(id, [ev(id, { recordedBy: 'op-1' }), ev(id, { recordedBy: 'op-2' }), ev(id, { recordedBy: 'op-3' })], 'no_stream');
        await sql(
          `UPDATE eventstore.events SET data = jsonb_set(data, '{recordedBy}', '"forged"') WHERE stream_id = $1 AND stream_position = 1`,
          [id],
        );
        expect(await s.store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 1, reason: 'hash_mismatch' });
      });

      it.skipIf(!capabilities.rawSqlTampering)('reports a deleted event as a gap', async () => {
        const id = sid('chain');
        await s.store.append(id, [ev(id), ev(id), ev(id)], 'no_stream');
        await sql('DELETE FROM eventstore.events WHERE stream_id = $1 AND stream_position = 1', [id]);
        expect(await s.store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 1, reason: 'position_gap' });
      });

      it.skipIf(!capabilities.rawSqlTampering)('reports a re-hashed event whose link no longer matches its predecessor', async () => {
        const id = sid('chain');
        await s.store.append(id, [ev(id), ev(id)], 'no_stream');
        await sql(
          `UPDATE eventstore.events SET prev_hash = sha256('forged'::bytea) WHERE stream_id = $1 AND stream_position = 1`,
          [id],
        );
        expect(await s.store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 1, reason: 'prev_hash_mismatch' });
      });
    });
  });
}
