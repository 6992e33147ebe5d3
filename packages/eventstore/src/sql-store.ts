import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ValidationError,
  WrongExpectedVersion,
  canonicalEnvelope,
  type RawEnvelope,
  type RawRecordedEvent,
} from '@onestop/events';
import type { Wakeup } from './catch-up.js';
import { CatchUpSubscription } from './catch-up.js';
import { verifyChain } from './chain.js';
import { validateAppend, validateAppendToStreams } from './append-checks.js';
import { applySchema, toHex, toNumber, type SqlDriver } from './driver.js';
import { MerkleLog } from './merkle/sql-tree.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  FoldEvent,
  ReadAllOptions,
  ReadStreamOptions,
  StreamAppend,
  StreamHead,
  SubscribeOptions,
  Subscription,
  VerifyResult,
} from './port.js';

const SCHEMA_SQL = readFileSync(new URL('./schema.sql', import.meta.url), 'utf8');
const CHANNEL = 'eventstore_appended';
const NOTIFY_DELAY_MS = 5;
// hashes leave the database as hex text: cheaper than converting bytea in Node
const COLUMNS = `global_position, stream_id, stream_position, event_id, event_type, schema_version,
  data, metadata, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash`;

interface EventRow {
  global_position: unknown;
  stream_id: string;
  stream_position: unknown;
  event_id: string;
  event_type: string;
  schema_version: number;
  data: unknown;
  metadata: Omit<RawEnvelope, 'id' | 'type' | 'schemaVersion' | 'subject' | 'data'>;
  prev_hash: unknown;
  hash: unknown;
}

type FoldRow = Pick<EventRow, 'global_position' | 'stream_id' | 'event_id' | 'event_type' | 'schema_version' | 'data'> & { time: string };

function toFoldEvent(r: FoldRow): FoldEvent {
  return {
    id: r.event_id,
    type: r.event_type,
    schemaVersion: r.schema_version,
    subject: r.stream_id,
    time: r.time,
    data: r.data,
    globalPosition: toNumber(r.global_position),
  };
}

function toEvent(r: EventRow): RawRecordedEvent {
  return {
    id: r.event_id,
    type: r.event_type,
    schemaVersion: r.schema_version,
    source: r.metadata.source,
    subject: r.stream_id,
    time: r.metadata.time,
    partitionKey: r.metadata.partitionKey,
    correlationId: r.metadata.correlationId,
    causationId: r.metadata.causationId,
    actor: r.metadata.actor,
    data: r.data,
    ...(r.metadata.traceparent ? { traceparent: r.metadata.traceparent } : {}),
    streamPosition: toNumber(r.stream_position),
    globalPosition: toNumber(r.global_position),
    hash: toHex(r.hash)!,
    prevHash: toHex(r.prev_hash),
  };
}

const EXPECTED_CODE: Record<string, number> = { no_stream: -1, any: -2, stream_exists: -3 };

/** What migrate() repaired: events restored from another cluster made visible again (schema.sql, repair_restored_log). */
export interface MigrationReport {
  /** events whose transaction ids came from another cluster (a logical restore or replication) and were hidden */
  restoredRowsRepaired: number;
  /** the position sequence was behind the log's head and was moved to it (null: it was not) */
  sequenceMovedTo: number | null;
}

export interface SqlEventStoreOptions {
  /** how often an idle subscriber looks anyway, for wake-ups nobody could signal (ms) */
  pollIntervalMs?: number;
}

/**
 * The event store on PostgreSQL SQL (schema.sql), shared by the pg and PGlite
 * adapters: one statement per append, gap-safe reads, LISTEN/NOTIFY wake-ups.
 */
export class SqlEventStore implements EventStore {
  private readonly local = new Set<Wakeup>();
  private unlisten: Promise<() => Promise<void>> | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  /** when the last wake-up signal went out (with an append or on its own) */
  private lastSignal = 0;
  /** names this store instance's wake-up signals, so that it can tell them from others' */
  private readonly origin = randomUUID();
  private readonly subscriptions = new Set<Subscription>();
  /** what the last migrate() found and repaired */
  migration: MigrationReport | undefined;
  /** the Merkle tree over the global log (schema.sql, merkle/sql-tree.ts) */
  readonly log: MerkleLog;

