import { SpanKind, context, trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import type { FastifyInstance } from 'fastify';
import { contextOfTraceparent, endSpan, traceparentOf } from '@onestop/bus';
import type { BaseConfig } from './config.js';

// OpenTelemetry traces, off by default (ONESTOP_TRACING=off): one trace follows
// a command from its HTTP request through the append, the relay and Kafka to
// the consumers and the read models (the bus carries it, see
// packages/bus/src/tracing.ts). Spans name routes by their template
// (`/persons/:personId`), never the URL or its query (a fiscal code may be
// there), and carry no payload: no personal data goes into a trace.

/** The tracer of the service kit (HTTP and appends). */
export const kitTracer = () => trace.getTracer('@onestop/kit');

/** A running tracer provider; `shutdown` flushes what is still buffered. */
export interface Tracing {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * Registers the process's tracer provider when ONESTOP_TRACING=otlp (spans
 * batched to OTEL_EXPORTER_OTLP_ENDPOINT over OTLP/HTTP), or with the given
 * exporter (tests: an InMemorySpanExporter). Otherwise nothing is registered
 * and every span is a no-op.
 */
export function startTracing(
  config: Pick<BaseConfig, 'ONESTOP_TRACING' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME' | 'ONESTOP_TRACE_SAMPLE_RATIO'>,
  options: { serviceName: string; exporter?: SpanExporter },
): Tracing {
  if (config.ONESTOP_TRACING === 'off' && !options.exporter) return { enabled: false, shutdown: async () => undefined };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.OTEL_SERVICE_NAME ?? options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.ONESTOP_TRACE_SAMPLE_RATIO) }),
    spanProcessors: [
      options.exporter
        ? new SimpleSpanProcessor(options.exporter)
        : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` })),
    ],
  });
  provider.register();
  return {
    enabled: true,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the request's SERVER span (a no-op one when tracing is off) */
    traceSpan?: Span;
  }
}

/**
 * A SERVER span per request, child of the caller's `traceparent` header when
 * it sends one; the route's events carry it on (eventContextOf).
 */
export function registerHttpTracing(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const header = req.headers.traceparent;
    req.traceSpan = kitTracer().startSpan(
      `${req.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'http.route': route,
          'onestop.service': req.routeOptions.config?.service ?? 'kit',
          'onestop.request_id': String(req.id),
        },
      },
      contextOfTraceparent(typeof header === 'string' ? header : undefined),
    );
  });
  const end = async (req: { traceSpan?: Span }, status: number) => {
    const span = req.traceSpan;
    if (!span) return;
    req.traceSpan = undefined;
    span.setAttribute('http.response.status_code', status);
    endSpan(span, status >= 500 ? { code: `http_${status}` } : undefined);
  };
  app.addHook('onResponse', async (req, reply) => end(req, reply.statusCode));
  app.addHook('onRequestAbort', async (req) => end(req, 499));
}

/** The traceparent a request's events carry (undefined when tracing is off). */
export function requestTraceparent(req: { traceSpan?: Span }): string | undefined {
  return req.traceSpan ? traceparentOf(req.traceSpan) : undefined;
}
