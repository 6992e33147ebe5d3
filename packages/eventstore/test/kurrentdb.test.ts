import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as Kurrent from '@kurrent/kurrentdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawEnvelope } from '@onestop/events';
import { dockerAvailable } from '@onestop/testkit';
import { createKurrentEventStore } from '../src/index.js';
import { KurrentEventStore } from '../src/kurrentdb.js';
import { EVENT_ID_CLAIM_TYPE, encodeEvent, eventIdClaimStream, type ProposedEvent } from '../src/kurrentdb-mapping.js';
import { ev, eventStoreContract, type SlowAppend } from './contract.js';

/**
 * KurrentDB at KURRENTDB_URL (e.g. `kurrentdb://localhost:2113?tls=false`),
 * else a throwaway KurrentDB container where a Docker engine answers, else the
 * whole file is skipped and says why.
 */
const fromEnv = process.env.KURRENTDB_URL;
const available = Boolean(fromEnv) || (await dockerAvailable());
if (!available) console.warn('KurrentDB contract tests skipped: no KURRENTDB_URL and no Docker engine (docker info failed)');

interface Server {
  url: string;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  if (fromEnv) return { url: fromEnv, stop: async () => undefined };
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(process.env.KURRENTDB_IMAGE ?? 'kurrentplatform/kurrentdb:26.1.1')
    .withEnvironment({
      KURRENTDB_CLUSTER_SIZE: '1',
      KURRENTDB_INSECURE: 'true',
      KURRENTDB_RUN_PROJECTIONS: 'None',
      KURRENTDB_START_STANDARD_PROJECTIONS: 'false',
      KURRENTDB_MEM_DB: 'true',
    })
    .withExposedPorts(2113)
    .withWaitStrategy(Wait.forHttp('/health/live', 2113).forStatusCode(204))
    .withStartupTimeout(120_000)
    .start();
  return {
    url: `kurrentdb://${container.getHost()}:${container.getMappedPort(2113)}?tls=false`,
    stop: async () => void (await container.stop()),
  };
}

/** KurrentDB's "slow" append: it holds nothing, its position is committed as soon as it is taken. */
function committedAtOnce(store: KurrentEventStore, streamId: string, event: RawEnvelope): SlowAppend {
  const holding = store.append(streamId, [event], 'any').then((r) => r.globalPositions[0]!);
  holding.catch(() => undefined);
  return { holding, release: () => undefined, committed: holding.then(() => undefined), mode: 'immediate' };
}

describe.skipIf(!available)('KurrentDB', () => {
  let server: Promise<Server> | undefined;
  const url = async () => (await (server ??= startServer())).url;
  afterAll(async () => {
    if (server) await (await server).stop();
  });

  eventStoreContract(
    'KurrentDB',
    async () => {
      const connectionString = await url();
      const store = await createKurrentEventStore({ connectionString });
      const secondStore = await createKurrentEventStore({ connectionString });
      return {
        store,
        secondStore,
        // KurrentDB has no client transactions: an append takes its $all position
        // and commits in one step, so no event can take an early position and
        // commit late. The nearest equivalent keeps the hook's shape: the event
        // takes an early position, committed at once.
        slowAppend: (streamId, event) => committedAtOnce(store, streamId, event),
        async close() {
          await store.close();
          await secondStore.close();
        },
      };
    },
    undefined,
    // events are immutable and streams have no holes: tampering is forged below instead
    { rawSqlTampering: false },
  );

  adapterSpecifics(async () => createKurrentEventStore({ connectionString: await url() }));
});

