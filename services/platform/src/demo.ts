import type { FastifyInstance } from 'fastify';
import { issueToken, type Clock, type Infrastructure, type Principal } from '@onestop/kit';

/** Who acts in the demo: one token per role (and per partner), printed at start. */
export const DEMO_PRINCIPALS = {
  operator: { sub: 'operatore-accesso-1', role: 'operator', name: 'Operatore del punto di accesso' },
  socialWorker: { sub: 'assistente-sociale-1', role: 'team', teamRole: 'social_worker', name: 'Assistente sociale' },
  employmentOperator: { sub: 'operatore-cpi-1', role: 'team', teamRole: 'employment_operator', name: 'Operatore Centro per l’impiego' },
  educator: { sub: 'educatore-1', role: 'team', teamRole: 'educator', name: 'Educatrice' },
  tutor: { sub: 'tutor-1', role: 'team', teamRole: 'tutor', name: 'Tutor' },
  networkManager: { sub: 'network-manager-1', role: 'team', teamRole: 'network_manager', name: 'Network manager' },
  auditor: { sub: 'revisore-1', role: 'auditor', name: 'Revisore' },
  admin: { sub: 'amministratore-1', role: 'admin', name: 'Amministratore' },
} as const satisfies Record<string, Principal>;

/** The network agreement of the demo: the partners of the Pistoia One Stop Shop. */
export const DEMO_PARTNERS = [
  {
    partnerId: 'centro-impiego',
    name: 'ARTI – Centro per l’impiego di Pistoia',
    sector: 'public',
    responseDays: 5,
    services: [
      { serviceId: 'orientamento', name: 'Orientamento al lavoro', domain: 'employment', capacity: 30 },
      { serviceId: 'tirocini', name: 'Tirocini formativi', domain: 'training', capacity: 10 },
    ],
  },
  {
    partnerId: 'servizi-sociali',
    name: 'Comune di Pistoia – Servizi sociali',
    sector: 'public',
    responseDays: 7,
    services: [
      { serviceId: 'sostegno-economico', name: 'Sostegno economico', domain: 'economic', capacity: 40 },
      { serviceId: 'emergenza-abitativa', name: 'Emergenza abitativa', domain: 'housing', capacity: 5 },
    ],
  },
  {
    partnerId: 'consorzio-coeso',
    name: 'Consorzio Co&So – Terzo Settore',
    sector: 'third_sector',
    responseDays: 5,
    services: [
      { serviceId: 'inclusione', name: 'Percorsi di inclusione sociale', domain: 'social_network', capacity: 15 },
      { serviceId: 'salute', name: 'Accompagnamento ai servizi di cura', domain: 'health_care', capacity: 10 },
      { serviceId: 'accoglienza', name: 'Accoglienza abitativa temporanea', domain: 'housing', capacity: 6 },
    ],
  },
  {
    partnerId: 'sportello-legale',
    name: 'Sportello di consulenza legale',
    sector: 'third_sector',
    responseDays: 3,
    services: [{ serviceId: 'consulenza-legale', name: 'Consulenza legale', domain: 'economic', capacity: 12 }],
  },
  {
    partnerId: 'tutoraggio',
    name: 'Servizio di tutoraggio educativo',
    sector: 'third_sector',
    responseDays: 4,
    services: [{ serviceId: 'tutor', name: 'Tutoraggio educativo', domain: 'education', capacity: 12 }],
  },
] as const;

type Stage = 'registered' | 'assessed' | 'referred' | 'accepted' | 'declined' | 'started' | 'completed' | 'overdue';

/** A dozen people at different stages of their path. */
const PEOPLE: Array<{ givenName: string; familyName: string; birthDate: string; stage: Stage; to?: [string, string]; profile?: Record<string, number> }> = [
  { givenName: 'Giulia', familyName: 'Rossi', birthDate: '1985-03-14', stage: 'registered' },
  { givenName: 'Marco', familyName: 'Bianchi', birthDate: '1979-07-02', stage: 'registered' },
  { givenName: 'Aisha', familyName: 'Diallo', birthDate: '1992-11-23', stage: 'assessed' },
  { givenName: 'Luca', familyName: 'Ferrari', birthDate: '1968-01-30', stage: 'referred', to: ['centro-impiego', 'orientamento'] },
  { givenName: 'Elena', familyName: 'Conti', birthDate: '1990-05-05', stage: 'accepted', to: ['servizi-sociali', 'sostegno-economico'] },
  { givenName: 'Ion', familyName: 'Popescu', birthDate: '1983-09-17', stage: 'declined', to: ['servizi-sociali', 'emergenza-abitativa'] },
  { givenName: 'Sara', familyName: 'Greco', birthDate: '1999-12-01', stage: 'started', to: ['tutoraggio', 'tutor'] },
  { givenName: 'Paolo', familyName: 'Marino', birthDate: '1975-04-12', stage: 'completed', to: ['sportello-legale', 'consulenza-legale'] },
  { givenName: 'Fatima', familyName: 'El Amrani', birthDate: '1988-08-08', stage: 'completed', to: ['centro-impiego', 'tirocini'] },
  { givenName: 'Andrea', familyName: 'Gallo', birthDate: '1971-02-19', stage: 'overdue', to: ['consorzio-coeso', 'inclusione'] },
  { givenName: 'Chiara', familyName: 'Fontana', birthDate: '1995-06-25', stage: 'overdue', to: ['servizi-sociali', 'emergenza-abitativa'] },
  { givenName: 'Mihai', familyName: 'Ionescu', birthDate: '1980-10-10', stage: 'accepted', to: ['consorzio-coeso', 'salute'] },
];

