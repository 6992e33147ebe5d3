import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { SqlDeadLetters } from '@onestop/bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MountedRoute, Role } from '@onestop/kit';
import { openPlatform, OWN, TEAM, type Platform, type Who } from './platform.js';

// Hostile input on every route the app mounts (DESIGN §6): random, oversized
// and wrongly typed bodies, Unicode edge cases, injection strings, prototype
// pollution, hostile path parameters, query strings and headers, 1 MB bodies.
// Whatever comes in: never a 5xx, every refusal is problem+json, and a refused
// request stores no event. The background consumers are stopped first, so the
// only writes are the requests' own. Runs are seeded and bounded.

const SEED = 20261126;
const RUNS_PER_ROUTE = 30;

let p: Platform;
let routes: MountedRoute[];
/** real ids for path parameters, so that hostile bodies reach the handlers */
const real: Record<string, string> = {};
/** the values a path parameter takes besides hostile ones (an open and a completed assessment, …) */
const realValues: Record<string, string[]> = {};

const WHO_OF: Record<Role, Who> = { operator: 'operator', team: 'team', partner: 'partnerOwn', auditor: 'auditor', admin: 'admin' };

// ── Arbitraries ─────────────────────────────────────────────────────────────
const UNICODE = [
  '\ud800', // lone high surrogate
  '\udfff', // lone low surrogate
  'a\ud800b',
  '\udc00\ud800', // surrogates in the wrong order
  '\u0000',
  'Rosa\u0000Esposito',
  '\u202eesopmoc\u202c', // right-to-left override
  'مرحبا بالعالم', // right-to-left text
  'a\u200bb\u200dc\ufeff', // zero-width space, joiner, BOM
  'e\u0301\u0301\u0301', // stacked combining marks
  '👩‍👩‍👧‍👦🏳️‍🌈',
  '𝕏𝕐ℤ',
  '\uffff\ufffe',
  '\u2028\u2029\u0085',
  'İıßẞ',
  '\t\r\n\u000b\u000c',
];
const INJECTION = [
  "' OR '1'='1",
  "'; DROP TABLE eventstore.events; --",
  '1); SELECT pg_sleep(10); --',
  '" OR ""="',
  '{"$gt":""}',
  '${7*7}',
  '{{constructor.constructor("return process")()}}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%00',
  '\\u0000',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'null',
  'NaN',
];
const codeUnits = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...UNICODE, ...INJECTION) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnits, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 300, maxLength: 3000 }) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...UNICODE), fc.constantFrom(...INJECTION), fc.string({ maxLength: 10 })).map((parts) => parts.join('')) },
);
const hostileKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', ''), hostileString);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 1e308, -0, 0.5, 4.000001),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Percent-encodes anything, lone surrogates included (as the invalid UTF-8 a hostile client would send). */
function encode(s: string): string {
  let out = '';
  for (const ch of s) {
    try {
      out += encodeURIComponent(ch);
    } catch {
      const c = ch.charCodeAt(0);
      out += `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`.toUpperCase();
    }
  }
  return out;
}

const paramValue = (name: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(realValues[name] ?? [real[name] ?? 'x'])) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: hostileString.map(encode) },
    { weight: 1, arbitrary: fc.constantFrom('..', '%2e%2e%2f', '%2F', '%00', '%ED%A0%80', '%', '%zz', '~', 'a'.repeat(201)) },
  );
const queryString = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  fc.dictionary(hostileKey, hostileString, { maxKeys: 4 }).map((q) => `?${Object.entries(q).map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}`),
  fc.constantFrom(
    '?__proto__[polluted]=1',
    '?constructor[prototype][polluted]=1',
    '?status=requested&status=accepted',
    '?overdue=maybe',
    '?fiscalCode=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00',
    `?fiscalCode=${'A'.repeat(5000)}`,
    '?&&&==&',
  ),
);