  constructor(
    readonly driver: SqlDriver,
    private readonly options: SqlEventStoreOptions = {},
  ) {
    this.log = new MerkleLog(driver, (o) => this.subscribeToAll(o));
  }

  /**
   * Creates or updates the schema, then repairs a log restored from another
   * cluster (repair_restored_log in schema.sql); safe to run from several
   * processes at once. The report says what was repaired, for start-up to log.
   */
  async migrate(): Promise<MigrationReport> {
    await applySchema(this.driver, 7411066, SCHEMA_SQL);
    const [r] = await this.driver.transaction(async (q) => {
      await q('SELECT pg_advisory_xact_lock($1)', [7411066]);
      return q<{ rows_repaired: unknown; sequence_moved_to: unknown }>('SELECT rows_repaired, sequence_moved_to FROM eventstore.repair_restored_log()');
    });
    this.migration = {
      restoredRowsRepaired: toNumber(r?.rows_repaired ?? 0),
      sequenceMovedTo: r?.sequence_moved_to == null ? null : toNumber(r.sequence_moved_to),
    };
    return this.migration;
  }

  async append(streamId: string, events: readonly RawEnvelope[], expected: ExpectedRevision): Promise<AppendResult> {
    validateAppend(streamId, events, expected);
    const n = events.length;
    const ids = new Array<string>(n);
    const types = new Array<string>(n);
    const versions = new Array<number>(n);
    const data = new Array<string>(n);
    const metadata = new Array<string>(n);
    const canonical = new Array<string>(n);
    events.forEach((e, i) => {
      const { id, type, schemaVersion, data: d, subject: _s, ...meta } = e;
      ids[i] = id;
      types[i] = type;
      versions[i] = schemaVersion;
      data[i] = JSON.stringify(d);
      metadata[i] = JSON.stringify(meta);
      canonical[i] = canonicalEnvelope(e);
    });
    const code = typeof expected === 'number' ? expected : EXPECTED_CODE[expected]!;
    for (let attempt = 0; ; attempt++) {
      // the first append of a quiet spell carries the wake-up signal itself;
      // the ones right after it are covered by one signal a little later
      const carries = !this.notifyTimer && Date.now() - this.lastSignal >= NOTIFY_DELAY_MS;
      if (carries) this.lastSignal = Date.now();
      try {
        const rows = await this.driver.query<{ next_revision: unknown; global_positions: unknown[] }>(
          'SELECT next_revision, global_positions FROM eventstore.append($1, $2, $3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::text[], $9)',
          [streamId, code, ids, types, versions, data, metadata, canonical, carries ? this.origin : null],
          'eventstore_append',
        );
        const row = rows[0]!;
        this.signalAppended(carries);
        return { nextExpectedRevision: toNumber(row.next_revision), globalPositions: parseBigintArray(row.global_positions), replayed: false };
      } catch (e) {
        const err = e as { code?: string; detail?: string };
        if (err.code !== 'P0409' && err.code !== '23505') throw e;
        // a retry of events already stored ends up here: give the first result back
        const replay = await this.replayed(streamId, ids);
        if (replay) return replay;
        if (err.code === 'P0409') throw new WrongExpectedVersion(streamId, expected, Number(err.detail));
        // A concurrent writer took the same stream position first: the retry
        // sees its result, so it becomes a WrongExpectedVersion with the actual
        // revision or, for `any`, an append after it.
        if (attempt < 20) continue;
        throw e;
      }
    }
  }

