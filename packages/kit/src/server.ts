import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { Span } from '@opentelemetry/api';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { UnauthorizedError, type EventContext } from '@onestop/events';
import { actorOf, requireRole, type Principal, type Role } from './auth.js';
import { registerIdempotency } from './idempotency.js';
import { registerTextGuard } from './text-guard.js';
import type { Infrastructure } from './infrastructure.js';
import { completeOpenApi, type OpenApiTag } from './openapi.js';
import { registerHttpTracing, requestTraceparent } from './tracing.js';
import { clientErrorProblem, frameworkProblem, registerProblemHandlers, sendProblem } from './problem.js';
import { registerSecurityHeaders } from './security-headers.js';
import { registerBodyRules } from './strict-bodies.js';
import { registerProblemTypes } from './problem-types.js';
import { revocationRoutes } from './token-revocation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** roles allowed on this route; routes without roles are public (health, docs) */
    roles?: readonly Role[];
    /** honour the Idempotency-Key header */
    idempotent?: boolean;
    /** the service module that mounted the route (set by the kit) */
    service?: string;
    /**
     * the route takes a body in a format of its own and validates it itself
     * (a FHIR resource, answered with an OperationOutcome): no zod body schema,
     * yet a body is allowed
     */
    ownBody?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    correlationId: string;
  }
}

/** A route as mounted, for the authorisation matrix and the hostile-input tests that enumerate every route. */
export interface MountedRoute {
  method: string;
  url: string;
  /** roles allowed; absent on public routes (health, docs) */
  roles?: readonly Role[];
  /** whether the route takes a body (the others refuse one) */
  body?: true;
}

/** What a service module gets: the infrastructure, nothing global. */
export type ServiceContext = Infrastructure;

/** A service (intake, assessment, referral, projections) as a unit the kit can mount. */
export interface ServiceModule {
  name: string;
  title: string;
  description: string;
  /** the OpenAPI tags of its routes, with their descriptions (a route without tags gets the module's name) */
  tags?: readonly OpenApiTag[];
  /** creates the module's own tables (idempotent) */
  migrate?(ctx: ServiceContext): Promise<void>;
  /** the module's routes, as an encapsulated fastify plugin */
  routes: FastifyPluginAsync<{ ctx: ServiceContext }>;
  /** background work (bus consumers, watchers); returns its stop function */
  start?(ctx: ServiceContext): Promise<() => Promise<void>>;
  /**
   * Path prefixes under which the module answers refusals in another format
   * than problem+json (the FHIR facade: OperationOutcome). Used for the errors
   * the router raises before any route runs (a URL that does not decode).
   */
  errorFormats?: ReadonlyArray<{ prefix: string; send(reply: FastifyReply, status: number, detail: string): void }>;
}

/** The OpenAPI tag of the kit's own routes that every service mounts (token revocation). */
const AUTH_TAG: OpenApiTag = { name: 'auth', description: 'Bearer tokens: revoking a token, or every token of a subject, before it expires (SECURITY.md).' };
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Longer URLs are refused (414) before routing; no OneStop route needs more. */
const MAX_URL_LENGTH = 4096;

export interface ServiceAppOptions {
  title: string;
  description: string;
  version?: string;
  modules: readonly ServiceModule[];
  ctx: ServiceContext;
  /** extra readiness checks beyond store, bus and database */
  readyChecks?: Record<string, () => Promise<boolean>>;
}

/**
 * Builds (without listening) a fastify app with everything every service has:
 * zod validation, OpenAPI 3.1 at /openapi.json and /docs, problem+json errors,
 * request and correlation ids in logs, JWT roles, Idempotency-Key, /health,
 * /ready and Prometheus /metrics; then mounts the modules' routes.
 */
