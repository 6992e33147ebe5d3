import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AdjustableClock, buildServiceApp, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, launchTestBrowser, REPO_ROOT, type TestDatabase } from '@onestop/testkit';
import { afterOfficeHours, demoTokens, officeHours, seedDemo, type DemoTokens } from '../src/demo.js';
import { devClockModule } from '../src/dev-clock.js';
import { allModules } from '../src/modules.js';

// The demo network as `npm start` seeds it, through the platform's clock: its
// history spreads over weeks of office hours, so the dashboards show real
// durations (a partner answers hours or days after a referral, never in the
// same second), and nothing happens in the future.

const HOUR = 3_600_000;
const now = new Date('2026-12-02T15:30:00.000Z'); // a Wednesday afternoon
let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let tokens: DemoTokens;
const clock = new AdjustableClock();
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  db = await createTestDatabase('demo');
  infra = await openTestInfrastructure({ databaseUrl: db.url, clock, env: { RATE_LIMIT_PER_MINUTE: '1000000', ONESTOP_SLA_INTERVAL_MS: '500', ONESTOP_DEADLINE_INTERVAL_MS: '500' } });
  const modules: ServiceModule[] = [...allModules(), devClockModule(clock)];
  for (const m of modules) await m.migrate?.(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'demo', modules, ctx: infra });
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  tokens = await demoTokens(infra);
  await seedDemo(app, tokens, clock, now);
}, 240_000);

