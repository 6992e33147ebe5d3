import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import type { RawRecordedEvent } from '@onestop/events';
import {
  CheckpointLoadError,
  FilteredCatchUpSubscription,
  createEmbeddedEventStore,
  createPostgresEventStore,
  type SqlEventStore,
  type Wakeup,
} from '../src/index.js';
import { ev } from './contract.js';

// Checkpoints (issue 11 point 5): a failed load never sends a subscriber back
// to the start, and a checkpoint only moves forward unless reset on purpose.

/** Makes the store's own loadCheckpoint fail its next `times` calls, as a dropped connection would. */
function failLoads(store: SqlEventStore, times: number): { calls: () => number } {
  const real = store.loadCheckpoint.bind(store);
  let calls = 0;
  store.loadCheckpoint = async (name: string) => {
    calls += 1;
    if (calls <= times) throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    return real(name);
  };
  return { calls: () => calls };
}

const adapters: Array<[string, () => Promise<{ store: SqlEventStore; close(): Promise<void> }>]> = [
  [
    'PostgreSQL (pg)',
    async () => {
      const db: TestDatabase = await createTestDatabase('cp');
      const store = await createPostgresEventStore({ connectionString: db.url, pollIntervalMs: 50 });
      return {
        store,
        async close() {
          await store.close();
          await db.drop();
        },
      };
    },
  ],
  [
    'embedded (PGlite)',
    async () => {
      const store = await createEmbeddedEventStore({ pollIntervalMs: 50 });
      return { store, close: () => store.close() };
    },
  ],
];