export async function buildServiceApp(options: ServiceAppOptions): Promise<FastifyInstance> {
  // (the zod type provider is applied per module with withTypeProvider)
  const { ctx } = options;
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && SAFE_ID.test(h) ? h : randomUUID();
    },
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: (err, req, reply) => {
      const own = options.modules.flatMap((m) => m.errorFormats ?? []).find((f) => req.url.startsWith(f.prefix));
      if (!own) return frameworkProblem(err, req, reply);
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      own.send(reply, long ? 414 : 400, long ? 'a path parameter is longer than allowed' : 'the request URL is not valid');
    },
    clientErrorHandler: clientErrorProblem,
    // fastify's request log writes the URL (query string included): the kit
    // writes its own line below, from an allow-list
    logController: new LogController({ disableRequestLogging: true }),
  });
  registerSecurityHeaders(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app);
  registerHttpTracing(app);

  // every route, as mounted: a route nobody listed in the authorisation matrix fails its test
  const routeTable: MountedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const roles = (route.config as { roles?: readonly Role[] } | undefined)?.roles;
    const takesBody = (route.schema as { body?: unknown } | undefined)?.body || (route.config as { ownBody?: boolean } | undefined)?.ownBody;
    const body = takesBody ? ({ body: true } as const) : {};
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url, ...(roles ? { roles } : {}), ...body });
  });
  app.decorate('routeTable', routeTable);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: options.title,
        description: options.description,
        version: options.version ?? '1.0.0',
        contact: { name: 'OneStop, the One Stop Shop network platform' },
        license: { name: 'EUPL-1.2', identifier: 'EUPL-1.2' },
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transformObject: (document) =>
      completeOpenApi(
        ('openapiObject' in document ? document.openapiObject : document.swaggerObject) as Record<string, unknown>,
        [...options.modules.flatMap((m) => [...(m.tags ?? []), { name: m.name, description: m.description }]), AUTH_TAG],
      ),
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const roles = (input.route.config as { roles?: readonly Role[] } | undefined)?.roles;
      if (roles?.length) {
        const schema = (out.schema ?? {}) as { description?: string };
        out.schema = {
          ...schema,
          security: [{ bearerAuth: [] }],
          description: [schema.description, `Roles: ${roles.join(', ')}.`].filter(Boolean).join('\n\n'),
        };
      }
      return out;
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  // per-token rate limit: 429 with Retry-After. Only a token that verifies has
  // a bucket of its own; anonymous calls and tokens that do not verify share
  // their address's, so rotating made-up tokens does not escape the limit.
  // An app-level hook (not the plugin's per-route one), so that it runs before
  // authentication: refused calls (401, 403, 404) count too.
  await app.register(fastifyRateLimit, {
    global: false,
    max: ctx.config.RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    keyGenerator: async (req) => {
      const auth = req.headers.authorization;
      if (typeof auth !== 'string' || auth.length === 0) return `ip:${req.ip}`;
      try {
        // kept for the authentication hook below: the token is verified once
        req.principal = await ctx.auth.authenticate(auth);
      } catch {
        return `ip:${req.ip}`;
      }
      return `t:${createHash('sha256').update(auth).digest('base64url').slice(0, 22)}`;
    },
    allowList: (req) => req.url === '/health' || req.url === '/ready',
    errorResponseBuilder: (_req, context) => {
      const err = new Error(`rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`) as Error & { statusCode: number };
      err.statusCode = 429;
      return err;
    },
  });

  // request context: correlation id from the caller or the request id
  app.decorateRequest('correlationId', '');
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.length > MAX_URL_LENGTH) throw Object.assign(new Error('URI too long'), { statusCode: 414 });
    const c = req.headers['x-correlation-id'];
    req.correlationId = typeof c === 'string' && SAFE_ID.test(c) ? c : String(req.id);
    req.log = req.log.child({ correlationId: req.correlationId });
    void reply.header('x-request-id', String(req.id)).header('x-correlation-id', req.correlationId);
  });

  app.addHook('onRequest', app.rateLimit());

  // authentication and role check before the body is even parsed; what a
  // protected route answers is never kept by a shared cache
  app.addHook('onRequest', async (req, reply) => {
    const roles = req.routeOptions.config?.roles;
    if (!roles) return;
    void reply.header('cache-control', 'no-store');
    req.principal ??= await ctx.auth.authenticate(req.headers.authorization);
    requireRole(req.principal, roles);
  });
  registerBodyRules(app);
  registerTextGuard(app);
  registerIdempotency(app, ctx.db);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'onestop_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const problems = new Counter({
    name: 'onestop_http_problems_total',
    help: 'problem+json responses by status',
    labelNames: ['status'],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    duration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 400) problems.inc({ status: String(reply.statusCode) });
    // the request log, by an allow-list: the route's pattern (never the URL or
    // its query string), no header, ids only where they are ids
    const params = Object.fromEntries(Object.entries((req.params ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'string' && UUID.test(v)));
    req.log.info(
      {
        method: req.method,
        route,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(req.principal ? { actorId: req.principal.sub, actorRole: req.principal.role, ...(req.principal.partnerId ? { partnerId: req.principal.partnerId } : {}) } : {}),
        ...(Object.keys(params).length ? { params } : {}),
      },
      'request completed',
    );
  });
  app.decorate('metricsRegistry', registry);

  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  registerProblemTypes(app);
  app.get('/ready', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, () => Promise<boolean>> = {
      store: async () => (await ctx.store.headPosition()) >= 0,
      bus: () => ctx.bus.healthy(),
      database: async () => (await ctx.db.query('SELECT 1 AS ok')).length === 1,
      ...options.readyChecks,
    };
    const results: Record<string, boolean> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        results[name] = await Promise.race([
          check().catch(() => false),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
        ]);
      }),
    );
    if (Object.values(results).every(Boolean)) return { status: 'ready', checks: results };
    return sendProblem(reply, 503, 'not_ready', 'a dependency is not available', { checks: results });
  });
  // counts per route (erasures, disclosures…) are not for the public: an admin
  // token here, or a listen address of its own (METRICS_PORT, see listenForMetrics)
  if (!ctx.config.METRICS_PORT) {
    app.get('/metrics', { schema: { hide: true }, config: { roles: ['admin'] } }, async (_req, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // token revocation on every service: an admin reaches it wherever they are, and every process honours it
  await app.register(revocationRoutes, { ctx });

  for (const m of options.modules) {
    // each module in a context of its own, so that its routes know their service (traces, default tag)
    await app.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...(route.config as object), service: m.name };
        const schema = route.schema as { tags?: string[]; hide?: boolean } | undefined;
        if (schema && !schema.hide && !schema.tags?.length) route.schema = { ...schema, tags: [m.name] };
      });
      await scope.register(m.routes, { ctx });
    });
  }
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
    /** every route mounted on the app (HEAD routes for GET included) */
    routeTable: readonly MountedRoute[];
  }
}

