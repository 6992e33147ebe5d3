import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { createEvent, type EventContext, type RawEnvelope } from '@onestop/events';
import { buildServiceApp, type Infrastructure, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, REPO_ROOT, type TestDatabase } from '@onestop/testkit';
import { allModules } from '../src/modules.js';

// Every OneStop service mounted on PostgreSQL, with a token per column of the
// authorisation matrix and the cases (people, assessments, referrals) that the
// security tests act on. Shared by the matrix and the hostile-input tests.

/** A table between two markers (`<!-- name:begin -->`) of SECURITY.md, as rows of trimmed cells (header first). */
export function securityTable(name: string): string[][] {
  const doc = readFileSync(join(REPO_ROOT, 'SECURITY.md'), 'utf8');
  const begin = doc.indexOf(`<!-- ${name}:begin -->`);
  const end = doc.indexOf(`<!-- ${name}:end -->`);
  if (begin < 0 || end < begin) throw new Error(`SECURITY.md has no ${name} table`);
  return doc
    .slice(begin, end)
    .split('\n')
    .filter((l) => l.trim().startsWith('|') && !/^\|\s*-/.test(l.trim()))
    .map((l) => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim().replace(/`/g, '')));
}

/** The columns of the authorisation matrix in SECURITY.md. */
export const WHO = ['operator', 'team', 'partnerOwn', 'partnerOther', 'auditor', 'admin'] as const;
export type Who = (typeof WHO)[number];

/** The partner a case belongs to ("own") and one it does not ("other"). */
export const OWN = { partnerId: 'consorzio-coeso', serviceId: 'casa', domain: 'housing' } as const;
export const OTHER = { partnerId: 'sportello-legale', serviceId: 'consulenza-legale', domain: 'economic' } as const;
/** The team members of every assessment the cases start (the `team` token is sw-1). */
export const TEAM = [
  { memberId: 'sw-1', role: 'social_worker' },
  { memberId: 'eo-1', role: 'employment_operator' },
] as const;

export interface Case {
  personId: string;
  /** a completed assessment with every need the partners' services answer */
  assessmentId: string;
}

export type Platform = Awaited<ReturnType<typeof openPlatform>>;

/** Resolves once every embedded-bus consumer has handled every stored event. */
export const busSettled = (db: Infrastructure['db'], timeoutMs?: number) =>
  eventually(async () => {
    const [row] = await db.query<{ head: string; behind: string }>(
      `SELECT (SELECT coalesce(max(global_position), 0) FROM eventstore.events) AS head,
              (SELECT coalesce(min(position), 0) FROM eventstore.checkpoints WHERE name LIKE 'bus:%') AS behind`,
    );
    expect(Number(row!.behind)).toBeGreaterThanOrEqual(Number(row!.head));
  }, timeoutMs);

export async function openPlatform(label: string, options: { env?: Record<string, string>; logLines?: string[] } = {}) {
  const db: TestDatabase = await createTestDatabase(label);
  // the security tests send thousands of requests with few tokens: the rate limit is tested in the kit
  const lines = options.logLines;
  const infra = await openTestInfrastructure({
    databaseUrl: db.url,
    env: { RATE_LIMIT_PER_MINUTE: '1000000', ...options.env },
    ...(lines ? { logDestination: { write: (line: string) => void lines.push(line) } } : {}),
  });
  const modules: ServiceModule[] = allModules();
  for (const m of modules) await m.migrate?.(infra);
  const app: FastifyInstance = await buildServiceApp({ title: 'OneStop', description: label, modules, ctx: infra });
  await app.ready();
  let stops: Array<() => Promise<void>> = [];
  for (const m of modules) if (m.start) stops.push(await m.start(infra));

  const tokens: Record<Who, string> = {
    operator: await infra.token({ sub: 'op-1', role: 'operator' }),
    team: await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' }),
    partnerOwn: await infra.token({ sub: 'coeso-desk', role: 'partner', partnerId: OWN.partnerId }),
    partnerOther: await infra.token({ sub: 'legale-desk', role: 'partner', partnerId: OTHER.partnerId }),
    auditor: await infra.token({ sub: 'aud-1', role: 'auditor' }),
    admin: await infra.token({ sub: 'admin-1', role: 'admin' }),
  };

  const call = (who: Who | null, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    app.inject({
      method: method as 'GET',
      url,
      ...(body !== undefined ? { payload: body as object } : {}),
      headers: { ...(who ? { authorization: `Bearer ${tokens[who]}` } : {}), ...headers },
    });
  const ok = async (who: Who, method: string, url: string, body?: unknown) => {
    const res = await call(who, method, url, body);
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json();
  };

  /**
   * Events stored, counted in the table itself: the store's gap-safe head can
   * lag for a moment while any transaction of the (shared) test server runs.
   */
  const storedEvents = async () => Number((await infra.db.query<{ n: string }>('SELECT count(*) AS n FROM eventstore.events'))[0]!.n);
  const settled = () => busSettled(infra.db);

  const assessmentCtx = (): EventContext => ({
    source: '/onestop/assessment',
    actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' },
    correlationId: 'security-fixture',
    time: infra.clock.now().toISOString(),
  });

  const cases = {
    /** The network of two partners in the agreement. */
    async network(): Promise<void> {
      for (const p of [OWN, OTHER]) {
        await ok('admin', 'POST', '/partners', {
          partnerId: p.partnerId,
          name: p.partnerId,
          sector: 'third_sector',
          services: [{ serviceId: p.serviceId, name: p.serviceId, domain: p.domain, capacity: 100_000 }],
        });
        await ok('admin', 'POST', `/partners/${p.partnerId}/agreements`, { responseDays: 5 });
      }
    },
    /** A registered person, with both consents unless told otherwise. */
    async person(consents: Array<'assessment' | 'referral_sharing'> = ['assessment', 'referral_sharing']): Promise<string> {
      const { personId } = await ok('admin', 'POST', '/persons', {
        accessPoint: 'pistoia-centro',
        municipality: 'Pistoia',
        givenName: 'Rosa',
        familyName: `Esposito ${randomUUID().slice(0, 8)}`,
        birthDate: '1987-02-02',
        phone: '+39 0573 555111',
      });
      for (const scope of consents) await ok('admin', 'POST', `/persons/${personId}/consents`, { scope, legalBasis: 'explicit_consent' });
      return personId as string;
    },
    /** A person with a completed assessment (recorded as the assessment service records it); call `settled()` before referring. */
    async case(): Promise<Case> {
      const personId = await cases.person();
      const assessmentId = randomUUID();
      const stream = `assessment-${assessmentId}`;
      const needProfile = { economic: 2, employment: 0, education: 0, housing: 2, social_network: 0, health_care: 0, training: 0 };
      const events = [
        createEvent('AssessmentStarted', { assessmentId, personId, team: [...TEAM] }, stream, personId, assessmentCtx()),
        createEvent('AssessmentCompleted', { needProfile, priorityDomains: [], goals: [] }, stream, personId, assessmentCtx()),
      ];
      await infra.store.append(stream, events as unknown as RawEnvelope[], 'no_stream');
      return { personId, assessmentId };
    },
    /** A requested referral of a settled case to the own partner. */
    async referral(c: Case): Promise<string> {
      const { referralId } = await ok('team', 'POST', '/referrals', {
        personId: c.personId,
        assessmentId: c.assessmentId,
        partnerId: OWN.partnerId,
        serviceId: OWN.serviceId,
        reason: 'sfratto esecutivo',
      });
      return referralId as string;
    },
    /** An open assessment of a settled person, by the `team` token's team. */
    async openAssessment(personId: string): Promise<string> {
      const { assessmentId } = await ok('team', 'POST', '/assessments', { personId, team: TEAM });
      return assessmentId as string;
    },
  };

  return {
    infra,
    app,
    db,
    tokens,
    call,
    ok,
    storedEvents,
    settled,
    cases,
    /** Stops the bus consumers and watchers: from then on, only requests write. */
    async stopBackground(): Promise<void> {
      for (const stop of stops) await stop();
      stops = [];
    },
    async close(): Promise<void> {
      for (const stop of stops) await stop();
      await app.close();
      await infra.close();
      await db.drop();
    },
  };
}