/** What only a KurrentDB store does (or must prove differently): run against the server and against the model. */
function adapterSpecifics(open: () => Promise<KurrentEventStore>): void {
  describe('KurrentDB adapter specifics', () => {
    let store: KurrentEventStore;
    let client: typeof Kurrent;
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    /** appends a proposed event with the raw client, behind the adapter's back */
    const forge = (streamId: string, p: ProposedEvent, after: bigint) =>
      store.client.appendToStream(
        streamId,
        client.jsonEvent({ id: p.id, type: p.type, data: p.data as never, metadata: p.metadata as never }),
        { streamState: after },
      );

    beforeAll(async () => {
      client = await import('@kurrent/kurrentdb-client');
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('keeps the envelope in event id, type, data and metadata, with the chain link', async () => {
      const id = `meta-${randomUUID()}`;
      const e = ev(id, { recordedBy: 'op-7' });
      await store.append(id, [e], 'no_stream');
      const raw = [];
      for await (const r of store.client.readStream(id)) raw.push(r.event);
      expect(raw).toHaveLength(1);
      expect(raw[0]).toMatchObject({ id: e.id, type: e.type, streamId: id, revision: 0n, isJson: true, data: e.data });
      expect(raw[0]!.metadata).toEqual({ ...encodeEvent(e, 0, null).metadata });
    });

    it('reports an event forged with changed content as a hash mismatch', async () => {
      const id = `chain-${randomUUID()}`;
      const [e0, e1, e2] = [ev(id, { recordedBy: 'op-1' }), ev(id, { recordedBy: 'op-2' }), ev(id, { recordedBy: 'op-3' })];
      await store.append(id, [e0!], 'no_stream');
      const [head] = await store.readStream(id);
      const honest = encodeEvent(e1!, 1, head!.hash);
      await forge(id, { ...honest, data: { ...(e1!.data as object), recordedBy: 'forged' } }, 0n);
      await store.append(id, [e2!], 1);
      expect(await store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 1, reason: 'hash_mismatch' });
    });

    it('reports a re-hashed event whose link does not match its predecessor', async () => {
      const id = `chain-${randomUUID()}`;
      await store.append(id, [ev(id)], 'no_stream');
      await forge(id, encodeEvent(ev(id), 1, sha('forged')), 0n);
      expect(await store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 1, reason: 'prev_hash_mismatch' });
    });

    it('reports a truncated stream as a gap at its start', async () => {
      const id = `chain-${randomUUID()}`;
      await store.append(id, [ev(id), ev(id), ev(id)], 'no_stream');
      await store.client.setStreamMetadata(id, { truncateBefore: 1 });
      expect(await store.verifyStream(id)).toMatchObject({ ok: false, brokenAt: 0, reason: 'position_gap' });
    });

    it('goes ahead when an earlier attempt claimed the ids but never appended', async () => {
      const id = `claim-${randomUUID()}`;
      const e = ev(id);
      await store.client.appendToStream(
        eventIdClaimStream(e.id),
        client.jsonEvent({ type: EVENT_ID_CLAIM_TYPE, data: { streamId: id, after: -1 } }),
        { streamState: client.NO_STREAM },
      );
      const r = await store.append(id, [e], 'no_stream');
      expect(r).toMatchObject({ nextExpectedRevision: 0, replayed: false });
      expect((await store.append(id, [e], 'no_stream')).replayed).toBe(true);
      expect(await store.readStream(id)).toHaveLength(1);
    });

    it('keeps checkpoints and id claims out of the global log and its head', async () => {
      const start = await store.headPosition();
      const name = `test-${randomUUID()}`;
      await store.saveCheckpoint(name, start);
      const id = `quiet-${randomUUID()}`;
      const r = await store.append(id, [ev(id), ev(id)], 'no_stream');
      await store.saveCheckpoint(name, r.globalPositions[1]!);
      expect((await store.readAll({ after: start })).map((e) => e.subject)).toEqual([id, id]);
      expect(await store.headPosition()).toBe(r.globalPositions[1]);
      expect(await store.loadCheckpoint(name)).toBe(r.globalPositions[1]);
      expect((await store.streamHeads()).filter((h) => h.streamId.startsWith('$'))).toEqual([]);
    });

    it('pages the global log past events its client-side filter drops', async () => {
      const start = await store.headPosition();
      const a = `pagea-${randomUUID()}`;
      const b = `pageb-${randomUUID()}`;
      for (let i = 0; i < 5; i++) await store.append(b, [ev(b, {}, 'ServiceStarted')], 'any');
      await store.append(a, [ev(a, {}, 'ServiceStarted')], 'no_stream');
      // the server filters on the type; the stream prefix is left to the client
      const got = await store.readAll({ after: start, types: ['ServiceStarted'], streamPrefix: 'pagea-', maxCount: 1 });
      expect(got.map((e) => e.subject)).toEqual([a]);
    });
  });
}

/**
 * An in-memory model of the KurrentDB server behaviour the adapter relies on,
 * each point taken from KurrentDB's or its client's source (see the adapter's
 * notes): byte-offset `$all` positions with commit = prepare for every
 * appended event; forward `$all` reads inclusive of their start position;
 * one server-side filter per read (event-type regex or stream-name prefixes);
 * exact expected revisions with WrongExpectedVersionError carrying the actual
 * revision, and the server's own dedupe of a retried batch at an exact
 * expected revision; StreamNotFoundError on reading a missing stream;
 * `$maxCount` and `$tb` stream metadata; a live `$all` subscription from the
 * end; 25.1's multiStreamAppend, all or nothing, string-valued metadata
 * only. It is not KurrentDB: it runs the adapter's own logic here, where no
 * server is available; the real contract run is the block above.
 */
