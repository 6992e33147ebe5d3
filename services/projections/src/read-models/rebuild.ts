import { validateBatch } from '@onestop/bus';
import { topicForStream, type RawRecordedEvent, type RecordedEvent } from '@onestop/events';
import { splitSql, toNumber, type EventStore, type SqlDriver } from '@onestop/eventstore';
import { ReadModels, swapLockKey } from './read-models.js';
import { applyFunctionsSql, shadowBehindSql } from './sql.js';

export interface RebuildProgress {
  /** copy: the bulk of the log; catch_up: what arrived meanwhile; swapped: done */
  phase: 'copy' | 'catch_up' | 'swapped';
  /** events read from the log and applied to the shadow schema so far */
  events: number;
  /** global position reached */
  position: number;
  /** head of the log when the rebuild began: the total to reach (positions are dense but for rolled-back appends) */
  headPosition: number;
  /** events left out, as the live consumer leaves them out (invalid: dead-lettered there) */
  skipped: number;
}

export interface RebuildReport {
  events: number;
  position: number;
  durationMs: number;
  eventsPerSecond: number;
  /** events left out: invalid for the catalog, or refused by the read models (the live consumer dead-letters these) */
  skipped: number;
  /** swaps tried: more than one when another process kept applying to the old read models */
  swapAttempts: number;
}

export interface RebuildOptions {
  db: SqlDriver;
  store: EventStore;
  /** the live schema; the shadow is `<schema>_rebuild` */
  schema: string;
  /** topics whose streams the read models hold (the live consumer's) */
  topics: readonly string[];
  /** events per page of the global log (memory stays bounded by one or two pages) */
  pageSize?: number;
  /**
   * Connections applying a page side by side (default 2). A page is split by
   * stream, so each stream's events stay in order on one connection; with one
   * connection the database would apply on one core while another waits.
   */
  lanes?: number;
  /** pauses this process's live consumer for the final catch-up and swap; returns the resume function */
  pause?: () => Promise<() => Promise<void>>;
  onProgress?: (p: RebuildProgress) => void | Promise<void>;
}

const MAX_SWAP_ATTEMPTS = 10;

/** Splits events into `lanes` groups by stream, each keeping the events' order. */
export function byStream<E extends { subject: string }>(events: readonly E[], lanes: number): E[][] {
  if (lanes <= 1) return [[...events]];
  const out: E[][] = Array.from({ length: lanes }, () => []);
  for (const e of events) {
    let h = 0;
    for (let i = 0; i < e.subject.length; i++) h = (h * 31 + e.subject.charCodeAt(i)) | 0;
    out[Math.abs(h) % lanes]!.push(e);
  }
  return out.filter((lane) => lane.length > 0);
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the event's fault, not the database's. */
const isDataError = (e: unknown) => /^2[23]/.test(String((e as { code?: unknown }).code ?? ''));

/**
 * Rebuilds a read-model schema from the event store's global log:
 *
 * 1. a fresh shadow schema is filled page by page from position 0, while the
 *    service keeps serving (and updating) the live one;
 * 2. the live consumer of this process is paused, and the shadow catches up
 *    with what was appended meanwhile;
 * 3. one transaction takes the swap lock exclusively (live appliers hold it
 *    shared, so none is half-way), checks that no stream is further along in
 *    the live schema than in the shadow (another process may have applied
 *    more: then catch up again and retry), and renames the schemas;
 * 4. the consumer resumes on the new read models. Whatever it applied before
 *    the pause is in the shadow too, and whatever it delivers again is
 *    skipped by the per-stream checkpoints: nothing is lost, nothing doubled.
 */
export async function rebuildReadModels(o: RebuildOptions): Promise<RebuildReport> {
  const started = Date.now();
  const { db, store, schema } = o;
  const shadowName = `${schema}_rebuild`;
  const retired = `${schema}_retired`;
  const live = new ReadModels(db, schema);
  const shadow = new ReadModels(db, shadowName);
  const topics = new Set(o.topics);
  const pageSize = o.pageSize ?? 2000;
  const lanes = Math.max(1, o.lanes ?? 2);

  await live.migrate();
  await db.exec(`DROP SCHEMA IF EXISTS ${shadowName} CASCADE; DROP SCHEMA IF EXISTS ${retired} CASCADE;`);
  await shadow.migrate();

  const headPosition = await store.headPosition();
  let position = 0;
  let events = 0;
  let skipped = 0;
  const query: SqlDriver['query'] = (text, params) => db.query(text, params);
  /**
   * Applies a page as the live consumer would: the same topics, the same
   * validation (and upcasting) as the bus, and an event the read models refuse
   * is left out alone (the live consumer dead-letters it) instead of stopping
   * the rebuild.
   */
  const applyToShadow = async (page: RawRecordedEvent[]) => {
    const { valid, rejected } = validateBatch(
      page
        .filter((e) => topics.has(topicForStream(e.subject) ?? ''))
        .map((e) => ({ origin: `store@${e.globalPosition}`, key: e.partitionKey, value: e, headers: {} })),
    );
    skipped += rejected.length;
    const batch: RecordedEvent[] = valid.map((v) => v.event);
    try {
      const settled = await Promise.allSettled(byStream(batch, lanes).map((lane) => shadow.applyWith(query, lane)));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch {
      // one event the read models refuse: find it alone (what a lane applied before is skipped now)
      for (const e of batch) {
        try {
          await shadow.applyWith(query, [e]);
        } catch (err) {
          if (!isDataError(err)) throw err;
          skipped += 1;
        }
      }
    }
  };

  /** Reads and applies pages until the log has nothing more; the next page is read while one is applied. */
  const copy = async (phase: RebuildProgress['phase']) => {
    const read = (after: number) => store.readAll({ after, maxCount: pageSize });
    let next = read(position);
    try {
      for (;;) {
        const page = await next;
        if (page.length === 0) return;
        position = page[page.length - 1]!.globalPosition;
        next = read(position);
        await applyToShadow(page);
        events += page.length;
        await o.onProgress?.({ phase, events, position, headPosition: Math.max(headPosition, position), skipped });
      }
    } finally {
      next.catch(() => undefined);
    }
  };

  await copy('copy');
  const resume = await o.pause?.();
  let attempts = 0;
  try {
    for (;;) {
      attempts += 1;
      await copy('catch_up');
      const swapped = await db.transaction(async (q) => {
        await q('SELECT pg_advisory_xact_lock($1)', [swapLockKey(schema)]);
        const [row] = await q<{ behind: unknown }>(shadowBehindSql(schema, shadowName));
        if (toNumber(row?.behind) > 0) return false;
        await q(`ALTER SCHEMA ${schema} RENAME TO ${retired}`);
        await q(`ALTER SCHEMA ${shadowName} RENAME TO ${schema}`);
        // the apply functions name their schema: re-created for the new name
        for (const statement of splitSql(applyFunctionsSql(schema))) await q(statement);
        return true;
      });
      if (swapped) break;
      if (attempts >= MAX_SWAP_ATTEMPTS) throw new Error(`the live read models kept moving ahead of the rebuild after ${attempts} attempts`);
    }
  } finally {
    await resume?.();
  }
  await db.exec(`DROP SCHEMA IF EXISTS ${retired} CASCADE`);
  await o.onProgress?.({ phase: 'swapped', events, position, headPosition: Math.max(headPosition, position), skipped });
  const durationMs = Date.now() - started;
  return { events, position, durationMs, eventsPerSecond: Math.round(events / Math.max(durationMs / 1000, 0.001)), skipped, swapAttempts: attempts };
}