describe.each(adapters)('checkpoints on %s', (_name, open) => {
  let subject: { store: SqlEventStore; close(): Promise<void> };
  beforeAll(async () => {
    subject = await open();
  });
  afterAll(async () => {
    await subject?.close();
  });

  /** a fresh store instance view: loadCheckpoint patched per test, so each test restores it */
  const withStore = async (fn: (store: SqlEventStore) => Promise<void>) => {
    const { store } = subject;
    const loadCheckpoint = store.loadCheckpoint;
    try {
      await fn(store);
    } finally {
      store.loadCheckpoint = loadCheckpoint;
    }
  };

  it('a load that fails a few times is retried with backoff, then resumes at the stored checkpoint: nothing handed over twice', () =>
    withStore(async (store) => {
      const prefix = `cpf${randomUUID().slice(0, 8)}`;
      const a = `${prefix}-a`;
      const before = Array.from({ length: 5 }, () => ev(a));
      const r = await store.append(a, before, 'no_stream');
      const name = `sub-${prefix}`;
      await store.saveCheckpoint(name, r.globalPositions[2]!);
      const after = [ev(a), ev(a)];
      await store.append(a, after, 4);
      const head = await store.headPosition();

      const flaky = failLoads(store, 3);
      const got: string[] = [];
      const errors: unknown[] = [];
      const began = Date.now();
      const sub = store.subscribeToAll({
        checkpoint: name,
        from: 0,
        filter: { streamPrefix: `${prefix}-` },
        handle: async (es) => void got.push(...es.map((e) => e.id)),
        onError: (e) => errors.push(e),
      });
      await sub.reached(head, 10_000);
      const tookMs = Date.now() - began;
      await sub.stop();
      await expect(sub.ended).resolves.toBeUndefined();

      expect(flaky.calls()).toBe(4);
      expect(got).toEqual([...before.slice(3), ...after].map((e) => e.id));
      expect(errors).toHaveLength(3);
      for (const e of errors) expect(e).toBeInstanceOf(CheckpointLoadError);
      expect((errors as CheckpointLoadError[]).map((e) => e.retryInMs)).toEqual([50, 100, 200]);
      expect(String((errors[0] as Error).message)).toMatch(/checkpoint "sub-.*" could not be loaded \(attempt 1\); retrying in 50 ms/);
      // the backoff was really waited for: 50 + 100 + 200 ms
      expect(tookMs).toBeGreaterThanOrEqual(330);
      expect(await store.loadCheckpoint(name)).toBe(head);
    }));

  it('a load that keeps failing fails the subscription loudly: reached() and ended reject, the handler never runs, the checkpoint is untouched', () =>
    withStore(async (store) => {
      const prefix = `cpd${randomUUID().slice(0, 8)}`;
      const a = `${prefix}-a`;
      const r = await store.append(a, [ev(a), ev(a), ev(a)], 'no_stream');
      const stored = `stored-${prefix}`;
      await store.saveCheckpoint(stored, r.globalPositions[0]!);
      const head = await store.headPosition();

      failLoads(store, Number.MAX_SAFE_INTEGER);
      for (const name of [stored, `never-${prefix}`]) {
        let handled = 0;
        const errors: unknown[] = [];
        const sub = store.subscribeToAll({
          checkpoint: name,
          from: 0,
          checkpointLoadTimeoutMs: 500,
          handle: async () => void (handled += 1),
          onError: (e) => errors.push(e),
        });
        const reached = sub.reached(head, 10_000);
        await expect(reached).rejects.toBeInstanceOf(CheckpointLoadError);
        await expect(reached).rejects.toThrow(/subscription failed: checkpoint ".*" could not be loaded \(4 attempts in \d+ ms\); it does not start from the beginning/);
        await expect(sub.ended).rejects.toBeInstanceOf(CheckpointLoadError);
        // 50 + 100 + 200 ms of backoff, then the next wait (400 ms) would pass the 500 ms budget
        expect(errors).toHaveLength(4);
        expect((errors as CheckpointLoadError[]).map((e) => e.retryInMs)).toEqual([50, 100, 200, undefined]);
        expect(sub.position).toBe(0);
        await sub.stop();
        // a later look: still nothing handed over
        await expect(sub.reached(head, 100)).rejects.toBeInstanceOf(CheckpointLoadError);
        expect(handled).toBe(0);
      }
      store.loadCheckpoint = Object.getPrototypeOf(store).loadCheckpoint;
      // stop() saved nothing: the stored checkpoint is where it was, the missing one still missing
      expect(await store.loadCheckpoint(stored)).toBe(r.globalPositions[0]);
      expect(await store.loadCheckpoint(`never-${prefix}`)).toBeUndefined();
    }));

  it('stop() during the retries ends the subscription at once and saves nothing', () =>
    withStore(async (store) => {
      const name = `stopping-${randomUUID().slice(0, 8)}`;
      const flaky = failLoads(store, Number.MAX_SAFE_INTEGER);
      const sub = store.subscribeToAll({ checkpoint: name, handle: async () => undefined, onError: () => undefined });
      while (flaky.calls() < 2) await new Promise((r) => setTimeout(r, 10));
      const began = Date.now();
      await sub.stop();
      expect(Date.now() - began).toBeLessThan(1000);
      await expect(sub.ended).resolves.toBeUndefined();
      store.loadCheckpoint = Object.getPrototypeOf(store).loadCheckpoint;
      expect(await store.loadCheckpoint(name)).toBeUndefined();
    }));

  it('saveCheckpoint only moves forward; resetCheckpoint moves back on purpose', async () => {
    const { store } = subject;
    const name = `forward-${randomUUID().slice(0, 8)}`;
    await store.saveCheckpoint(name, 10);
    await store.saveCheckpoint(name, 5);
    expect(await store.loadCheckpoint(name)).toBe(10);
    await store.saveCheckpoint(name, 10);
    await store.saveCheckpoint(name, 12);
    expect(await store.loadCheckpoint(name)).toBe(12);
    await store.resetCheckpoint(name, 3);
    expect(await store.loadCheckpoint(name)).toBe(3);
    await store.saveCheckpoint(name, 2);
    expect(await store.loadCheckpoint(name)).toBe(3);

    // saves racing each other in any order end at the highest
    const racing = `race-${randomUUID().slice(0, 8)}`;
    const positions = Array.from({ length: 50 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(positions.map((p) => store.saveCheckpoint(racing, p)));
    expect(await store.loadCheckpoint(racing)).toBe(50);
  });

  it('a subscription resumed behind its stored checkpoint (a late save from an older run) does not move it back', async () => {
    const { store } = subject;
    const prefix = `cpl${randomUUID().slice(0, 8)}`;
    const a = `${prefix}-a`;
    const r = await store.append(a, [ev(a), ev(a), ev(a)], 'no_stream');
    const name = `late-${prefix}`;
    // another process got further meanwhile
    await store.saveCheckpoint(name, r.globalPositions[2]! + 1000);
    await store.saveCheckpoint(name, r.globalPositions[0]!);
    expect(await store.loadCheckpoint(name)).toBe(r.globalPositions[2]! + 1000);
  });
});

describe('checkpoints on the KurrentDB subscriber (FilteredCatchUpSubscription, the same load path)', () => {
  it('retries a failing load and then fails, never starting from 0', async () => {
    const events: RawRecordedEvent[] = [ev('a-1'), ev('a-2')].map((e, i) => ({
      ...e,
      streamPosition: 0,
      globalPosition: 100 + i,
      hash: 'h',
      prevHash: null,
    }));
    let loads = 0;
    let handled = 0;
    const wakeups = new Set<Wakeup>();
    const sub = new FilteredCatchUpSubscription(
      {
        headPosition: async () => 101,
        readPage: async (after) => events.filter((e) => e.globalPosition > after),
        loadCheckpoint: async () => {
          loads += 1;
          throw new Error('leader not found');
        },
        saveCheckpoint: async () => undefined,
        onAppended: (w) => {
          wakeups.add(w);
          return () => wakeups.delete(w);
        },
        pollIntervalMs: 50,
      },
      { checkpoint: 'cp', checkpointLoadTimeoutMs: 200, handle: async () => void (handled += 1), onError: () => undefined },
    );
    await expect(sub.reached(101, 5000)).rejects.toBeInstanceOf(CheckpointLoadError);
    await expect(sub.ended).rejects.toThrow(/subscription failed/);
    await sub.stop();
    expect(loads).toBe(3);
    expect(handled).toBe(0);
    expect(wakeups.size).toBe(0);
  });
});
