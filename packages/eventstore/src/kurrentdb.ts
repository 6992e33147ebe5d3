/**
 * The KurrentDB adapter of the EventStore port (`@kurrent/kurrentdb-client`).
 *
 * Mapping (DESIGN §3):
 * - an envelope is one JSON event: KurrentDB event id = envelope id, event type
 *   = envelope type, data = envelope data, stream = subject; the rest of the
 *   envelope (schemaVersion, source, time, partitionKey, correlationId,
 *   causationId, actor) and the per-stream hash-chain link (prevHash, hash) are
 *   the event's JSON metadata (kurrentdb-mapping.ts);
 * - streamPosition = the event's stream revision; globalPosition = its `$all`
 *   commit position, a byte offset (see `toGlobalPosition`).
 *
 * Append (one call, up to four round trips):
 * 1. read the stream's head (last revision and hash): the chain continues from it;
 * 2. claim the event ids (below);
 * 3. append with the head's exact revision as KurrentDB's expected stream
 *    state, so a concurrent writer makes the append fail instead of forking the
 *    chain; for `any` / `stream_exists` the head is read again and the append
 *    retried;
 * 4. read the appended events back for their `$all` positions (the append
 *    result carries one position for the whole batch).
 *
 * Idempotency. KurrentDB itself dedupes a retry by event ids only per stream,
 * and only reliably when the expected revision is exact (with `any` it is best
 * effort). The port promises more, as the SQL store's UNIQUE(event_id) does:
 * the same ids again return the first result, and the same ids in another
 * stream are refused. So every event id is claimed once, in its own stream
 * `$onestop-event-id-<id>` appended with expected state `no_stream` (one small
 * extra write per event, in parallel). A fresh claim proves the id was never
 * stored; a taken claim names the stream and the head revision it was taken
 * at, and the events are looked for after that revision: all found is a
 * replay (the first result is returned, nothing is written), some found or
 * another stream is a ValidationError, none found is an earlier attempt that
 * never got to its append (it goes ahead). A claim is never moved to another
 * stream, even when its first attempt failed: an event id is an idempotency
 * key, and its retries belong in the same stream. Claims cost one small `$`
 * stream per event; nothing reads them but appends that meet a taken claim.
 *
 * The reads an append decides on (head, claims, read-back) require the
 * cluster leader; the connection string should keep the default
 * `nodePreference=leader` so that readers also see their own writes.
 *
 * Reading `$all` is gap-free by KurrentDB's design: one writer appends to the
 * log in order and readers see it up to the last indexed position only, so
 * nothing can later appear before what a read returned.
 *
 * Multi-stream append (appendToStreams) is KurrentDB's own `multiStreamAppend`:
 * one atomic write, every stream at its exact head revision or nothing. It
 * needs KurrentDB server 25.1 or later (older servers do not offer it, and
 * appendToStreams fails there; a process manager with compensation would be
 * the fallback, DESIGN §9). Its events' metadata must be string values, so
 * they carry the envelope metadata as one JSON string (`stringMetadata`).
 *
 * Needs KurrentDB (or EventStoreDB) 22.6 or later (stream reads carry `$all`
 * positions) and a user that may read `$all` and write `$` streams (`$admins`
 * by default).
 */
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type AllStreamSubscription,
  type Filter,
  type JSONType,
  type ReadStreamOptions as ClientReadStreamOptions,
  type RecordedEvent,
} from '@kurrent/kurrentdb-client';
import { ValidationError, WrongExpectedVersion, type RawEnvelope, type RawRecordedEvent } from '@onestop/events';
import { matches, type Wakeup } from './catch-up.js';
import { verifyChain } from './chain.js';
import {
  CHECKPOINT_TYPE,
  EVENT_ID_CLAIM_TYPE,
  EXCLUDE_SYSTEM_EVENTS,
  chainEvents,
  checkpointStream,
  decodeEvent,
  eventIdClaimStream,
  isInternal,
  revisionNumber,
  satisfies,
  serverFilter,
  stringMetadata,
  toGlobalPosition,
  toKurrentPosition,
  validateAppend,
  validateAppendToStreams,
  type ProposedEvent,
  type ServerFilter,
} from './kurrentdb-mapping.js';
import { FilteredCatchUpSubscription } from './kurrentdb-subscription.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  FoldEvent,
  LogFilter,
  ReadAllOptions,
  ReadStreamOptions,
  StreamAppend,
  StreamHead,
  SubscribeOptions,
  Subscription,
  VerifyResult,
} from './port.js';

