import { verifyChain, type EventStore, type StreamHead, type VerifyResult } from '@onestop/eventstore';
import { compareWithDigest, type DigestComparison, type SignedDigestRecord } from './signed-digests.js';

/** A stream whose hash chain does not hold, and where it first breaks. */
export interface BrokenStream {
  streamId: string;
  events: number;
  brokenAt: number;
  reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'position_gap';
}

export interface VerificationSummary {
  ok: boolean;
  /** streams checked */
  streams: number;
  /** events whose links were recomputed */
  events: number;
  broken: BrokenStream[];
}

/**
 * A verification of the whole store: sound chains are not enough, the log
 * must also hold everything the last signed digest named. Not ok with a warning
 * when it does not (empty, fewer events or streams, a head missing or behind).
 */
export interface StoreVerificationSummary extends VerificationSummary {
  /** head of the log when it was verified */
  position: number;
  /** the comparison with the last signed digest; null when none was ever signed */
  digest: DigestComparison | null;
  /** what the operator must know when the log holds less than that digest */
  warning: string | null;
}

export interface VerificationProgress {
  streams: number;
  total: number;
  broken: number;
}

const brokenOf = (r: VerifyResult): BrokenStream | undefined =>
  r.ok ? undefined : { streamId: r.streamId, events: r.events, brokenAt: r.brokenAt, reason: r.reason };

/** Recomputes the hash chains of these streams, a few at a time. */
export async function verifyStreams(
  store: EventStore,
  streamIds: readonly string[],
  options: { concurrency?: number; onResult?: (r: VerifyResult) => void | Promise<void> } = {},
): Promise<VerifyResult[]> {
  const results: VerifyResult[] = new Array(streamIds.length);
  let next = 0;
  const worker = async () => {
    while (next < streamIds.length) {
      const i = next++;
      results[i] = await store.verifyStream(streamIds[i]!);
      await options.onResult?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, streamIds.length) }, worker));
  return results;
}

/** Sums up verification results. */
export function summarise(results: readonly VerifyResult[]): VerificationSummary {
  const broken = results.map(brokenOf).filter((b): b is BrokenStream => b !== undefined);
  return { ok: broken.length === 0, streams: results.length, events: results.reduce((n, r) => n + r.events, 0), broken };
}

/**
 * Every stream of the store, in stream-id order. Only one stream's events are
 * held at a time per worker, so memory stays bounded by the list of stream ids.
 */
export async function verifyEveryStream(
  store: EventStore,
  options: { concurrency?: number; lastDigest?: SignedDigestRecord | null; onProgress?: (p: VerificationProgress) => void | Promise<void> } = {},
): Promise<StoreVerificationSummary> {
  const position = await store.headPosition();
  const heads = await store.streamHeads(position);
  const ids = heads.map((h) => h.streamId).sort();
  let done = 0;
  let events = 0;
  const broken: BrokenStream[] = [];
  await verifyStreams(store, ids, {
    concurrency: options.concurrency ?? 8,
    onResult: async (r) => {
      done += 1;
      events += r.events;
      const b = brokenOf(r);
      if (b) broken.push(b);
      if (options.onProgress && (done % 500 === 0 || done === ids.length)) await options.onProgress({ streams: done, total: ids.length, broken: broken.length });
    },
  });
  broken.sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  const digest = options.lastDigest ? compareWithDigest(heads, position, options.lastDigest) : null;
  const warning = digest?.warning ?? null;
  return { ok: broken.length === 0 && !warning, streams: ids.length, events, broken, position, digest, warning };
}

/**
 * One page of the store's streams (in stream-id order, after `after`),
 * verified: for an HTTP caller that walks the whole store page by page. Every
 * page also compares the whole log's heads with the last signed digest.
 */
export async function verifyStreamPage(
  store: EventStore,
  page: { after?: string; limit: number },
  lastDigest: SignedDigestRecord | null = null,
): Promise<StoreVerificationSummary & { totalStreams: number; nextAfter: string | null }> {
  const position = await store.headPosition();
  const heads = await store.streamHeads(position);
  const ids = heads.map((h) => h.streamId).sort();
  const from = page.after === undefined ? 0 : ids.findIndex((id) => id > page.after!);
  const slice = from < 0 ? [] : ids.slice(from, from + page.limit);
  const results = await verifyStreams(store, slice, { concurrency: 8 });
  const last = from < 0 ? ids.length : from + slice.length;
  const summary = summarise(results);
  const digest = lastDigest ? compareWithDigest(heads, position, lastDigest) : null;
  const warning = digest?.warning ?? null;
  return { ...summary, ok: summary.ok && !warning, position, digest, warning, totalStreams: ids.length, nextAfter: last < ids.length ? slice.at(-1)! : null };
}

/** The stream heads at a position, each recomputed from its events (not read from the stored hash column). */
export interface RecomputedHeads {
  position: number;
  /** every stream's head as its chain recomputes it; a broken stream keeps its stored head (it fails anyway) */
  heads: StreamHead[];
  /** the streams whose chain does not hold up to the position */
  broken: BrokenStream[];
}

/**
 * Recomputes every stream's hash chain up to `position` and returns the head
 * each chain ends in. A digest compared with these heads vouches for every
 * event's content, not merely for the hash column a hand edit leaves alone.
 */
export async function recomputeHeads(store: EventStore, position: number, options: { concurrency?: number } = {}): Promise<RecomputedHeads> {
  const stored = await store.streamHeads(position);
  const heads: StreamHead[] = new Array(stored.length);
  const broken: BrokenStream[] = [];
  let next = 0;
  const worker = async () => {
    while (next < stored.length) {
      const i = next++;
      const head = stored[i]!;
      // the stream's events up to the position: its first revision + 1 events
      const events = await store.readStream(head.streamId, { maxCount: head.revision + 1 });
      const r = verifyChain(head.streamId, events);
      if (r.ok && r.headHash !== null) heads[i] = { ...head, hash: r.headHash };
      else {
        heads[i] = head;
        const b = brokenOf(r);
        if (b) broken.push(b);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, stored.length) }, worker));
  broken.sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  return { position, heads, broken };
}
