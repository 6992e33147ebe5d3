import { randomUUID } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalEnvelope } from '@onestop/events';
import { linkHash } from '@onestop/eventstore';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { projectionsModule, verifyDigest, type Projections, type StreamHeadsDigest } from '../src/app.js';
import { appendScenario, at, caughtUp, type Scenario } from './scenario.js';

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let projections: Projections;
let stop: () => Promise<void>;
let scenario: Scenario;
const dataDir = `/tmp/onestop-audit-${randomUUID()}`;
const tokens: Record<string, string> = {};
const module = projectionsModule();

const get = (url: string, role: string | null = 'auditor') =>
  app.inject({ method: 'GET', url, headers: role ? { authorization: `Bearer ${tokens[role]}` } : {} });
/** everything appended so far is visible to the log's readers and in the read models */
const settled = async () =>
  caughtUp(infra.store, () => projections.lag(), Number((await infra.db.query<{ p: string }>('SELECT max(global_position) AS p FROM eventstore.events'))[0]!.p));
const reads = async (personId: string) => (await infra.store.readStream(`audit-${personId}`)).filter((e) => e.type === 'CaseHistoryRead');

beforeAll(async () => {
  db = await createTestDatabase('audit');
  infra = await openTestInfrastructure({ databaseUrl: db.url, env: { ONESTOP_DATA_DIR: dataDir } });
  await module.migrate!(infra);
  projections = module.projections(infra);
  app = await buildServiceApp({ title: 'test', description: 'test', modules: [module], ctx: infra });
  await app.ready();
  stop = await module.start!(infra);
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.partner = await infra.token({ sub: 'caritas-desk', role: 'partner', partnerId: 'caritas' });
  scenario = await appendScenario(infra.store);
  await caughtUp(infra.store, () => projections.lag(), scenario.lastPosition);
});