  /** The first result of an append of these ids, when all are stored in this stream. */
  private async replayed(streamId: string, ids: string[]): Promise<AppendResult | undefined> {
    const rows = await this.driver.query<{ found: number; in_stream: number; next_revision: unknown; global_positions: unknown[] }>(
      'SELECT found, in_stream, next_revision, global_positions FROM eventstore.replayed_append($1, $2::uuid[])',
      [streamId, ids],
      'eventstore_replayed',
    );
    const r = rows[0]!;
    if (r.found === 0) return undefined;
    if (r.found !== ids.length || r.in_stream !== ids.length) {
      throw new ValidationError('some of these event ids are already stored, with other events or in another stream', [
        { path: 'events.id', message: 'already stored' },
      ]);
    }
    return { nextExpectedRevision: toNumber(r.next_revision), globalPositions: parseBigintArray(r.global_positions), replayed: true };
  }

  /**
   * One statement, one transaction (eventstore.append_streams): every stream at
   * its expected revision, or nothing stored. Idempotent like append.
   */
  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    validateAppendToStreams(appends);
    const streamIds = appends.map((a) => a.streamId);
    const codes = appends.map((a) => (typeof a.expected === 'number' ? a.expected : EXPECTED_CODE[a.expected]!));
    const streamOf: number[] = [];
    const ids: string[] = [];
    const types: string[] = [];
    const versions: number[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    const canonical: string[] = [];
    appends.forEach((a, k) => {
      for (const e of a.events) {
        const { id, type, schemaVersion, data: d, subject: _s, ...meta } = e;
        streamOf.push(k + 1);
        ids.push(id);
        types.push(type);
        versions.push(schemaVersion);
        data.push(JSON.stringify(d));
        metadata.push(JSON.stringify(meta));
        canonical.push(canonicalEnvelope(e));
      }
    });
    for (let attempt = 0; ; attempt++) {
      const carries = !this.notifyTimer && Date.now() - this.lastSignal >= NOTIFY_DELAY_MS;
      if (carries) this.lastSignal = Date.now();
      try {
        const rows = await this.driver.query<{ next_revisions: unknown; global_positions: unknown }>(
          `SELECT next_revisions, global_positions FROM eventstore.append_streams($1::text[], $2::bigint[], $3::int[],
             $4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[], $9::text[], $10)`,
          [streamIds, codes, streamOf, ids, types, versions, data, metadata, canonical, carries ? this.origin : null],
          'eventstore_append_streams',
        );
        const next = parseBigintArray(rows[0]!.next_revisions);
        const positions = parseBigintArray(rows[0]!.global_positions);
        this.signalAppended(carries);
        let at = 0;
        return appends.map((a, k) => {
          const globalPositions = positions.slice(at, (at += a.events.length));
          return { nextExpectedRevision: next[k]!, globalPositions, replayed: false };
        });
      } catch (e) {
        const err = e as { code?: string; detail?: string };
        if (err.code !== 'P0409' && err.code !== '23505') throw e;
        const replay = await this.replayedStreams(appends, ids);
        if (replay) return replay;
        if (err.code === 'P0409') {
          // DETAIL '<stream>|<actual revision>': the stream that failed
          const detail = String(err.detail);
          const cut = detail.lastIndexOf('|');
          const streamId = detail.slice(0, cut);
          const part = appends.find((a) => a.streamId === streamId);
          throw new WrongExpectedVersion(streamId, part?.expected ?? 'any', Number(detail.slice(cut + 1)));
        }
        // a concurrent writer took one of the positions first: see append
        if (attempt < 20) continue;
        throw e;
      }
    }
  }

