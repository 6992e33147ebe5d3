import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { buildServiceApp, createLogger, looseObjects, SECURITY_HEADERS, type ServiceModule } from '../src/index.js';
import { openTestInfrastructure } from '../src/testing.js';

// One error path for every answer (issue 12): the refusals that fastify's
// router and Node's HTTP parser make before any route runs are problem+json
// with the security headers and Cache-Control: no-store, and repeat nothing
// of the request. Sent over raw sockets to a listening server, because
// app.inject() never goes through Node's parser.

const HOSTILE = '<script>alert(1)</script>';

const parcels: ServiceModule = {
  name: 'parcels',
  title: 'Parcels',
  description: 'routes with and without bodies',
  routes: async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.post(
      '/parcels',
      {
        config: { roles: ['operator'] },
        schema: { body: z.object({ name: z.string().max(50), items: z.array(z.object({ sku: z.string() }).strict()).max(5) }).strict() },
      },
      async (req) => ({ count: req.body.items.length }),
    );
    r.get('/parcels/:id', { config: { roles: ['operator'] }, schema: { params: z.object({ id: z.string().max(300) }) } }, async (req) => ({ id: req.params.id.length }));
    r.post('/parcels/:id/dispatch', { config: { roles: ['operator'] }, schema: { params: z.object({ id: z.string().max(300) }) } }, async () => ({ ok: true }));
  },
};

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let port = 0;
let operator = '';
const logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('kit_errors');
  infra = await openTestInfrastructure({ databaseUrl: db.url, env: { RATE_LIMIT_PER_MINUTE: '40', LOG_LEVEL: 'trace' } });
  // every line the app writes, to check that nothing of the request reaches the log
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (logLines.push(chunk.toString('utf8')), done()) });
  app = await buildServiceApp({ title: 'Parcels', description: 'test', modules: [parcels], ctx: { ...infra, logger: createLogger('errors', 'trace', { destination: sink }) } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
  operator = await infra.token({ sub: 'op-1', role: 'operator' });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
  await db?.drop();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes bytes on a fresh connection and reads every response until the server closes it or goes quiet. */
function raw(request: string | Buffer): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(parseResponses(Buffer.concat(chunks).toString('utf8')));
    };
    socket.on('data', (c) => {
      chunks.push(c);
      // a keep-alive connection stays open: once complete responses stop coming, that is all
      clearTimeout(quiet);
      quiet = setTimeout(finish, 300);
    });
    socket.on('end', finish);
    socket.on('error', (e) => (chunks.length ? finish() : reject(e)));
    socket.write(request);
  });
}

function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    const bodyBytes = Buffer.from(rest.slice(headEnd + 4), 'utf8');
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: bodyBytes.subarray(0, length).toString('utf8') });
    rest = bodyBytes.subarray(length).toString('utf8');
  }
  return out;
}

const auth = () => `Authorization: Bearer ${operator}\r\n`;

/** problem+json, every security header, no-store, and nothing of `echo` anywhere. */
function expectProblem(res: RawResponse | undefined, status: number, code: string, echo: string[] = [HOSTILE]): void {
  expect(res, 'a response').toBeDefined();
  expect(res!.status).toBe(status);
  expect(res!.headers['content-type']).toMatch(/^application\/problem\+json/);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res!.headers[name], name).toBe(value);
  expect(res!.headers['cache-control']).toBe('no-store');
  const body = JSON.parse(res!.body);
  expect(body).toMatchObject({ status, code, type: expect.stringContaining(code), instance: expect.stringMatching(/^urn:onestop:request:/) });
  const everything = JSON.stringify(res);
  for (const e of echo) {
    expect(everything).not.toContain(e);
    expect(everything).not.toContain(encodeURIComponent(e));
  }
}