afterAll(async () => {
  await stop?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('case history', () => {
  it('returns every event of every stream of the case in global order, as stored, and records the read', async () => {
    const A = scenario.persons.A;
    const res = await get(`/audit/cases/${A}/history`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const streams = body.streams.map((s: { streamId: string }) => s.streamId);
    expect(streams).toEqual(
      [`person-${A}`, `assessment-${scenario.assessments.asA}`, `referral-${scenario.referrals.r1}`, `referral-${scenario.referrals.r2}`, `referral-${scenario.referrals.r7}`, `audit-${A}`].sort(),
    );
    const positions = body.events.map((e: { globalPosition: number }) => e.globalPosition);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // 3 person + 9 assessment + 4+2+2 referral events, and this read itself
    expect(body.events).toHaveLength(3 + 9 + 8 + 1);
    const registered = body.events[0];
    expect(registered).toMatchObject({ type: 'PersonRegistered', subject: `person-${A}`, streamPosition: 0, prevHash: null });
    expect(registered.hash).toMatch(/^[0-9a-f]{64}$/);
    // personal data stays ciphertext
    expect(registered.data.pii).toMatchObject({ alg: 'A256GCM', ct: expect.any(String) });
    const recorded = await reads(A);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ id: body.read.eventId, globalPosition: body.read.position, partitionKey: A, data: { personId: A, purpose: 'audit', readBy: 'aud-1' }, actor: { id: 'aud-1', role: 'auditor' } });
  });

  it('every read appends one CaseHistoryRead, for admins too', async () => {
    const B = scenario.persons.B;
    expect(await reads(B)).toHaveLength(0);
    expect((await get(`/audit/cases/${B}/history`)).statusCode).toBe(200);
    expect((await get(`/audit/cases/${B}/history`, 'admin')).statusCode).toBe(200);
    expect((await get(`/audit/cases/${B}/as-of?at=${at(0)}`)).statusCode).toBe(200);
    const recorded = await reads(B);
    expect(recorded.map((e) => [e.data, e.actor.role])).toEqual([
      [{ personId: B, purpose: 'audit', readBy: 'aud-1' }, 'auditor'],
      [{ personId: B, purpose: 'audit', readBy: 'admin-1' }, 'admin'],
      [{ personId: B, purpose: 'as_of_replay', readBy: 'aud-1' }, 'auditor'],
    ]);
  });
});

describe('as-of replay', () => {
  it('shows a referral requested before it was completed', async () => {
    const A = scenario.persons.A;
    const r1 = scenario.referrals.r1;
    const early = (await get(`/audit/cases/${A}/as-of?at=${encodeURIComponent(at(1))}`)).json();
    const late = (await get(`/audit/cases/${A}/as-of?at=${encodeURIComponent(at(241))}`)).json();
    const stateOf = (body: { referrals: Array<{ referralId: string; state: { status: string } }> }) => body.referrals.find((r) => r.referralId === r1)?.state;
    expect(stateOf(early)).toMatchObject({ status: 'requested', partnerId: 'caritas', serviceId: 'housing-desk', overdue: false });
    expect(stateOf(late)).toMatchObject({ status: 'completed' });
    // r7 did not exist yet at +1 h
    expect(early.referrals.map((r: { referralId: string }) => r.referralId).sort()).toEqual([r1, scenario.referrals.r2].sort());
    expect(early.assessments).toEqual([
      { assessmentId: scenario.assessments.asA, state: expect.objectContaining({ status: 'completed', personId: A, levels: expect.objectContaining({ employment: 4 }) }) },
    ]);
    expect(early.person).toMatchObject({ status: 'registered', personId: A });
    expect(early.eventsReplayed).toBeLessThan(late.eventsReplayed);
  });

  it('shows a consent active before its withdrawal, inactive after; nothing before registration', async () => {
    const D = scenario.persons.D;
    const before = (await get(`/audit/cases/${D}/as-of?at=${encodeURIComponent(at(50))}`)).json();
    expect(before.person.consents.referral_sharing).toEqual({ active: true, eventId: scenario.consentOfD });
    const after = (await get(`/audit/cases/${D}/as-of?at=${encodeURIComponent(at(101))}`)).json();
    expect(after.person.consents.referral_sharing.active).toBe(false);
    expect(after.assessments.map((a: { state: { status: string } }) => a.state.status).sort()).toEqual(['cancelled', 'open']);
    const nothing = (await get(`/audit/cases/${D}/as-of?at=${encodeURIComponent(at(-1000))}`)).json();
    expect(nothing).toMatchObject({ eventsReplayed: 0, position: 0, person: { status: 'unknown' }, assessments: [], referrals: [] });
    // an instant with another offset is the same instant
    const offset = (await get(`/audit/cases/${D}/as-of?at=${encodeURIComponent('2026-03-04T12:00:00+01:00')}`)).json();
    expect(offset.at).toBe('2026-03-04T11:00:00.000Z');
  });

  it('refuses a missing or malformed instant (400) and unknown cases (404), recording nothing', async () => {
    const C = scenario.persons.C;
    const n = (await reads(C)).length;
    expect((await get(`/audit/cases/${C}/as-of`)).statusCode).toBe(400);
    expect((await get(`/audit/cases/${C}/as-of?at=yesterday`)).statusCode).toBe(400);
    expect((await get(`/audit/cases/${C}/as-of?at=2026-03-04`)).statusCode).toBe(400);
    expect((await get(`/audit/cases/not-a-uuid/history`)).statusCode).toBe(400);
    const nobody = randomUUID();
    for (const path of ['history', `as-of?at=${at(0)}`, 'verification']) {
      const res = await get(`/audit/cases/${nobody}/${path}`);
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(await reads(nobody)).toHaveLength(0);
    expect(await reads(C)).toHaveLength(n);
  });
});

describe('access', () => {
  it('is for auditors and admins only: 401 without a token, 403 for other roles', async () => {
    const C = scenario.persons.C;
    const routes = [`/audit/cases/${C}/history`, `/audit/cases/${C}/as-of?at=${at(0)}`, `/audit/cases/${C}/verification`, '/audit/verification', '/audit/digest', '/audit/public-key'];
    for (const url of routes) {
      expect((await get(url, null)).statusCode, url).toBe(401);
      for (const role of ['operator', 'team', 'partner']) expect((await get(url, role)).statusCode, `${url} ${role}`).toBe(403);
    }
    expect(await reads(C)).toHaveLength(0);
  });

  it('publishes a valid OpenAPI document', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/audit/cases/{personId}/as-of', '/audit/digest', '/api/partners', '/api/need-profiles']));
  });
});

describe('verification, digests and tampering', () => {
  let digest: StreamHeadsDigest;
  let pem: string;

  it('verifies the chains of a case and of the whole store, page by page', async () => {
    await settled();
    const A = scenario.persons.A;
    const one = (await get(`/audit/cases/${A}/verification`)).json();
    expect(one).toMatchObject({ personId: A, ok: true, broken: [] });
    expect(one.streams).toBe(6);
    expect(one.results.every((r: { ok: boolean; headHash: string }) => r.ok && /^[0-9a-f]{64}$/.test(r.headHash))).toBe(true);

    const all = (await get('/audit/verification?limit=10000')).json();
    const heads = await infra.store.streamHeads();
    expect(all).toMatchObject({ ok: true, totalStreams: heads.length, streams: heads.length, broken: [], nextAfter: null });
    expect(all.events).toBe(heads.reduce((n, h) => n + h.revision + 1, 0));
    let checked = 0;
    let pages = 0;
    for (let after: string | null = null; ; ) {
      const page: { streams: number; nextAfter: string | null } = (await get(`/audit/verification?limit=7${after ? `&after=${encodeURIComponent(after)}` : ''}`)).json();
      checked += page.streams;
      pages += 1;
      if (!page.nextAfter) break;
      after = page.nextAfter;
    }
    expect(checked).toBe(heads.length);
    expect(pages).toBe(Math.ceil(heads.length / 7));
    expect((await get('/audit/verification?limit=0')).statusCode).toBe(400);
  });

  it('signs a digest of the stream heads that verifies offline with the public key', async () => {
    await settled();
    const key = (await get('/audit/public-key')).json();
    expect(key).toMatchObject({ algorithm: 'Ed25519', jwk: { kty: 'OKP', crv: 'Ed25519', kid: key.keyId } });
    pem = key.pem;
    // generated in development and kept in the data directory, readable by the owner only
    expect(statSync(join(dataDir, 'audit-signing-key')).mode & 0o777).toBe(0o600);

    const position = await infra.store.headPosition();
    const res = await get(`/audit/digest?position=${position}`);
    expect(res.statusCode).toBe(200);
    digest = res.json();
    const heads = await infra.store.streamHeads(position);
    expect(digest).toMatchObject({ position, streams: heads.length, keyId: key.keyId });
    expect(verifyDigest(digest, pem)).toEqual({ ok: true });
    expect(verifyDigest(digest, key.jwk, heads)).toEqual({ ok: true });
    // an earlier position has fewer heads; the current head is the default
    const earlier = (await get('/audit/digest?position=10')).json();
    expect(earlier.streams).toBeLessThan(digest.streams);
    expect(verifyDigest(earlier, pem)).toEqual({ ok: true });
    expect((await get('/audit/digest')).json().position).toBeGreaterThanOrEqual(position);
    // every digest is recorded: a healthy log that holds what the last one named passes
    const verified = (await get('/audit/verification')).json();
    expect(verified).toMatchObject({ ok: true, warning: null, digest: { warning: null, missingCount: 0, shrunkCount: 0, rewrittenCount: 0 } });
    expect(verified.digest.comparedWith.position).toBeGreaterThanOrEqual(position);
    expect((await get('/audit/digest?position=-1')).statusCode).toBe(400);
    expect((await get('/audit/digest?position=abc')).statusCode).toBe(400);
    expect((await get(`/audit/digest?position=${position + 1000}`)).json()).toMatchObject({ status: 422, code: 'position_not_reached' });
  });

  it('detects an event altered behind the store’s back', async () => {
    const E = scenario.persons.E;
    await infra.db.query(
      `UPDATE eventstore.events SET data = jsonb_set(data, '{municipality}', '"Altrove"') WHERE stream_id = $1 AND stream_position = 0`,
      [`person-${E}`],
    );
    const one = (await get(`/audit/cases/${E}/verification`)).json();
    expect(one).toMatchObject({ ok: false, broken: [{ streamId: `person-${E}`, brokenAt: 0, reason: 'hash_mismatch' }] });
    const all = (await get('/audit/verification')).json();
    expect(all.ok).toBe(false);
    expect(all.broken).toEqual([{ streamId: `person-${E}`, events: 3, brokenAt: 0, reason: 'hash_mismatch' }]);
    expect(await projections.verifyAll()).toMatchObject({ ok: false, broken: [{ streamId: `person-${E}`, brokenAt: 0 }] });
  });

  it('an attacker who rewrites a whole chain passes the chain check, but not the signed digest', async () => {
    const B = scenario.persons.B;
    const stream = `person-${B}`;
    // rewrite B's consent as given on another legal basis, and recompute every hash after it
    const events = await infra.store.readStream(stream);
    let prev: string | null = null;
    for (const e of events) {
      const data = e.type === 'ConsentGiven' ? { ...(e.data as object), legalBasis: 'public_interest' } : e.data;
      const hash = linkHash(prev, e.streamPosition, canonicalEnvelope({ ...e, data }));
      await infra.db.query(
        `UPDATE eventstore.events SET data = $3::jsonb, hash = decode($4, 'hex'), prev_hash = decode($5, 'hex') WHERE stream_id = $1 AND stream_position = $2`,
        [stream, e.streamPosition, JSON.stringify(data), hash, prev],
      );
      prev = hash;
    }
    expect((await get(`/audit/cases/${B}/verification`)).json().results.find((r: { streamId: string }) => r.streamId === stream)).toMatchObject({ ok: true });

    // the digest kept from before still verifies as a signed statement…
    expect(verifyDigest(digest, pem)).toEqual({ ok: true });
    // …but the heads at its position are no longer the ones it was made of
    const headsNow = await infra.store.streamHeads(digest.position);
    expect(verifyDigest(digest, pem, headsNow)).toEqual({ ok: false, reason: 'heads_mismatch' });
    // and verification, comparing with the last recorded digest, sees the other head at the same revision
    const verified = (await get('/audit/verification')).json();
    expect(verified.digest).toMatchObject({ rewrittenStreams: [stream], rewrittenCount: 1 });
    expect(verified.warning).toContain(`(rewritten): ${stream}`);
    const recomputed = (await get(`/audit/digest?position=${digest.position}`)).json();
    expect(recomputed.headsSha256).not.toBe(digest.headsSha256);
    // and passing the new heads hash off under the old signature fails
    expect(verifyDigest({ ...digest, headsSha256: recomputed.headsSha256 }, pem)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('warns when events are deleted behind the store’s back, naming the streams missing or behind the last digest', async () => {
    await settled();
    const signed = (await get('/audit/digest')).json();
    const before = (await get('/audit/verification')).json();
    expect(before.warning).toBeNull();
    const C = `person-${scenario.persons.C}`;
    const D = `person-${scenario.persons.D}`;
    const cHead = (await infra.store.streamHeads()).find((h) => h.streamId === C)!.revision;
    await infra.db.query('DELETE FROM eventstore.events WHERE stream_id = $1 AND stream_position = $2', [C, cHead]);
    await infra.db.query('DELETE FROM eventstore.events WHERE stream_id = $1', [D]);

    const res = await get('/audit/verification?limit=1');
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page.ok).toBe(false);
    expect(page.digest).toMatchObject({
      comparedWith: { position: signed.position, streams: signed.streams, signedAt: signed.signedAt },
      missingStreams: [D],
      missingCount: 1,
      shrunkStreams: [{ streamId: C, revision: cHead - 1, digestRevision: cHead }],
      shrunkCount: 1,
    });
    expect(page.warning).toMatch(/^the log holds less than the digest signed .*: it has \d+ events, fewer than the digest's \d+/);
    expect(page.warning).toContain(`1 stream of the digest is missing: ${D}`);
    expect(page.warning).toContain(`${C} at revision ${cHead - 1}, not ${cHead}`);
    const all = await projections.verifyAll();
    expect(all).toMatchObject({ ok: false, warning: page.warning, digest: { missingStreams: [D] } });
  });

  it('an emptied store is not a success: it warns against the last digest, and a digest of it is refused unless allowEmpty', async () => {
    await infra.db.query('DELETE FROM eventstore.events');
    const all = (await get('/audit/verification')).json();
    expect(all).toMatchObject({ ok: false, streams: 0, events: 0, totalStreams: 0, broken: [] });
    expect(all.warning).toMatch(/^the log is empty \(0 streams, 0 events\), yet the digest signed .* names \d+ streams/);
    expect(all.digest.missingCount).toBeGreaterThan(10);
    expect((await get('/audit/digest')).json()).toMatchObject({ status: 422, code: 'empty_log' });
    const empty = (await get('/audit/digest?allowEmpty=true')).json();
    expect(empty).toMatchObject({ position: 0, streams: 0 });
    // signing the empty log on purpose does not hide the digest of what it held
    expect((await get('/audit/verification')).json().warning).toBe(all.warning);
  });
});
