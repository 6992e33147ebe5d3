/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assessmentModule } from '@onestop/assessment';
import { intakeModule } from '@onestop/intake';
import { buildServiceApp, ManualClock, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { referralModule } from '@onestop/referral';
import { CHROMIUM, createTestDatabase, eventually, launchTestBrowser, REPO_ROOT, type TestDatabase } from '@onestop/testkit';
import { projectionsModule, type Projections } from '../src/app.js';
import { caughtUp } from './scenario.js';

// The dashboard page in a real browser (Debian's headless Chromium, driven by
// playwright-core; never a downloaded browser) against every service on
// PostgreSQL, listening on a real port. A small network is created through
// the HTTP APIs with a manual clock, so that every KPI the page shows can be
// computed by hand below and compared with what the DOM says.

const HOUR = 3_600_000;
/** the manual clock starts 30 days ago (on the hour), so that "overdue" is in the past for the browser too */
const T0 = Math.floor((Date.now() - 30 * 24 * HOUR) / HOUR) * HOUR;

// ── The network, by hand ────────────────────────────────────────────────────
// Partners (answer within): casa-accoglienza/alloggio (housing, 5 days),
// cpi-pistoia/orientamento (employment, 5 days), asl-salute/consultorio (health_care, 3 days).
// Persons: P1, P2, P5 by op-1 at pistoia-centro; P3, P4 by op-2 at quarrata.
// P1–P3 give both consents and complete an assessment; P4 gives the assessment
// consent and has an open assessment; P5 is only registered.
// Teams: P1 (sw-1, eo-1), P2 (sw-1, ed-1), P3 (eo-1, ed-1), P4 (sw-1, eo-1, open).
// Referrals, hours after T0:
//   r1 P1 → casa/alloggio        0   accepted 24   started 72   completed 240 achieved
//   r2 P1 → cpi/orientamento     0   declined 48 no_capacity
//   r3 P2 → casa/alloggio       24   accepted 36   started 72   (in progress)
//   r4 P2 → asl/consultorio     24   no answer: due at 96, marked overdue at 100 (still requested)
//   r5 P3 → cpi/orientamento    48   accepted 54   started 72   completed 480 dropped_out
//   r6 P3 → casa/alloggio       48   cancelled 60 by the team
//   r7 P3 → asl/consultorio     72   declined 84 not_eligible
const PROFILES = {
  P1: { economic: 2, employment: 3, education: 1, housing: 4, social_network: 1, health_care: 0, training: 2 },
  P2: { economic: 1, employment: 0, education: 0, housing: 3, social_network: 2, health_care: 3, training: 1 },
  P3: { economic: 0, employment: 4, education: 2, housing: 2, social_network: 0, health_care: 3, training: 1 },
} as const;

const EXPECTED_KPIS: Record<string, string> = {
  'persons.registered': '5',
  'persons.withAssessmentConsent': '4',
  'persons.withReferralSharingConsent': '3',
  'persons.erased': '0',
  'assessments.open': '1',
  'assessments.completed': '3',
  'assessments.cancelled': '0',
  'referrals.total': '7',
  'referrals.open': '2', // r3 in progress, r4 waiting
  'referrals.overdue': '1', // r4
  'partners.total': '3',
  'partners.inAgreement': '3',
  'partners.services': '3',
  'funnel.referred': '7',
  'funnel.accepted': '3', // r1 r3 r5
  'funnel.started': '3', // r1 r3 r5
  'funnel.completed': '2', // r1 r5
  'funnel.declined': '2', // r2 r7
  'funnel.cancelled': '1', // r6
  'funnel.open': '2', // r3 r4
};

// medians: time to answer = first of accepted/declined − referred; time to start = started − referred
const EXPECTED_PARTNERS = {
  'asl-salute': {
    received: '2', accepted: '0', declined: '1', started: '0', completed: '0', cancelled: '0', overdue: '1',
    medianHoursToAnswer: '12 h', // r7: 12
    medianHoursToStart: '—',
    declinedBy: { not_eligible: '1' },
    completedBy: {},
  },
  'casa-accoglienza': {
    received: '3', accepted: '2', declined: '0', started: '2', completed: '1', cancelled: '1', overdue: '0',
    medianHoursToAnswer: '18 h', // r1: 24, r3: 12
    medianHoursToStart: '60 h (2,5 g)', // r1: 72, r3: 48
    declinedBy: {},
    completedBy: { achieved: '1' },
  },
  'cpi-pistoia': {
    received: '2', accepted: '1', declined: '1', started: '1', completed: '1', cancelled: '0', overdue: '0',
    medianHoursToAnswer: '27 h', // r2: 48, r5: 6
    medianHoursToStart: '24 h', // r5: 24
    declinedBy: { no_capacity: '1' },
    completedBy: { dropped_out: '1' },
  },
};

// completed assessments P1–P3: per domain, the count at levels 0–4, the total and the average
const EXPECTED_NEEDS: Record<string, string[]> = {
  economic: ['1', '1', '1', '0', '0', '3', '1,0'], // 2 1 0
  employment: ['1', '0', '0', '1', '1', '3', '2,3'], // 3 0 4
  education: ['1', '1', '1', '0', '0', '3', '1,0'], // 1 0 2
  housing: ['0', '0', '1', '1', '1', '3', '3,0'], // 4 3 2
  social_network: ['1', '1', '1', '0', '0', '3', '1,0'], // 1 2 0
  health_care: ['1', '0', '0', '2', '0', '3', '2,0'], // 0 3 3
  training: ['0', '2', '1', '0', '0', '3', '1,3'], // 2 1 1
};

const EXPECTED_CASELOAD = {
  operators: { 'op-1': ['3', '3', '0'], 'op-2': ['2', '2', '0'] },
  team: { 'ed-1': ['2', '0', '2', '0'], 'eo-1': ['3', '1', '2', '0'], 'sw-1': ['3', '1', '2', '0'] },
};

// P1's case, in the order it was recorded, and the read that opening it records
const P1_TIMELINE = [
  ['PersonRegistered', 'person', 'operatore del punto di accesso'],
  ['ConsentGiven', 'person', 'operatore del punto di accesso'],
  ['ConsentGiven', 'person', 'operatore del punto di accesso'],
  ['AssessmentStarted', 'assessment', 'assistente sociale (équipe)'],
  // the person's case stream takes and frees its slots in the same appends (DESIGN §9)
  ['CaseAssessmentOpened', 'case', 'assistente sociale (équipe)'],
  ...Object.keys(PROFILES.P1).map((_, i) => ['DomainEvaluated', 'assessment', i % 2 ? 'operatore del Centro per l’impiego (équipe)' : 'assistente sociale (équipe)']),
  ['AssessmentCompleted', 'assessment', 'assistente sociale (équipe)'],
  ['CaseAssessmentClosed', 'case', 'assistente sociale (équipe)'],
  ['ReferredToPartner', 'referral:r1', 'assistente sociale (équipe)'],
  ['CaseReferralOpened', 'case', 'assistente sociale (équipe)'],
  ['ReferredToPartner', 'referral:r2', 'assistente sociale (équipe)'],
  ['CaseReferralOpened', 'case', 'assistente sociale (équipe)'],
  ['ReferralAccepted', 'referral:r1', 'partner casa-accoglienza'],
  ['ReferralDeclined', 'referral:r2', 'partner cpi-pistoia'],
  ['CaseReferralClosed', 'case', 'partner cpi-pistoia'],
  ['ServiceStarted', 'referral:r1', 'partner casa-accoglienza'],
  ['ServiceCompleted', 'referral:r1', 'partner casa-accoglienza'],
  ['CaseReferralClosed', 'case', 'partner casa-accoglienza'],
  ['CaseHistoryRead', 'audit', 'revisore'],
] as const;

// ── Set-up ──────────────────────────────────────────────────────────────────
let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let base: string;
let browser: BrowserContext;
let projections: Projections;
const clock = new ManualClock(new Date(T0));
const stops: Array<() => Promise<void>> = [];
const dataDir = mkdtempSync(join(tmpdir(), 'onestop-dashboard-'));
const profileDir = mkdtempSync(join(tmpdir(), 'onestop-chromium-'));
const tokens: Record<string, string> = {};
const ids = { persons: {} as Record<string, string>, referrals: {} as Record<string, string> };
const referrals = referralModule();
const projectionsMod = projectionsModule();

async function call(who: string, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${tokens[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url} as ${who} → ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}
/** commands that depend on facts another service learns through the bus: retried until the fact is there */
const settle = <T>(f: () => Promise<T>) => eventually(f, 20_000, 50);
const at = (hours: number) => clock.set(new Date(T0 + hours * HOUR));

async function createNetwork(): Promise<void> {
  at(-200);
  for (const [partnerId, name, sector, serviceId, service, domain, responseDays] of [
    ['casa-accoglienza', 'Casa dell’Accoglienza', 'third_sector', 'alloggio', 'Alloggio temporaneo', 'housing', 5],
    ['cpi-pistoia', 'Centro per l’impiego di Pistoia', 'public', 'orientamento', 'Orientamento al lavoro', 'employment', 5],
    ['asl-salute', 'ASL – Consultorio', 'public', 'consultorio', 'Consultorio', 'health_care', 3],
  ] as const) {
    await call('admin', 'POST', '/partners', { partnerId, name, sector, services: [{ serviceId, name: service, domain, capacity: 5 }] });
    await call('admin', 'POST', `/partners/${partnerId}/agreements`, { responseDays });
  }

  const register = async (key: string, operator: string, accessPoint: string, consents: string[], hours: number) => {
    at(hours);
    const { personId } = (await call(operator, 'POST', '/persons', {
      accessPoint,
      municipality: accessPoint === 'quarrata' ? 'Quarrata' : 'Pistoia',
      givenName: `Nome${key}`,
      familyName: `Cognome${key}`,
      birthDate: '1980-01-01',
    })) as { personId: string };
    ids.persons[key] = personId;
    for (const scope of consents) await call(operator, 'POST', `/persons/${personId}/consents`, { scope, legalBasis: 'explicit_consent' });
  };
  await register('P1', 'op1', 'pistoia-centro', ['assessment', 'referral_sharing'], -190);
  await register('P2', 'op1', 'pistoia-centro', ['assessment', 'referral_sharing'], -180);
  await register('P3', 'op2', 'quarrata', ['assessment', 'referral_sharing'], -170);
  await register('P4', 'op2', 'quarrata', ['assessment'], -160);
  await register('P5', 'op1', 'pistoia-centro', [], -150);

  const members = { sw: { memberId: 'sw-1', role: 'social_worker' }, eo: { memberId: 'eo-1', role: 'employment_operator' }, ed: { memberId: 'ed-1', role: 'educator' } } as const;
  const assessments: Record<string, string> = {};
  const assess = async (key: 'P1' | 'P2' | 'P3' | 'P4', team: Array<keyof typeof members>, hours: number) => {
    at(hours);
    const personId = ids.persons[key]!;
    const { assessmentId } = (await settle(() => call(team[0]!, 'POST', '/assessments', { personId, team: team.map((m) => members[m]) }))) as { assessmentId: string };
    assessments[key] = assessmentId;
    if (key === 'P4') return;
    const profile = PROFILES[key];
    for (const [i, [domain, needLevel]] of Object.entries(profile).entries()) {
      await call(team[i % 2]!, 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel });
    }
    const goals = Object.entries(profile)
      .filter(([, level]) => level >= 3)
      .map(([domain]) => ({ domain, description: `Obiettivo ${domain}`, targetDate: '2030-06-30' }));
    await call(team[0]!, 'POST', `/assessments/${assessmentId}/completion`, { goals });
  };
  await assess('P1', ['sw', 'eo'], -140);
  await assess('P2', ['sw', 'ed'], -130);
  await assess('P3', ['eo', 'ed'], -120);
  await assess('P4', ['sw', 'eo'], -110);

  const refer = async (name: string, key: 'P1' | 'P2' | 'P3', partnerId: string, serviceId: string, hours: number) => {
    at(hours);
    const body = { personId: ids.persons[key], assessmentId: assessments[key], partnerId, serviceId, reason: 'Percorso concordato', priority: 'routine' };
    ids.referrals[name] = ((await settle(() => call('sw', 'POST', '/referrals', body))) as { referralId: string }).referralId;
  };
  const answer = async (name: string, partner: string, step: string, body: object, hours: number) => {
    at(hours);
    await call(partner, 'POST', `/referrals/${ids.referrals[name]}/${step}`, body);
  };
  await refer('r1', 'P1', 'casa-accoglienza', 'alloggio', 0);
  await refer('r2', 'P1', 'cpi-pistoia', 'orientamento', 0);
  await refer('r3', 'P2', 'casa-accoglienza', 'alloggio', 24);
  await refer('r4', 'P2', 'asl-salute', 'consultorio', 24);
  await answer('r1', 'casa', 'acceptance', {}, 24);
  await answer('r3', 'casa', 'acceptance', {}, 36);
  await answer('r2', 'cpi', 'decline', { reason: 'no_capacity' }, 48);
  await refer('r5', 'P3', 'cpi-pistoia', 'orientamento', 48);
  await refer('r6', 'P3', 'casa-accoglienza', 'alloggio', 48);
  await answer('r5', 'cpi', 'acceptance', {}, 54);
  at(60);
  await call('sw', 'POST', `/referrals/${ids.referrals.r6}/cancellation`, { reason: 'team_decision' });
  await answer('r1', 'casa', 'start', {}, 72);
  await answer('r3', 'casa', 'start', {}, 72);
  await answer('r5', 'cpi', 'start', {}, 72);
  await refer('r7', 'P3', 'asl-salute', 'consultorio', 72);
  await answer('r7', 'asl', 'decline', { reason: 'not_eligible' }, 84);
  // the SLA watcher's pass at +100 h: r4 was due at +96 h (its own timer may have passed first: the same result)
  at(100);
  await referrals.referrals(infra).markOverdue(clock.now());
  await answer('r1', 'casa', 'completion', { outcome: 'achieved' }, 240);
  await answer('r5', 'cpi', 'completion', { outcome: 'dropped_out' }, 480);
}

/** everything stored so far is in the read models */
async function projected(): Promise<void> {
  const [row] = await infra.db.query<{ p: string | null }>('SELECT max(global_position) AS p FROM eventstore.events');
  await caughtUp(infra.store, () => projections.lag(), Number(row?.p ?? 0), 30_000);
}

beforeAll(async () => {
  // CI installs Debian's chromium (.ci/run); a machine without it must say so, not pass quietly
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does. The dashboard browser test never downloads a browser.`);
  }
  db = await createTestDatabase('dashboard');
  infra = await openTestInfrastructure({ databaseUrl: db.url, clock, env: { ONESTOP_DATA_DIR: dataDir } });
  const modules: ServiceModule[] = [intakeModule(), assessmentModule(), referrals, projectionsMod];
  for (const m of modules) await m.migrate?.(infra);
  projections = projectionsMod.projections(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'dashboard browser test', modules, ctx: infra });
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  base = await app.listen({ port: 0, host: '127.0.0.1' });

  const principals = {
    admin: { sub: 'admin-1', role: 'admin' },
    op1: { sub: 'op-1', role: 'operator' },
    op2: { sub: 'op-2', role: 'operator' },
    sw: { sub: 'sw-1', role: 'team', teamRole: 'social_worker' },
    eo: { sub: 'eo-1', role: 'team', teamRole: 'employment_operator' },
    ed: { sub: 'ed-1', role: 'team', teamRole: 'educator' },
    casa: { sub: 'casa-desk', role: 'partner', partnerId: 'casa-accoglienza' },
    cpi: { sub: 'cpi-desk', role: 'partner', partnerId: 'cpi-pistoia' },
    asl: { sub: 'asl-desk', role: 'partner', partnerId: 'asl-salute' },
    auditor: { sub: 'revisore-1', role: 'auditor' },
  } as const;
  for (const [who, p] of Object.entries(principals)) tokens[who] = await infra.token(p);

  await createNetwork();
  await projected();

  // a fresh profile in a temporary directory (playwright takes it as userDataDir, not as --user-data-dir)
  browser = await launchTestBrowser(profileDir);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const stop of stops) await stop();
  await app?.close();
  await infra?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(profileDir, { recursive: true, force: true });
});

// ── Helpers on the page ─────────────────────────────────────────────────────
interface Watched {
  page: Page;
  /** console errors and warnings, page errors and CSP violations */
  problems: string[];
}

/** A new tab (so its own sessionStorage) that records every console error and CSP violation. */
async function openPage(): Promise<Watched> {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // the CSP violations the page itself sees (besides Chromium's console report of them)
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { page, problems };
}

/** The text of every element with a data-kpi attribute, by name. */
const kpis = (page: Page) =>
  page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-kpi]')].map((e) => [e.getAttribute('data-kpi'), (e as HTMLElement).innerText.trim()])));

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Token di accesso').fill(token);
  await page.getByRole('button', { name: 'Accedi' }).click();
}

// ── Tests ───────────────────────────────────────────────────────────────────
describe('the dashboard page', () => {
  it('is served as static files with their content types, revalidation headers and the CSP', async () => {
    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const etag = page.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect((await fetch(`${base}/dashboard`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const html = await page.text();
    // no inline script, nothing from another origin
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);

    for (const [file, type] of [['app.js', 'text/javascript; charset=utf-8'], ['style.css', 'text/css; charset=utf-8'], ['favicon.svg', 'image/svg+xml']]) {
      const res = await fetch(`${base}/dashboard/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type'), file).toBe(type);
      expect(res.headers.get('cache-control'), file).toBe('no-cache');
    }
    const missing = await fetch(`${base}/dashboard/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${base}/dashboard/..%2Fsrc%2Fapp.ts`)).status).toBe(404);
    const slash = await fetch(`${base}/dashboard/`, { redirect: 'manual' });
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.get('location')!, `${base}/dashboard/`).pathname).toBe('/dashboard');
  });

  it('asks for a token and explains a refusal: 403 for a partner token, 401 for a bad one', async () => {
    const { page, problems } = await openPage();
    try {
      await page.goto(`${base}/dashboard`);
      await expect.poll(() => page.getByLabel('Token di accesso').isVisible()).toBe(true);
      expect(await page.locator('#dashboard').isHidden()).toBe(true);

      await signIn(page, tokens.casa!);
      const notice = page.getByRole('alert');
      await notice.waitFor();
      expect(await notice.innerText()).toMatch(/Accesso negato \(403\).*partner – casa-accoglienza/s);
      expect(await page.locator('#dashboard').isHidden()).toBe(true);

      // the form answers the keyboard too
      await page.getByLabel('Token di accesso').fill('not-a-token');
      await page.getByLabel('Token di accesso').press('Enter');
      await expect.poll(() => notice.innerText()).toMatch(/Accesso non riuscito \(401\)/);
      // the only console errors are the browser's own reports of the refused requests
      expect(problems.filter((p) => !/Failed to load resource: the server responded with a status of 40[13]/.test(p))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows the KPIs of the network as computed by hand, and an auditor’s case timeline', async () => {
    const { page, problems } = await openPage();
    try {
      await page.goto(`${base}/dashboard`);
      await signIn(page, tokens.auditor!);
      await page.locator('#dashboard').waitFor({ state: 'visible' });
      expect(await page.locator('#session-role').innerText()).toBe('revisore');
      // kept for this tab only
      expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, '']);

      // overview and funnel
      expect(await kpis(page)).toEqual(EXPECTED_KPIS);

      // the partner table
      const partners = await page.evaluate(() =>
        Object.fromEntries(
          [...document.querySelectorAll('tr[data-partner]')].map((tr) => {
            const col = (name: string) => tr.querySelector(`[data-col="${name}"]`) as HTMLElement;
            const count = (name: string) => (col(name).querySelector('.count') as HTMLElement).innerText.trim();
            const by = (name: string) => Object.fromEntries([...col(name).querySelectorAll('li[data-key]')].map((li) => [li.getAttribute('data-key'), (li.querySelector('.n') as HTMLElement).innerText]));
            return [
              tr.getAttribute('data-partner'),
              {
                ...Object.fromEntries(['received', 'accepted', 'declined', 'started', 'completed', 'cancelled', 'overdue'].map((c) => [c, count(c)])),
                medianHoursToAnswer: col('medianHoursToAnswer').innerText.trim(),
                medianHoursToStart: col('medianHoursToStart').innerText.trim(),
                declinedBy: by('declined'),
                completedBy: by('completed'),
              },
            ];
          }),
        ),
      );
      expect(partners).toEqual(EXPECTED_PARTNERS);
      // the reasons and outcomes are named in words
      expect(await page.locator('tr[data-partner="cpi-pistoia"] [data-col="declined"]').innerText()).toContain('posti esauriti: 1');
      expect(await page.locator('tr[data-partner="cpi-pistoia"] [data-col="completed"]').innerText()).toContain('percorso interrotto: 1');

      // the overdue list: r4 only, late since +96 h
      const overdue = page.locator('#overdue-body tbody tr');
      expect(await overdue.count()).toBe(1);
      expect(await overdue.first().getAttribute('data-referral')).toBe(ids.referrals.r4);
      const cells = await overdue.first().locator('th, td').allInnerTexts();
      expect(cells.slice(1, 5)).toEqual(['ASL – Consultorio', 'consultorio', 'Salute e cura', 'ordinaria']);
      const lateDays = Math.floor((Date.now() - (T0 + 96 * HOUR)) / (24 * HOUR));
      expect(cells[7]).toBe(`${lateDays} g`);

      // the need profiles: a chart with a title and a description, and the same numbers in a table
      const chart = page.locator('#needs-body svg[role="img"]');
      expect(await chart.locator('title').first().textContent()).toBe('Profili di bisogno per dominio in tutta la rete');
      expect(await chart.locator('desc').textContent()).toContain('3 valutazioni completate');
      expect(await chart.getAttribute('aria-labelledby')).toMatch(/-title .*-desc$/);
      // the housing bar: one segment for each of the levels 2, 3 and 4, a third of the bar each
      const housing = chart.locator('g.row[data-domain="housing"] g.segment');
      expect(await housing.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-level')))).toEqual(['2', '3', '4']);
      const needs = await page.evaluate(() =>
        Object.fromEntries([...document.querySelectorAll('#needs-body tr[data-domain]')].map((tr) => [tr.getAttribute('data-domain'), [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())])),
      );
      expect(needs).toEqual(EXPECTED_NEEDS);
      // per access point: quarrata has P3's assessment only
      await page.getByLabel('Punto di accesso', { exact: true }).selectOption('quarrata');
      await expect.poll(() => page.locator('#needs-body tr[data-domain="employment"] td').allTextContents()).toEqual(['0', '0', '0', '0', '1', '1', '4,0']);
      await page.getByLabel('Punto di accesso', { exact: true }).selectOption('*');

      // caseload
      const caseload = await page.evaluate(() => ({
        operators: Object.fromEntries([...document.querySelectorAll('tr[data-operator]')].map((tr) => [tr.getAttribute('data-operator'), [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())])),
        team: Object.fromEntries([...document.querySelectorAll('tr[data-member]')].map((tr) => [tr.getAttribute('data-member'), [...tr.querySelectorAll('td')].slice(1).map((td) => td.textContent!.trim())])),
      }));
      expect(caseload).toEqual(EXPECTED_CASELOAD);

      // the auditor's timeline of P1
      const P1 = ids.persons.P1!;
      await page.getByLabel('Identificativo della persona').fill('not-an-id');
      await page.getByRole('button', { name: 'Mostra la cronologia' }).click();
      expect(await page.locator('#person-id-error').isVisible()).toBe(true);
      expect(await page.getByLabel('Identificativo della persona').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Identificativo della persona').fill(P1);
      await page.getByRole('button', { name: 'Mostra la cronologia' }).click();
      await page.locator('#case-body [data-verification]').waitFor();
      expect(await page.locator('#case-body [data-verification]').getAttribute('data-verification')).toBe('ok');
      expect(await page.locator('#case-body [data-verification]').innerText()).toMatch(/Catena hash integra.*25 eventi in 6 flussi/s);

      const listed = await page.evaluate(() =>
        [...document.querySelectorAll('ol.timeline > li')].map((li) => ({
          type: li.getAttribute('data-type'),
          stream: li.getAttribute('data-stream'),
          actor: (li.querySelector('[data-field="actor"]') as HTMLElement).innerText,
          time: li.querySelector('time')!.getAttribute('datetime'),
          fields: Object.fromEntries([...li.querySelectorAll('dl > div')].map((d) => [d.querySelector('dt')!.textContent, d.querySelector('dd')!.textContent])),
        })),
      );
      const streamOf = (s: string) =>
        s === 'person' || s === 'audit' || s === 'case' ? `${s}-${P1}` : s.startsWith('referral:') ? `referral-${ids.referrals[s.slice(9)]}` : 'assessment';
      expect(listed.map((e) => [e.type, e.stream!.startsWith('assessment-') ? 'assessment' : e.stream, e.actor])).toEqual(P1_TIMELINE.map(([type, s, actor]) => [type, streamOf(s), actor]));
      const times = listed.map((e) => Date.parse(e.time!));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times[0]).toBe(T0 - 190 * HOUR);
      expect(times.at(-2)).toBe(T0 + 240 * HOUR);
      // what an event says besides its type: codes in words, never personal data
      expect(listed[0]!.fields).toMatchObject({ Chi: 'operatore del punto di accesso', Flusso: `persona person-${P1.slice(0, 8)}… n. 0`, 'punto di accesso': 'pistoia-centro' });
      expect(listed.find((e) => e.type === 'ConsentGiven')!.fields).toMatchObject({ ambito: 'valutazione', 'base giuridica': 'consenso esplicito' });
      expect(listed.find((e) => e.type === 'DomainEvaluated')!.fields).toMatchObject({ dominio: 'Economico', 'livello di bisogno': '2' });
      expect(listed.find((e) => e.type === 'ReferredToPartner')!.fields).toMatchObject({ partner: 'casa-accoglienza', servizio: 'alloggio', ambito: 'Casa' });
      expect(listed.find((e) => e.type === 'ReferralDeclined')!.fields).toMatchObject({ motivo: 'posti esauriti' });
      expect(listed.find((e) => e.type === 'ServiceCompleted')!.fields).toMatchObject({ esito: 'obiettivo raggiunto' });
      expect(listed.at(-1)!.fields).toMatchObject({ finalità: 'revisione', 'letto da': 'revisore-1' });
      const body = await page.locator('main').innerText();
      for (const secret of ['NomeP1', 'CognomeP1', '1980-01-01', 'Percorso concordato', 'Obiettivo']) expect(body).not.toContain(secret);

      // the read was recorded: the last event listed is the CaseHistoryRead in P1's audit stream
      const reads = (await infra.store.readStream(`audit-${P1}`)).filter((e) => e.type === 'CaseHistoryRead');
      expect(reads).toHaveLength(1);
      expect(reads[0]).toMatchObject({ data: { personId: P1, purpose: 'audit', readBy: 'revisore-1' }, actor: { role: 'auditor' } });
      expect(await page.locator('[data-read-event]').getAttribute('data-read-event')).toBe(reads[0]!.id);

      expect(problems).toEqual([]);
      // the page as this test's network shows it (the README's picture is the demo's: services/platform/test/demo.test.ts)
      const dir = join(REPO_ROOT, 'test-results');
      mkdirSync(dir, { recursive: true });
      const shot = join(dir, 'dashboard.png');
      await page.locator('#overview').scrollIntoViewIfNeeded();
      await page.screenshot({ path: shot, fullPage: true, timeout: 30_000 });
      expect(statSync(shot).size).toBeGreaterThan(20_000);

      // on a phone the page is one column: nothing scrolls sideways but the wide tables, inside their own regions
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      expect(await page.locator('#partners .scroller[role="region"][tabindex="0"]').count()).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('takes a token from the URL fragment once and strips it; a case with an altered event shows a broken chain', async () => {
    const { page, problems } = await openPage();
    try {
      // an operator sees the dashboards but not the auditors' timeline
      await page.goto(`${base}/dashboard#token=${tokens.op1}`);
      await page.locator('#dashboard').waitFor({ state: 'visible' });
      expect(page.url()).toBe(`${base}/dashboard`);
      expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, location.hash])).toEqual([1, 0, '']);
      expect(await page.locator('[data-kpi="referrals.overdue"]').innerText()).toBe('1');
      // the overdue list offers no timeline to a role that cannot open one
      expect(await page.locator('#overdue-body button[data-person]').count()).toBe(0);
      await page.getByLabel('Identificativo della persona').fill(ids.persons.P2!);
      await page.getByRole('button', { name: 'Mostra la cronologia' }).click();
      await expect.poll(() => page.locator('#case-body .error').innerText()).toMatch(/Accesso negato \(403\).*revisori e amministratori.*operatore/s);

      // an attacker edits P2's consent behind the store's back; the auditor's badge says so
      await infra.db.query(`UPDATE eventstore.events SET data = jsonb_set(data, '{legalBasis}', '"public_interest"') WHERE stream_id = $1 AND stream_position = 1`, [`person-${ids.persons.P2}`]);
      await page.getByRole('button', { name: 'Esci' }).click();
      await page.getByRole('alert').waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      await signIn(page, tokens.auditor!);
      await page.locator('#dashboard').waitFor({ state: 'visible' });
      // from the overdue list: r4 is P2's
      await page.locator(`#overdue-body button[data-person="${ids.persons.P2}"]`).click();
      const badge = page.locator('#case-body [data-verification]');
      await badge.waitFor();
      expect(await badge.getAttribute('data-verification')).toBe('broken');
      expect(await badge.innerText()).toContain(`person-${ids.persons.P2} dalla posizione 1`);
      expect(await page.locator(`ol.timeline > li.bad[data-stream="person-${ids.persons.P2}"]`).count()).toBe(2);
      expect(problems.filter((p) => !/Failed to load resource: the server responded with a status of 403/.test(p))).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
