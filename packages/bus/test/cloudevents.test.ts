import { describe, expect, it } from 'vitest';
import type { RawRecordedEvent } from '@onestop/events';
import { dataSchemaUri, decodeCloudEvent, encodeCloudEvent, validateBatch } from '../src/index.js';
import { deadLetterRecord, minimalDeadLetterRecord, sqlPayload, type SourceMessage } from '../src/kafka/dead-letter-queue.js';
import { sendChunks } from '../src/kafka/relay.js';

const recorded: RawRecordedEvent = {
  id: '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
  type: 'ConsentGiven',
  schemaVersion: 1,
  source: '/onestop/intake',
  subject: 'person-00000000-0000-4000-8000-000000000001',
  time: '2026-11-26T10:00:00.000Z',
  partitionKey: '00000000-0000-4000-8000-000000000001',
  correlationId: 'req-1',
  causationId: 'cmd-7',
  actor: { id: 'op-1', role: 'operator' },
  data: { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' },
  streamPosition: 1,
  globalPosition: 42,
  hash: 'ab'.repeat(32),
  prevHash: 'cd'.repeat(32),
};

/** What a kafkajs consumer hands over: every header value as bytes. */
function asReceived(m: ReturnType<typeof encodeCloudEvent>) {
  return {
    key: Buffer.from(m.key),
    value: Buffer.from(m.value),
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

describe('CloudEvents binary mode', () => {
  it('carries the traceparent as the distributed tracing extension (ce_traceparent); a malformed one is dropped, not dead-lettered', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const m = encodeCloudEvent({ ...recorded, traceparent });
    expect(m.headers.ce_traceparent).toBe(traceparent);
    expect(decodeCloudEvent(asReceived(m))).toEqual({ ...recorded, traceparent });
    expect(encodeCloudEvent(recorded).headers).not.toHaveProperty('ce_traceparent');
    for (const bad of ['01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'Mario Rossi']) {
      const received = asReceived({ ...m, headers: { ...m.headers, ce_traceparent: bad } });
      expect(decodeCloudEvent(received)).toEqual(recorded);
      expect(validateBatch([{ origin: 't/0@1', key: recorded.partitionKey, value: decodeCloudEvent(received), headers: {} }]).valid).toHaveLength(1);
    }
  });

  it('encodes key = partition key, value = data only, and every envelope attribute as a ce_ header', () => {
    const m = encodeCloudEvent(recorded);
    expect(m.key).toBe(recorded.partitionKey);
    expect(JSON.parse(m.value)).toEqual(recorded.data);
    expect(m.headers).toEqual({
      ce_specversion: '1.0',
      ce_id: recorded.id,
      ce_type: 'ConsentGiven',
      ce_source: '/onestop/intake',
      ce_subject: recorded.subject,
      ce_time: recorded.time,
      'content-type': 'application/json',
      ce_dataschema: 'https://onestop.example/schemas/ConsentGiven.v1.schema.json',
      ce_schemaversion: '1',
      ce_partitionkey: recorded.partitionKey,
      ce_correlationid: 'req-1',
      ce_causationid: 'cmd-7',
      ce_actor: '{"id":"op-1","role":"operator"}',
      ce_streamposition: '1',
      ce_globalposition: '42',
      ce_hash: recorded.hash,
      ce_prevhash: recorded.prevHash,
    });
    // CloudEvents extension attribute names: lowercase a-z0-9 only
    for (const name of Object.keys(m.headers).filter((h) => h.startsWith('ce_'))) expect(name.slice(3)).toMatch(/^[a-z0-9]+$/);
  });

  it('omits ce_causationid and ce_prevhash when they are null', () => {
    const m = encodeCloudEvent({ ...recorded, causationId: null, prevHash: null, streamPosition: 0 });
    expect(m.headers).not.toHaveProperty('ce_causationid');
    expect(m.headers).not.toHaveProperty('ce_prevhash');
    const back = decodeCloudEvent(asReceived(m));
    expect(back).toMatchObject({ causationId: null, prevHash: null, streamPosition: 0 });
  });

  it('round-trips a stored event, and the result passes catalog validation', () => {
    const back = decodeCloudEvent(asReceived(encodeCloudEvent(recorded)));
    expect(back).toEqual(recorded);
    const { valid, rejected } = validateBatch([{ origin: 'x', key: null, value: back, headers: {} }]);
    expect(rejected).toEqual([]);
    expect(valid[0]!.event).toMatchObject({ id: recorded.id, globalPosition: 42, hash: recorded.hash });
  });

  it('accepts string headers and a missing key', () => {
    const m = encodeCloudEvent(recorded);
    expect(decodeCloudEvent({ key: null, value: m.value, headers: m.headers })).toEqual(recorded);
  });

  it('names the data schema after the type and version', () => {
    expect(dataSchemaUri('ReferredToPartner', 3)).toBe('https://onestop.example/schemas/ReferredToPartner.v3.schema.json');
  });

  describe('decode never throws; it says what is wrong', () => {
    const good = asReceived(encodeCloudEvent(recorded));
    const without = (name: string) => ({ ...good, headers: Object.fromEntries(Object.entries(good.headers).filter(([k]) => k !== name)) });
    const cases: Array<[string, Parameters<typeof decodeCloudEvent>[0], RegExp]> = [
      ['no headers at all', { key: good.key, value: good.value }, /missing header ce_specversion/],
      ['a missing ce_id', without('ce_id'), /missing header ce_id/],
      ['a missing ce_type', without('ce_type'), /missing header ce_type/],
      ['a missing ce_actor', without('ce_actor'), /missing header ce_actor/],
      ['a wrong spec version', { ...good, headers: { ...good.headers, ce_specversion: Buffer.from('0.3') } }, /unsupported ce_specversion/],
      ['a non-JSON value', { ...good, value: Buffer.from('{"scope":') }, /value is not JSON/],
      ['a value that is not UTF-8', { ...good, value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, /value is not UTF-8/],
      ['no value', { ...good, value: null }, /no value/],
      ['a header that is not UTF-8', { ...good, headers: { ...good.headers, ce_type: Buffer.from([0xc3, 0x28]) } }, /ce_type is not UTF-8/],
      ['a repeated header', { ...good, headers: { ...good.headers, ce_id: [Buffer.from('a'), Buffer.from('b')] } }, /ce_id is repeated/],
      ['a non-integer position', { ...good, headers: { ...good.headers, ce_globalposition: Buffer.from('4.2') } }, /ce_globalposition is not an integer/],
      ['actor that is not JSON', { ...good, headers: { ...good.headers, ce_actor: Buffer.from('op-1') } }, /ce_actor is not JSON/],
      ['a key that is not the partition key', { ...good, key: Buffer.from('someone-else') }, /key differs from ce_partitionkey/],
      ['another content type', { ...good, headers: { ...good.headers, 'content-type': Buffer.from('text/plain') } }, /not application\/json/],
    ];
    for (const [name, message, reason] of cases) {
      it(`rejects ${name}`, () => {
        const r = decodeCloudEvent(message);
        expect(typeof r).toBe('string');
        expect(r).toMatch(/^undecodable: /);
        expect(r).toMatch(reason);
      });
    }
  });
});

describe('DLQ records', () => {
  const source = (value: Buffer | null, headers: SourceMessage['message']['headers'] = {}): SourceMessage => ({
    topic: 'onestop.intake.v1',
    partition: 2,
    offset: '17',
    message: { key: Buffer.from('k-1'), value, headers },
  });
  const meta = { reason: 'invalid: data.scope Invalid option', group: 'projections', time: '2026-11-26T10:00:00.000Z' };

  it('keeps the original key, value and headers, plus the dlq_ headers', () => {
    const r = deadLetterRecord(source(Buffer.from('{"x":1}'), { ce_id: Buffer.from('e-1') }), meta);
    expect(r.key).toEqual(Buffer.from('k-1'));
    expect(r.value).toEqual(Buffer.from('{"x":1}'));
    expect(r.headers).toMatchObject({
      ce_id: Buffer.from('e-1'),
      dlq_reason: meta.reason,
      dlq_topic: 'onestop.intake.v1',
      dlq_partition: '2',
      dlq_offset: '17',
      dlq_group: 'projections',
      dlq_time: meta.time,
    });
    expect(r.headers).not.toHaveProperty('dlq_truncated');
  });

  it('truncates an oversized value to the record budget and says so', () => {
    const big = Buffer.alloc(1_048_000, 0x61);
    const r = deadLetterRecord(source(big, { huge: Buffer.alloc(100_000, 0x62) }), meta);
    const size = (r.value as Buffer).length + (r.headers!.huge as Buffer).length;
    expect(size).toBeLessThan(1_000_000);
    expect(String(r.headers!.dlq_truncated)).toMatch(/value cut to \d+ of 1048000 bytes/);
    expect(String(r.headers!.dlq_truncated)).toMatch(/header huge cut/);
    expect(String(r.headers!.dlq_truncated)).toMatch(/original at onestop\.intake\.v1\/2@17/);
  });

  it('has a minimal form: key and dlq_ headers only', () => {
    const r = minimalDeadLetterRecord(source(Buffer.alloc(10)), meta, 'MESSAGE_TOO_LARGE');
    expect(r.value).toBeNull();
    expect(String(r.headers!.dlq_truncated)).toMatch(/value \(10 bytes\) and headers dropped: MESSAGE_TOO_LARGE/);
  });

  it('stores in SQL the decoded envelope, JSON, text or base64, and big values by their head', () => {
    expect(sqlPayload({ id: 'e' }, Buffer.from('{}'))).toEqual({ id: 'e' });
    expect(sqlPayload(undefined, Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(sqlPayload(undefined, Buffer.from('not json'))).toBe('not json');
    expect(sqlPayload(undefined, Buffer.from([0xff, 0x00]))).toEqual({ base64: '/wA=' });
    expect(sqlPayload(undefined, Buffer.alloc(100_000, 0x61))).toMatchObject({ truncated: true, bytes: 100_000 });
  });
});

describe('relay send chunks', () => {
  it('keeps order and splits by size', () => {
    const out = Array.from({ length: 10 }, (_, i) => ({ topic: i % 2 ? 'a' : 'b', message: { key: 'k', value: 'x'.repeat(400) } }));
    const chunks = sendChunks(out, 1000);
    expect(chunks.reduce((s, c) => s + c.count, 0)).toBe(10);
    expect(chunks.length).toBe(5);
    const flat = chunks.flatMap((c) => c.topicMessages.flatMap((t) => t.messages.map(() => t.topic)));
    expect(flat.filter((t) => t === 'a').length).toBe(5);
  });
});