class KurrentModel {
  private readonly log: Array<{ streamId: string; id: string; type: string; revision: bigint; data: string; metadata: string; position: bigint }> = [];
  private readonly streams = new Map<string, bigint[]>();
  private readonly meta = new Map<string, { maxCount?: number; truncateBefore?: number }>();
  private readonly live = new Set<{ emitter: EventEmitter; filter?: { filterOn: string; regex?: string; prefixes?: string[] } }>();
  private nextPosition = 1024n;

  private static async tick(): Promise<void> {
    await new Promise((r) => setImmediate(r));
  }

  private static passes(filter: { filterOn: string; regex?: string; prefixes?: string[] } | undefined, e: { streamId: string; type: string }) {
    if (!filter) return true;
    const subject = filter.filterOn === 'eventType' ? e.type : e.streamId;
    if (filter.regex !== undefined) return new RegExp(filter.regex).test(subject);
    return (filter.prefixes ?? []).some((p) => subject.startsWith(p));
  }

  private toRecorded(i: number) {
    const r = this.log[i]!;
    return {
      event: {
        streamId: r.streamId,
        id: r.id,
        type: r.type,
        revision: r.revision,
        isJson: true,
        created: new Date(),
        data: JSON.parse(r.data),
        metadata: r.metadata ? JSON.parse(r.metadata) : undefined,
        position: { commit: r.position, prepare: r.position },
      },
      commitPosition: r.position,
    };
  }

  async appendToStream(
    streamName: string,
    input: { id: string; type: string; data: unknown; metadata?: unknown } | Array<{ id: string; type: string; data: unknown; metadata?: unknown }>,
    options: { streamState?: bigint | string } = {},
  ) {
    await KurrentModel.tick();
    const events = Array.isArray(input) ? input : [input];
    const state = options.streamState ?? 'any';
    const indexes = this.streams.get(streamName) ?? [];
    const current = BigInt(indexes.length) - 1n;
    const exact = typeof state === 'bigint' ? state : state === 'no_stream' ? -1n : undefined;
    if (exact !== undefined && current !== exact) {
      const after = indexes.slice(Number(exact) + 1, Number(exact) + 1 + events.length).map((p) => this.log[Number(p)]!.id);
      if (after.length === events.length && after.every((id, i) => id === events[i]!.id)) {
        return { success: true, nextExpectedRevision: exact + BigInt(events.length) };
      }
      throw Object.assign(new Error('wrong expected version'), {
        type: 'wrong-expected-version',
        streamName,
        expectedState: state,
        actualState: current < 0n ? 'no_stream' : current,
      });
    }
    if (state === 'stream_exists' && current < 0n) {
      throw Object.assign(new Error('wrong expected version'), { type: 'wrong-expected-version', actualState: 'no_stream' });
    }
    return { success: true, nextExpectedRevision: this.write(streamName, events) };
  }

  /**
   * KurrentDB 25.1's multi-stream append: every stream's expected state is
   * checked before anything is written, and a conflict fails the whole write
   * (the client's WrongExpectedVersionError from a StreamRevisionConflict
   * names the stream); metadata must be string values, as the client enforces.
   */
  async multiStreamAppend(requests: Array<{ streamName: string; events: Array<{ id: string; type: string; data: unknown; metadata?: unknown }>; expectedState: bigint | string }>) {
    for (const r of requests) {
      for (const e of r.events) {
        const m = e.metadata;
        if (m != null && (typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((v) => typeof v !== 'string'))) {
          throw new Error('multiStreamAppend requires metadata to be a plain object with string keys and string values.');
        }
      }
    }
    await KurrentModel.tick();
    for (const r of requests) {
      const current = BigInt((this.streams.get(r.streamName) ?? []).length) - 1n;
      const st = r.expectedState;
      const ok = st === 'any' || (st === 'no_stream' ? current === -1n : st === 'stream_exists' ? current >= 0n : current === st);
      if (!ok) {
        throw Object.assign(new Error('wrong expected version'), {
          type: 'wrong-expected-version',
          streamName: r.streamName,
          expectedState: st,
          actualState: current < 0n ? 'no_stream' : current,
        });
      }
    }
    const responses = requests.map((r) => ({ streamName: r.streamName, revision: this.write(r.streamName, r.events) }));
    return { position: this.log.at(-1)!.position, responses };
  }

