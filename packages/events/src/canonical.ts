import type { RawEnvelope } from './envelope.js';

/**
 * Canonical JSON (sorted keys, no whitespace, undefined dropped): the bytes the
 * hash chain is computed over. Stores keep payloads as JSON, so the canonical
 * form must be recomputable from the parsed value alone.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new TypeError('non-finite numbers cannot be stored');
    }
    if (typeof value === 'bigint') throw new TypeError('bigint cannot be stored as JSON');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The canonical form of an envelope, as hashed by every event-store adapter. */
export function canonicalEnvelope(e: RawEnvelope): string {
  return canonicalJson({
    id: e.id,
    type: e.type,
    schemaVersion: e.schemaVersion,
    source: e.source,
    subject: e.subject,
    time: e.time,
    partitionKey: e.partitionKey,
    correlationId: e.correlationId,
    causationId: e.causationId,
    actor: e.actor,
    data: e.data,
  });
}