/**
 * Serves `/metrics` of an app on a listen address of its own (METRICS_HOST,
 * METRICS_PORT), for a scraper on the internal network without a token; the
 * app itself then has no `/metrics`. Returns the server's close function.
 */
export async function listenForMetrics(app: FastifyInstance, config: { METRICS_HOST: string; METRICS_PORT?: number }): Promise<{ address: string; close(): Promise<void> } | undefined> {
  if (!config.METRICS_PORT) return undefined;
  const metrics = Fastify({ logger: false, clientErrorHandler: clientErrorProblem });
  registerSecurityHeaders(metrics);
  registerProblemHandlers(metrics);
  metrics.get('/metrics', async (_req, reply) =>
    reply.header('cache-control', 'no-store').type(app.metricsRegistry.contentType).send(await app.metricsRegistry.metrics()),
  );
  const address = await metrics.listen({ host: config.METRICS_HOST, port: config.METRICS_PORT });
  return { address, close: () => metrics.close() };
}

/** The authenticated principal of a request on a route with roles. */
export function principalOf(req: { principal?: Principal }): Principal {
  if (!req.principal) throw new UnauthorizedError();
  return req.principal;
}

/** The event context of a command: who, when, and the request chain. */
export function eventContextOf(
  req: { principal?: Principal; correlationId: string; id: unknown; traceSpan?: Span },
  source: string,
  now: Date,
): EventContext {
  const traceparent = requestTraceparent(req);
  return {
    source,
    actor: actorOf(principalOf(req)),
    correlationId: req.correlationId,
    causationId: String(req.id),
    time: now.toISOString(),
    ...(traceparent ? { traceparent } : {}),
  };
}