  /** Appends to the log and the stream, and feeds live subscriptions; the stream's new revision. */
  private write(streamName: string, events: Array<{ id: string; type: string; data: unknown; metadata?: unknown }>): bigint {
    const indexes = this.streams.get(streamName) ?? [];
    const current = BigInt(indexes.length) - 1n;
    for (const [i, e] of events.entries()) {
      const data = JSON.stringify(e.data);
      const metadata = e.metadata === undefined ? '' : JSON.stringify(e.metadata);
      this.log.push({ streamId: streamName, id: e.id, type: e.type, revision: current + 1n + BigInt(i), data, metadata, position: this.nextPosition });
      indexes.push(BigInt(this.log.length - 1));
      this.nextPosition += BigInt(80 + data.length + metadata.length);
    }
    this.streams.set(streamName, indexes);
    const first = this.log.length - events.length;
    for (const sub of this.live) {
      for (let i = first; i < this.log.length; i++) {
        if (KurrentModel.passes(sub.filter, this.log[i]!)) setImmediate(() => sub.emitter.emit('data', this.toRecorded(i)));
      }
    }
    return current + BigInt(events.length);
  }

  async setStreamMetadata(streamName: string, metadata: { maxCount?: number; truncateBefore?: number }) {
    this.meta.set(streamName, { ...this.meta.get(streamName), ...metadata });
    return this.appendToStream(`$$${streamName}`, { id: randomUUID(), type: '$metadata', data: metadata });
  }

  async *readStream(
    streamName: string,
    options: { direction?: string; fromRevision?: bigint | string; maxCount?: number | bigint } = {},
  ) {
    await KurrentModel.tick();
    const indexes = this.streams.get(streamName);
    if (!indexes) throw Object.assign(new Error(`${streamName} not found`), { type: 'stream-not-found' });
    const m = this.meta.get(streamName) ?? {};
    const lowest = Math.max(m.truncateBefore ?? 0, m.maxCount !== undefined ? indexes.length - m.maxCount : 0);
    const visible = indexes.map((p, revision) => ({ p, revision })).filter((x) => x.revision >= lowest);
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision === undefined || options.fromRevision === 'start' ? (backwards ? Infinity : 0) : options.fromRevision === 'end' ? Infinity : Number(options.fromRevision);
    const picked = backwards ? visible.filter((x) => x.revision <= from).reverse() : visible.filter((x) => x.revision >= from);
    for (const x of picked.slice(0, Number(options.maxCount ?? Number.MAX_SAFE_INTEGER))) yield this.toRecorded(Number(x.p));
  }

  async *readAll(
    options: { direction?: string; fromPosition?: { commit: bigint } | string; maxCount?: number | bigint; filter?: { filterOn: string; regex?: string; prefixes?: string[] } } = {},
  ) {
    await KurrentModel.tick();
    const max = Number(options.maxCount ?? Number.MAX_SAFE_INTEGER);
    let n = 0;
    if (options.direction === 'backwards') {
      for (let i = this.log.length - 1; i >= 0 && n < max; i--) {
        if (!KurrentModel.passes(options.filter, this.log[i]!)) continue;
        n += 1;
        yield this.toRecorded(i);
      }
      return;
    }
    const from = typeof options.fromPosition === 'object' ? options.fromPosition.commit : 0n;
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.position < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length && n < max; i++) {
      if (!KurrentModel.passes(options.filter, this.log[i]!)) continue;
      n += 1;
      yield this.toRecorded(i);
    }
  }

  subscribeToAll(options: { filter?: { filterOn: string; regex?: string; prefixes?: string[] } } = {}) {
    const emitter = new EventEmitter();
    const entry = { emitter, filter: options.filter };
    this.live.add(entry);
    return Object.assign(emitter, {
      unsubscribe: async () => {
        this.live.delete(entry);
      },
    });
  }

  async dispose(): Promise<void> {}
}

describe('KurrentDB adapter logic against an in-memory model of the server (no KurrentDB involved)', () => {
  eventStoreContract(
    'KurrentDB adapter on the in-memory model',
    async () => {
      const model = new KurrentModel();
      const store = new KurrentEventStore(model as unknown as Kurrent.KurrentDBClient);
      const secondStore = new KurrentEventStore(model as unknown as Kurrent.KurrentDBClient);
      return {
        store,
        secondStore,
        slowAppend: (streamId, event) => committedAtOnce(store, streamId, event),
        async close() {
          await store.close();
          await secondStore.close();
        },
      };
    },
    undefined,
    { rawSqlTampering: false },
  );

  adapterSpecifics(async () => new KurrentEventStore(new KurrentModel() as unknown as Kurrent.KurrentDBClient));
});