export interface KurrentEventStoreOptions {
  /** e.g. `kurrentdb://admin:changeit@localhost:2113` or `kurrentdb://localhost:2113?tls=false` */
  connectionString: string;
  /** how often an idle subscriber looks anyway, for wake-ups the live subscription missed (ms) */
  pollIntervalMs?: number;
}

/** how often an `any` / `stream_exists` append re-reads the head after losing a race */
const MAX_APPEND_ATTEMPTS = 30;
/** events per `$all` page when scanning (stream heads) */
const SCAN_PAGE = 4096;

interface Head {
  revision: number;
  hash: string | null;
}

interface Claim {
  streamId: string;
  /** the stream's head revision when the id was claimed: its event can only be after it */
  after: number;
}

function isWrongExpectedVersion(e: unknown): e is WrongExpectedVersionError {
  return e instanceof WrongExpectedVersionError || (e as { type?: unknown } | null)?.type === ErrorType.WRONG_EXPECTED_VERSION;
}

function isStreamNotFound(e: unknown): boolean {
  return e instanceof StreamNotFoundError || (e as { type?: unknown } | null)?.type === ErrorType.STREAM_NOT_FOUND;
}

function clientFilter(f: ServerFilter): Filter {
  return f.filterOn === 'eventType' ? eventTypeFilter({ regex: f.regex }) : streamNameFilter({ prefixes: f.prefixes });
}

function toJsonEvent(p: ProposedEvent) {
  // data is any JSON value; the client JSON-stringifies it whatever its declared type
  return jsonEvent({ id: p.id, type: p.type, data: p.data as JSONType, metadata: p.metadata as unknown as JSONType });
}

/** An event for multiStreamAppend, whose metadata may hold string values only. */
function toMultiStreamJsonEvent(p: ProposedEvent) {
  return jsonEvent({ id: p.id, type: p.type, data: p.data as JSONType, metadata: stringMetadata(p.metadata) });
}

/** Expectations KurrentDB checks itself: losing a race on them is a conflict, not a reason to retry. */
function isExact(expected: ExpectedRevision): boolean {
  return typeof expected === 'number' || expected === 'no_stream';
}

export class KurrentEventStore implements EventStore {
  private readonly subscriptions = new Set<Subscription>();
  private readonly wakeups = new Set<Wakeup>();
  /** one live `$all` subscription per store, only to wake subscribers (their events are read in pages) */
  private live: AllStreamSubscription | undefined;
  private liveRetry: NodeJS.Timeout | undefined;
  private readonly checkpointStreams = new Set<string>();
  /** per checkpoint stream, the checkpoint this instance last saved and its revision (the next save's expectation) */
  private readonly checkpointHeads = new Map<string, { position: number | undefined; revision: bigint }>();
  private closed = false;

  constructor(
    readonly client: KurrentDBClient,
    private readonly options: Omit<KurrentEventStoreOptions, 'connectionString'> = {},
  ) {}

  // ---- streams -------------------------------------------------------------