const DOMAINS = ['economic', 'employment', 'education', 'housing', 'social_network', 'health_care', 'training'] as const;

export interface DemoTokens {
  [who: string]: string;
}

/** Tokens for every demo principal (every role and team role) and the desks of these partners (30 days). */
export async function demoTokens(infra: Infrastructure, partnerIds: readonly string[] = DEMO_PARTNERS.map((p) => p.partnerId)): Promise<DemoTokens> {
  const secret = infra.config.JWT_SECRET;
  if (!secret) return {};
  const opts = { issuer: infra.config.JWT_ISSUER, audience: infra.config.JWT_AUDIENCE, expiresIn: '30d' };
  const tokens: DemoTokens = {};
  for (const [who, p] of Object.entries(DEMO_PRINCIPALS)) tokens[who] = await issueToken(secret, p, opts);
  for (const partnerId of partnerIds) {
    tokens[`partner:${partnerId}`] = await issueToken(secret, { sub: `${partnerId}-desk`, role: 'partner', partnerId }, opts);
  }
  return tokens;
}

/**
 * Seeds the demo network through the public API (so every rule applies):
 * the partners of the network agreement and a dozen people at different
 * stages. `travel(days)` moves the clock so that some answers are overdue.
 */
export async function seedDemo(app: FastifyInstance, tokens: DemoTokens, travel: (daysAgo: number) => void): Promise<{ persons: number; referrals: number }> {
  const call = async (who: string, method: 'POST' | 'PUT', url: string, body: unknown, expect = [200, 201]) => {
    for (let attempt = 0; ; attempt++) {
      const res = await app.inject({ method, url, payload: body as object, headers: { authorization: `Bearer ${tokens[who]}` } });
      if (expect.includes(res.statusCode)) return res.json() as Record<string, unknown>;
      // facts reach other services through the bus: wait for them a little
      if (attempt < 100 && (res.statusCode === 422 || res.statusCode === 404)) {
        await new Promise((r) => setTimeout(r, 30));
        continue;
      }
      throw new Error(`demo seed: ${method} ${url} → ${res.statusCode} ${res.body}`);
    }
  };

  travel(20);
  for (const p of DEMO_PARTNERS) {
    const { responseDays, ...partner } = p;
    await call('admin', 'POST', '/partners', partner);
    await call('admin', 'POST', `/partners/${p.partnerId}/agreements`, { responseDays });
  }
  let referrals = 0;
  for (const [i, person] of PEOPLE.entries()) {
    travel(person.stage === 'overdue' ? 15 : 12 - (i % 5));
    const { personId } = (await call('operator', 'POST', '/persons', {
      accessPoint: i % 3 === 0 ? 'pistoia-centro-melos' : i % 3 === 1 ? 'pistoia-nord' : 'quarrata',
      municipality: i % 3 === 2 ? 'Quarrata' : 'Pistoia',
      givenName: person.givenName,
      familyName: person.familyName,
      birthDate: person.birthDate,
      phone: `+39 0573 ${String(100000 + i * 7919).slice(0, 6)}`,
    })) as { personId: string };
    if (person.stage === 'registered') continue;
    await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' });
    await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
    const { assessmentId } = (await call('socialWorker', 'POST', '/assessments', {
      personId,
      team: [
        { memberId: DEMO_PRINCIPALS.socialWorker.sub, role: 'social_worker' },
        { memberId: DEMO_PRINCIPALS.employmentOperator.sub, role: 'employment_operator' },
      ],
    })) as { assessmentId: string };
    const target = person.to ? DEMO_PARTNERS.find((p) => p.partnerId === person.to![0])!.services.find((s) => s.serviceId === person.to![1])! : undefined;
    for (const [d, domain] of DOMAINS.entries()) {
      const level = target?.domain === domain ? 3 : (i + d) % 3;
      const who = d % 2 === 0 ? 'socialWorker' : 'employmentOperator';
      await call(who, 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel: level });
    }
    const priority = DOMAINS.filter((domain, d) => (target?.domain === domain ? 3 : (i + d) % 3) >= 3);
    await call('socialWorker', 'POST', `/assessments/${assessmentId}/completion`, {
      goals: priority.map((domain) => ({ domain, description: `Obiettivo ${domain}`, targetDate: '2027-06-30' })),
    });
    if (!person.to) continue;
    const [partnerId, serviceId] = person.to;
    const { referralId } = (await call('socialWorker', 'POST', '/referrals', {
      personId,
      assessmentId,
      partnerId,
      serviceId,
      reason: 'Percorso concordato con l’équipe multidisciplinare',
      priority: person.stage === 'overdue' ? 'urgent' : 'routine',
    })) as { referralId: string };
    referrals += 1;
    const partner = `partner:${partnerId}`;
    if (person.stage === 'declined') await call(partner, 'POST', `/referrals/${referralId}/decline`, { reason: 'no_capacity' });
    if (['accepted', 'started', 'completed'].includes(person.stage)) await call(partner, 'POST', `/referrals/${referralId}/acceptance`, {});
    if (['started', 'completed'].includes(person.stage)) await call(partner, 'POST', `/referrals/${referralId}/start`, {});
    if (person.stage === 'completed') await call(partner, 'POST', `/referrals/${referralId}/completion`, { outcome: i % 2 ? 'achieved' : 'partially_achieved' });
  }
  travel(0);
  return { persons: PEOPLE.length, referrals };
}

/** Real time, except while the demo is seeded "in the past" so that some answers are late. */
export class DemoClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() - this.offsetMs);
  }
  travel(daysAgo: number): void {
    this.offsetMs = daysAgo * 24 * 60 * 60 * 1000;
  }
}
