import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import { claimsOf, LONG_RESOURCE, LONG_TOKEN_TTL, PARTNER_CLIENT, startIdentityProvider, type IdentityProvider } from './identity-provider.js';
import { startTopology, type Proc, type Topology } from './topology.js';

// Token revocation and the longest token lifetime (SECURITY.md, "Token lifetime
// and revocation"), in production mode: two processes of the intake service on
// one PostgreSQL database, tokens from a real OpenID provider (oidc-provider).
// A revocation recorded through one process is honoured by the other within
// 1 s (LISTEN/NOTIFY on the revocation stream), by a process started after it,
// and leaves the check when the token it names has expired. A stream that
// stays open (GET /api/changes, server-sent events) ends within the same bound
// when its token is revoked.

const IDP_PORT = 31230;
/** How long another process may take to refuse a revoked token. */
const BOUND_MS = 1000;
let idp: IdentityProvider;
let t: Topology;
let a: Proc;
let b: Proc;
let projections: Proc;
let admin = '';

beforeAll(async () => {
  idp = await startIdentityProvider(IDP_PORT);
  t = await startTopology({
    label: 'revoke',
    replicas: { intake: 2, assessment: 0, referral: 0, projections: 1 },
    // production: JWKS only (the HS256 secret is ignored), and the default longest lifetime (3600 s)
    env: { NODE_ENV: 'production', JWT_JWKS_URL: idp.jwksUrl, JWT_ISSUER: idp.issuer, JWT_AUDIENCE: 'onestop' },
  });
  [a, b] = t.of('intake') as [Proc, Proc];
  [projections] = t.of('projections') as [Proc];
  admin = await idp.authorizationCodeToken('admin-1');
}, 240_000);

afterAll(async () => {
  await t?.close();
  await idp?.close();
});

/** An intake call any token gets past authentication with (a 403 or 404 for the person asked about), or 401 with the problem's code. */
async function use(p: Proc, token: string): Promise<{ status: number; code?: string; detail?: string }> {
  const r = await t.http(p.url, 'GET', `/persons/${randomUUID()}/contact-details`, token);
  return { status: r.status, ...(r.code ? { code: r.code } : {}), ...(typeof r.body?.detail === 'string' ? { detail: r.body.detail as string } : {}) };
}
const accepted = async (p: Proc, token: string) => expect((await use(p, token)).status, `${p.name} accepts`).toBeOneOf([200, 403, 404, 422]);
const refused = async (p: Proc, token: string, code = 'token_revoked') => expect(await use(p, token), `${p.name} refuses`).toMatchObject({ status: 401, code });

/** Polls `p` until it refuses the token; returns how long that took from `since`. */
async function refusedWithin(p: Proc, token: string, since: number): Promise<number> {
  await eventually(() => refused(p, token), BOUND_MS * 5, 10);
  return Date.now() - since;
}

