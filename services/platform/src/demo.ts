import type { FastifyInstance } from 'fastify';
import { issueToken, type Infrastructure, type Principal } from '@onestop/kit';

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

/**
 * Taking charge (ADI: first meeting within 120 days of the activation pact, 60
 * recommended), for the first assessed people in order: how many days before
 * the demo's "now" the pact was signed, and what happened with the first
 * meeting. So the dashboards show one deadline missed, one approaching, first
 * meetings within 60 and within 120 days, and a meeting missed then held.
 */
const TAKING_CHARGE: Array<{ activationDaysAgo: number; firstMeeting: 'none' | 'scheduled' | 'held' | 'missed_then_held'; manager: 'socialWorker' | 'employmentOperator' }> = [
  { activationDaysAgo: 130, firstMeeting: 'none', manager: 'socialWorker' }, // missed: due 10 days ago
  { activationDaysAgo: 112, firstMeeting: 'scheduled', manager: 'socialWorker' }, // approaching: due in 8 days, meeting in 4
  { activationDaysAgo: 45, firstMeeting: 'held', manager: 'employmentOperator' }, // met within 60 days
  { activationDaysAgo: 100, firstMeeting: 'missed_then_held', manager: 'socialWorker' }, // met within 120, not 60
  { activationDaysAgo: 20, firstMeeting: 'scheduled', manager: 'employmentOperator' }, // pending
];

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

/** Where the demo's history is written: the platform's clock, set to each moment in turn. */
export interface DemoTimeline {
  set(at: Date): void;
  reset(): void;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Office hours of the access point and the partners, in UTC (08:00–17:00 in Italy is 07:00–16:00 UTC in winter). */
const OPEN_HOUR = 7;
const CLOSE_HOUR = 16;

/** The next moment at or after `t` inside office hours (Monday to Friday). */
export function officeHours(t: Date): Date {
  const d = new Date(t);
  for (;;) {
    const day = d.getUTCDay();
    const hour = d.getUTCHours();
    if (day === 0 || day === 6 || hour >= CLOSE_HOUR) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(OPEN_HOUR, 0, 0, 0);
    } else if (hour < OPEN_HOUR) {
      d.setUTCHours(OPEN_HOUR, 0, 0, 0);
    } else {
      return d;
    }
  }
}

/** `hours` of office time after `t` (nights and weekends do not count). */
export function afterOfficeHours(t: Date, hours: number): Date {
  let d = officeHours(t);
  let left = hours * HOUR;
  while (left > 0) {
    const close = new Date(d);
    close.setUTCHours(CLOSE_HOUR, 0, 0, 0);
    const today = close.getTime() - d.getTime();
    if (left < today) return new Date(d.getTime() + left);
    left -= today;
    d = officeHours(close);
  }
  return d;
}

/** How many days ago each stage's story begins, so that its last step is in the past and the overdue ones are late. */
const STORY_STARTS_DAYS_AGO: Record<Stage, number> = {
  registered: 4,
  assessed: 12,
  referred: 7,
  accepted: 24,
  declined: 21,
  started: 34,
  completed: 62,
  overdue: 19,
};

/**
 * Seeds the demo network through the public API (so every rule applies):
 * the partners of the network agreement and a dozen people at different
 * stages. Each step happens at its own moment of office hours, set on the
 * platform's clock: people register on different days, assessments take a few
 * days, partners answer hours or days after a referral (within their response
 * time, except the overdue ones), services start and end weeks later. So the
 * dashboards show real durations. The clock is reset at the end.
 */
