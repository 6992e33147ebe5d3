import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningConsumer } from '@onestop/bus';
import { createEvent, RuleViolation, TOPICS, type RecordedEvent } from '@onestop/events';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { projectionsModule } from '../src/app.js';

// The admin routes of dead letters, on PostgreSQL and the embedded bus: a
// consumer whose handler refuses some messages permanently, their letters
// listed and shown as stored, re-driven through the routes once the handler is
// fixed, applied once, and every re-drive recorded with who and why.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let consumer: RunningConsumer;
const tokens: Record<string, string> = {};
const group = `dlq-routes-${randomUUID().slice(0, 8)}`;

/**
 * Successful handlings per event id, counted naively: a re-driven message (handed back alone) applied twice would show 2.
 * Deliveries, failed ones included, apart.
 */
const applied = new Map<string, number>();
const deliveries = new Map<string, number>();
/** events the handler refuses for now (a permanent failure: a rule refuses them) */
const broken = new Set<string>();

const call = (method: 'GET' | 'POST', url: string, role: string | null = 'admin', body?: unknown) =>
  app.inject({ method, url, headers: role ? { authorization: `Bearer ${tokens[role]}` } : {}, ...(body !== undefined ? { payload: body as object } : {}) });

async function consentGiven(): Promise<string> {
  const personId = randomUUID();
  const event = createEvent('ConsentGiven', { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }, `person-${personId}`, personId, {
    source: '/onestop/intake',
    actor: { id: 'op-1', role: 'operator' },
    correlationId: `req-${randomUUID()}`,
    time: new Date().toISOString(),
  });
  await infra.store.append(event.subject, [event], 'no_stream');
  return event.id;
}

/** Appends events the handler refuses and waits until each is a dead letter of the group; their letter ids, oldest first. */
async function deadLettered(count: number): Promise<Array<{ eventId: string; letterId: string }>> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = await consentGiven();
    broken.add(id);
    ids.push(id);
  }
  return eventually(async () => {
    const letters = (await infra.bus.deadLetters({ group, limit: 500 })).filter((l) => ids.includes((l.payload as { id: string }).id));
    expect(letters).toHaveLength(count);
    return letters.reverse().map((l) => ({ eventId: (l.payload as { id: string }).id, letterId: l.id }));
  });
}

const statusOf = async (letterId: string) => (await call('GET', `/admin/dead-letters/${letterId}`)).json().status;

