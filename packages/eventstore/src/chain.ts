import { createHash } from 'node:crypto';
import { canonicalEnvelope, type RawRecordedEvent } from '@onestop/events';
import type { VerifyResult } from './port.js';

/** hash = SHA-256(prevHash ‖ int64be(streamPosition) ‖ canonical envelope), as the store's SQL computes it. */
export function linkHash(prevHash: string | null, streamPosition: number, canonical: string): string {
  const pos = Buffer.alloc(8);
  pos.writeBigInt64BE(BigInt(streamPosition));
  const h = createHash('sha256');
  if (prevHash) h.update(Buffer.from(prevHash, 'hex'));
  h.update(pos);
  h.update(canonical, 'utf8');
  return h.digest('hex');
}

/** Verifies one stream's events (in stream order) against their hash chain. */
export function verifyChain(streamId: string, events: readonly RawRecordedEvent[]): VerifyResult {
  let prev: string | null = null;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.streamPosition !== i) return { ok: false, streamId, events: events.length, brokenAt: i, reason: 'position_gap' };
    if (e.prevHash !== prev) {
      return { ok: false, streamId, events: events.length, brokenAt: i, reason: 'prev_hash_mismatch' };
    }
    const expected = linkHash(prev, e.streamPosition, canonicalEnvelope(e));
    if (expected !== e.hash) return { ok: false, streamId, events: events.length, brokenAt: i, reason: 'hash_mismatch' };
    prev = e.hash;
  }
  return { ok: true, streamId, events: events.length, headHash: prev };
}
