/**
 * The pure half of the KurrentDB adapter: how OneStop envelopes, hash-chain
 * links, positions and filters map onto KurrentDB's model. No I/O and no value
 * import of the KurrentDB client here, so it is unit-tested without a server
 * and importing it never loads the client's gRPC code or native addon.
 */
export { validateAppend, validateAppendToStreams } from './append-checks.js';
import {
  ValidationError,
  canonicalEnvelope,
  type Actor,
  type RawEnvelope,
  type RawRecordedEvent,
} from '@onestop/events';
import { linkHash } from './chain.js';
import type { ExpectedRevision, LogFilter } from './port.js';

/** A position in KurrentDB's transaction log (`$all`), as the client exposes it. */
export interface KurrentPosition {
  commit: bigint;
  prepare: bigint;
}

/**
 * Internal streams and event types of this adapter. Every name starts with `$`,
 * KurrentDB's mark of a system stream / system event type, so the adapter's own
 * bookkeeping is excluded from the global log by the same server-side filters
 * that exclude KurrentDB's system events (`excludeSystemEvents()` filters on the
 * event type `^[^$]`; stream-prefix filters never match a `$` stream), and by
 * {@link isInternal} on the client side. Domain stream ids (`<category>-<id>`,
 * lower-case first letter) can never collide with them.
 *
 * Writing `$` streams needs an `$admins` user (or a `$systemStreamAcl` grant) on
 * a secure cluster; reading `$all` needs the same, so the adapter's user needs
 * those rights anyway.
 */
export const INTERNAL_PREFIX = '$onestop-';
/** One stream per named checkpoint, stream metadata `maxCount: 1`: reading its last event loads it. */
export const CHECKPOINT_TYPE = '$onestop-checkpoint';
/** One stream per stored event id (see the adapter's idempotency notes). */
export const EVENT_ID_CLAIM_TYPE = '$onestop-event-id';

export function checkpointStream(name: string): string {
  return `${INTERNAL_PREFIX}checkpoint-${name}`;
}

export function eventIdClaimStream(eventId: string): string {
  return `${INTERNAL_PREFIX}event-id-${eventId.toLowerCase()}`;
}

/** KurrentDB system events and this adapter's bookkeeping: never part of the OneStop log. */
export function isInternal(streamId: string, type: string): boolean {
  return streamId.startsWith('$') || type.startsWith('$');
}

const MAX_POSITION = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * An event's `$all` position as the port's global position.
 *
 * KurrentDB positions are byte offsets in its transaction log. Every event
 * appended through the gRPC API is a self-committed prepare record, and the
 * server reports it as `{ commit: logPosition, prepare: logPosition }`
 * (KurrentDB `AllReader`: `new CommitEventRecord(eventRecord, prepare.LogPosition)`;
 * `ResolvedEvent.CalculatePosition` for self-committed events). So the commit
 * position alone orders the log, strictly increasing in append order, one
 * value per event. It is an int64 byte offset: a JS number holds it exactly up
 * to 2^53 bytes (8 PiB of log), far beyond any realistic OneStop deployment;
 * anything larger is refused rather than rounded.
 *
 * Refused as well: a missing position (servers before 22.6 sent none on stream
 * reads, and 0 or 2^64-1 as placeholders), and `commit !== prepare`, which only
 * the legacy TCP API's explicit transactions produce: events of one such
 * transaction share a commit position, so no single number per event exists.
 */
export function toGlobalPosition(position: KurrentPosition | undefined): number {
  if (!position) {
    throw new Error('KurrentDB returned an event without a $all position (KurrentDB/EventStoreDB 22.6 or later is required)');
  }
  const { commit, prepare } = position;
  if (commit <= 0n || commit > MAX_POSITION) {
    throw new Error(
      `KurrentDB returned the $all position ${commit}: ${commit <= 0n ? 'no position (server older than 22.6?)' : 'beyond 2^53, not representable'}`,
    );
  }
  if (commit !== prepare) {
    throw new Error(
      `KurrentDB event at commit ${commit} / prepare ${prepare} belongs to an explicit (legacy TCP) transaction: not supported`,
    );
  }
  return Number(commit);
}

/** The `$all` position of the event at global position `n` (a position this adapter returned). */
export function toKurrentPosition(globalPosition: number): KurrentPosition {
  if (!Number.isSafeInteger(globalPosition) || globalPosition < 0) {
    throw new ValidationError('bad global position', [{ path: 'position', message: String(globalPosition) }]);
  }
  const p = BigInt(globalPosition);
  return { commit: p, prepare: p };
}

/** Everything of the envelope that is not the event's id, type, stream or data, plus the hash-chain link. */
export interface EventMetadata {
  schemaVersion: number;
  source: string;
  time: string;
  partitionKey: string;
  correlationId: string;
  causationId: string | null;
  actor: Actor;
  prevHash: string | null;
  hash: string;
  /** W3C traceparent (tracing on); not covered by the hash */
  traceparent?: string;
}

