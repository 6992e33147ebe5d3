import { EnvelopeSchema, InvalidEventError, ValidationError, eventDataIssues, type RawEnvelope } from '@onestop/events';
import type { ExpectedRevision, StreamAppend } from './port.js';

/**
 * What every adapter checks before an append: envelopes valid, subjects the
 * stream, data present and valid by the catalog, ids unique in the batch, a
 * meaningful expected revision. A payload the catalog refuses (or an unknown
 * type) is a programmer error, InvalidEventError (500); the rest is the
 * caller's, ValidationError (400). Either way nothing is stored.
 */
export function validateAppend(streamId: string, events: readonly RawEnvelope[], expected: ExpectedRevision): void {
  if (events.length === 0) throw new ValidationError('nothing to append', [{ path: 'events', message: 'empty' }]);
  const ids = new Set<string>();
  events.forEach((e, i) => {
    const env = EnvelopeSchema.safeParse(e);
    if (!env.success) {
      throw new ValidationError(
        `event ${i} has an invalid envelope`,
        env.error.issues.map((x) => ({ path: [`events[${i}]`, ...x.path.map(String)].join('.'), message: x.message })),
      );
    }
    if (e.subject !== streamId) {
      throw new ValidationError('subject must be the stream id', [{ path: `events[${i}].subject`, message: `expected ${streamId}` }]);
    }
    if (e.data === undefined) {
      throw new ValidationError(`event ${i} has no data`, [{ path: `events[${i}].data`, message: 'required' }]);
    }
    const invalid = eventDataIssues(e.type, e.schemaVersion, e.data);
    if (invalid.length > 0) {
      throw new InvalidEventError(
        `event ${i} (${e.type.slice(0, 100)}) breaks the event catalog: ${invalid.map((x) => x.path).join(', ')}`,
        invalid.map((x) => ({ path: `events[${i}].${x.path}`, message: x.message })),
      );
    }
    const id = e.id.toLowerCase();
    if (ids.has(id)) throw new ValidationError('an event id appears twice', [{ path: `events[${i}].id`, message: 'duplicate' }]);
    ids.add(id);
  });
  const ok =
    typeof expected === 'number'
      ? Number.isSafeInteger(expected) && expected >= 0
      : expected === 'any' || expected === 'no_stream' || expected === 'stream_exists';
  if (!ok) throw new ValidationError('bad expected revision', [{ path: 'expected', message: String(expected) }]);
}


/**
 * What every adapter checks before an atomic multi-stream append: each part as
 * validateAppend checks it (issue paths start at `appends[k]`), each stream
 * once, every event id once in the whole call.
 */
export function validateAppendToStreams(appends: readonly StreamAppend[]): void {
  if (appends.length === 0) throw new ValidationError('nothing to append', [{ path: 'appends', message: 'empty' }]);
  const streams = new Set<string>();
  const ids = new Set<string>();
  appends.forEach((a, k) => {
    if (streams.has(a.streamId)) {
      throw new ValidationError(`stream ${a.streamId} appears twice in one append`, [{ path: `appends[${k}].streamId`, message: 'duplicate' }]);
    }
    streams.add(a.streamId);
    try {
      validateAppend(a.streamId, a.events, a.expected);
    } catch (e) {
      if (!(e instanceof ValidationError || e instanceof InvalidEventError)) throw e;
      const issues = e.issues.map((x) => ({ path: `appends[${k}].${x.path}`, message: x.message }));
      const message = `stream ${a.streamId}: ${e.message}`;
      throw e instanceof InvalidEventError ? new InvalidEventError(message, issues) : new ValidationError(message, issues);
    }
    a.events.forEach((e, i) => {
      const id = e.id.toLowerCase();
      if (ids.has(id)) throw new ValidationError('an event id appears twice', [{ path: `appends[${k}].events[${i}].id`, message: 'duplicate' }]);
      ids.add(id);
    });
  });
}