/** GET /api/changes held open: resolves `ended` with the time the server ended it. */
async function changeStream(p: Proc, token: string): Promise<{ ended: Promise<number>; open(): boolean; cancel(): Promise<void> }> {
  const controller = new AbortController();
  const res = await fetch(`${p.url}/api/changes?timeout=300`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  // the first event (the current position) says the stream is up
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain('retry:');
  let open = true;
  const ended = (async () => {
    try {
      while (!(await reader.read()).done);
    } catch (e) {
      if (!controller.signal.aborted) throw e;
    }
    open = false;
    return Date.now();
  })();
  return { ended, open: () => open, cancel: async () => (controller.abort(), await ended.catch(() => undefined), undefined) };
}

describe('token revocation across processes', () => {
  it('a token revoked at one process is refused by the other within 1 s, and by a process started afterwards; other tokens still work', async () => {
    const stolen = await idp.clientCredentialsToken();
    const other = await idp.clientCredentialsToken();
    // both processes have verified (and cached) the token before it is revoked
    for (const p of [a, b]) for (const token of [stolen, other]) await accepted(p, token);
    const { jti, exp } = claimsOf(stolen) as { jti: string; exp: number };
    expect(jti).toBeTruthy();

    const r = await t.http(a.url, 'POST', '/auth/revocations/tokens', admin, { jti, expiresAt: new Date(exp * 1000).toISOString(), reason: 'token_compromised' });
    const answered = Date.now();
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(Date.parse(r.body.until)).toBeGreaterThanOrEqual(exp * 1000);
    await refused(a, stolen);
    const took = await refusedWithin(b, stolen, answered);
    console.log(`token revocation: refused by the other process ${took} ms after the revocation's answer (bound ${BOUND_MS} ms)`);
    expect(took).toBeLessThan(BOUND_MS);
    for (const p of [a, b]) await accepted(p, other);

    // the revocation is an event of the store, the one list every process reads
    const [row] = await t.sql<{ type: string; data: { jti: string; reason: string; revokedBy: string } }>(
      `SELECT event_type AS type, data FROM eventstore.events WHERE stream_id = 'revocation-tokens' ORDER BY stream_position DESC LIMIT 1`,
    );
    expect(row).toMatchObject({ type: 'TokenRevoked', data: { jti, reason: 'token_compromised', revokedBy: 'admin-1' } });

    // a process started after the revocation reads the stream before it answers
    await t.restart(b);
    await refused(b, stolen);
    await accepted(b, other);
  });

  it('a process whose listening connection was cut still refuses a revoked token within the bound', async () => {
    const token = await idp.authorizationCodeToken('op-3');
    for (const p of [a, b]) await accepted(p, token);
    // every LISTEN connection of the database ends (a restarted PostgreSQL, a proxy that drops idle links)
    const cut = await t.sql<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
    );
    expect(cut.length, 'listening connections found').toBeGreaterThan(0);
    const { jti } = claimsOf(token) as { jti: string };
    const r = await t.http(a.url, 'POST', '/auth/revocations/tokens', admin, { jti, reason: 'device_lost' });
    const answered = Date.now();
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const took = await refusedWithin(b, token, answered);
    console.log(`token revocation with the listening connections cut: refused by the other process ${took} ms after the answer`);
    expect(took).toBeLessThan(BOUND_MS);
    await refused(a, token);
  });

  it('every token of a subject issued before the revocation is refused everywhere; a token issued afterwards is accepted', async () => {
    const earlier = await idp.clientCredentialsToken();
    for (const p of [a, b]) await accepted(p, earlier);
    const r = await t.http(b.url, 'POST', '/auth/revocations/subjects', admin, { sub: PARTNER_CLIENT, reason: 'token_compromised' });
    const answered = Date.now();
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    // the entry lasts as long as a token issued just before it may live (production default: 3600 s)
    expect(Date.parse(r.body.until as string) - answered).toBeGreaterThan(3500_000);
    await refused(b, earlier);
    const took = await refusedWithin(a, earlier, answered);
    console.log(`subject revocation: refused by the other process ${took} ms after the revocation's answer`);
    expect(took).toBeLessThan(BOUND_MS);
    // tokens carry `iat` to the second: one issued in the revocation's own second is refused too, so ask for new ones until the next second
    await eventually(async () => {
      const fresh = await idp.clientCredentialsToken();
      for (const p of [a, b]) await accepted(p, fresh);
    }, 10_000, 200);
  });

  it('a wrong expiry from the admin does not end a revocation early: a past one is refused, an early one is held to the longest lifetime', async () => {
    // a staff token: the partner client's tokens of this second are revoked by the test above
    const token = await idp.authorizationCodeToken('sw-7');
    await accepted(a, token);
    const { jti } = claimsOf(token) as { jti: string };
    const past = await t.http(a.url, 'POST', '/auth/revocations/tokens', admin, { jti, expiresAt: new Date(Date.now() - 1000).toISOString(), reason: 'device_lost' });
    expect(past).toMatchObject({ status: 422, code: 'expires_at_past' });
    await accepted(a, token);
    // the token lives 300 s; the admin says it expires in 1 s
    const expiresAt = new Date(Date.now() + 1000).toISOString();
    const r = await t.http(a.url, 'POST', '/auth/revocations/tokens', admin, { jti, expiresAt, reason: 'device_lost' });
    expect(r.status).toBe(201);
    // held until the longest token lifetime (3600 s) from now, not the early expiry given
    expect(Date.parse(r.body.until)).toBeGreaterThan(Date.now() + 3500 * 1000);
    await refused(a, token);
    await eventually(() => refused(b, token), BOUND_MS, 10);
    await eventually(() => expect(Date.now()).toBeGreaterThan(Date.parse(expiresAt)), 5_000, 100);
    for (const p of [a, b]) await refused(p, token);
  });

  it('refuses a token that lives longer than the production default (3600 s), from the same provider', async () => {
    const long = await idp.clientCredentialsToken(LONG_RESOURCE);
    const { exp, iat } = claimsOf(long) as { exp: number; iat: number };
    expect(exp - iat).toBe(LONG_TOKEN_TTL);
    for (const p of [a, b]) {
      const r = await use(p, long);
      expect(r).toMatchObject({ status: 401, code: 'unauthorized' });
      expect(r.detail).toMatch(/lifetime longer than the 3600 s/);
    }
    // the revocation routes are an admin's: a partner token is refused
    const partner = await idp.clientCredentialsToken();
    expect((await t.http(a.url, 'POST', '/auth/revocations/tokens', partner, { jti: randomUUID(), reason: 'other' })).status).toBe(403);
  });

  it('an open change stream (GET /api/changes) ends within the bound when its token is revoked at another process; another token\'s stays open', async () => {
    const token = await idp.authorizationCodeToken('sw-8');
    const other = await idp.authorizationCodeToken('sw-9');
    const revoked = await changeStream(projections, token);
    const kept = await changeStream(projections, other);
    try {
      const { jti } = claimsOf(token) as { jti: string };
      const r = await t.http(a.url, 'POST', '/auth/revocations/tokens', admin, { jti, reason: 'device_lost' });
      const answered = Date.now();
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const ended = await Promise.race([revoked.ended, new Promise<never>((_, no) => setTimeout(() => no(new Error('the revoked token\'s stream is still open')), BOUND_MS * 5))]);
      const took = ended - answered;
      console.log(`token revocation: the open change stream at another process ended ${took} ms after the revocation's answer (bound ${BOUND_MS} ms)`);
      expect(took).toBeLessThan(BOUND_MS);
      expect(kept.open(), 'the other token\'s stream').toBe(true);
      // reconnecting says why
      expect(await t.http(projections.url, 'GET', '/api/changes?timeout=0', token)).toMatchObject({ status: 401, code: 'token_revoked' });
    } finally {
      await revoked.cancel();
      await kept.cancel();
    }
  });
});