beforeAll(async () => {
  db = await createTestDatabase('dlqroutes');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  const module = projectionsModule();
  await module.migrate!(infra);
  app = await buildServiceApp({ title: 'test', description: 'test', modules: [module], ctx: infra });
  await app.ready();
  consumer = await infra.bus.consume({
    group,
    topics: [TOPICS.intake],
    handle: async (batch: RecordedEvent[]) => {
      for (const e of batch) {
        deliveries.set(e.id, (deliveries.get(e.id) ?? 0) + 1);
        if (broken.has(e.id)) throw new RuleViolation('not_yet', 'this handler cannot take it yet');
        applied.set(e.id, (applied.get(e.id) ?? 0) + 1);
      }
    },
  });
  tokens.admin = await infra.token({ sub: 'admin-7', role: 'admin' });
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.partner = await infra.token({ sub: 'coeso-desk', role: 'partner', partnerId: 'consorzio-coeso' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
});

afterAll(async () => {
  await consumer?.stop();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

describe('dead letters through the admin routes', () => {
  it('lists a message the handler refused permanently and shows it as stored; re-drives it once the handler is fixed, applied once, recorded with who and why', async () => {
    const good = await consentGiven();
    const { eventId, letterId } = (await deadLettered(1))[0]!;
    // (a failed batch is handed again whole before it is split: events ahead of the refused one may be handled twice, as the bus allows)
    await eventually(() => expect(applied.get(good)).toBeGreaterThanOrEqual(1));
    expect(applied.has(eventId)).toBe(false);

    const list = await call('GET', `/admin/dead-letters?group=${group}&status=open`);
    expect(list.statusCode).toBe(200);
    const [listed] = list.json().deadLetters;
    expect(listed).toMatchObject({ id: letterId, group, status: 'open', redriveOf: null, lastRedrive: null, key: expect.any(String) });
    expect(listed.reason).toMatch(/cannot take it yet/);
    // the list leaves values and headers out, as `onestop dlq list`
    expect(listed).not.toHaveProperty('payload');
    expect(listed).not.toHaveProperty('headers');

    const shown = await call('GET', `/admin/dead-letters/${letterId}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ id: letterId, status: 'open', payload: { id: eventId, type: 'ConsentGiven' }, redrives: [] });

    broken.delete(eventId);
    const res = await call('POST', `/admin/dead-letters/${letterId}/redrive`, 'admin', { reason: 'handler fixed, ticket OPS-12' });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ deadLetterId: letterId, group, status: 'redrive_requested', redrive: { by: 'admin-7', reason: 'handler fixed, ticket OPS-12' } });
    await eventually(async () => expect(await statusOf(letterId)).toBe('resolved'));
    expect(applied.get(eventId)).toBe(1);

    const after = (await call('GET', `/admin/dead-letters/${letterId}`)).json();
    expect(after.lastRedrive).toMatchObject({ by: 'admin-7', reason: 'handler fixed, ticket OPS-12' });
    expect(after.redrives).toEqual([{ at: after.lastRedrive.at, by: 'admin-7', reason: 'handler fixed, ticket OPS-12' }]);
    const [row] = await infra.db.query<{ redriven_by: string; reason: string }>('SELECT redriven_by, reason FROM bus.dead_letter_redrives WHERE dead_letter_id = $1::bigint', [letterId]);
    expect(row).toEqual({ redriven_by: 'admin-7', reason: 'handler fixed, ticket OPS-12' });
  });

  it('refuses a second re-drive of the same letter (409 already_redriven): nothing recorded, nothing delivered again, still applied once', async () => {
    const { eventId, letterId } = (await deadLettered(1))[0]!;
    broken.delete(eventId);
    expect((await call('POST', `/admin/dead-letters/${letterId}/redrive`, 'admin', { reason: 'first' })).statusCode).toBe(202);
    // refused while it waits for its group, and once its group handled it
    const early = await call('POST', `/admin/dead-letters/${letterId}/redrive`, 'admin', { reason: 'second' });
    expect([early.statusCode, early.json().code]).toEqual([409, 'already_redriven']);
    await eventually(async () => expect(await statusOf(letterId)).toBe('resolved'));
    const deliveredOnce = deliveries.get(eventId);
    const late = await call('POST', `/admin/dead-letters/${letterId}/redrive`, 'admin', { reason: 'third' });
    expect(late.statusCode).toBe(409);
    expect(late.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(late.json()).toMatchObject({ status: 409, code: 'already_redriven', deadLetterStatus: 'resolved' });
    expect((await call('GET', `/admin/dead-letters/${letterId}`)).json().redrives.map((r: { reason: string }) => r.reason)).toEqual(['first']);
    expect(deliveries.get(eventId)).toBe(deliveredOnce);
    expect(applied.get(eventId)).toBe(1);
  });

  it('re-drives every open letter of a group, oldest first, each recorded; a second call finds none', async () => {
    const letters = await deadLettered(3);
    for (const l of letters) broken.delete(l.eventId);
    const res = await call('POST', '/admin/dead-letters/redrive', 'admin', { reason: 'consumer fixed', group });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body.redriven.map((r: { deadLetterId: string }) => r.deadLetterId)).toEqual(letters.map((l) => l.letterId));
    expect(body).toMatchObject({ skipped: [], remaining: 0 });
    for (const r of body.redriven) expect(r.redrive).toMatchObject({ by: 'admin-7', reason: 'consumer fixed' });
    await eventually(async () => {
      for (const l of letters) expect(await statusOf(l.letterId)).toBe('resolved');
    });
    for (const l of letters) expect(applied.get(l.eventId)).toBe(1);
    const again = (await call('POST', '/admin/dead-letters/redrive', 'admin', { reason: 'consumer fixed', group })).json();
    expect(again).toEqual({ redriven: [], skipped: [], remaining: 0 });
  });

  it('pages the list with before (newest first) and filters by group and status', async () => {
    const all = (await call('GET', `/admin/dead-letters?group=${group}&limit=500`)).json();
    expect(all.nextBefore).toBeNull();
    const ids: string[] = [];
    let url = `/admin/dead-letters?group=${group}&limit=2`;
    for (;;) {
      const page = (await call('GET', url)).json();
      ids.push(...page.deadLetters.map((l: { id: string }) => l.id));
      if (!page.nextBefore) break;
      url = `/admin/dead-letters?group=${group}&limit=2&before=${page.nextBefore}`;
    }
    expect(ids).toEqual(all.deadLetters.map((l: { id: string }) => l.id));
    expect(ids).toHaveLength(5);
    expect(ids).toEqual([...ids].sort((a, b) => Number(b) - Number(a)));
    expect((await call('GET', `/admin/dead-letters?group=${group}&status=open`)).json().deadLetters).toEqual([]);
    expect((await call('GET', '/admin/dead-letters?group=no-such-group')).json()).toEqual({ deadLetters: [], nextBefore: null });
  });
});

describe('refusals', () => {
  const routes = (id: string) =>
    [
      ['GET', '/admin/dead-letters', undefined],
      ['GET', `/admin/dead-letters/${id}`, undefined],
      ['POST', `/admin/dead-letters/${id}/redrive`, { reason: 'x' }],
      ['POST', '/admin/dead-letters/redrive', { reason: 'x', group }],
    ] as const;

  it('answers 401 without a token and 403 to every role but admin; nothing is re-driven', async () => {
    const { letterId } = (await deadLettered(1))[0]!;
    for (const [method, url, body] of routes(letterId)) {
      const anonymous = await call(method, url, null, body);
      expect([anonymous.statusCode, anonymous.json().code], `${method} ${url}`).toEqual([401, 'unauthorized']);
      for (const role of ['operator', 'team', 'partner', 'auditor']) {
        const res = await call(method, url, role, body);
        expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect((await call('GET', `/admin/dead-letters/${letterId}`)).json()).toMatchObject({ status: 'open', redrives: [] });
  });

  it('answers 404 to an unknown id, 400 problem+json to a bad id, query or body', async () => {
    for (const [method, url] of [['GET', '/admin/dead-letters/999999999'], ['POST', '/admin/dead-letters/999999999/redrive']] as const) {
      const res = await call(method, url, 'admin', method === 'POST' ? { reason: 'x' } : undefined);
      expect([res.statusCode, res.json().code], url).toEqual([404, 'not_found']);
    }
    const { letterId } = (await deadLettered(1))[0]!;
    const bad: Array<[string, string, unknown]> = [
      ['GET', '/admin/dead-letters/abc', undefined],
      ['GET', '/admin/dead-letters?limit=501', undefined],
      ['GET', '/admin/dead-letters?status=lost', undefined],
      ['GET', '/admin/dead-letters?before=-1', undefined],
      ['GET', '/admin/dead-letters?group=a%20b', undefined],
      ['GET', '/admin/dead-letters?extra=1', undefined],
      ['POST', `/admin/dead-letters/${letterId}/redrive`, {}],
      ['POST', `/admin/dead-letters/${letterId}/redrive`, { reason: '   ' }],
      ['POST', `/admin/dead-letters/${letterId}/redrive`, { reason: 'x'.repeat(501) }],
      ['POST', `/admin/dead-letters/${letterId}/redrive`, { reason: 'x', actor: 'someone-else' }],
      ['POST', '/admin/dead-letters/redrive', { group }],
      ['POST', '/admin/dead-letters/redrive', { reason: 'x', group: '' }],
    ];
    for (const [method, url, body] of bad) {
      const res = await call(method as 'GET', url, 'admin', body);
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(body)}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 400 });
    }
    expect((await call('GET', `/admin/dead-letters/${letterId}`)).json()).toMatchObject({ status: 'open', redrives: [] });
  });
});