export async function seedDemo(app: FastifyInstance, tokens: DemoTokens, clock: DemoTimeline, now: Date = new Date()): Promise<{ persons: number; referrals: number; cases: number }> {
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
  // the story of one person: each step some office hours after the one before
  let t = now;
  const at = (when: Date) => {
    // never in the future (a story that would run past now ends now: shorter, never later)
    t = new Date(Math.min(when.getTime(), now.getTime() - 60_000));
    clock.set(t);
  };
  const wait = (hours: number) => at(afterOfficeHours(t, hours));

  try {
    at(officeHours(new Date(now.getTime() - 90 * DAY)));
    for (const p of DEMO_PARTNERS) {
      const { responseDays, ...partner } = p;
      await call('admin', 'POST', '/partners', partner);
      await call('admin', 'POST', `/partners/${p.partnerId}/agreements`, { responseDays });
      wait(1.5);
    }
    let referrals = 0;
    const assessed: Array<{ personId: string; doneAt: Date }> = [];
    for (const [i, person] of PEOPLE.entries()) {
      // a morning or an afternoon of its own day
      at(officeHours(new Date(now.getTime() - STORY_STARTS_DAYS_AGO[person.stage] * DAY - (i % 3) * DAY)));
      wait(((i * 7) % 8) + 0.25 * (i % 4));
      const { personId } = (await call('operator', 'POST', '/persons', {
        accessPoint: i % 3 === 0 ? 'pistoia-centro-melos' : i % 3 === 1 ? 'pistoia-nord' : 'quarrata',
        municipality: i % 3 === 2 ? 'Quarrata' : 'Pistoia',
        givenName: person.givenName,
        familyName: person.familyName,
        birthDate: person.birthDate,
        phone: `+39 0573 ${String(100000 + i * 7919).slice(0, 6)}`,
      })) as { personId: string };
      if (person.stage === 'registered') continue;
      wait(0.1);
      await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' });
      await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
      // the team meets the person a day or two later
      wait(9 + (i % 3) * 4);
      const { assessmentId } = (await call('socialWorker', 'POST', '/assessments', {
        personId,
        team: [
          { memberId: DEMO_PRINCIPALS.socialWorker.sub, role: 'social_worker' },
          { memberId: DEMO_PRINCIPALS.employmentOperator.sub, role: 'employment_operator' },
        ],
      })) as { assessmentId: string };
      const target = person.to ? DEMO_PARTNERS.find((p) => p.partnerId === person.to![0])!.services.find((s) => s.serviceId === person.to![1])! : undefined;
      for (const [d, domain] of DOMAINS.entries()) {
        wait(0.3);
        const level = target?.domain === domain ? 3 : (i + d) % 3;
        const who = d % 2 === 0 ? 'socialWorker' : 'employmentOperator';
        await call(who, 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel: level });
      }
      const priority = DOMAINS.filter((domain, d) => (target?.domain === domain ? 3 : (i + d) % 3) >= 3);
      wait(2 + (i % 2) * 9);
      await call('socialWorker', 'POST', `/assessments/${assessmentId}/completion`, {
        goals: priority.map((domain) => ({ domain, description: `Obiettivo ${domain}`, targetDate: new Date(now.getTime() + 180 * DAY).toISOString().slice(0, 10) })),
      });
      assessed.push({ personId, doneAt: t });
      if (!person.to) continue;
      const [partnerId, serviceId] = person.to;
      wait(1 + (i % 4));
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
      if (person.stage === 'referred' || person.stage === 'overdue') continue;
      // partners answer within their response time: from a few office hours to a few days
      wait(3 + ((i * 11) % 22));
      if (person.stage === 'declined') {
        await call(partner, 'POST', `/referrals/${referralId}/decline`, { reason: 'no_capacity' });
        continue;
      }
      await call(partner, 'POST', `/referrals/${referralId}/acceptance`, {});
      if (person.stage === 'accepted') continue;
      wait(18 + (i % 3) * 9);
      await call(partner, 'POST', `/referrals/${referralId}/start`, {});
      if (person.stage === 'started') continue;
      wait(9 * (15 + (i % 10)));
      await call(partner, 'POST', `/referrals/${referralId}/completion`, { outcome: i % 2 ? 'achieved' : 'partially_achieved' });
    }
    const cases = await takeCharge(call, assessed, now, at, wait, () => t);
    return { persons: PEOPLE.length, referrals, cases };
  } finally {
    clock.reset();
  }
}

type DemoCall = (who: string, method: 'POST' | 'PUT', url: string, body: unknown, expect?: number[]) => Promise<Record<string, unknown>>;
const day = (t: Date) => t.toISOString().slice(0, 10);

/**
 * Opens the ADI cases of TAKING_CHARGE after each person's assessment, each
 * step at its own moment of the platform's clock; the deadline watcher finds
 * what is approaching, missed and met at its own passes, on the same clock.
 */
async function takeCharge(
  call: DemoCall,
  assessed: ReadonlyArray<{ personId: string; doneAt: Date }>,
  now: Date,
  at: (when: Date) => void,
  wait: (hours: number) => void,
  current: () => Date,
): Promise<number> {
  let cases = 0;
  for (const [j, story] of TAKING_CHARGE.entries()) {
    const who = assessed[j];
    if (!who) break;
    const activation = new Date(now.getTime() - story.activationDaysAgo * DAY);
    // the case is opened after the assessment and, when the pact is recent, a few days after it
    at(officeHours(new Date(Math.max(who.doneAt.getTime() + 2 * HOUR, activation.getTime() + 2 * DAY))));
    const manager = DEMO_PRINCIPALS[story.manager];
    const member = { memberId: manager.sub, role: manager.teamRole };
    await call(story.manager, 'POST', `/persons/${who.personId}/case`, {
      programme: 'adi',
      activationDate: day(activation),
      accessPoint: j % 2 === 0 ? 'pistoia-centro-melos' : 'quarrata',
      caseManager: member,
    });
    cases += 1;
    if (story.firstMeeting === 'none') continue;
    wait(2);
    const meetingAt = story.firstMeeting === 'scheduled' ? officeHours(new Date(now.getTime() + 4 * DAY)) : afterOfficeHours(current(), 9 * (2 + j));
    const { id: meetingId } = (await call(story.manager, 'POST', `/persons/${who.personId}/meetings`, {
      kind: 'first_meeting',
      at: meetingAt.toISOString(),
      modality: 'in_person',
      place: 'pistoia-centro-melos',
    })) as { id: string };
    if (story.firstMeeting === 'scheduled') continue;
    let heldAt = meetingAt;
    if (story.firstMeeting === 'missed_then_held') {
      at(afterOfficeHours(meetingAt, 1));
      await call(story.manager, 'POST', `/persons/${who.personId}/meetings/${meetingId}/missed`, { justified: false, reason: 'no_show' });
      const { id: again } = (await call(story.manager, 'POST', `/persons/${who.personId}/meetings`, {
        kind: 'first_meeting',
        at: afterOfficeHours(current(), 9 * 5).toISOString(),
        modality: 'phone',
      })) as { id: string };
      heldAt = afterOfficeHours(current(), 9 * 5);
      at(afterOfficeHours(heldAt, 1));
      await call(story.manager, 'POST', `/persons/${who.personId}/meetings/${again}/held`, { heldAt: heldAt.toISOString(), personAttended: true, attendees: [member] });
      continue;
    }
    at(afterOfficeHours(heldAt, 1));
    await call(story.manager, 'POST', `/persons/${who.personId}/meetings/${meetingId}/held`, { heldAt: heldAt.toISOString(), personAttended: true, attendees: [member] });
  }
  return cases;
}