afterAll(async () => {
  for (const stop of stops) await stop();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const get = async (url: string, who = 'admin') => (await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[who]}` } })).json() as unknown;

describe('office hours', () => {
  it('skip nights and weekends', () => {
    expect(officeHours(new Date('2026-12-05T10:00:00Z')).toISOString()).toBe('2026-12-07T07:00:00.000Z'); // Saturday → Monday
    expect(officeHours(new Date('2026-12-02T18:00:00Z')).toISOString()).toBe('2026-12-03T07:00:00.000Z');
    expect(afterOfficeHours(new Date('2026-12-04T14:00:00Z'), 4).toISOString()).toBe('2026-12-07T09:00:00.000Z'); // Friday 14:00 + 4 h
  });
});

describe('the demo history', { timeout: 120_000 }, () => {
  it('spreads over weeks of office hours, all in the past, and leaves the clock on time', async () => {
    // what the demo did through the API (consumers and the SLA watcher record their own facts at their own time)
    const rows = await infra.db.query<{ time: string }>(
      `SELECT (metadata->>'time') AS time FROM eventstore.events WHERE event_type = ANY($1) ORDER BY global_position`,
      [['PartnerRegistered', 'PersonRegistered', 'ConsentGiven', 'AssessmentStarted', 'DomainEvaluated', 'AssessmentCompleted', 'ReferredToPartner', 'ReferralAccepted', 'ReferralDeclined', 'ServiceStarted', 'ServiceCompleted']],
    );
    const times = rows.map((r) => new Date(r.time).getTime()).filter((t) => !Number.isNaN(t));
    expect(times.length).toBeGreaterThan(100);
    expect(Math.max(...times)).toBeLessThanOrEqual(now.getTime());
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(60 * 24 * HOUR);
    const days = new Set(times.map((t) => new Date(t).toISOString().slice(0, 10)));
    expect(days.size).toBeGreaterThan(20);
    for (const t of times) {
      const d = new Date(t);
      expect([0, 6]).not.toContain(d.getUTCDay());
      expect(d.getUTCHours()).toBeGreaterThanOrEqual(7);
      expect(d.getUTCHours()).toBeLessThan(16);
    }
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(1000);
  });

  it('has partners answer hours or days after the referral: the median time to answer is not 0 h', async () => {
    const partners = await eventually(async () => {
      const list = (await get('/api/partners')) as Array<{ partnerId: string; medianHoursToAnswer: number | null; received: number }>;
      const answered = list.filter((p) => p.medianHoursToAnswer !== null);
      expect(answered.length).toBeGreaterThanOrEqual(4);
      return answered;
    }, 60_000);
    for (const p of partners) {
      expect(p.medianHoursToAnswer, p.partnerId).toBeGreaterThan(2.9);
      expect(p.medianHoursToAnswer, p.partnerId).toBeLessThan(7 * 24);
    }
  });

  it('has overdue referrals: urgent ones nobody answered within the response time', async () => {
    await eventually(async () => {
      const overdue = (await get('/api/referrals/overdue')) as unknown[];
      expect(overdue.length).toBeGreaterThanOrEqual(2);
    }, 60_000);
  });

  it('takes five people in charge under ADI, with meetings on different days: one first meeting missed, one approaching, two met', async () => {
    const findings = await eventually(async () => {
      const rows = await infra.db.query<{ type: string; deadline: string; on_time: boolean | null; subject: string }>(
        `SELECT event_type AS type, data->>'deadlineId' AS deadline, (data->>'onTime')::boolean AS on_time, stream_id AS subject
           FROM eventstore.events WHERE event_type IN ('DeadlineApproaching', 'DeadlineMissed', 'DeadlineMet') ORDER BY global_position`,
      );
      const firstMeetings = rows.filter((r) => r.deadline.startsWith('first_meeting@'));
      expect(firstMeetings.filter((r) => r.type === 'DeadlineMissed')).toHaveLength(1);
      expect(firstMeetings.filter((r) => r.type === 'DeadlineMet')).toHaveLength(2);
      // the approaching one is still open: approaching and not met
      const open = firstMeetings.filter((r) => r.type === 'DeadlineApproaching' && !firstMeetings.some((m) => m.subject === r.subject && m.type !== 'DeadlineApproaching'));
      expect(open).toHaveLength(1);
      return rows;
    }, 60_000);
    // exactly once each, whatever the number of passes
    const keys = findings.map((r) => `${r.subject}/${r.deadline}/${r.type}`);
    expect(new Set(keys).size).toBe(keys.length);
    // meetings on different days, in office hours, none in the future
    const held = await infra.db.query<{ held_at: string }>(`SELECT data->>'heldAt' AS held_at FROM eventstore.events WHERE event_type = 'MeetingHeld'`);
    expect(new Set(held.map((h) => h.held_at.slice(0, 10))).size).toBe(2);
    for (const h of held) expect(new Date(h.held_at).getTime()).toBeLessThanOrEqual(now.getTime());
    // the dashboard: one access point with a first meeting within 60 days, the other within 120 only
    const casework = await eventually(async () => {
      const c = (await get('/api/casework')) as { firstMeetings: Array<{ accessPoint: string; settled: number; withinRecommended: number; withinDue: number }> };
      expect(c.firstMeetings.reduce((n, f) => n + f.settled, 0)).toBe(3);
      return c;
    }, 60_000);
    expect(Object.fromEntries(casework.firstMeetings.map((f) => [f.accessPoint, [f.settled, f.withinRecommended, f.withinDue]]))).toEqual({
      // the missed one (130 days) and the one met at 45 days are at the centre; the one met late in the 120 at Quarrata
      'pistoia-centro-melos': [2, 1, 1],
      quarrata: [1, 0, 1],
    });
  });
});

describe('the development clock control', () => {
  it('lets an admin read, advance and reset the clock; nobody else', async () => {
    const as = (who: string, body?: object) =>
      app.inject({ method: body ? 'POST' : 'GET', url: '/dev/clock', headers: { authorization: `Bearer ${tokens[who]}` }, ...(body ? { payload: body } : {}) });
    expect((await as('operator')).statusCode).toBe(403);
    const moved = await as('admin', { advanceMs: 48 * HOUR });
    expect(moved.statusCode).toBe(200);
    expect((moved.json() as { offsetMs: number }).offsetMs).toBe(48 * HOUR);
    expect(clock.now().getTime() - Date.now()).toBeGreaterThan(47 * HOUR);
    expect((await as('admin', { at: 'not a time' })).statusCode).toBe(400);
    expect(((await as('admin', { reset: true })).json() as { offsetMs: number }).offsetMs).toBe(0);
  });

  it('is not among the modules a service process or production mounts', () => {
    expect(allModules().map((m) => m.name)).not.toContain('dev-clock');
  });
});

describe('the README picture', { timeout: 180_000 }, () => {
  it('is the dashboard of this demo, in Chromium (ONESTOP_UPDATE_SCREENSHOT=1 writes docs/dashboard.png)', async () => {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const profile = mkdtempSync(join(tmpdir(), 'onestop-demo-browser-'));
    const browser = await launchTestBrowser(profile);
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/dashboard#token=${tokens.auditor}`);
      await page.locator('#dashboard').waitFor({ state: 'visible', timeout: 30_000 });
      await eventually(async () => expect(await page.locator('[data-kpi="referrals.total"]').innerText()).toBe('9'), 30_000);
      const dir = process.env.ONESTOP_UPDATE_SCREENSHOT ? join(REPO_ROOT, 'docs') : join(REPO_ROOT, 'test-results');
      mkdirSync(dir, { recursive: true });
      const shot = join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true, timeout: 30_000 });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
