import type { RawEnvelope, RawRecordedEvent } from '@onestop/events';

/** `n` (the revision of the last event, 0-based), or one of the special expectations. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendResult {
  /** revision of the stream after the append: pass it as `expected` next time */
  nextExpectedRevision: number;
  /** global positions of the appended events, in order */
  globalPositions: number[];
  /** true when these event ids were already stored: the first result is returned, nothing is stored twice */
  replayed: boolean;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend {
  streamId: string;
  events: readonly RawEnvelope[];
  expected: ExpectedRevision;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** revision to start from (inclusive); default: the first (forwards) or last (backwards) */
  fromRevision?: number;
  maxCount?: number;
}

export interface LogFilter {
  /** only these event types */
  types?: readonly string[];
  /** only streams whose id starts with this, e.g. `person-` */
  streamPrefix?: string;
}

export interface ReadAllOptions extends LogFilter {
  /** exclusive: events after this global position; default 0 (from the start) */
  after?: number;
  maxCount?: number;
}

export interface SubscribeOptions {
  /** exclusive start position; ignored when `checkpoint` has a stored value */
  from?: number;
  /** named checkpoint: loaded on start, saved after every handled batch */
  checkpoint?: string;
  /**
   * Save the checkpoint at most this often (ms; default 0: after every batch),
   * and always on stop. Between saves a restart hands over again what was
   * handled since the last one (at-least-once either way): for handlers whose
   * effects are idempotent and whose batches come many a second.
   */
  checkpointEveryMs?: number;
  /**
   * How long a checkpoint that cannot be loaded is retried (ms, default 30 000;
   * backoff from 50 ms, doubling, each failure to onError) before the
   * subscription fails: it never starts from `from` or 0 because a load failed.
   */
  checkpointLoadTimeoutMs?: number;
  filter?: LogFilter;
  batchSize?: number;
  /** called with each batch in global order; a throw retries the same batch (nothing is skipped) */
  handle(events: RawRecordedEvent[]): Promise<void>;
  onError?(error: unknown): void;
}

export interface Subscription {
  /** global position of the last event handled (or skipped by the filter) */
  readonly position: number;
  /** resolves once the subscription has handled everything up to `position`; rejects if it failed */
  reached(position: number, timeoutMs?: number): Promise<void>;
  /** settles when the subscription ends: resolves after stop(), rejects with the error that failed it (a checkpoint that could not be loaded) */
  readonly ended: Promise<void>;
  stop(): Promise<void>;
}

export type VerifyResult =
  | { ok: true; streamId: string; events: number; headHash: string | null }
  | {
      ok: false;
      streamId: string;
      events: number;
      /** the first stream position whose link does not hold */
      brokenAt: number;
      reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'position_gap';
    };

export interface StreamHead {
  streamId: string;
  revision: number;
  hash: string;
  globalPosition: number;
}

/** A recorded event as a fold sees it: the decider's input, its position and its time. */
export type FoldEvent = Pick<RawRecordedEvent, 'id' | 'type' | 'schemaVersion' | 'subject' | 'time' | 'data' | 'globalPosition'>;

/** How far the Merkle tree over the global log has grown. */
export interface TreeHead {
  /** leaves: events of the global log, in global order */
  size: number;
  /** global position of the last leaf (0: none) */
  lastPosition: number;
}

/** RFC 9162 inclusion proof of one event (hashes in base64, as checkpoints carry them). */
export interface InclusionProof {
  globalPosition: number;
  leafIndex: number;
  treeSize: number;
  /** SHA-256(0x00 ‖ the event's stored hash) */
  leafHash: string;
  proof: string[];
}

/** A signed checkpoint as stored, with the cosignatures received so far. */
export interface StoredCheckpoint {
  treeSize: number;
  /** base64, as in the note */
  rootHash: string;
  /** the C2SP signed note: body, the log's signature line, then each witness's cosignature line */
  note: string;
  signedAt: string;
  /** when the witness policy was met; null: not final yet */
  finalAt: string | null;
  cosignedBy: string[];
}

/**
 * The verifiable log (RFC 9162 over the global log): a Merkle tree that
 * follows the log, its proofs, and the checkpoints signed of it.
 */