  /** The first results of a multi-stream append of these ids, when all are stored, each in its stream. */
  private async replayedStreams(appends: readonly StreamAppend[], ids: string[]): Promise<AppendResult[] | undefined> {
    const rows = await this.driver.query<{ event_id: string; stream_id: string; stream_position: unknown; global_position: unknown }>(
      'SELECT event_id, stream_id, stream_position, global_position FROM eventstore.events WHERE event_id = ANY ($1::uuid[])',
      [ids],
      'eventstore_replayed_streams',
    );
    if (rows.length === 0) return undefined;
    const stored = new Map(rows.map((r) => [r.event_id.toLowerCase(), r]));
    const partial = () =>
      new ValidationError('some of these event ids are already stored, with other events or in another stream', [
        { path: 'appends.events.id', message: 'already stored' },
      ]);
    if (rows.length !== ids.length) throw partial();
    return appends.map((a) => {
      const mine = a.events.map((e) => stored.get(e.id.toLowerCase()));
      if (mine.some((r) => r?.stream_id !== a.streamId)) throw partial();
      return {
        nextExpectedRevision: Math.max(...mine.map((r) => toNumber(r!.stream_position))),
        globalPositions: mine.map((r) => toNumber(r!.global_position)).sort((x, y) => x - y),
        replayed: true,
      };
    });
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RawRecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision ?? (backwards ? Number.MAX_SAFE_INTEGER : 0);
    const rows = await this.driver.query<EventRow>(
      `SELECT ${COLUMNS} FROM eventstore.events
        WHERE stream_id = $1 AND stream_position ${backwards ? '<=' : '>='} $2
        ORDER BY stream_position ${backwards ? 'DESC' : 'ASC'} LIMIT $3`,
      [streamId, from, options.maxCount ?? 1_000_000],
      backwards ? 'eventstore_read_stream_bw' : 'eventstore_read_stream_fw',
    );
    return rows.map(toEvent);
  }

  /**
   * A person's case: the streams stream_keys names for the person, each read by
   * its own index, gap-safe like readAll (a stream may also hold others' events:
   * the envelope's key filters them).
   */
  async readCase(personId: string): Promise<RawRecordedEvent[]> {
    const rows = await this.driver.query<EventRow>(
      `SELECT ${COLUMNS} FROM eventstore.events
        WHERE stream_id IN (SELECT stream_id FROM eventstore.stream_keys WHERE partition_key = $1)
          AND metadata->>'partitionKey' = $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY global_position`,
      [personId],
      'eventstore_read_case',
    );
    return rows.map(toEvent);
  }

  async readForFold(streamIds: readonly string[], until: Date): Promise<FoldEvent[]> {
    // the time is compared at millisecond precision, as Date.parse would
    const rows = await this.driver.query<FoldRow>(
      `SELECT global_position, stream_id, event_id, event_type, schema_version, data, metadata->>'time' AS time
         FROM eventstore.events
        WHERE stream_id = ANY ($1::text[])
          AND date_trunc('milliseconds', (metadata->>'time')::timestamptz) <= $2::timestamptz
        ORDER BY global_position`,
      [streamIds, until.toISOString()],
      'eventstore_read_for_fold',
    );
    return rows.map(toFoldEvent);
  }

