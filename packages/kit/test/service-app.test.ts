import { validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NotFoundError, RuleViolation, WrongExpectedVersion } from '@onestop/events';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { buildServiceApp, listenForMetrics, principalOf, watchToken, type ServiceModule } from '../src/index.js';
import { openTestInfrastructure } from '../src/testing.js';

let effects = 0;

const things: ServiceModule = {
  name: 'things',
  title: 'Things',
  description: 'a module that exercises the kit',
  routes: async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.post(
      '/things',
      {
        config: { roles: ['operator', 'admin'], idempotent: true },
        schema: {
          body: z.object({ name: z.string().min(1).max(50), size: z.number().int().min(0).optional() }).strict(),
          response: { 201: z.object({ id: z.number(), name: z.string(), by: z.string() }) },
        },
      },
      async (req, reply) => {
        effects += 1;
        return reply.code(201).send({ id: effects, name: req.body.name, by: principalOf(req).sub });
      },
    );
    r.get(
      '/things/:id',
      { config: { roles: ['operator'] }, schema: { params: z.object({ id: z.string().regex(/^\d+$/) }) } },
      async (req) => {
        throw new NotFoundError('thing', req.params.id);
      },
    );
    r.post('/rule', { config: { roles: ['operator'] } }, async () => {
      throw new RuleViolation('too_many_things', 'no more things today', { limit: 3 });
    });
    r.post('/race', { config: { roles: ['operator'] } }, async () => {
      throw new WrongExpectedVersion('thing-1', 3, 4);
    });
    r.get('/boom', { config: { roles: ['operator'] } }, async () => {
      throw new Error('secret internal detail');
    });
  },
};

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let operator: string;

beforeAll(async () => {
  db = await createTestDatabase('kit');
  infra = await openTestInfrastructure({ databaseUrl: db.url, env: { BODY_LIMIT_BYTES: '2048' } });
  app = await buildServiceApp({ title: 'Things', description: 'test', modules: [things], ctx: infra });
  await app.ready();
  operator = await infra.token({ sub: 'op-1', role: 'operator' });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, ...(body === undefined ? {} : { payload: body as object }), headers: { authorization: `Bearer ${operator}`, ...headers } });

describe('authentication (401) and roles (403)', () => {
  it('refuses a missing, malformed, wrongly signed or expired token with 401 problem+json', async () => {
    const wrongKey = await new SignJWT({ role: 'operator' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer('onestop')
      .setAudience('onestop')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    const expired = await infra.token({ sub: 'op-1', role: 'operator' }).then(async () =>
      new SignJWT({ role: 'operator' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('op-1')
        .setIssuer('onestop')
        .setAudience('onestop')
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(infra.config.JWT_SECRET!)),
    );
    for (const authorization of [undefined, 'Bearer', 'Basic abc', 'Bearer a.b', `Bearer ${wrongKey}`, `Bearer ${expired}`]) {
      const res = await app.inject({ method: 'GET', url: '/things/1', headers: authorization ? { authorization } : {} });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 401, code: 'unauthorized', type: expect.stringContaining('unauthorized') });
    }
  });

  it('refuses a token whose claims are incomplete', async () => {
    const partnerWithoutId = await new SignJWT({ role: 'partner' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('p-1')
      .setIssuer('onestop')
      .setAudience('onestop')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(infra.config.JWT_SECRET!));
    const res = await app.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${partnerWithoutId}` } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a valid token of another role with 403', async () => {
    const auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
    const res = await app.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${auditor}` } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'forbidden' });
  });
});