export interface VerifiableLog {
  head(): Promise<TreeHead>;
  /** Adds every event the gap-safe log shows after the tree's last leaf. */
  catchUp(): Promise<TreeHead>;
  /** Keeps adding leaves as events are appended (a subscription to the global log). */
  /** `coalesceMs`: how long appends gather before the follower adds them (default 200 ms) */
  follow(options?: Pick<SubscribeOptions, 'onError' | 'batchSize'> & { coalesceMs?: number }): Promise<Subscription>;
  /** Root hash of the tree of the first `size` leaves. */
  rootHash(size: number): Promise<Buffer>;
  leafIndexOf(globalPosition: number): Promise<number | undefined>;
  /** Where an event is (by its id): its global position and stream; undefined when no such event is stored. */
  locate(eventId: string): Promise<{ globalPosition: number; streamId: string } | undefined>;
  /** undefined when the event is not a leaf of the tree of that size (not yet, or no such event). */
  inclusionProof(globalPosition: number, treeSize: number): Promise<InclusionProof | undefined>;
  consistencyProof(first: number, second: number): Promise<string[]>;
  saveCheckpoint(treeSize: number, rootHash: string, note: string): Promise<StoredCheckpoint>;
  /** The latest checkpoint, or the one of a size; only final ones with `final`. */
  checkpoint(which?: { size?: number; final?: boolean }): Promise<StoredCheckpoint | undefined>;
  /** The latest checkpoint whose tree holds this event. */
  checkpointCovering(globalPosition: number, final: boolean): Promise<StoredCheckpoint | undefined>;
  /** Stores a (verified) cosignature; the checkpoint becomes final once `finalWhenCosigners` witnesses cosigned it. */
  addCosignature(treeSize: number, witness: string, line: string, finalWhenCosigners: number): Promise<StoredCheckpoint>;
  markFinal(treeSize: number): Promise<void>;
}

/** The event store port (DESIGN §1): source of truth and outbox. */
export interface EventStore {
  /** Appends events to a stream if it is at the expected revision; idempotent on event ids. */
  append(streamId: string, events: readonly RawEnvelope[], expected: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams atomically: every stream at its expected
   * revision, or nothing at all (DESIGN §9, the reservation pattern). Results
   * come back in the order of `appends`. Idempotent on event ids like append:
   * a retry of a stored multi-stream append returns its first results.
   * A stream may appear once.
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RawRecordedEvent[]>;
  /**
   * Every event whose partition key is this person's id (every stream of their
   * case: person, assessments, referrals, audit reads, case), in global order;
   * indexed, never a scan of the global log.
   */
  readCase(personId: string): Promise<RawRecordedEvent[]>;
  /**
   * The events of several streams recorded at or before `until`, merged in
   * global order, carrying only what a fold needs (an as-of replay reads
   * thousands of them: no hashes, no metadata beyond the time).
   */
  readForFold(streamIds: readonly string[], until: Date): Promise<FoldEvent[]>;
  /** readForFold of a person's whole case (every event with their partition key), by its index. */
  readCaseForFold(personId: string, until: Date): Promise<FoldEvent[]>;
  /** Reads the global log in order, gap-safe: nothing can later appear before what it returns. */
  readAll(options?: ReadAllOptions): Promise<RawRecordedEvent[]>;
  /** Catch-up then live subscription to the global log. */
  subscribeToAll(options: SubscribeOptions): Subscription;
  loadCheckpoint(name: string): Promise<number | undefined>;
  /** Stores a checkpoint; it only moves forward (an older position than the stored one changes nothing). */
  saveCheckpoint(name: string, position: number): Promise<void>;
  /** Sets a checkpoint to any position, backwards too: only for a deliberate reset (an operator's redelivery, a rebuild), never for progress. */
  resetCheckpoint(name: string, position: number): Promise<void>;
  /** Recomputes a stream's hash chain and reports the first broken link. */
  verifyStream(streamId: string): Promise<VerifyResult>;
  /** The last event of every stream whose last event is at or before `atPosition`. */
  streamHeads(atPosition?: number): Promise<StreamHead[]>;
  /** The highest global position a reader can safely see now. */
  headPosition(): Promise<number>;
  /** The Merkle tree over the global log, where the adapter keeps one (PostgreSQL, PGlite; not KurrentDB yet: see the README). */
  readonly log?: VerifiableLog;
  close(): Promise<void>;
}