  async readCaseForFold(personId: string, until: Date): Promise<FoldEvent[]> {
    const rows = await this.driver.query<FoldRow>(
      `SELECT global_position, stream_id, event_id, event_type, schema_version, data, metadata->>'time' AS time
         FROM eventstore.events
        WHERE stream_id IN (SELECT stream_id FROM eventstore.stream_keys WHERE partition_key = $1)
          AND metadata->>'partitionKey' = $1
          AND date_trunc('milliseconds', (metadata->>'time')::timestamptz) <= $2::timestamptz
        ORDER BY global_position`,
      [personId, until.toISOString()],
      'eventstore_read_case_for_fold',
    );
    return rows.map(toFoldEvent);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RawRecordedEvent[]> {
    const rows = await this.driver.query<EventRow>(
      `SELECT ${COLUMNS} FROM eventstore.events
        WHERE global_position > $1
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          AND ($3::text[] IS NULL OR event_type = ANY ($3::text[]))
          AND ($4::text IS NULL OR starts_with(stream_id, $4::text))
        ORDER BY global_position LIMIT $2`,
      [options.after ?? 0, options.maxCount ?? 1000, options.types ?? null, options.streamPrefix ?? null],
      'eventstore_read_all_filtered',
    );
    return rows.map(toEvent);
  }

  /** One gap-safe page of the global log: only events of transactions older than every running one. */
  private async readPage(after: number, limit: number): Promise<RawRecordedEvent[]> {
    const rows = await this.driver.query<EventRow>(
      `SELECT ${COLUMNS} FROM eventstore.events
        WHERE global_position > $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY global_position LIMIT $2`,
      [after, limit],
      'eventstore_read_all',
    );
    return rows.map(toEvent);
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    // this process's own signals come back too: its subscribers were woken already
    this.unlisten ??= this.driver.listen(CHANNEL, (from) => {
      if (from !== this.origin) this.wakeLocal();
    });
    const sub = new CatchUpSubscription(
      {
        readPage: (after, limit) => this.readPage(after, limit),
        loadCheckpoint: (n) => this.loadCheckpoint(n),
        saveCheckpoint: (n, p) => this.saveCheckpoint(n, p),
        onAppended: (w) => {
          this.local.add(w);
          return () => this.local.delete(w);
        },
        pollIntervalMs: this.options.pollIntervalMs ?? 1000,
      },
      options,
    );
    this.subscriptions.add(sub);
    return sub;
  }

  private wakeLocal(): void {
    for (const w of this.local) w.notify();
  }

  /**
   * Wakes local subscribers at once. Other processes hear of an append either
   * from the append itself (`signalled`: it carried the NOTIFY) or from one
   * NOTIFY a few milliseconds later covering every append meanwhile: a NOTIFY
   * of its own is a small transaction, and one per append would cost the
   * writers a quarter of their throughput.
   */
  private signalAppended(signalled: boolean): void {
    this.wakeLocal();
    if (signalled || this.notifyTimer) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = undefined;
      this.lastSignal = Date.now();
      // idle subscribers poll anyway: a lost wake-up only delays them
      this.driver.notify(CHANNEL, this.origin).catch(() => undefined);
    }, NOTIFY_DELAY_MS);
  }

  async loadCheckpoint(name: string): Promise<number | undefined> {
    const rows = await this.driver.query<{ position: unknown }>(
      'SELECT position FROM eventstore.checkpoints WHERE name = $1',
      [name],
      'eventstore_load_checkpoint',
    );
    return rows[0] ? toNumber(rows[0].position) : undefined;
  }

  async saveCheckpoint(name: string, position: number): Promise<void> {
    // only forward: an older position (a late save, a second process) changes nothing
    await this.driver.query(
      `INSERT INTO eventstore.checkpoints (name, position) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()
       WHERE checkpoints.position < excluded.position`,
      [name, position],
      'eventstore_save_checkpoint_forward',
    );
  }

  async resetCheckpoint(name: string, position: number): Promise<void> {
    await this.driver.query(
      `INSERT INTO eventstore.checkpoints (name, position) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()`,
      [name, position],
      'eventstore_reset_checkpoint',
    );
  }

  async verifyStream(streamId: string): Promise<VerifyResult> {
    return verifyChain(streamId, await this.readStream(streamId));
  }

  async streamHeads(atPosition?: number): Promise<StreamHead[]> {
    const rows = await this.driver.query<{ stream_id: string; stream_position: unknown; hash: unknown; global_position: unknown }>(
      `SELECT DISTINCT ON (stream_id) stream_id, stream_position, hash, global_position
         FROM eventstore.events
        WHERE global_position <= $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY stream_id, stream_position DESC`,
      [atPosition ?? Number.MAX_SAFE_INTEGER],
    );
    return rows.map((r) => ({
      streamId: r.stream_id,
      revision: toNumber(r.stream_position),
      hash: toHex(r.hash)!,
      globalPosition: toNumber(r.global_position),
    }));
  }

  async headPosition(): Promise<number> {
    const rows = await this.driver.query<{ p: unknown }>(
      `SELECT coalesce(max(global_position), 0) AS p FROM eventstore.events
        WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())`,
    );
    return toNumber(rows[0]!.p);
  }

  async close(): Promise<void> {
    clearTimeout(this.notifyTimer);
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (this.unlisten) await (await this.unlisten)().catch(() => undefined);
    await this.driver.close();
  }
}

function parseBigintArray(v: unknown): number[] {
  if (Array.isArray(v)) return v.map(toNumber);
  // pg returns int8[] as the text '{1,2,3}' unless a parser is registered
  return String(v).replace(/[{}]/g, '').split(',').filter(Boolean).map(Number);
}
