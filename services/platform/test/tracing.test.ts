import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TOPICS } from '@onestop/events';
import { createKafkaBus } from '@onestop/bus';
import { buildServiceApp, kitTracer, loadConfig, startTracing, type Tracing } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, readTopicToEnd, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { allModules } from '../src/modules.js';

// One command's trace, across every hop of DESIGN §1, on PostgreSQL and the
// real Kafka broker: the intake HTTP request → the append to the event store →
// the relay's publish → Kafka (the context rides in the CloudEvents
// `ce_traceparent` header) → the projections consumer → the read model. Spans
// are caught by an in-memory exporter; none carries the person's data.

const prefix = `t.trace.${randomBytes(4).toString('hex')}.`;
const PERSON = {
  givenName: 'Mariagrazia',
  familyName: 'Rossellini',
  birthDate: '1985-12-10',
  fiscalCode: 'RSSMGR85T50G713B',
  phone: '+39 0573 918273',
  accessPoint: 'pistoia-centro',
  municipality: 'Pistoia',
};

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let brokers: string[];
const stops: Array<() => Promise<void>> = [];

describe('OpenTelemetry', () => {
  beforeAll(async () => {
    tracing = startTracing(loadConfig({}), { serviceName: 'onestop-test', exporter });
    brokers = await testKafkaBrokers();
    db = await createTestDatabase('tracing');
    infra = await openTestInfrastructure({
      databaseUrl: db.url,
      env: { ONESTOP_BUS: 'kafka', KAFKA_BROKERS: brokers.join(','), KAFKA_PARTITIONS: '2' },
      adapters: { kafkaBus: (ctx) => createKafkaBus(ctx, { topicPrefix: prefix, groupPrefix: prefix }) },
    });
    const modules = allModules();
    for (const m of modules) await m.migrate?.(infra);
    app = await buildServiceApp({ title: 'OneStop', description: 'tracing', modules, ctx: infra });
    for (const m of modules) if (m.start) stops.push(await m.start(infra));
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops) await stop();
    await app?.close();
    await infra?.close();
    await tracing?.shutdown();
    if (brokers) {
      const admin = new Kafka({ clientId: 'tracing-test', brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const mine = (await admin.listTopics()).filter((n) => n.startsWith(prefix));
      if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
      await admin.disconnect();
    }
    await db?.drop();
  });

  it('follows one command from the intake HTTP request through the append, the relay and Kafka to the projections read model', async () => {
    const token = await infra.token({ sub: 'operatore-accesso-1', role: 'operator' });
    const res = await app.inject({ method: 'POST', url: '/persons', payload: PERSON, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode, res.body).toBe(201);
    const { personId } = res.json() as { personId: string };

    const http = exporter.getFinishedSpans().find((s) => s.name === 'POST /persons')!;
    expect(http.kind).toBe(SpanKind.SERVER);
    expect(http.attributes['onestop.service']).toBe('intake');
    expect(http.attributes['http.response.status_code']).toBe(201);
    const traceId = http.spanContext().traceId;
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
    const one = (spans: ReadableSpan[], what: string) => {
      expect(spans, what).toHaveLength(1);
      return spans[0]!;
    };

    // the whole chain, each hop the child of the one before it
    const trace = await eventually(() => {
      const spans = inTrace();
      const append = one(spans.filter((s) => s.name.startsWith('append ') && parentOf(s) === http.spanContext().spanId), 'append');
      const publish = one(spans.filter((s) => s.name === `publish ${TOPICS.intake}` && parentOf(s) === append.spanContext().spanId), 'publish');
      const consumed = spans.filter((s) => s.kind === SpanKind.CONSUMER && parentOf(s) === publish.spanContext().spanId);
      const projectionsConsumer = one(consumed.filter((s) => s.attributes['messaging.consumer.group.name'] === 'projections'), 'projections consumer');
      const project = one(spans.filter((s) => s.name === 'project PersonRegistered' && parentOf(s) === projectionsConsumer.spanContext().spanId), 'read model');
      return { spans, append, publish, consumed, project };
    }, 60_000);
    expect(trace.append.name).toBe('append person,fiscalcode');
    expect(trace.append.attributes['onestop.service']).toBe('intake');
    expect(trace.publish.kind).toBe(SpanKind.PRODUCER);
    expect(trace.project.attributes['onestop.service']).toBe('projections');
    // the other consumers of the intake topic continue the same trace
    expect(trace.consumed.length).toBeGreaterThan(1);

    // on the broker: the CloudEvents traceparent extension names the publish span
    const messages = await readTopicToEnd(new Kafka({ clientId: 'tracing-test', brokers, logLevel: logLevel.NOTHING }), `${prefix}${TOPICS.intake}`);
    const registered = messages.find((m) => String(m.headers?.ce_type) === 'PersonRegistered' && String(m.headers?.ce_partitionkey) === personId)!;
    expect(String(registered.headers!.ce_traceparent)).toBe(`00-${traceId}-${trace.publish.spanContext().spanId}-01`);

    // and the read model has the person
    const overview = await app.inject({ method: 'GET', url: '/api/overview', headers: { authorization: `Bearer ${token}` } });
    expect(overview.json().persons.registered).toBe(1);

    // no personal data in any span of the trace (names, attributes, status)
    const text = JSON.stringify(trace.spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })));
    for (const value of Object.values(PERSON).filter((v) => v !== 'Pistoia' && v !== 'pistoia-centro')) expect(text).not.toContain(value);
    expect(text).not.toContain('1985');
  }, 120_000);

  it('continues the trace of a consent withdrawal into the assessment it cancels on its own (a consumer reaction)', async () => {
    const operator = await infra.token({ sub: 'operatore-accesso-1', role: 'operator' });
    const worker = await infra.token({ sub: 'assistente-sociale-1', role: 'team', teamRole: 'social_worker' });
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const person = await app.inject({ method: 'POST', url: '/persons', payload: { ...PERSON, fiscalCode: undefined, givenName: 'Aisha', familyName: 'Diallo' }, headers: as(operator) });
    const { personId } = person.json() as { personId: string };
    await app.inject({ method: 'POST', url: `/persons/${personId}/consents`, payload: { scope: 'assessment', legalBasis: 'explicit_consent' }, headers: as(operator) });
    const team = [
      { memberId: 'assistente-sociale-1', role: 'social_worker' },
      { memberId: 'operatore-cpi-1', role: 'employment_operator' },
    ];
    // the assessment service learns of the consent through Kafka
    await eventually(async () => {
      const started = await app.inject({ method: 'POST', url: '/assessments', payload: { personId, team }, headers: as(worker) });
      expect(started.statusCode, started.body).toBe(201);
    }, 30_000);
    exporter.reset();
    const withdrawn = await app.inject({ method: 'POST', url: `/persons/${personId}/consents/assessment/withdrawal`, headers: as(operator) });
    expect(withdrawn.statusCode, withdrawn.body).toBeLessThan(300);
    const http = exporter.getFinishedSpans().find((s) => s.name === 'POST /persons/:personId/consents/:scope/withdrawal')!;
    await eventually(() => {
      const reaction = exporter
        .getFinishedSpans()
        .filter((s) => s.spanContext().traceId === http.spanContext().traceId && s.name.startsWith('append ') && s.attributes['onestop.service'] === 'assessment');
      expect(reaction).toHaveLength(1);
    }, 30_000);
  }, 90_000);

  it('continues the trace of a caller that sends a traceparent header', async () => {
    const token = await infra.token({ sub: 'revisore-1', role: 'auditor' });
    const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    exporter.reset();
    const res = await app.inject({ method: 'GET', url: '/api/overview', headers: { authorization: `Bearer ${token}`, traceparent: caller } });
    expect(res.statusCode).toBe(200);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'GET /api/overview')!;
    expect(span.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });
});

describe('the OTLP exporter', () => {
  it('is off by default, and with ONESTOP_TRACING=otlp sends spans to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces', async () => {
    expect(loadConfig({}).ONESTOP_TRACING).toBe('off');
    expect(startTracing(loadConfig({}), { serviceName: 'off' }).enabled).toBe(false);

    const received: Array<{ url: string; type: string; body: Buffer }> = [];
    const collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ url: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const port = (collector.address() as { port: number }).port;
    try {
      const otlp = startTracing(loadConfig({ ONESTOP_TRACING: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }), { serviceName: 'onestop-otlp-test' });
      expect(otlp.enabled).toBe(true);
      kitTracer().startSpan('exported-span').end();
      await otlp.shutdown();
      expect(received.map((r) => r.url)).toEqual(['/v1/traces']);
      expect(received[0]!.body.toString('latin1')).toContain('exported-span');
      expect(received[0]!.body.toString('latin1')).toContain('onestop-otlp-test');
    } finally {
      await new Promise((r) => collector.close(r));
    }
  });
});
