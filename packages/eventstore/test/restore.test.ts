import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import type { RawRecordedEvent } from '@onestop/events';
import { createPostgresEventStore, type SqlEventStore, type StreamHead } from '../src/index.js';
import { ev } from './contract.js';

// Restore safety (issue 11 point 6, DESIGN §9): a logical restore into another
// PostgreSQL cluster must not hide events. The test starts a second cluster of
// its own (initdb, pg_ctl), with a transaction counter far below the main
// cluster's, and restores a pg_dump of a store into it.

const run = promisify(execFile);
const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const TOOLS = ['initdb', 'pg_ctl', 'pg_dump', 'pg_restore'].map((t) => join(BIN, t));
const missing = TOOLS.filter((t) => !existsSync(t));
const asRoot = process.getuid?.() === 0;
if (missing.length > 0) console.warn(`restore test skipped: PostgreSQL 15 binaries missing (${missing.join(', ')}); set PG_BIN_DIR`);

/** initdb and pg_ctl refuse to run as root: run them as `postgres` then */
async function asServerUser(tool: string, args: string[]): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args]] : [join(BIN, tool), args];
  const { stdout } = await run(file, argv, { timeout: 120_000 });
  return stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A throw-away PostgreSQL 15 cluster: its own directory, port and socket directory. */
interface Cluster {
  url(database: string): string;
  stop(): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'onestop-restore-'));
  const data = join(dir, 'data');
  let started = false;
  const stop = async () => {
    try {
      if (started) await asServerUser('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const port = await freePort();
    await asServerUser('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await asServerUser('pg_ctl', [
      '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
    started = true;
    return { url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

async function one<R>(url: string, text: string): Promise<R> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows[0] as R;
  } finally {
    await c.end();
  }
}

async function readEverything(store: SqlEventStore): Promise<RawRecordedEvent[]> {
  const out: RawRecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after: out.at(-1)?.globalPosition ?? 0, maxCount: 1000 });
    if (page.length === 0) return out;
    out.push(...page);
  }
}