describe('problem+json for every error', () => {
  it('400 names every invalid field', async () => {
    const res = await post('/things', { name: '', size: -1 });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('validation_failed');
    expect(body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.name', 'body.size']);
  });

  it('400 for invalid JSON, 415 for another media type, 413 for a body over the limit', async () => {
    const bad = await app.inject({ method: 'POST', url: '/things', payload: '{"name":', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('invalid_json');
    const xml = await app.inject({ method: 'POST', url: '/things', payload: '<a/>', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/xml' } });
    expect(xml.statusCode).toBe(415);
    const big = await post('/things', { name: 'x'.repeat(5000) });
    expect(big.statusCode).toBe(413);
    expect(big.headers['content-type']).toMatch(/problem\+json/);
  });

  it('404 for an unknown resource and an unknown route; 422 for a rule; 409 for a concurrent change', async () => {
    expect((await app.inject({ method: 'GET', url: '/things/7', headers: { authorization: `Bearer ${operator}` } })).json()).toMatchObject({ status: 404, code: 'not_found' });
    expect((await app.inject({ method: 'GET', url: '/nowhere' })).json()).toMatchObject({ status: 404, code: 'route_not_found' });
    const rule = await post('/rule', undefined);
    expect(rule.statusCode).toBe(422);
    expect(rule.json()).toMatchObject({ code: 'too_many_things', limit: 3 });
    const race = await post('/race', undefined);
    expect(race.statusCode).toBe(409);
    expect(race.json()).toMatchObject({ code: 'wrong_expected_version', expected: 3, actual: 4 });
  });

  it('400 for text no store can keep (NUL, unpaired surrogates) in a body, query or path; 414 for an over-long path parameter', async () => {
    for (const name of ['a\u0000b', 'a\ud800b', '\udc00']) {
      const res = await post('/things', { name });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed', issues: [{ path: 'body.name' }] });
    }
    // surrogate pairs, combining marks and right-to-left text are fine
    expect((await post('/things', { name: '👩‍👧 Zoë مرحبا e\u0301' })).statusCode).toBe(201);
    const key = await app.inject({ method: 'POST', url: '/things', payload: '{"name":"ok","\\u0000":1}', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' } });
    expect(key.statusCode).toBe(400);
    const param = await app.inject({ method: 'GET', url: '/things/1%00', headers: { authorization: `Bearer ${operator}` } });
    expect(param.json()).toMatchObject({ status: 400, issues: [{ path: 'params.id' }] });
    const long = await app.inject({ method: 'GET', url: `/things/${'1'.repeat(201)}`, headers: { authorization: `Bearer ${operator}` } });
    expect(long.statusCode).toBe(414);
    expect(long.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(long.json()).toMatchObject({ code: 'uri_too_long' });
    const badUrl = await app.inject({ method: 'GET', url: '/things/%E0%A4%A', headers: { authorization: `Bearer ${operator}` } });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('a genuine fault is a 500 that reveals nothing internal', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom', headers: { authorization: `Bearer ${operator}` } });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret internal detail');
  });
});

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and body, with a single effect', async () => {
    const before = effects;
    const a = await post('/things', { name: 'chair' }, { 'idempotency-key': 'k-1' });
    const b = await post('/things', { name: 'chair' }, { 'idempotency-key': 'k-1' });
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(b.json()).toEqual(a.json());
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(effects).toBe(before + 1);
  });

  it('refuses the same key with another body (422)', async () => {
    await post('/things', { name: 'table' }, { 'idempotency-key': 'k-2' });
    const res = await post('/things', { name: 'lamp' }, { 'idempotency-key': 'k-2' });
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('idempotency_key_reused');
  });

  it('scopes keys per caller and leaves requests without a key alone', async () => {
    const admin = await infra.token({ sub: 'admin-1', role: 'admin' });
    const before = effects;
    await post('/things', { name: 'desk' }, { 'idempotency-key': 'shared' });
    await post('/things', { name: 'desk' }, { 'idempotency-key': 'shared', authorization: `Bearer ${admin}` });
    await post('/things', { name: 'desk' });
    await post('/things', { name: 'desk' });
    expect(effects).toBe(before + 4);
  });
});

describe('operations', () => {
  it('serves health, readiness, and Prometheus metrics only to an admin token', async () => {
    expect((await app.inject('/health')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toEqual({ store: true, bus: true, database: true });
    expect((await app.inject('/metrics')).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${operator}` } })).statusCode).toBe(403);
    const admin = await infra.token({ sub: 'admin-1', role: 'admin' });
    const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${admin}` } });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('onestop_http_request_duration_seconds');
  });

  it('serves metrics without a token on a listen address of their own (METRICS_PORT), and then not on the service port', async () => {
    const own = { ...infra, config: { ...infra.config, METRICS_PORT: 31201, METRICS_HOST: '127.0.0.1' } };
    const separate = await buildServiceApp({ title: 'Things', description: 'test', modules: [things], ctx: own });
    const metrics = await listenForMetrics(separate, own.config);
    try {
      const admin = await infra.token({ sub: 'admin-1', role: 'admin' });
      expect((await separate.inject({ url: '/metrics', headers: { authorization: `Bearer ${admin}` } })).statusCode).toBe(404);
      await separate.inject('/health');
      const res = await fetch(`http://127.0.0.1:31201/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toContain('onestop_http_request_duration_seconds');
    } finally {
      await metrics?.close();
      await separate.close();
    }
  });

  it('echoes request and correlation ids', async () => {
    const res = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'req-42', 'x-correlation-id': 'corr-7' } });
    expect(res.headers['x-request-id']).toBe('req-42');
    expect(res.headers['x-correlation-id']).toBe('corr-7');
  });

  it('publishes an OpenAPI 3.1 document that a validator accepts, with bearer security on protected routes', async () => {
    const res = await app.inject('/openapi.json');
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/things'].post.security).toEqual([{ bearerAuth: [] }]);
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect((await app.inject('/docs')).statusCode).toBeLessThan(400);
  });
});

describe('rate limit and security headers', () => {
  it('limits each token, answering 429 problem+json with Retry-After, other tokens unaffected', async () => {
    const limitedInfra = await openTestInfrastructure({ env: { RATE_LIMIT_PER_MINUTE: '5' } });
    const limited = await buildServiceApp({ title: 'Things', description: 'test', modules: [things], ctx: limitedInfra });
    const t1 = await limitedInfra.token({ sub: 'op-9', role: 'operator' });
    const t2 = await limitedInfra.token({ sub: 'op-10', role: 'operator' });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) codes.push((await limited.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${t1}` } })).statusCode);
      expect(codes).toEqual([404, 404, 404, 404, 404, 429, 429]);
      const res = await limited.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${t1}` } });
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.json()).toMatchObject({ status: 429, code: 'rate_limited' });
      expect((await limited.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${t2}` } })).statusCode).toBe(404);
    } finally {
      await limited.close();
      await limitedInfra.close();
    }
  });

  it('gives tokens that do not verify no bucket of their own: made-up tokens share their address’s', async () => {
    const limitedInfra = await openTestInfrastructure({ env: { RATE_LIMIT_PER_MINUTE: '5' } });
    const limited = await buildServiceApp({ title: 'Things', description: 'test', modules: [things], ctx: limitedInfra });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) {
        codes.push((await limited.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer made.up.token${i}` } })).statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // a valid token still has its own bucket
      const t = await limitedInfra.token({ sub: 'op-11', role: 'operator' });
      expect((await limited.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${t}` } })).statusCode).toBe(404);
    } finally {
      await limited.close();
      await limitedInfra.close();
    }
  });

  it('keeps what a protected route answers out of shared caches (Cache-Control: no-store)', async () => {
    const res = await app.inject({ method: 'GET', url: '/things/1', headers: { authorization: `Bearer ${operator}` } });
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await app.inject({ method: 'GET', url: '/things/1' })).headers['cache-control']).toBe('no-store');
  });

  it('lists every mounted route with the roles it admits', () => {
    expect(app.routeTable).toEqual(
      expect.arrayContaining([
        { method: 'POST', url: '/things', roles: ['operator', 'admin'], body: true },
        { method: 'GET', url: '/things/:id', roles: ['operator'] },
        { method: 'HEAD', url: '/things/:id', roles: ['operator'] },
        { method: 'GET', url: '/health' },
      ]),
    );
  });

  it('sends security headers', async () => {
    const res = await app.inject('/health');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-frame-options']).toBe('DENY');
  });
});