  /**
   * A stream's recorded events; a missing stream reads as none. `leader`: from
   * the cluster leader, for the reads an append decides on (a follower may lag).
   */
  private async read(streamId: string, options: ClientReadStreamOptions, leader = false): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(streamId, leader ? { ...options, requiresLeader: true } : options)) {
        if (resolved.event) out.push(resolved.event);
      }
    } catch (e) {
      if (isStreamNotFound(e)) return [];
      throw e;
    }
    return out;
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RawRecordedEvent[]> {
    return this.readEvents(streamId, options, false);
  }

  async readForFold(streamIds: readonly string[], until: Date): Promise<FoldEvent[]> {
    const perStream = await Promise.all(streamIds.map((id) => this.readStream(id)));
    const limit = until.getTime();
    return perStream
      .flat()
      .filter((e) => Date.parse(e.time) <= limit)
      .sort((a, b) => a.globalPosition - b.globalPosition)
      .map(({ id, type, schemaVersion, subject, time, data, globalPosition }) => ({ id, type, schemaVersion, subject, time, data, globalPosition }));
  }

  async readCaseForFold(personId: string, until: Date): Promise<FoldEvent[]> {
    const limit = until.getTime();
    return (await this.readCase(personId))
      .filter((e) => Date.parse(e.time) <= limit)
      .map(({ id, type, schemaVersion, subject, time, data, globalPosition }) => ({ id, type, schemaVersion, subject, time, data, globalPosition }));
  }

  private async readEvents(streamId: string, options: ReadStreamOptions, leader: boolean): Promise<RawRecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const events = await this.read(
      streamId,
      {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      },
      leader,
    );
    return events.map(decodeEvent);
  }

  private async readHead(streamId: string): Promise<Head> {
    const [last] = await this.readEvents(streamId, { direction: 'backwards', maxCount: 1 }, true);
    return last ? { revision: last.streamPosition, hash: last.hash || null } : { revision: -1, hash: null };
  }

  async append(streamId: string, events: readonly RawEnvelope[], expected: ExpectedRevision): Promise<AppendResult> {
    validateAppend(streamId, events, expected);
    const ids = events.map((e) => e.id.toLowerCase());
    let head = await this.readHead(streamId);
    if (!satisfies(expected, head.revision)) {
      const replay = await this.findReplay(streamId, ids);
      if (replay) return replay;
      throw new WrongExpectedVersion(streamId, expected, head.revision);
    }
    if (!(await this.claim(streamId, ids, head.revision))) {
      const replay = await this.findReplay(streamId, ids);
      if (replay) return replay;
    }
    for (let attempt = 1; ; attempt++) {
      const proposed = chainEvents(events, head);
      try {
        await this.client.appendToStream(streamId, proposed.map(toJsonEvent), {
          streamState: head.revision < 0 ? NO_STREAM : BigInt(head.revision),
        });
      } catch (e) {
        if (!isWrongExpectedVersion(e)) throw e;
        // another writer got there first; it may be a concurrent retry of this very append
        const replay = await this.findReplay(streamId, ids);
        if (replay) return replay;
        const actual = revisionNumber(e.actualState);
        if (typeof expected === 'number' || expected === 'no_stream' || attempt >= MAX_APPEND_ATTEMPTS) {
          throw new WrongExpectedVersion(streamId, expected, actual);
        }
        if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        head = await this.readHead(streamId);
        if (!satisfies(expected, head.revision)) throw new WrongExpectedVersion(streamId, expected, head.revision);
        continue;
      }
      const stored = await this.readEvents(streamId, { fromRevision: head.revision + 1, maxCount: proposed.length }, true);
      if (stored.length !== proposed.length || stored.some((s, i) => s.id.toLowerCase() !== ids[i])) {
        throw new Error(`KurrentDB stream ${streamId}: the events read back after revision ${head.revision} are not the ones appended`);
      }
      this.wakeLocal();
      return {
        nextExpectedRevision: head.revision + proposed.length,
        globalPositions: stored.map((s) => s.globalPosition),
        replayed: false,
      };
    }
  }

  /**
   * The atomic multi-stream append, on KurrentDB's multiStreamAppend (server
   * 25.1 or later). As append does for one stream: every head is read first
   * (each hash chain continues from its own head), every event id is claimed,
   * and the write expects each head's exact revision, so a concurrent writer
   * makes the whole write fail instead of forking a chain; for `any` /
   * `stream_exists` the heads are read again and the write retried.
   */
  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    validateAppendToStreams(appends);
    const ids = appends.map((a) => a.events.map((e) => e.id.toLowerCase()));
    const unmet = (heads: Head[]) => appends.findIndex((a, k) => !satisfies(a.expected, heads[k]!.revision));
    let heads = await Promise.all(appends.map((a) => this.readHead(a.streamId)));
    const failed = unmet(heads);
    if (failed >= 0) {
      const replay = await this.findReplays(appends, ids);
      if (replay) return replay;
      throw new WrongExpectedVersion(appends[failed]!.streamId, appends[failed]!.expected, heads[failed]!.revision);
    }
    const claims = await Promise.all(appends.map((a, k) => this.claim(a.streamId, ids[k]!, heads[k]!.revision)));
    if (!claims.every(Boolean)) {
      const replay = await this.findReplays(appends, ids);
      if (replay) return replay;
    }
    for (let attempt = 1; ; attempt++) {
      const proposed = appends.map((a, k) => chainEvents(a.events, heads[k]!));
      try {
        await this.client.multiStreamAppend(
          appends.map((a, k) => ({
            streamName: a.streamId,
            events: proposed[k]!.map(toMultiStreamJsonEvent),
            expectedState: heads[k]!.revision < 0 ? NO_STREAM : BigInt(heads[k]!.revision),
          })),
        );
      } catch (e) {
        if (!isWrongExpectedVersion(e)) throw e;
        const replay = await this.findReplays(appends, ids);
        if (replay) return replay;
        const k = Math.max(0, appends.findIndex((a) => a.streamId === e.streamName));
        if (isExact(appends[k]!.expected) || attempt >= MAX_APPEND_ATTEMPTS) {
          throw new WrongExpectedVersion(appends[k]!.streamId, appends[k]!.expected, revisionNumber(e.actualState));
        }
        if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        heads = await Promise.all(appends.map((a) => this.readHead(a.streamId)));
        const now = unmet(heads);
        if (now >= 0) throw new WrongExpectedVersion(appends[now]!.streamId, appends[now]!.expected, heads[now]!.revision);
        continue;
      }
      const results = await Promise.all(
        appends.map(async (a, k) => {
          const head = heads[k]!;
          const stored = await this.readEvents(a.streamId, { fromRevision: head.revision + 1, maxCount: a.events.length }, true);
          if (stored.length !== a.events.length || stored.some((x, i) => x.id.toLowerCase() !== ids[k]![i])) {
            throw new Error(`KurrentDB stream ${a.streamId}: the events read back after revision ${head.revision} are not the ones appended`);
          }
          return { nextExpectedRevision: head.revision + a.events.length, globalPositions: stored.map((x) => x.globalPosition), replayed: false };
        }),
      );
      this.wakeLocal();
      return results;
    }
  }

  /**
   * The first results of a multi-stream append of these ids, if it was stored
   * (all of it: the server's write is atomic); undefined if none of it was; a
   * ValidationError for any partial overlap.
   */
  private async findReplays(appends: readonly StreamAppend[], ids: readonly string[][]): Promise<AppendResult[] | undefined> {
    const found = await Promise.all(appends.map((a, k) => this.findReplay(a.streamId, ids[k]!)));
    if (found.every((r) => r === undefined)) return undefined;
    if (found.every((r) => r !== undefined)) return found;
    throw new ValidationError('some of these event ids are already stored, with other events', [
      { path: 'appends.events.id', message: 'already stored' },
    ]);
  }

  /** Claims every id for `streamId`; true when all claims are new (none of the ids can be stored anywhere). */
  private async claim(streamId: string, ids: readonly string[], after: number): Promise<boolean> {
    const results = await Promise.allSettled(
      ids.map((id) =>
        this.client.appendToStream(
          eventIdClaimStream(id),
          jsonEvent({ type: EVENT_ID_CLAIM_TYPE, data: { streamId, after } satisfies Claim }),
          { streamState: NO_STREAM },
        ),
      ),
    );
    let fresh = true;
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      if (!isWrongExpectedVersion(r.reason)) throw r.reason;
      fresh = false;
    }
    return fresh;
  }

  private async readClaim(id: string): Promise<Claim | undefined> {
    const [e] = await this.read(eventIdClaimStream(id), { direction: FORWARDS, fromRevision: START, maxCount: 1 }, true);
    const c = e?.data as Partial<Claim> | undefined;
    return c && typeof c.streamId === 'string' && typeof c.after === 'number' ? { streamId: c.streamId, after: c.after } : undefined;
  }

  /**
   * The first result of an append of these ids to this stream, if it was stored
   * (a retry); undefined if none of them was; a ValidationError if some were, or
   * if any id belongs to another stream.
   */
  private async findReplay(streamId: string, ids: readonly string[]): Promise<AppendResult | undefined> {
    const claims = await Promise.all(ids.map((id) => this.readClaim(id)));
    const taken = claims.filter((c): c is Claim => c !== undefined);
    if (taken.length === 0) return undefined;
    const elsewhere = taken.find((c) => c.streamId !== streamId);
    if (elsewhere) {
      throw new ValidationError(`some of these event ids are already stored, in stream ${elsewhere.streamId}`, [
        { path: 'events.id', message: 'already stored' },
      ]);
    }
    const from = Math.max(0, Math.min(...taken.map((c) => c.after)) + 1);
    const wanted = new Set(ids);
    const stored = (await this.readEvents(streamId, { fromRevision: from }, true)).filter((e) => wanted.has(e.id.toLowerCase()));
    if (stored.length === 0) return undefined;
    if (stored.length !== ids.length) {
      throw new ValidationError('some of these event ids are already stored, with other events', [
        { path: 'events.id', message: 'already stored' },
      ]);
    }
    return {
      nextExpectedRevision: stored[stored.length - 1]!.streamPosition,
      globalPositions: stored.map((e) => e.globalPosition),
      replayed: true,
    };
  }

  async verifyStream(streamId: string): Promise<VerifyResult> {
    return verifyChain(streamId, await this.readStream(streamId));
  }

  // ---- the global log ------------------------------------------------------

  async readAll(options: ReadAllOptions = {}): Promise<RawRecordedEvent[]> {
    const { after = 0, maxCount = 1000, types, streamPrefix } = options;
    return this.readLog(after, maxCount, { types, streamPrefix });
  }

  /**
   * Up to `maxCount` OneStop events after `after`, filtered on the server where
   * KurrentDB can (one filter per read) and on the client for the rest. A read
   * from a position includes the event at it (KurrentDB `AllReader`: `>= pos`),
   * so one more is asked for and the boundary dropped.
   */
  private async readLog(after: number, maxCount: number, filter: LogFilter): Promise<RawRecordedEvent[]> {
    if (filter.types && filter.types.length === 0) return [];
    const server = clientFilter(serverFilter(filter));
    const out: RawRecordedEvent[] = [];
    let from = after;
    while (out.length < maxCount) {
      const want = maxCount - out.length + 1;
      let seen = 0;
      let last = from;
      for await (const resolved of this.client.readAll({
        fromPosition: from > 0 ? toKurrentPosition(from) : START,
        maxCount: want,
        filter: server,
      })) {
        seen += 1;
        const r = resolved.event;
        if (!r) continue;
        const position = toGlobalPosition(r.position);
        if (position <= from) continue;
        last = position;
        if (isInternal(r.streamId, r.type)) continue;
        const e = decodeEvent(r);
        if (!matches(filter, e)) continue;
        out.push(e);
        if (out.length === maxCount) break;
      }
      if (seen < want || last === from) break;
      from = last;
    }
    return out;
  }

  /**
   * A person's case: every event whose partition key is `personId`, in `$all`
   * order. Not indexed: KurrentDB indexes streams and event types, and its
   * server-side filters match a stream name or an event type only, never
   * metadata, while a case spans streams of several categories (person-,
   * assessment-, referral-, audit-). So this reads `$all` from the start,
   * system events excluded on the server, and keeps the person's events:
   * linear in the log, like streamHeads. An index would need the partition key
   * where KurrentDB indexes, a stream: a link event to a per-person stream
   * (e.g. `$onestop-case-<personId>`) written in the same multiStreamAppend as
   * the events it points to (atomic, 25.1+, one more record per event), or a
   * server-side projection linking on `metadata.partitionKey` (projections
   * running, and only eventually consistent). Reading that stream with
   * link resolution would then be one indexed read.
   */
  async readCase(personId: string): Promise<RawRecordedEvent[]> {
    const out: RawRecordedEvent[] = [];
    await this.scanAll(undefined, (e) => {
      if (e.partitionKey === personId) out.push(e);
    });
    return out;
  }

  /**
   * Every non-internal event of `$all` in order, up to `atPosition` if given
   * (pages of SCAN_PAGE, system events excluded on the server): linear in the
   * log, for audits, digests and case reads.
   */
  private async scanAll(atPosition: number | undefined, visit: (e: RawRecordedEvent) => void): Promise<void> {
    let from = 0;
    for (;;) {
      let seen = 0;
      let last = from;
      let done = false;
      for await (const resolved of this.client.readAll({
        fromPosition: from > 0 ? toKurrentPosition(from) : START,
        maxCount: SCAN_PAGE,
        filter: clientFilter(EXCLUDE_SYSTEM_EVENTS),
      })) {
        seen += 1;
        const r = resolved.event;
        if (!r) continue;
        const position = toGlobalPosition(r.position);
        if (position <= from) continue;
        if (atPosition !== undefined && position > atPosition) {
          done = true;
          break;
        }
        last = position;
        if (isInternal(r.streamId, r.type)) continue;
        visit(decodeEvent(r));
      }
      if (done || seen < SCAN_PAGE || last === from) return;
      from = last;
    }
  }

  /** The newest non-system event's position: one backwards read of `$all`. */
  async headPosition(): Promise<number> {
    for await (const resolved of this.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      maxCount: 1,
      filter: clientFilter(EXCLUDE_SYSTEM_EVENTS),
    })) {
      if (resolved.event) return toGlobalPosition(resolved.event.position);
    }
    return 0;
  }

  /**
   * The head of every stream as of `atPosition`. KurrentDB has no per-stream
   * index to ask this of, so it scans `$all` from the start up to `atPosition`
   * (pages of 4096, system events excluded on the server): cost linear in the
   * log, meant for audits and digests, not for request paths.
   */
  async streamHeads(atPosition?: number): Promise<StreamHead[]> {
    const heads = new Map<string, StreamHead>();
    await this.scanAll(atPosition, (e) => {
      heads.set(e.subject, { streamId: e.subject, revision: e.streamPosition, hash: e.hash, globalPosition: e.globalPosition });
    });
    return [...heads.values()].sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
  }

  // ---- subscriptions and checkpoints ---------------------------------------

  subscribeToAll(options: SubscribeOptions): Subscription {
    const sub = new FilteredCatchUpSubscription(
      {
        headPosition: () => this.headPosition(),
        readPage: (after, limit, filter) => this.readLog(after, limit, filter ?? {}),
        loadCheckpoint: (n) => this.loadCheckpoint(n),
        saveCheckpoint: (n, p) => this.saveCheckpoint(n, p),
        onAppended: (w) => {
          this.wakeups.add(w);
          this.ensureLive();
          return () => {
            this.wakeups.delete(w);
            if (this.wakeups.size === 0) this.stopLive();
          };
        },
        pollIntervalMs: this.options.pollIntervalMs ?? 1000,
      },
      options,
    );
    this.subscriptions.add(sub);
    return sub;
  }

  private wakeLocal(): void {
    for (const w of this.wakeups) w.notify();
  }

  /**
   * KurrentDB's own catch-up subscription, from the end of `$all`, system
   * events excluded on the server: every event any process appends wakes this
   * process's subscribers at once. It only signals; a lost connection is
   * re-established, and the subscribers' safety poll covers the gap.
   */
  private ensureLive(): void {
    if (this.live || this.liveRetry || this.closed || this.wakeups.size === 0) return;
    const sub = this.client.subscribeToAll({ fromPosition: END, filter: clientFilter(EXCLUDE_SYSTEM_EVENTS) });
    this.live = sub;
    const restart = () => {
      if (this.live !== sub) return;
      this.live = undefined;
      sub.unsubscribe().catch(() => undefined);
      this.wakeLocal();
      if (this.closed || this.wakeups.size === 0) return;
      this.liveRetry = setTimeout(() => {
        this.liveRetry = undefined;
        this.ensureLive();
      }, 1000);
      this.liveRetry.unref();
    };
    sub.on('data', () => this.wakeLocal());
    sub.on('error', restart);
    sub.on('end', restart);
  }

  private stopLive(): void {
    if (this.liveRetry) clearTimeout(this.liveRetry);
    this.liveRetry = undefined;
    const sub = this.live;
    this.live = undefined;
    if (sub) sub.unsubscribe().catch(() => undefined);
  }

  async loadCheckpoint(name: string): Promise<number | undefined> {
    const [e] = await this.read(checkpointStream(name), { direction: BACKWARDS, fromRevision: END, maxCount: 1 });
    const position = (e?.data as { position?: unknown } | undefined)?.position;
    return typeof position === 'number' ? position : undefined;
  }

  /**
   * A checkpoint is the last event of its own `$` stream, kept to one event by
   * stream metadata. It only moves forward: the append expects the revision of
   * the checkpoint it compared with (known from this instance's last save, else
   * read from the leader), so a concurrent save in between is seen, not overwritten.
   */
  async saveCheckpoint(name: string, position: number): Promise<void> {
    const stream = await this.checkpointStreamFor(name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const head = this.checkpointHeads.get(stream) ?? (await this.readCheckpointHead(stream));
      if (head.position !== undefined && head.position >= position) return;
      try {
        const r = await this.client.appendToStream(stream, jsonEvent({ type: CHECKPOINT_TYPE, data: { position } }), {
          streamState: head.revision < 0n ? NO_STREAM : head.revision,
        });
        this.checkpointHeads.set(stream, { position, revision: r.nextExpectedRevision });
        return;
      } catch (e) {
        this.checkpointHeads.delete(stream);
        if (!isWrongExpectedVersion(e)) throw e;
      }
    }
    throw new Error(`checkpoint "${name}" kept changing under a save of ${position}`);
  }

  async resetCheckpoint(name: string, position: number): Promise<void> {
    const stream = await this.checkpointStreamFor(name);
    this.checkpointHeads.delete(stream);
    const r = await this.client.appendToStream(stream, jsonEvent({ type: CHECKPOINT_TYPE, data: { position } }), { streamState: ANY });
    this.checkpointHeads.set(stream, { position, revision: r.nextExpectedRevision });
  }

  private async checkpointStreamFor(name: string): Promise<string> {
    const stream = checkpointStream(name);
    if (!this.checkpointStreams.has(stream)) {
      await this.client.setStreamMetadata(stream, { maxCount: 1 });
      this.checkpointStreams.add(stream);
    }
    return stream;
  }

  /** The stored checkpoint and its stream revision (-1: none yet), read from the leader. */
  private async readCheckpointHead(stream: string): Promise<{ position: number | undefined; revision: bigint }> {
    const [e] = await this.read(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }, true);
    const position = (e?.data as { position?: unknown } | undefined)?.position;
    return { position: typeof position === 'number' ? position : undefined, revision: e ? e.revision : -1n };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.stopLive();
    await this.client.dispose();
  }
}

/** Connects to KurrentDB (and checks it answers) and returns the adapter. */
export async function createKurrentEventStore(options: KurrentEventStoreOptions): Promise<KurrentEventStore> {
  const { connectionString, ...rest } = options;
  const store = new KurrentEventStore(KurrentDBClient.connectionString(connectionString), rest);
  try {
    await store.headPosition();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