/** What is appended for one envelope: KurrentDB event id, type, JSON data and JSON metadata. */
export interface ProposedEvent {
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

/** One envelope at stream revision `revision`, linked to the event before it. */
export function encodeEvent(e: RawEnvelope, revision: number, prevHash: string | null): ProposedEvent {
  return {
    id: e.id,
    type: e.type,
    data: e.data,
    metadata: {
      schemaVersion: e.schemaVersion,
      source: e.source,
      time: e.time,
      partitionKey: e.partitionKey,
      correlationId: e.correlationId,
      causationId: e.causationId,
      actor: e.actor,
      prevHash,
      hash: linkHash(prevHash, revision, canonicalEnvelope(e)),
      ...(e.traceparent ? { traceparent: e.traceparent } : {}),
    },
  };
}

/** The per-stream hash chain, computed client-side from the stream's head (revision -1 / hash null: a new stream). */
export function chainEvents(events: readonly RawEnvelope[], head: { revision: number; hash: string | null }): ProposedEvent[] {
  let prev = head.hash;
  return events.map((e, i) => {
    const p = encodeEvent(e, head.revision + 1 + i, prev);
    prev = p.metadata.hash;
    return p;
  });
}

/**
 * KurrentDB's multi-stream append (server 25.1+) takes metadata as a map of
 * string values only (the client refuses anything else), so there the event
 * metadata travels as one JSON string under this key; decodeEvent reads both
 * shapes, and any other keys the server adds beside it.
 */
export const ENVELOPE_METADATA_KEY = 'onestop.envelope';

/** The metadata of a proposed event in the string-valued shape multiStreamAppend requires. */
export function stringMetadata(m: EventMetadata): Record<string, string> {
  return { [ENVELOPE_METADATA_KEY]: JSON.stringify(m) };
}

/** The parts of a KurrentDB recorded event the adapter reads (the client's `RecordedEvent`). */
export interface StoredEvent {
  streamId: string;
  id: string;
  type: string;
  revision: bigint;
  data: unknown;
  metadata: unknown;
  position?: KurrentPosition | undefined;
}

/**
 * A recorded KurrentDB event as a OneStop event. Fields the metadata lacks
 * (an event written behind the adapter's back) decode as empty, so the event
 * stays readable and `verifyStream` reports its broken link.
 */
export function decodeEvent(r: StoredEvent): RawRecordedEvent {
  let m: Partial<EventMetadata> =
    r.metadata !== null && typeof r.metadata === 'object' && !(r.metadata instanceof Uint8Array)
      ? (r.metadata as Partial<EventMetadata>)
      : {};
  const packed = (m as Record<string, unknown>)[ENVELOPE_METADATA_KEY];
  if (typeof packed === 'string') {
    try {
      m = JSON.parse(packed) as Partial<EventMetadata>;
    } catch {
      m = {};
    }
  }
  return {
    id: r.id,
    type: r.type,
    schemaVersion: m.schemaVersion ?? 0,
    source: m.source ?? '',
    subject: r.streamId,
    time: m.time ?? '',
    partitionKey: m.partitionKey ?? '',
    correlationId: m.correlationId ?? '',
    causationId: m.causationId ?? null,
    actor: m.actor ?? ({ id: '', role: 'system' } as Actor),
    data: r.data,
    ...(typeof m.traceparent === 'string' ? { traceparent: m.traceparent } : {}),
    streamPosition: Number(r.revision),
    globalPosition: toGlobalPosition(r.position),
    hash: typeof m.hash === 'string' ? m.hash : '',
    prevHash: typeof m.prevHash === 'string' ? m.prevHash : null,
  };
}

/** Whether a stream whose last revision is `revision` (-1: no stream) is at the expected revision. */
export function satisfies(expected: ExpectedRevision, revision: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return revision === -1;
  if (expected === 'stream_exists') return revision >= 0;
  return revision === expected;
}

/** KurrentDB's "current revision" of a WrongExpectedVersionError as the port's number (-1: no stream). */
export function revisionNumber(state: bigint | string | undefined): number {
  return typeof state === 'bigint' ? Number(state) : -1;
}

/** .NET regex escaping for literal event type names. */
export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}#\s-]/g, (c) => (/\s/.test(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : `\\${c}`));
}

/**
 * The one server-side filter a KurrentDB read can carry (either on event type
 * or on stream name, not both). Types win, because a type regex that only
 * matches the wanted (non-`$`) types also excludes every system event; a stream
 * prefix never matches a `$` stream; with neither, system event types are
 * excluded. Whatever the server cannot filter, the client does (`matches`).
 */
export type ServerFilter =
  | { filterOn: 'eventType'; regex: string }
  | { filterOn: 'streamName'; prefixes: string[] };

export const EXCLUDE_SYSTEM_EVENTS: ServerFilter = { filterOn: 'eventType', regex: '^[^$].*' };

export function serverFilter(filter: LogFilter | undefined): ServerFilter {
  if (filter?.types && filter.types.length > 0) {
    return { filterOn: 'eventType', regex: `^(?:${filter.types.map(escapeRegex).join('|')})$` };
  }
  if (filter?.streamPrefix && !filter.streamPrefix.startsWith('$')) {
    return { filterOn: 'streamName', prefixes: [filter.streamPrefix] };
  }
  return EXCLUDE_SYSTEM_EVENTS;
}
