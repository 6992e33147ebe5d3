import { TRACEPARENT, type Actor, type RawRecordedEvent } from '@onestop/events';
import type { IHeaders, Message } from 'kafkajs';

// CloudEvents 1.0 Kafka protocol binding, binary content mode: the Kafka value
// is the event's `data` alone, every other attribute of the envelope (DESIGN §3)
// travels as a `ce_` header. Extension attribute names are lowercase
// alphanumerics, as the CloudEvents spec requires.

/** Where the JSON Schema of one event type and version is published. */
export const DATA_SCHEMA_BASE = 'https://onestop.example/schemas';

/** The `ce_dataschema` of an event type at a schema version. */
export function dataSchemaUri(type: string, schemaVersion: number): string {
  return `${DATA_SCHEMA_BASE}/${type}.v${schemaVersion}.schema.json`;
}

/** A Kafka message as a consumer receives it (key, value and headers as bytes). */
export interface KafkaMessageIn {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}

/** Encodes a stored event as a binary-mode CloudEvent: key = partition key, value = JSON of `data`. */
export function encodeCloudEvent(e: RawRecordedEvent): Message & { key: string; value: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {
    ce_specversion: '1.0',
    ce_id: e.id,
    ce_type: e.type,
    ce_source: e.source,
    ce_subject: e.subject,
    ce_time: e.time,
    'content-type': 'application/json',
    ce_dataschema: dataSchemaUri(e.type, e.schemaVersion),
    ce_schemaversion: String(e.schemaVersion),
    ce_partitionkey: e.partitionKey,
    ce_correlationid: e.correlationId,
    ce_actor: JSON.stringify(e.actor),
    ce_streamposition: String(e.streamPosition),
    ce_globalposition: String(e.globalPosition),
    ce_hash: e.hash,
  };
  if (e.causationId != null) headers.ce_causationid = e.causationId;
  if (e.prevHash != null) headers.ce_prevhash = e.prevHash;
  // the CloudEvents distributed tracing extension
  if (e.traceparent) headers.ce_traceparent = e.traceparent;
  return { key: e.partitionKey, value: JSON.stringify(e.data ?? null), headers };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8: undefined when the bytes are not valid UTF-8. */
export function utf8Text(bytes: Buffer | string): string | undefined {
  if (typeof bytes === 'string') return bytes;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

class DecodeError extends Error {}

function header(headers: IHeaders, name: string, required: true): string;
function header(headers: IHeaders, name: string, required: false): string | undefined;
function header(headers: IHeaders, name: string, required: boolean): string | undefined {
  const v = headers[name];
  if (v === undefined) {
    if (required) throw new DecodeError(`missing header ${name}`);
    return undefined;
  }
  // a repeated attribute is ambiguous: refuse rather than guess which one counts
  if (Array.isArray(v)) throw new DecodeError(`header ${name} is repeated`);
  const text = utf8Text(v);
  if (text === undefined) throw new DecodeError(`header ${name} is not UTF-8`);
  if (required && text.length === 0) throw new DecodeError(`header ${name} is empty`);
  return text;
}

function integer(headers: IHeaders, name: string): number {
  const text = header(headers, name, true);
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) throw new DecodeError(`header ${name} is not an integer`);
  return n;
}

/**
 * Decodes a binary-mode CloudEvent back into the stored envelope, or returns
 * why it cannot (missing header, bad JSON, not UTF-8…). Never throws; the
 * payload is not validated here (that is `validateBatch`'s job).
 */
export function decodeCloudEvent(m: KafkaMessageIn): RawRecordedEvent | string {
  try {
    const h = m.headers ?? {};
    const spec = header(h, 'ce_specversion', true);
    if (spec !== '1.0') throw new DecodeError(`unsupported ce_specversion ${JSON.stringify(spec.slice(0, 20))}`);
    const contentType = header(h, 'content-type', false);
    if (contentType !== undefined && !/^application\/json\s*(;|$)/i.test(contentType)) {
      throw new DecodeError(`content-type ${JSON.stringify(contentType.slice(0, 100))} is not application/json`);
    }
    const partitionKey = header(h, 'ce_partitionkey', true);
    if (m.key != null) {
      const key = utf8Text(m.key);
      if (key === undefined) throw new DecodeError('key is not UTF-8');
      // the key decides the partition, so per-key order only holds when it is the envelope's
      if (key !== partitionKey) throw new DecodeError('key differs from ce_partitionkey');
    }
    let actor: Actor;
    try {
      actor = JSON.parse(header(h, 'ce_actor', true)) as Actor;
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('header ce_actor is not JSON');
    }
    if (m.value == null) throw new DecodeError('no value (data)');
    const text = utf8Text(m.value);
    if (text === undefined) throw new DecodeError('value is not UTF-8');
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new DecodeError('value is not JSON');
    }
    // telemetry only: a malformed traceparent is dropped, never a reason to dead-letter an event
    const traceparent = header(h, 'ce_traceparent', false);
    return {
      ...(traceparent !== undefined && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
      id: header(h, 'ce_id', true),
      type: header(h, 'ce_type', true),
      schemaVersion: integer(h, 'ce_schemaversion'),
      source: header(h, 'ce_source', true),
      subject: header(h, 'ce_subject', true),
      time: header(h, 'ce_time', true),
      partitionKey,
      correlationId: header(h, 'ce_correlationid', true),
      causationId: header(h, 'ce_causationid', false) ?? null,
      actor,
      data,
      streamPosition: integer(h, 'ce_streamposition'),
      globalPosition: integer(h, 'ce_globalposition'),
      hash: header(h, 'ce_hash', true),
      prevHash: header(h, 'ce_prevhash', false) ?? null,
    };
  } catch (e) {
    return e instanceof DecodeError ? `undecodable: ${e.message}` : `undecodable: ${String(e)}`;
  }
}

/**
 * Header values as text for logs and SQL: UTF-8 where it is, `base64:` where
 * it is not, each cut at `maxChars` so a hostile header cannot inflate a record.
 */
export function headersAsText(headers: IHeaders | undefined, maxChars = 4096): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const one = (x: Buffer | string) => utf8Text(x) ?? `base64:${Buffer.from(x).toString('base64')}`;
    const text = Array.isArray(v) ? JSON.stringify(v.map(one)) : one(v);
    out[name] = text.length > maxChars ? `${text.slice(0, maxChars)}…(${text.length} chars)` : text;
  }
  return out;
}