describe('the refusals made before any route runs', () => {
  it('414 for a path parameter over the limit and for a URL over the limit', async () => {
    const [param] = await raw(`GET /parcels/${'a'.repeat(250)}${encodeURIComponent(HOSTILE)} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`);
    expectProblem(param, 414, 'uri_too_long');
    const [url] = await raw(`GET /parcels/x?q=${'a'.repeat(5000)}${encodeURIComponent(HOSTILE)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expectProblem(url, 414, 'uri_too_long');
  });

  it('400 for a percent-encoding that does not decode', async () => {
    const [res] = await raw(`GET /parcels/%E0%A4%A${encodeURIComponent(HOSTILE)} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`);
    expectProblem(res, 400, 'bad_url');
  });

  it('431 for a header section over the limit', async () => {
    const [res] = await raw(`GET /parcels/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${HOSTILE}${'b'.repeat(20_000)}\r\n\r\n`);
    expectProblem(res, 431, 'headers_too_large');
    expect(res!.headers.connection).toBe('close');
  });

  it('400 for a Content-Length that is not a number, and for a short one (the rest does not parse as a request)', async () => {
    const body = JSON.stringify({ name: HOSTILE, items: [] });
    const [bad] = await raw(`POST /parcels HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 1${HOSTILE}\r\n\r\n${body}`);
    expectProblem(bad, 400, 'invalid_content_length');
    const responses = await raw(`POST /parcels HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}`);
    // the first five bytes are the body (not JSON), the rest is garbage where a request should start:
    // Node's parser refuses the garbage, and may close the connection before the route answers the first
    expect(responses.length).toBeGreaterThanOrEqual(1);
    for (const res of responses) expectProblem(res, 400, JSON.parse(res.body).code);
    expect(responses.at(-1)!.body).toContain('bad_request');
  });

  it('404 for an unknown route names neither the path nor the method', async () => {
    const [res] = await raw(`GET /${encodeURIComponent(HOSTILE)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expectProblem(res, 404, 'route_not_found');
  });

  it('415 does not repeat the media type it refused', async () => {
    const [res] = await raw(`POST /parcels HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/${HOSTILE}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expectProblem(res, 415, 'unsupported_media_type');
  });
});

describe('bodies', () => {
  it('refuses unknown fields at every depth', async () => {
    const body = JSON.stringify({ name: 'box', items: [{ sku: 'a', secret: HOSTILE }] });
    const [res] = await raw(`POST /parcels HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    expectProblem(res, 400, 'validation_failed');
  });

  it('refuses to mount a route whose body schema drops unknown fields somewhere', async () => {
    expect(looseObjects(z.object({ a: z.array(z.object({ b: z.string() })) }).strict())).toEqual(['$.a[]']);
    expect(looseObjects(z.object({ a: z.object({ b: z.string() }).strict().optional() }).strict())).toEqual([]);
    const loose: ServiceModule = {
      name: 'loose',
      title: 'Loose',
      description: 'a nested object that is not strict',
      routes: async (a) => {
        a.withTypeProvider<ZodTypeProvider>().post('/loose', { config: { roles: ['admin'] }, schema: { body: z.object({ services: z.array(z.object({ id: z.string() })) }).strict() } }, async () => ({}));
      },
    };
    await expect(buildServiceApp({ title: 'x', description: 'x', modules: [loose], ctx: infra }).then((a) => a.ready())).rejects.toThrow(/\$\.services\[\]/);
  });

  it('a route without a body refuses one, whatever its media type', async () => {
    for (const type of ['text/plain', 'application/json', 'application/octet-stream']) {
      const [res] = await raw(`POST /parcels/p1/dispatch HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: ${type}\r\nContent-Length: ${HOSTILE.length}\r\nConnection: close\r\n\r\n${HOSTILE}`);
      expectProblem(res, 400, 'body_not_allowed');
    }
    const [chunked] = await raw(`POST /parcels/p1/dispatch HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expectProblem(chunked, 400, 'body_not_allowed');
    const [none] = await raw(`POST /parcels/p1/dispatch HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`);
    expect(none!.status).toBe(200);
  });
});

describe('429 and the log', () => {
  it('429 is problem+json with the security headers and no-store', async () => {
    let last: RawResponse | undefined;
    for (let i = 0; i < 60 && last?.status !== 429; i++) {
      [last] = await raw(`GET /parcels/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    }
    expectProblem(last, 429, 'rate_limited');
  });

  it('no log line holds what the requests carried: URLs, query strings, headers, bodies', async () => {
    await raw(`GET /parcels/x?fiscalCode=RSSMRA85T10A562S HTTP/1.1\r\nHost: x\r\n${auth()}X-Note: ${HOSTILE}\r\nConnection: close\r\n\r\n`);
    const lines = logLines.join('');
    expect(lines).toContain('request completed');
    for (const secret of [HOSTILE, 'RSSMRA85T10A562S', 'fiscalCode', operator, 'X-Note', 'x-note']) expect(lines, secret).not.toContain(secret);
    const completed = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request completed');
    expect(completed.at(-1)).toMatchObject({ method: 'GET', route: '/parcels/:id', status: expect.any(Number), durationMs: expect.any(Number) });
  });

  it('keeps only the allowed fields of a log call and error texts only of known classes', () => {
    const lines: string[] = [];
    const logger = createLogger('t', 'info', { destination: new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }) });
    const pgLike = Object.assign(new Error('invalid input syntax for type uuid: "RSSMRA85T10A562S"'), { code: '22P02', detail: 'Mario Rossi' });
    logger.warn({ group: 'g', givenName: 'Mario', url: '/persons?fiscalCode=RSSMRA85T10A562S', err: pgLike }, 'x');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ group: 'g', unlisted: ['givenName', 'url'], err: { type: 'Error', code: '22P02' } });
    expect(lines[0]).not.toMatch(/Mario|RSSMRA/);
  });
});
