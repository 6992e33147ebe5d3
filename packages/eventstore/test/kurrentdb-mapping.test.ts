import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { StreamId, canonicalEnvelope, type RawRecordedEvent } from '@onestop/events';
import { FilteredCatchUpSubscription, linkHash, matches, verifyChain, type LogFilter, type Wakeup } from '../src/index.js';
import {
  CHECKPOINT_TYPE,
  EVENT_ID_CLAIM_TYPE,
  EXCLUDE_SYSTEM_EVENTS,
  chainEvents,
  checkpointStream,
  decodeEvent,
  stringMetadata,
  encodeEvent,
  escapeRegex,
  eventIdClaimStream,
  isInternal,
  revisionNumber,
  satisfies,
  serverFilter,
  toGlobalPosition,
  toKurrentPosition,
  validateAppend,
  type ProposedEvent,
  type StoredEvent,
} from '../src/kurrentdb-mapping.js';
import { ev } from './contract.js';

const pos = (n: number | bigint) => ({ commit: BigInt(n), prepare: BigInt(n) });

/** What KurrentDB hands back for a proposed event: data and metadata went through JSON. */
function stored(streamId: string, p: ProposedEvent, revision: number, position: number): StoredEvent {
  return {
    streamId,
    id: p.id,
    type: p.type,
    revision: BigInt(revision),
    data: JSON.parse(JSON.stringify(p.data)),
    metadata: JSON.parse(JSON.stringify(p.metadata)),
    position: pos(position),
  };
}