describe.skipIf(missing.length > 0)('restore into another PostgreSQL cluster (pg_dump / pg_restore)', () => {
  let cluster: Cluster | undefined;
  let source: TestDatabase | undefined;
  const STREAMS = 12;
  const PER_STREAM = 30;
  let dir = '';
  let dump = '';
  let sourceHead = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'onestop-dump-'));
    dump = join(dir, 'onestop.dump');
    [cluster, source] = await Promise.all([startCluster(), createTestDatabase('restore')]);
  });
  afterAll(async () => {
    try {
      await cluster?.stop();
      await source?.drop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every restored event is seen once, by reads, subscriptions, heads and verification; new appends come after them', async () => {
    const target = cluster!;
    const src = source!;
    // the new cluster's counter is low: the restored ids must lie above it, or the test proves nothing
    const fresh = BigInt((await one<{ x: string }>(target.url('postgres'), 'SELECT pg_current_xact_id()::text AS x')).x);
    let main = BigInt((await one<{ x: string }>(src.url, 'SELECT pg_current_xact_id()::text AS x')).x);
    if (main < fresh + 1000n) {
      // a young main cluster (a fresh CI machine): take transaction ids until it is well ahead
      const c = new pg.Client({ connectionString: src.url });
      await c.connect();
      while (main < fresh + 1000n) main = BigInt((await c.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x);
      await c.end();
    }

    // a few hundred events over several streams, appended concurrently in batches of 1 to 4
    const store = await createPostgresEventStore({ connectionString: src.url });
    try {
      await Promise.all(
        Array.from({ length: STREAMS }, async (_, s) => {
          const stream = `restore-${s}`;
          let written = 0;
          while (written < PER_STREAM) {
            const n = Math.min(PER_STREAM - written, 1 + ((s + written) % 4));
            await store.append(stream, Array.from({ length: n }, () => ev(stream, { s, written })), written === 0 ? 'no_stream' : written - 1);
            written += n;
          }
        }),
      );
    } finally {
      await store.close();
    }
    const original = await createPostgresEventStore({ connectionString: src.url, migrate: false });
    // a long transaction elsewhere on the shared cluster holds the snapshot xmin back: wait until every event is readable
    const last = Number((await one<{ p: string }>(src.url, 'SELECT max(global_position)::text AS p FROM eventstore.events')).p);
    await eventually(async () => expect(await original.headPosition()).toBe(last), 60_000);
    const before = {
      events: await readEverything(original),
      head: await original.headPosition(),
      heads: await original.streamHeads(),
    };
    await original.saveCheckpoint('relay:kafka', before.head);
    await original.close();
    expect(before.events).toHaveLength(STREAMS * PER_STREAM);
    const maxXid = BigInt((await one<{ x: string }>(src.url, 'SELECT max(transaction_id)::text AS x FROM eventstore.events')).x);
    expect(maxXid).toBeGreaterThan(fresh);

    // pg_dump (custom format) of the whole database, pg_restore into the new cluster
    sourceHead = before.head;
    await run(join(BIN, 'pg_dump'), ['-Fc', '-d', src.url, '-f', dump], { timeout: 120_000 });
    await one(target.url('postgres'), 'CREATE DATABASE onestop');
    await run(join(BIN, 'pg_restore'), ['--no-owner', '--exit-on-error', '-d', target.url('onestop'), dump], { timeout: 120_000 });
    const newXid = BigInt((await one<{ x: string }>(target.url('onestop'), 'SELECT pg_current_xact_id()::text AS x')).x);
    expect(maxXid).toBeGreaterThan(newXid);

    // without the repair every restored event is hidden: the rows are there, a store sees none
    const counts = await one<{ stored: number; visible: number }>(
      target.url('onestop'),
      `SELECT count(*)::int AS stored,
              count(*) FILTER (WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()))::int AS visible
         FROM eventstore.events`,
    );
    expect(counts).toEqual({ stored: STREAMS * PER_STREAM, visible: 0 });
    const unrepaired = await createPostgresEventStore({ connectionString: target.url('onestop'), migrate: false });
    expect(await unrepaired.headPosition()).toBe(0);
    expect(await unrepaired.readAll({ maxCount: 10 })).toEqual([]);
    await unrepaired.close();

    // start-up (migrate) repairs
    const began = Date.now();
    const restored = await createPostgresEventStore({ connectionString: target.url('onestop') });
    const startupMs = Date.now() - began;
    try {
      expect(restored.migration).toEqual({ restoredRowsRepaired: STREAMS * PER_STREAM, sequenceMovedTo: null });
      console.info(`restore: ${restored.migration!.restoredRowsRepaired} restored events repaired at start-up (${startupMs} ms with the schema)`);

      const after = await readEverything(restored);
      expect(after.map((e) => e.id)).toEqual(before.events.map((e) => e.id));
      expect(after).toEqual(before.events);
      expect(await restored.headPosition()).toBe(before.head);
      const byId = (hs: StreamHead[]) => [...hs].sort((a, b) => a.streamId.localeCompare(b.streamId));
      expect(byId(await restored.streamHeads())).toEqual(byId(before.heads));
      for (const h of before.heads) {
        expect(await restored.verifyStream(h.streamId)).toEqual({ ok: true, streamId: h.streamId, events: PER_STREAM, headHash: h.hash });
      }
      expect(await restored.loadCheckpoint('relay:kafka')).toBe(before.head);

      // a subscription from the start sees every event once, then a new append after them
      const seen: RawRecordedEvent[] = [];
      const sub = restored.subscribeToAll({ from: 0, handle: async (es) => void seen.push(...es) });
      await sub.reached(before.head, 30_000);
      expect(seen.map((e) => e.id)).toEqual(before.events.map((e) => e.id));
      const later = ev('restore-after');
      const r = await restored.append('restore-after', [later], 'no_stream');
      expect(r.globalPositions[0]).toBeGreaterThan(before.head);
      await sub.reached(r.globalPositions[0]!, 30_000);
      await sub.stop();
      expect(seen.map((e) => e.id)).toEqual([...before.events.map((e) => e.id), later.id]);
      expect((await restored.readAll({ after: before.head })).map((e) => e.id)).toEqual([later.id]);
      expect(await restored.headPosition()).toBe(r.globalPositions[0]);

      // the next start-up finds nothing to repair (one index probe)
      expect(await restored.migrate()).toEqual({ restoredRowsRepaired: 0, sequenceMovedTo: null });
    } finally {
      await restored.close();
    }
  }, 180_000);

  it('after logical replication (ids copied, the position sequence not): start-up repairs the ids and moves the sequence past the head', async () => {
    expect(sourceHead).toBeGreaterThan(0);
    const target = cluster!;
    await one(target.url('postgres'), 'CREATE DATABASE replica');
    await run(join(BIN, 'pg_restore'), ['--no-owner', '--exit-on-error', '-d', target.url('replica'), dump], { timeout: 120_000 });
    // what a logical replication subscriber holds: the rows as written, a sequence never advanced
    await one(target.url('replica'), "SELECT setval('eventstore.global_position_seq', 1, false)");
    const store = await createPostgresEventStore({ connectionString: target.url('replica') });
    try {
      expect(store.migration).toEqual({ restoredRowsRepaired: STREAMS * PER_STREAM, sequenceMovedTo: sourceHead });
      expect(await store.headPosition()).toBe(sourceHead);
      const r = await store.append('replica-after', [ev('replica-after')], 'no_stream');
      expect(r.globalPositions).toEqual([sourceHead + 1]);
      expect((await readEverything(store)).length).toBe(STREAMS * PER_STREAM + 1);
    } finally {
      await store.close();
    }
  });
});