describe('watchToken: a response that stays open (server-sent events) ends with its token', () => {
  /** Watches `token` and resolves with the reason and when it came. */
  const watched = (token: string) => {
    let stop = () => {};
    const invalid = new Promise<{ at: number; code: string }>((resolve) => {
      stop = watchToken(infra.auth, `Bearer ${token}`, (e) => resolve({ at: Date.now(), code: (e as { code?: string }).code ?? e.message }));
    });
    return { invalid, stop: () => stop() };
  };
  const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, no) => setTimeout(() => no(new Error(`${what}: not within ${ms} ms`)), ms))]);

  it('tells at once when the token is revoked, and at its expiry; a valid token is not told, and a stopped watch says nothing', async () => {
    const admin = await infra.token({ sub: 'admin-1', role: 'admin' });
    const stolen = await infra.token({ sub: 'op-7', role: 'operator' });
    const valid = await infra.token({ sub: 'op-8', role: 'operator' });
    const stopped = await infra.token({ sub: 'op-9', role: 'operator' });
    for (const t of [stolen, valid, stopped]) await infra.auth.authenticate(`Bearer ${t}`);
    const a = watched(stolen);
    const b = watched(valid);
    const c = watched(stopped);
    c.stop();
    const res = await app.inject({ method: 'POST', url: '/auth/revocations/tokens', headers: { authorization: `Bearer ${admin}` }, payload: { jti: decodeJwt(stolen).jti, reason: 'device_lost' } });
    expect(res.statusCode, res.body).toBe(201);
    const answered = Date.now();
    const told = await within(a.invalid, 1000, 'the revoked token');
    expect(told.code).toBe('token_revoked');
    expect(told.at - answered).toBeLessThan(1000);

    // a token that expires in 2 s (to the second): told at its exp, not before
    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = await new SignJWT({ role: 'operator', jti: 'short-1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('op-10')
      .setIssuer('onestop')
      .setAudience('onestop')
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(infra.config.JWT_SECRET!));
    await infra.auth.authenticate(`Bearer ${short}`);
    const d = watched(short);
    const expired = await within(d.invalid, 4000, 'the expiring token');
    expect(expired.code).toBe('unauthorized');
    expect(expired.at).toBeGreaterThanOrEqual(exp * 1000);
    expect(expired.at).toBeLessThan(exp * 1000 + 1000);

    // neither the valid token's watch nor the stopped one heard anything
    const silent = Symbol('silent');
    expect(await Promise.race([b.invalid, c.invalid, Promise.resolve(silent)])).toBe(silent);
    b.stop();
  });
});