/** Valid bodies per route; a run breaks one field of them, so hostile values get past the other fields' checks. */
const TEMPLATES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  'POST /persons': fc.constant({ accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Rosa', familyName: 'Esposito', birthDate: '1987-02-02', phone: '+39 0573 555111', email: 'rosa@example.org', address: 'Via Roma 1' }),
  'POST /persons/search': fc.constant({ fiscalCode: 'RSSMRA85T10A562S' }),
  'POST /persons/likely-duplicates': fc.constant({ givenName: 'Rosa', familyName: 'Esposito', birthDate: '1987-02-02', fiscalCode: 'RSSMRA85T10A562S' }),
  'POST /persons/:personId/consents': fc.constant({ scope: 'assessment', legalBasis: 'explicit_consent' }),
  'PUT /persons/:personId/contact-details': fc.constant({ phone: '+39 0573 555111', email: 'rosa@example.org', address: 'Via Roma 1' }),
  'POST /assessments': fc.constant({ personId: '', team: TEAM.map((m) => ({ ...m })) }).map((b) => ({ ...b, personId: real.personId })),
  'PUT /assessments/:assessmentId/domains/:domain': fc.constant({ needLevel: 2, notes: 'sfratto' }),
  'POST /assessments/:assessmentId/completion': fc.constant({ goals: [{ domain: 'housing', description: 'una casa', targetDate: '2030-01-01' }] }),
  'POST /partners': fc.uuid().map((u) => ({ partnerId: `p-${u.slice(0, 8)}`, name: 'Partner', sector: 'public', services: [{ serviceId: 'desk', name: 'Desk', domain: 'housing', capacity: 1 }] })),
  'POST /partners/:partnerId/agreements': fc.uuid().map((u) => ({ agreementId: `a-${u.slice(0, 8)}`, responseDays: 5 })),
  'PUT /partners/:partnerId/services/:serviceId/capacity': fc.constant({ capacity: 10 }),
  'POST /referrals': fc.constant(null).map(() => ({ personId: real.personId, assessmentId: real.assessmentId, partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'sfratto', priority: 'routine' })),
  'POST /referrals/:referralId/decline': fc.constant({ reason: 'other', note: 'lista d’attesa' }),
  'POST /referrals/:referralId/acceptance': fc.constant({ expectedStart: '2027-01-10' }),
  'POST /referrals/:referralId/waitlist': fc.constant({ expectedDate: '2027-02-01' }),
  'POST /referrals/:referralId/re-referral': fc.constant({ partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'nuovo invio', priority: 'routine' }),
  'POST /referrals/:referralId/completion': fc.constant({ outcome: 'achieved' }),
  'POST /admin/dead-letters/:deadLetterId/redrive': fc.constant({ reason: 'handler fixed' }),
  'POST /admin/dead-letters/redrive': fc.constant({ reason: 'handler fixed', group: 'hostile-dead-letters' }),
};

/** Every path to a leaf of a JSON value. */
function leaves(v: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (v && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v);
    return entries.flatMap(([k, x]) => leaves(x, [...path, k]));
  }
  return [path];
}
function setAt(v: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as object) }) as Record<string | number, unknown>;
  copy[head!] = setAt(copy[head!], rest, value);
  return copy;
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16'];
const RAW_BODIES = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"a":{"__proto__":{"polluted":"yes"}}}',
  '{"reason":"other","reason":"other"}',
  '{',
  '{"a":',
  '[]',
  'null',
  '""',
  '0',
  '{"x":"\\ud800"}',
  '{"x":"\\u0000"}',
  '\u0000',
  '\ufeff{}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`,
  `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
];

/**
 * Streams (server-sent events) answer until their `timeout`: the test asks for
 * `timeout=0` after whatever hostile query it sends (a second `timeout` makes
 * the pair invalid, so a hostile one is refused rather than waited for).
 */
const STREAMS = new Set(['GET /api/changes']);
const streamSuffix = (route: MountedRoute, query: string) => (STREAMS.has(`${route.method} ${route.url}`) ? `${query.includes('?') ? '&' : '?'}timeout=0` : '');

/** A hostile request to one route, with a token of a role it admits (or none, for public routes). */
function requestTo(route: MountedRoute): fc.Arbitrary<InjectOptions & { who: Who | null }> {
  const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const path = fc.tuple(...names.map(paramValue)).map((values) => names.reduce((url, n, i) => url.replace(`:${n}`, values[i]!), route.url));
  const who = route.roles ? fc.constantFrom(...route.roles.map((r) => WHO_OF[r])) : fc.constant(null);
  const template = TEMPLATES[`${route.method} ${route.url}`];
  const broken = template
    ? template.chain((t) =>
        fc.oneof(
          { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...leaves(t)), hostileString).map(([at, v]) => setAt(t, at, v)) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...leaves(t)), hostileValue).map(([at, v]) => setAt(t, at, v)) },
          { weight: 1, arbitrary: fc.tuple(hostileKey, hostileValue).map(([k, v]) => ({ ...t, [k]: v })) },
        ),
      )
    : hostileValue;
  const payload = fc.oneof(
    { weight: 6, arbitrary: broken.map((b) => ({ body: JSON.stringify(b) ?? 'null', type: 'application/json' })) },
    { weight: 1, arbitrary: hostileValue.map((b) => ({ body: JSON.stringify(b) ?? 'null', type: 'application/json' })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...RAW_BODIES), fc.constantFrom(...CONTENT_TYPES)).map(([body, type]) => ({ body, type })) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ unit: codeUnits, maxLength: 200 }), fc.constantFrom(...CONTENT_TYPES)).map(([body, type]) => ({ body, type })) },
  );
  const hasBody = route.method !== 'GET';
  return fc.record({ url: fc.tuple(path, queryString).map(([a, q]) => a + q + streamSuffix(route, a + q)), who, payload }).map(({ url, who, payload }) => ({
    method: route.method as 'GET',
    url,
    who,
    ...(hasBody ? { payload: payload.body, headers: { 'content-type': payload.type } } : {}),
  }));
}

/** Sends a request and checks the invariants: no 5xx, refusals are problem+json and store nothing. */
async function survives(req: InjectOptions & { who: Who | null }): Promise<number> {
  const { who, ...options } = req;
  const before = await p.storedEvents();
  const res = await p.app.inject({
    ...options,
    headers: { ...(options.headers as Record<string, string> | undefined), ...(who ? { authorization: `Bearer ${p.tokens[who]}` } : {}) },
  });
  const what = `${options.method} ${String(options.url).slice(0, 300)} as ${who ?? 'anonymous'} → ${res.statusCode} ${res.body.slice(0, 500)}`;
  expect(res.statusCode, what).toBeLessThan(500);
  if (res.statusCode >= 400) {
    // under /fhir a refusal is an OperationOutcome, elsewhere problem+json
    if (String(options.url).startsWith('/fhir/')) {
      expect(res.headers['content-type'], what).toMatch(/^application\/fhir\+json/);
      expect(res.json().resourceType, what).toBe('OperationOutcome');
    } else expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
    expect(await p.storedEvents(), `a refused request stored an event: ${what}`).toBe(before);
  }
  expect(({} as Record<string, unknown>).polluted, what).toBeUndefined();
  return res.statusCode;
}

beforeAll(async () => {
  p = await openPlatform('hostile');
  await p.cases.network();
  const c = await p.cases.case();
  const other = await p.cases.case();
  await p.settled();
  Object.assign(real, {
    personId: c.personId,
    assessmentId: c.assessmentId,
    referralId: await p.cases.referral(c),
    partnerId: OWN.partnerId,
    serviceId: OWN.serviceId,
    agreementId: p.infra.config.ONESTOP_AGREEMENT_ID,
    domain: 'housing',
    scope: 'assessment',
  });
  // an open assessment too, so that the routes that change one get past their state checks
  realValues.assessmentId = [c.assessmentId, await p.cases.openAssessment(other.personId)];
  // open dead letters (of a group no consumer runs), so that re-drives get past their checks
  const letters = new SqlDeadLetters(p.infra.db);
  for (let i = 0; i < 20; i++) {
    await letters.record({ group: 'hostile-dead-letters', reason: 'refused by a rule', origin: `store@${i}`, key: c.personId, payload: { id: `e-${i}`, type: 'ConsentGiven' }, headers: {} });
  }
  realValues.deadLetterId = (await letters.list({ group: 'hostile-dead-letters' })).map((l) => l.id);
  real.deadLetterId = realValues.deadLetterId[0]!;
  await p.settled();
  await p.stopBackground();
  routes = p.app.routeTable.filter((r) => r.method !== 'HEAD');
});

afterAll(async () => {
  await p?.close();
});

describe('hostile input on every route', () => {
  it('random, wrongly typed, oversized and hostile bodies, path parameters and query strings: never a 5xx, nothing stored when refused', async () => {
    let refused = 0;
    let accepted = 0;
    for (const [i, route] of routes.entries()) {
      await fc.assert(
        fc.asyncProperty(requestTo(route), async (req) => {
          const status = await survives(req);
          if (status >= 400) refused += 1;
          else accepted += 1;
        }),
        { seed: SEED + i, numRuns: route.roles ? RUNS_PER_ROUTE : 5, endOnFailure: true },
      );
    }
    // the runs did reach both sides of the handlers' checks
    expect(refused).toBeGreaterThan(routes.length * 10);
    expect(accepted).toBeGreaterThan(0);
  }, 120_000);

  it('1 MB bodies: 413 on every route that takes a body, 400 body_not_allowed on the others; nothing stored', async () => {
    const big = JSON.stringify({ reason: 'x'.repeat(1024 * 1024) });
    for (const route of routes.filter((r) => r.method !== 'GET' && r.roles)) {
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_, n: string) => real[n] ?? 'x');
      for (const type of ['application/json', 'text/plain']) {
        const status = await survives({ method: route.method as 'POST', url, payload: big, headers: { 'content-type': type }, who: WHO_OF[route.roles![0]!] });
        // a document upload takes files up to ONESTOP_DOCUMENT_MAX_BYTES (10 MB): 1 MB of JSON is no document
        // type (415), and as text it has no file name (422); its own limit is tested below
        const expected = route.url === '/persons/:personId/documents' ? (type === 'application/json' ? 415 : 422) : route.body ? 413 : 400;
        expect(status, `${route.method} ${route.url} (${type})`).toBe(expected);
      }
    }
  });

  it('a document over ONESTOP_DOCUMENT_MAX_BYTES: 413, nothing stored', async () => {
    const big = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(p.infra.config.ONESTOP_DOCUMENT_MAX_BYTES, 0x20)]);
    const status = await survives({
      method: 'POST',
      url: `/persons/${real.personId}/documents`,
      payload: big,
      headers: { 'content-type': 'application/pdf', 'x-file-name': 'grande.pdf' },
      who: WHO_OF.team,
    });
    expect(status).toBe(413);
  });

  it('hostile headers (Authorization, Idempotency-Key, request and correlation ids): never a 5xx', async () => {
    const header = fc.oneof(
      fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Bearer a.b.c', 'bearer x.y.z', `Bearer ${'a'.repeat(8000)}.b.c`, 'Bearer \u00e9.\u00e9.\u00e9', 'Basic Og=='),
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes.filter((r) => r.roles)), header, header, header, async (route, authorization, key, id) => {
        const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_, n: string) => real[n] ?? 'x') + streamSuffix(route, '');
        const body = route.method === 'GET' ? {} : { payload: '{}', headers: { 'content-type': 'application/json' } };
        // a hostile Authorization header
        await survives({ method: route.method as 'GET', url, ...body, headers: { ...body.headers, authorization }, who: null });
        // a valid token with hostile Idempotency-Key and ids
        await survives({
          method: route.method as 'GET',
          url,
          ...body,
          headers: { ...body.headers, 'idempotency-key': key, 'x-request-id': id, 'x-correlation-id': id },
          who: WHO_OF[route.roles![0]!],
        });
      }),
      { seed: SEED, numRuns: 100, endOnFailure: true },
    );
  }, 120_000);

  it('leaves every read of the stored (hostile) data answerable', async () => {
    for (const route of routes.filter((r) => r.method === 'GET' && r.roles)) {
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_, n: string) => real[n] ?? 'x') + streamSuffix(route, '');
      for (const role of route.roles!) await survives({ method: 'GET', url, who: WHO_OF[role] });
    }
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});