describe('KurrentDB positions', () => {
  it('maps a self-committed $all position to its commit position, and back', () => {
    expect(toGlobalPosition(pos(1234))).toBe(1234);
    expect(toKurrentPosition(1234)).toEqual(pos(1234));
    expect(toGlobalPosition(toKurrentPosition(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('keeps the log order: increasing byte offsets give increasing global positions', () => {
    const offsets = [128n, 391n, 654n, 10_000_000_123n];
    const mapped = offsets.map((o) => toGlobalPosition(pos(o)));
    expect(mapped).toEqual([...mapped].sort((a, b) => a - b));
    expect(new Set(mapped).size).toBe(offsets.length);
  });

  it('refuses what is not one exact position per event', () => {
    expect(() => toGlobalPosition(undefined)).toThrow(/22\.6/);
    expect(() => toGlobalPosition(pos(0))).toThrow(/no position/);
    expect(() => toGlobalPosition(pos(18446744073709551615n))).toThrow(/2\^53/);
    expect(() => toGlobalPosition(pos(2n ** 53n))).toThrow(/2\^53/);
    expect(() => toGlobalPosition({ commit: 500n, prepare: 420n })).toThrow(/transaction/);
    expect(() => toKurrentPosition(-1)).toThrow();
    expect(() => toKurrentPosition(1.5)).toThrow();
  });

  it('reads a WrongExpectedVersionError state as a revision number', () => {
    expect(revisionNumber(4n)).toBe(4);
    expect(revisionNumber('no_stream')).toBe(-1);
    expect(revisionNumber(undefined)).toBe(-1);
  });
});

describe('KurrentDB event encoding', () => {
  it('puts the envelope into id, type, data and metadata with the chain link, and reads it back unchanged', () => {
    const e = ev('person-1', { pii: { iv: 'x', ct: 'y' }, list: [1, 2.5, null], nested: { b: 1, a: 2 } });
    const p = encodeEvent(e, 0, null);
    expect(p.id).toBe(e.id);
    expect(p.type).toBe(e.type);
    expect(p.data).toEqual(e.data);
    expect(Object.keys(p.metadata).sort()).toEqual(
      ['actor', 'causationId', 'correlationId', 'hash', 'partitionKey', 'prevHash', 'schemaVersion', 'source', 'time'].sort(),
    );
    expect(p.metadata.prevHash).toBeNull();
    expect(p.metadata.hash).toBe(linkHash(null, 0, canonicalEnvelope(e)));

    const back = decodeEvent(stored('person-1', p, 0, 4242));
    expect(back).toEqual({ ...e, streamPosition: 0, globalPosition: 4242, hash: p.metadata.hash, prevHash: null });
  });

  it('chains a batch from the stream head, and verifyChain accepts what comes back', () => {
    const first = chainEvents([ev('case-1'), ev('case-1')], { revision: -1, hash: null });
    const next = chainEvents([ev('case-1', { n: 3 })], { revision: 1, hash: first[1]!.metadata.hash });
    expect(first[1]!.metadata.prevHash).toBe(first[0]!.metadata.hash);
    expect(next[0]!.metadata.prevHash).toBe(first[1]!.metadata.hash);
    const events = [...first, ...next].map((p, i) => decodeEvent(stored('case-1', p, i, 100 + i * 200)));
    expect(verifyChain('case-1', events)).toMatchObject({ ok: true, events: 3, headHash: next[0]!.metadata.hash });

    const tampered = events.map((e, i) => (i === 1 ? { ...e, data: { ...(e.data as object), seq: -1 } } : e));
    expect(verifyChain('case-1', tampered)).toMatchObject({ ok: false, brokenAt: 1, reason: 'hash_mismatch' });
  });

  it('detects a forged link: a self-consistent event whose prevHash is not its predecessor', () => {
    const [p0] = chainEvents([ev('case-2')], { revision: -1, hash: null });
    const forgedPrev = createHash('sha256').update('forged').digest('hex');
    const p1 = encodeEvent(ev('case-2'), 1, forgedPrev);
    const events = [decodeEvent(stored('case-2', p0!, 0, 10)), decodeEvent(stored('case-2', p1, 1, 20))];
    expect(verifyChain('case-2', events)).toMatchObject({ ok: false, brokenAt: 1, reason: 'prev_hash_mismatch' });
  });

  it('reads the string-valued metadata of a multi-stream append (one JSON string) as the same envelope and link', () => {
    const e = ev('person-1', { recordedBy: 'op-9' });
    const p = encodeEvent(e, 0, null);
    const packed = stringMetadata(p.metadata);
    expect(Object.values(packed).every((v) => typeof v === 'string')).toBe(true);
    // the server may add keys of its own beside it
    const back = decodeEvent({ streamId: 'person-1', id: e.id, type: e.type, revision: 0n, data: e.data, metadata: { ...packed, '$schema.name': e.type }, position: pos(99) });
    expect(back).toEqual(decodeEvent(stored('person-1', p, 0, 99)));
    expect(verifyChain('person-1', [back])).toMatchObject({ ok: true });
  });

  it('reads an event written behind the adapter’s back (no or binary metadata) and lets verify report it', () => {
    const base = { streamId: 'case-3', id: '6f1c2d1e-0000-4000-8000-000000000001', type: 'Foreign', revision: 0n, data: { x: 1 }, position: pos(77) };
    for (const metadata of [undefined, new Uint8Array([1, 2, 3]), { unrelated: true }]) {
      const e = decodeEvent({ ...base, metadata });
      expect(e).toMatchObject({ subject: 'case-3', streamPosition: 0, globalPosition: 77, hash: '', prevHash: null });
      expect(verifyChain('case-3', [e])).toMatchObject({ ok: false, brokenAt: 0, reason: 'hash_mismatch' });
    }
  });
});

describe('KurrentDB append checks', () => {
  it('validates like the SQL store, and refuses what SQL refuses through its constraints', () => {
    const a = ev('case-4');
    expect(() => validateAppend('case-4', [a], 'any')).not.toThrow();
    expect(() => validateAppend('case-4', [], 'any')).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    expect(() => validateAppend('case-5', [a], 'any')).toThrow(/subject/);
    expect(() => validateAppend('case-4', [a, { ...a }], 'any')).toThrow(/twice/);
    expect(() => validateAppend('case-4', [{ ...a, data: undefined }], 'any')).toThrow(/no data/);
    expect(() => validateAppend('case-4', [{ ...a, id: 'nope' }], 'any')).toThrow(/invalid envelope/);
    for (const bad of [-1, 1.5, 'latest'] as never[]) {
      expect(() => validateAppend('case-4', [a], bad)).toThrow(/expected revision/);
    }
  });

  it('checks an expected revision against the stream head (-1: no stream)', () => {
    expect(satisfies('any', -1)).toBe(true);
    expect(satisfies('any', 7)).toBe(true);
    expect(satisfies('no_stream', -1)).toBe(true);
    expect(satisfies('no_stream', 0)).toBe(false);
    expect(satisfies('stream_exists', -1)).toBe(false);
    expect(satisfies('stream_exists', 0)).toBe(true);
    expect(satisfies(3, 3)).toBe(true);
    expect(satisfies(3, 4)).toBe(false);
  });
});

describe('KurrentDB naming and filters', () => {
  it('keeps the adapter’s bookkeeping in $ streams with $ types, apart from any domain stream', () => {
    for (const s of [checkpointStream('relay'), eventIdClaimStream('6F1C2D1E-0000-4000-8000-000000000001')]) {
      expect(s.startsWith('$')).toBe(true);
      expect(StreamId.safeParse(s).success).toBe(false);
      expect(isInternal(s, 'Anything')).toBe(true);
    }
    expect(eventIdClaimStream('6F1C2D1E-0000-4000-8000-000000000001')).toBe(eventIdClaimStream('6f1c2d1e-0000-4000-8000-000000000001'));
    expect(isInternal('person-1', CHECKPOINT_TYPE)).toBe(true);
    expect(isInternal('person-1', EVENT_ID_CLAIM_TYPE)).toBe(true);
    expect(isInternal('person-1', 'PersonRegistered')).toBe(false);
    expect(new RegExp((EXCLUDE_SYSTEM_EVENTS as { regex: string }).regex).test(CHECKPOINT_TYPE)).toBe(false);
  });

  it('filters on the server by exact event types, else by stream prefix, else excludes system events', () => {
    const types = serverFilter({ types: ['One', 'Two.v2'], streamPrefix: 'alpha-' });
    expect(types.filterOn).toBe('eventType');
    const re = new RegExp((types as { regex: string }).regex);
    expect(['One', 'Two.v2'].map((t) => re.test(t))).toEqual([true, true]);
    expect(['OneMore', 'Two-v2', 'TwoXv2', '$metadata', '$>'].map((t) => re.test(t))).toEqual([false, false, false, false, false]);
    expect(serverFilter({ streamPrefix: 'person-' })).toEqual({ filterOn: 'streamName', prefixes: ['person-'] });
    expect(serverFilter({})).toBe(EXCLUDE_SYSTEM_EVENTS);
    expect(serverFilter({ streamPrefix: '' })).toBe(EXCLUDE_SYSTEM_EVENTS);
    expect(serverFilter({ streamPrefix: '$onestop-' })).toBe(EXCLUDE_SYSTEM_EVENTS);
    expect(serverFilter(undefined)).toBe(EXCLUDE_SYSTEM_EVENTS);
    expect(new RegExp(`^${escapeRegex('a.b*c(d)[e]{f}|g^h$i\\j?k+l m#n-o')}$`).test('a.b*c(d)[e]{f}|g^h$i\\j?k+l m#n-o')).toBe(true);
  });
});

/** An in-memory log that filters "on the server", as KurrentDB's `$all` reads do. */
class FakeLog {
  readonly events: RawRecordedEvent[] = [];
  readonly checkpoints = new Map<string, number>();
  private readonly wakeups = new Set<Wakeup>();
  private next = 100;
  pageReads = 0;

  append(streamId: string, type = 'TestHappened'): RawRecordedEvent {
    const e = { ...ev(streamId), type, streamPosition: 0, globalPosition: this.next, hash: 'h', prevHash: null };
    this.next += 137;
    this.events.push(e);
    for (const w of this.wakeups) w.notify();
    return e;
  }

  source(pollIntervalMs = 60_000) {
    return {
      headPosition: async () => this.events.at(-1)?.globalPosition ?? 0,
      readPage: async (after: number, limit: number, filter: LogFilter | undefined) => {
        this.pageReads += 1;
        return this.events.filter((e) => e.globalPosition > after && matches(filter, e)).slice(0, limit);
      },
      loadCheckpoint: async (n: string) => this.checkpoints.get(n),
      saveCheckpoint: async (n: string, p: number) => void this.checkpoints.set(n, p),
      onAppended: (w: Wakeup) => {
        this.wakeups.add(w);
        return () => this.wakeups.delete(w);
      },
      pollIntervalMs,
    };
  }
}

describe('FilteredCatchUpSubscription (the KurrentDB subscriber)', () => {
  it('delivers the wanted events in batches and moves past a filtered-out tail to the head', async () => {
    const log = new FakeLog();
    const wanted = [log.append('a-1'), log.append('b-1'), log.append('a-2'), log.append('a-3')];
    log.append('b-2');
    log.append('b-3');
    const batches: string[][] = [];
    const sub = new FilteredCatchUpSubscription(log.source(), {
      filter: { streamPrefix: 'a-' },
      batchSize: 2,
      handle: async (es) => void batches.push(es.map((e) => e.id)),
    });
    const head = log.events.at(-1)!.globalPosition;
    await sub.reached(head, 2000);
    await sub.stop();
    expect(batches).toEqual([[wanted[0]!.id, wanted[2]!.id], [wanted[3]!.id]]);
    expect(sub.position).toBe(head);
  });

  it('retries a failed batch instead of skipping it, and saves its checkpoint only after handling', async () => {
    const log = new FakeLog();
    const es = [log.append('a-1'), log.append('a-2')];
    let failures = 0;
    const got: string[] = [];
    const errors: unknown[] = [];
    const sub = new FilteredCatchUpSubscription(log.source(), {
      checkpoint: 'cp',
      handle: async (batch) => {
        if (failures < 2) {
          failures += 1;
          expect(log.checkpoints.get('cp')).toBeUndefined();
          throw new Error('transient');
        }
        got.push(...batch.map((e) => e.id));
      },
      onError: (e) => errors.push(e),
    });
    await sub.reached(es[1]!.globalPosition, 5000);
    await sub.stop();
    expect(errors).toHaveLength(2);
    expect(got).toEqual(es.map((e) => e.id));
    expect(log.checkpoints.get('cp')).toBe(es[1]!.globalPosition);
  });

  it('resumes from its checkpoint, ignoring `from`', async () => {
    const log = new FakeLog();
    log.append('a-1');
    const cp = log.append('a-2').globalPosition;
    log.checkpoints.set('cp', cp);
    const later = log.append('a-3');
    const got: string[] = [];
    const sub = new FilteredCatchUpSubscription(log.source(), {
      checkpoint: 'cp',
      from: 0,
      handle: async (es) => void got.push(...es.map((e) => e.id)),
    });
    await sub.reached(later.globalPosition, 2000);
    await sub.stop();
    expect(got).toEqual([later.id]);
  });

  it('wakes on an append instead of waiting for its poll', async () => {
    const log = new FakeLog();
    const got: string[] = [];
    const sub = new FilteredCatchUpSubscription(log.source(60_000), { handle: async (es) => void got.push(...es.map((e) => e.id)) });
    await new Promise((r) => setTimeout(r, 50));
    const e = log.append('a-1');
    await sub.reached(e.globalPosition, 2000);
    await sub.stop();
    expect(got).toEqual([e.id]);
  });
});

describe('@onestop/eventstore entry point', () => {
  it('does not load the KurrentDB client until a KurrentDB store is created', () => {
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache).filter((k) => k.includes('@kurrent'));
    expect(loaded).toEqual([]);
  });
});
