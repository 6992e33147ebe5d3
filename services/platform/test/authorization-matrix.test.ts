import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlDeadLetters } from '@onestop/bus';
import { SIGNATURE_TYPE, cosign, formatVkey, parseNote, verifierOf } from '@onestop/eventstore/merkle';
import { createEvent, type RawEnvelope } from '@onestop/events';
import { issueToken, type Principal, type Role } from '@onestop/kit';
import { eventually } from '@onestop/testkit';
import { openPlatform, OWN, securityTable, WHO, type Case, type Platform, type Who } from './platform.js';

// The authorisation matrix of SECURITY.md is the specification: this test reads
// it from there and checks, on PostgreSQL with every service mounted, that
// - every route the app mounts has a row (or is listed as public), and every
//   row names a mounted route: a new route without a row fails here;
// - the roles each route admits at the door are the roles its row allows;
// - every cell holds: ✓ → 2xx, ✗ → 403, a number → that documented status;
// - every protected route answers 401 to a missing, malformed, wrongly signed,
//   expired, unsigned or foreign token.
// A row needs a request below that it can be exercised with (a fresh case for
// each allowed write, so one cell never depends on another).

type Cell = { allowed: true; status?: number } | { allowed: false; status: 403 | 404 };
interface Row {
  method: string;
  route: string;
  cells: Record<Who, Cell>;
}

const COLUMNS: Record<string, Who> = {
  operator: 'operator',
  team: 'team',
  'partner (own)': 'partnerOwn',
  'partner (other)': 'partnerOther',
  auditor: 'auditor',
  admin: 'admin',
};
const ROLE_OF: Record<Who, Role> = { operator: 'operator', team: 'team', partnerOwn: 'partner', partnerOther: 'partner', auditor: 'auditor', admin: 'admin' };

function parseCell(text: string, where: string): Cell {
  if (text === '✓') return { allowed: true };
  if (text === '✗') return { allowed: false, status: 403 };
  // a documented status other than 2xx/403: kept explicit, and few
  if (text === '404') return { allowed: false, status: 404 };
  throw new Error(`SECURITY.md: cell "${text}" of ${where} is not ✓, ✗ or 404`);
}

const [header, ...body] = securityTable('authorization-matrix');
const MATRIX: Row[] = body.map((cols) => {
  const [method, route] = cols as [string, string];
  const cells = {} as Record<Who, Cell>;
  for (const [label, who] of Object.entries(COLUMNS)) {
    const i = header!.indexOf(label);
    if (i < 0) throw new Error(`SECURITY.md: the matrix has no column "${label}"`);
    cells[who] = parseCell(cols[i] ?? '', `${method} ${route} / ${label}`);
  }
  return { method, route, cells };
});
const PUBLIC = securityTable('public-routes').slice(1).map(([method, route]) => `${method} ${route}`);

/** fastify's `/persons/:personId` as the matrix (and OpenAPI) write it: `/persons/{personId}`. */
const asDocumented = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

// ── How to exercise each row ────────────────────────────────────────────────
interface Request {
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Exercise {
  /** a valid request; called again for every allowed cell unless `repeatable` */
  prepare(): Promise<Request>;
  /** the same request can be answered 2xx again (reads, idempotent changes) */
  repeatable?: boolean;
}

let p: Platform;
const pool: Case[] = [];
let fiscalCode = '';

/** A case the bus has fully heard of (consents and completed assessment known to every service). */
async function nextCase(): Promise<Case> {
  if (pool.length === 0) {
    for (let i = 0; i < 8; i++) pool.push(await p.cases.case());
    await p.settled();
  }
  return pool.pop()!;
}
const slug = () => `p-${randomUUID().slice(0, 8)}`;
const newPartner = async () => {
  const partnerId = slug();
  await p.ok('admin', 'POST', '/partners', { partnerId, name: partnerId, sector: 'public', services: [{ serviceId: 'desk', name: 'Desk', domain: 'housing', capacity: 1 }] });
  return partnerId;
};
/** a small PDF, as a team member would attach one */
const DOCUMENT = Buffer.from('%PDF-1.7\n%%EOF\n');
const DOCUMENT_HEADERS = { 'content-type': 'application/pdf', 'x-file-name': 'documento.pdf' };
const referral = async () => p.cases.referral(await nextCase());
/** An open dead letter of a group no consumer runs (so it stays as re-driven); its id. */
const deadLetter = async (group = 'authz-dead-letters') => {
  const letters = new SqlDeadLetters(p.infra.db);
  const origin = `store@${randomUUID()}`;
  await letters.record({ group, reason: 'refused by a rule', origin, key: randomUUID(), payload: { id: randomUUID(), type: 'ConsentGiven' }, headers: {} });
  return (await letters.list({ group, limit: 100 })).find((l) => l.origin === origin)!.id;
};
/** A witness of the log the platform is configured with (its cosignatures count). */
const WITNESS = { name: 'regione.toscana.example/witness', key: generateKeyPairSync('ed25519').privateKey };
/** A fresh checkpoint signed by the admin route (after a new case, so the tree has grown); its tree size and note. */
const checkpoint = async () => {
  await nextCase();
  const res = await p.call('admin', 'POST', '/audit/log/checkpoints');
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { treeSize: number; note: string };
};
/** The first event of a referral to the own partner. */
const referralEvent = async () => (await p.infra.store.readStream(`referral-${await referral()}`, { maxCount: 1 }))[0]!;
/** A referral the referral view has heard of (the FHIR facade reads that view). */
const seenReferral = async () => {
  const c = await nextCase();
  const id = await p.cases.referral(c);
  await p.settled();
  return { ...c, referralId: id };
};
const FHIR_JSON = { 'content-type': 'application/fhir+json' };
/** A Task as the facade serves it to its partner. */
const fhirTask = async (id: string) => (await p.ok('partnerOwn', 'GET', `/fhir/Task/${id}`)) as Record<string, unknown>;
/** A goal of a completed assessment of a case referred to the own partner: its id and person. */
const goalOfReferredCase = async () => {
  const personId = await p.cases.person();
  const assessmentId = randomUUID();
  const goalId = randomUUID();
  const ctx = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team' as const, teamRole: 'social_worker' as const }, correlationId: 'authz', time: new Date().toISOString() };
  const stream = `assessment-${assessmentId}`;
  const goals = [{ goalId, domain: 'housing' as const, description: await p.infra.keyring.encrypt(personId, 'una casa'), targetDate: '2027-06-30' }];
  const needProfile = { economic: 2, employment: 0, education: 0, housing: 3, social_network: 0, health_care: 0, training: 0 };
  await p.infra.store.append(
    stream,
    [
      createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }] }, stream, personId, ctx),
      createEvent('AssessmentCompleted', { needProfile, priorityDomains: ['housing'], goals }, stream, personId, ctx),
    ] as unknown as RawEnvelope[],
    'no_stream',
  );
  await p.settled();
  await p.cases.referral({ personId, assessmentId });
  await p.settled();
  return { goalId, personId };
};
/** A subscription of the own partner to an endpoint that refuses connections (its courier retries in the background). */
const subscription = async () => {
  const res = await p.call('partnerOwn', 'POST', '/fhir/Subscription', subscriptionBody(), FHIR_JSON);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
};
const subscriptionBody = () => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'authz',
  criteria: 'https://onestop.example/fhir/SubscriptionTopic/partner-task-changed',
  channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/notify', payload: 'application/fhir+json' },
});
const accepted = async () => {
  const id = await referral();
  await p.ok('partnerOwn', 'POST', `/referrals/${id}/acceptance`, {});
  return id;
};

/** A case taken in charge (an open ADI case) of a settled case; with `referral`, referred to the own partner too. */
const inCharge = async (options: { referral?: boolean } = {}) => {
  const c = await nextCase();
  const referralId = options.referral ? await p.cases.referral(c) : undefined;
  await p.ok('team', 'POST', `/persons/${c.personId}/case`, { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: { memberId: 'sw-1', role: 'social_worker' } });
  return { ...c, referralId };
};
const PLAN_GOAL = { domain: 'housing', description: 'una casa', targetDate: '2027-06-30', owner: { kind: 'partner', partnerId: OWN.partnerId } };
/** A case with an agreed plan; its first goal. */
const planned = async () => {
  const c = await inCharge();
  await p.ok('team', 'POST', `/persons/${c.personId}/plan`, { assessmentId: c.assessmentId, owners: [], goals: [PLAN_GOAL], personCommitments: [], serviceCommitments: [], reviewDate: '2027-02-01' });
  const plan = await p.ok('team', 'GET', `/persons/${c.personId}/plan`);
  return { ...c, goalId: plan.goals[0].goalId as string };
};
/** A case with a meeting scheduled now (so it may be held or missed at once); its id. */
const meeting = async () => {
  const c = await inCharge();
  const { id } = await p.ok('team', 'POST', `/persons/${c.personId}/meetings`, { kind: 'first_meeting', at: p.infra.clock.now().toISOString(), modality: 'in_person' });
  return { ...c, meetingId: id as string };
};
/** A case referred to the own partner, with a note shared with it. */
const sharedNote = async () => {
  const c = await inCharge({ referral: true });
  await p.ok('team', 'POST', `/persons/${c.personId}/notes`, { text: 'chiamare al mattino', visibility: 'shared', referralId: c.referralId });
  return c;
};

const EXERCISES: Record<string, Exercise> = {
  'POST /persons': {
    prepare: async () => ({ url: '/persons', body: { accessPoint: 'capannori', municipality: 'Capannori', givenName: 'Luca', familyName: slug(), birthDate: '1970-05-05' } }),
  },
  'POST /persons/search': { repeatable: true, prepare: async () => ({ url: '/persons/search', body: { fiscalCode } }) },
  'POST /persons/likely-duplicates': { repeatable: true, prepare: async () => ({ url: '/persons/likely-duplicates', body: { fiscalCode } }) },
  'GET /persons/{personId}': { repeatable: true, prepare: async () => ({ url: `/persons/${(await nextCase()).personId}` }) },
  'POST /persons/{personId}/consents': {
    repeatable: true,
    prepare: async () => ({ url: `/persons/${await p.cases.person([])}/consents`, body: { scope: 'assessment', legalBasis: 'explicit_consent' } }),
  },
  'POST /persons/{personId}/consents/{scope}/withdrawal': {
    prepare: async () => ({ url: `/persons/${await p.cases.person(['referral_sharing'])}/consents/referral_sharing/withdrawal` }),
  },
  'PUT /persons/{personId}/contact-details': {
    repeatable: true,
    prepare: async () => ({ url: `/persons/${await p.cases.person([])}/contact-details`, body: { email: 'rosa@example.org' } }),
  },
  'GET /persons/{personId}/contact-details': {
    repeatable: true,
    prepare: async () => {
      const c = await nextCase();
      await p.cases.referral(c);
      await p.settled(); // intake hears of the referral through the bus
      return { url: `/persons/${c.personId}/contact-details` };
    },
  },
  'GET /persons/{personId}/export': { repeatable: true, prepare: async () => ({ url: `/persons/${(await nextCase()).personId}/export` }) },
  'POST /persons/{personId}/erasure': {
    prepare: async () => ({ url: `/persons/${await p.cases.person([])}/erasure`, body: { reason: 'data_subject_request' } }),
  },
  'POST /assessments': { prepare: async () => ({ url: '/assessments', body: { personId: (await nextCase()).personId, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }] } }) },
  'GET /assessments/{assessmentId}': { repeatable: true, prepare: async () => ({ url: `/assessments/${(await nextCase()).assessmentId}` }) },
  'GET /persons/{personId}/assessments': { repeatable: true, prepare: async () => ({ url: `/persons/${(await nextCase()).personId}/assessments` }) },
  'PUT /assessments/{assessmentId}/domains/{domain}': {
    repeatable: true,
    prepare: async () => ({ url: `/assessments/${await p.cases.openAssessment((await nextCase()).personId)}/domains/housing`, body: { needLevel: 3, notes: 'sfratto' } }),
  },
  'POST /assessments/{assessmentId}/completion': {
    prepare: async () => {
      const id = await p.cases.openAssessment((await nextCase()).personId);
      for (const domain of ['economic', 'employment', 'education', 'housing', 'social_network', 'health_care', 'training']) {
        await p.ok('team', 'PUT', `/assessments/${id}/domains/${domain}`, { needLevel: domain === 'housing' ? 1 : 0 });
      }
      return { url: `/assessments/${id}/completion`, body: { goals: [] } };
    },
  },
  'POST /assessments/{assessmentId}/cancellation': {
    prepare: async () => ({ url: `/assessments/${await p.cases.openAssessment((await nextCase()).personId)}/cancellation`, body: { reason: 'team_decision' } }),
  },
  // taking charge (docs/casework.md)
  'POST /persons/{personId}/case': {
    prepare: async () => ({
      url: `/persons/${(await nextCase()).personId}/case`,
      body: { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: { memberId: 'sw-1', role: 'social_worker' } },
    }),
  },
  'GET /persons/{personId}/case': { repeatable: true, prepare: async () => ({ url: `/persons/${(await inCharge()).personId}/case` }) },
  'POST /persons/{personId}/case/transfer': {
    prepare: async () => ({ url: `/persons/${(await inCharge()).personId}/case/transfer`, body: { to: { memberId: 'ed-1', role: 'educator' }, reason: 'competence' } }),
  },
  'POST /persons/{personId}/case/closure': { prepare: async () => ({ url: `/persons/${(await inCharge()).personId}/case/closure`, body: { reason: 'goals_achieved' } }) },
  'POST /persons/{personId}/case/reopening': {
    prepare: async () => {
      const { personId } = await inCharge();
      await p.ok('team', 'POST', `/persons/${personId}/case/closure`, { reason: 'dropped_out' });
      return { url: `/persons/${personId}/case/reopening`, body: {} };
    },
  },
  'POST /persons/{personId}/plan': {
    prepare: async () => {
      const c = await inCharge();
      return { url: `/persons/${c.personId}/plan`, body: { assessmentId: c.assessmentId, owners: [], goals: [PLAN_GOAL], personCommitments: [], serviceCommitments: [], reviewDate: '2027-02-01' } };
    },
  },
  'GET /persons/{personId}/plan': { repeatable: true, prepare: async () => ({ url: `/persons/${(await planned()).personId}/plan` }) },
  'POST /persons/{personId}/plan/revisions': {
    prepare: async () => {
      const { personId, goalId } = await planned();
      const { description: _kept, ...goal } = PLAN_GOAL;
      return { url: `/persons/${personId}/plan/revisions`, body: { goals: [{ ...goal, goalId }], personCommitments: [], serviceCommitments: [], reviewDate: '2027-03-01', reason: 'review' } };
    },
  },
  'POST /persons/{personId}/plan/goals/{goalId}/progress': {
    prepare: async () => {
      const { personId, goalId } = await planned();
      return { url: `/persons/${personId}/plan/goals/${goalId}/progress`, body: { progress: 'achieved' } };
    },
  },
  'POST /persons/{personId}/meetings': {
    prepare: async () => ({ url: `/persons/${(await inCharge()).personId}/meetings`, body: { kind: 'review', at: '2026-12-10T09:00:00Z', modality: 'phone' } }),
  },
  'GET /persons/{personId}/meetings': { repeatable: true, prepare: async () => ({ url: `/persons/${(await meeting()).personId}/meetings` }) },
  'POST /persons/{personId}/meetings/{meetingId}/rescheduling': {
    prepare: async () => {
      const m = await meeting();
      return { url: `/persons/${m.personId}/meetings/${m.meetingId}/rescheduling`, body: { at: '2026-12-10T09:00:00Z', modality: 'video', reason: 'team_request' } };
    },
  },
  'POST /persons/{personId}/meetings/{meetingId}/held': {
    prepare: async () => {
      const m = await meeting();
      return { url: `/persons/${m.personId}/meetings/${m.meetingId}/held`, body: { heldAt: p.infra.clock.now().toISOString(), personAttended: true, attendees: [], minutes: 'verbale' } };
    },
  },
  'POST /persons/{personId}/meetings/{meetingId}/missed': {
    prepare: async () => {
      const m = await meeting();
      return { url: `/persons/${m.personId}/meetings/${m.meetingId}/missed`, body: { justified: false, reason: 'no_show' } };
    },
  },
  'POST /persons/{personId}/notes': { prepare: async () => ({ url: `/persons/${(await inCharge()).personId}/notes`, body: { text: 'nota', visibility: 'team' } }) },
  'GET /persons/{personId}/notes': { repeatable: true, prepare: async () => ({ url: `/persons/${(await sharedNote()).personId}/notes` }) },
  'POST /partners': {
    prepare: async () => ({ url: '/partners', body: { partnerId: slug(), name: 'Nuovo partner', sector: 'public', services: [{ serviceId: 'desk', name: 'Desk', domain: 'housing', capacity: 1 }] } }),
  },
  'POST /partners/{partnerId}/agreements': { prepare: async () => ({ url: `/partners/${await newPartner()}/agreements`, body: { responseDays: 5 } }) },
  'POST /partners/{partnerId}/agreements/{agreementId}/leave': {
    prepare: async () => {
      const partnerId = await newPartner();
      await p.ok('admin', 'POST', `/partners/${partnerId}/agreements`, { responseDays: 5 });
      return { url: `/partners/${partnerId}/agreements/${p.infra.config.ONESTOP_AGREEMENT_ID}/leave` };
    },
  },
  'PUT /partners/{partnerId}/services/{serviceId}/capacity': {
    repeatable: true,
    prepare: async () => ({ url: `/partners/${OWN.partnerId}/services/${OWN.serviceId}/capacity`, body: { capacity: 100_000 } }),
  },
  'GET /partners': { repeatable: true, prepare: async () => ({ url: '/partners' }) },
  'GET /partners/{partnerId}': { repeatable: true, prepare: async () => ({ url: `/partners/${OWN.partnerId}` }) },
  'POST /referrals': {
    prepare: async () => {
      const c = await nextCase();
      return { url: '/referrals', body: { personId: c.personId, assessmentId: c.assessmentId, partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'sfratto' } };
    },
  },
  'GET /referrals/{referralId}': {
    repeatable: true,
    prepare: async () => {
      const id = await referral();
      await p.settled(); // the referral view only consumes: it hears of the new referral through the bus
      return { url: `/referrals/${id}` };
    },
  },
  'GET /persons/{personId}/referrals': { repeatable: true, prepare: async () => ({ url: `/persons/${(await nextCase()).personId}/referrals` }) },
  'POST /referrals/{referralId}/cancellation': { prepare: async () => ({ url: `/referrals/${await referral()}/cancellation`, body: { reason: 'team_decision' } }) },
  'GET /partners/{partnerId}/referrals': { repeatable: true, prepare: async () => ({ url: `/partners/${OWN.partnerId}/referrals` }) },
  'POST /referrals/{referralId}/acceptance': { prepare: async () => ({ url: `/referrals/${await referral()}/acceptance`, body: { expectedStart: '2027-01-10' } }) },
  'POST /referrals/{referralId}/decline': { prepare: async () => ({ url: `/referrals/${await referral()}/decline`, body: { reason: 'no_capacity', note: 'lista d’attesa' } }) },
  'POST /referrals/{referralId}/waitlist': { prepare: async () => ({ url: `/referrals/${await referral()}/waitlist`, body: { expectedDate: '2027-02-01' } }) },
  'POST /referrals/{referralId}/re-referral': {
    prepare: async () => {
      const id = await referral();
      await p.ok('partnerOwn', 'POST', `/referrals/${id}/decline`, { reason: 'no_capacity' });
      return { url: `/referrals/${id}/re-referral`, body: { partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'nuovo invio' } };
    },
  },
  'POST /persons/{personId}/documents': { prepare: async () => ({ url: `/persons/${(await nextCase()).personId}/documents`, body: DOCUMENT, headers: DOCUMENT_HEADERS }) },
  'GET /persons/{personId}/documents': { repeatable: true, prepare: async () => ({ url: `/persons/${(await nextCase()).personId}/documents` }) },
  'GET /documents/{documentId}': {
    repeatable: true,
    prepare: async () => {
      const res = await p.call('team', 'POST', `/persons/${(await nextCase()).personId}/documents`, DOCUMENT, DOCUMENT_HEADERS);
      expect(res.statusCode, res.body).toBe(201);
      return { url: `/documents/${res.json().documentId}` };
    },
  },
  'POST /referrals/{referralId}/start': { prepare: async () => ({ url: `/referrals/${await accepted()}/start`, body: {} }) },
  'POST /referrals/{referralId}/completion': {
    prepare: async () => {
      const id = await accepted();
      await p.ok('partnerOwn', 'POST', `/referrals/${id}/start`, {});
      return { url: `/referrals/${id}/completion`, body: { outcome: 'achieved' } };
    },
  },
  // referral: the FHIR facade
  'GET /fhir/Task': { repeatable: true, prepare: async () => ({ url: '/fhir/Task?_count=5' }) },
  'GET /fhir/Task/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/Task/${(await seenReferral()).referralId}` }) },
  'PUT /fhir/Task/{id}': {
    prepare: async () => {
      const { referralId } = await seenReferral();
      return { url: `/fhir/Task/${referralId}`, body: { ...(await fhirTask(referralId)), status: 'accepted' }, headers: FHIR_JSON };
    },
  },
  'PATCH /fhir/Task/{id}': {
    prepare: async () => ({
      url: `/fhir/Task/${(await seenReferral()).referralId}`,
      body: [{ op: 'replace', path: '/status', value: 'accepted' }],
      headers: { 'content-type': 'application/json-patch+json' },
    }),
  },
  'GET /fhir/ServiceRequest/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/ServiceRequest/${(await seenReferral()).referralId}` }) },
  'GET /fhir/Patient/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/Patient/${(await seenReferral()).personId}` }) },
  'GET /fhir/Consent/{id}': {
    repeatable: true,
    prepare: async () => {
      const sr = (await p.ok('admin', 'GET', `/fhir/ServiceRequest/${(await seenReferral()).referralId}`)) as { supportingInfo: Array<{ reference: string }> };
      return { url: `/fhir/${sr.supportingInfo.find((s) => s.reference.startsWith('Consent/'))!.reference}` };
    },
  },
  'GET /fhir/Goal': { repeatable: true, prepare: async () => ({ url: `/fhir/Goal?patient=Patient/${(await goalOfReferredCase()).personId}` }) },
  'GET /fhir/Goal/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/Goal/${(await goalOfReferredCase()).goalId}` }) },
  'GET /fhir/Organization': { repeatable: true, prepare: async () => ({ url: '/fhir/Organization' }) },
  'GET /fhir/Organization/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/Organization/${OWN.partnerId}` }) },
  'GET /fhir/HealthcareService': { repeatable: true, prepare: async () => ({ url: `/fhir/HealthcareService?organization=Organization/${OWN.partnerId}` }) },
  'GET /fhir/HealthcareService/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/HealthcareService/${OWN.partnerId}.${OWN.serviceId}` }) },
  'POST /fhir/Subscription': { prepare: async () => ({ url: '/fhir/Subscription', body: subscriptionBody(), headers: FHIR_JSON }) },
  'GET /fhir/Subscription': { repeatable: true, prepare: async () => ({ url: '/fhir/Subscription' }) },
  'GET /fhir/Subscription/{id}': { repeatable: true, prepare: async () => ({ url: `/fhir/Subscription/${await subscription()}` }) },
  'GET /fhir/Subscription/{id}/$status': { repeatable: true, prepare: async () => ({ url: `/fhir/Subscription/${await subscription()}/$status` }) },
  'DELETE /fhir/Subscription/{id}': { prepare: async () => ({ url: `/fhir/Subscription/${await subscription()}` }) },
  // projections: dashboards and the auditors' trail
  'GET /api/overview': { repeatable: true, prepare: async () => ({ url: '/api/overview' }) },
  'GET /api/funnel': { repeatable: true, prepare: async () => ({ url: `/api/funnel?partnerId=${OWN.partnerId}` }) },
  'GET /api/partners': { repeatable: true, prepare: async () => ({ url: '/api/partners' }) },
  'GET /api/referrals': { repeatable: true, prepare: async () => ({ url: '/api/referrals?status=requested' }) },
  'GET /api/referrals/overdue': { repeatable: true, prepare: async () => ({ url: '/api/referrals/overdue' }) },
  'GET /api/need-profiles': { repeatable: true, prepare: async () => ({ url: '/api/need-profiles' }) },
  'GET /api/caseload': { repeatable: true, prepare: async () => ({ url: '/api/caseload' }) },
  'GET /api/casework': { repeatable: true, prepare: async () => ({ url: '/api/casework' }) },
  'GET /api/cases': { repeatable: true, prepare: async () => ({ url: '/api/cases' }) },
  'GET /api/cases/{personId}': {
    repeatable: true,
    prepare: async () => {
      const url = `/api/cases/${(await nextCase()).personId}`;
      await eventually(async () => expect((await p.call('admin', 'GET', url)).statusCode).toBe(200));
      return { url };
    },
  },
  'GET /metrics': { repeatable: true, prepare: async () => ({ url: '/metrics' }) },
  // a revocation names tokens nobody uses here (another test revokes real ones)
  'POST /auth/revocations/tokens': { prepare: async () => ({ url: '/auth/revocations/tokens', body: { jti: randomUUID(), reason: 'other' } }) },
  'POST /auth/revocations/subjects': { prepare: async () => ({ url: '/auth/revocations/subjects', body: { sub: `gone-${randomUUID()}`, reason: 'staff_left' } }) },
  'GET /api/changes': { repeatable: true, prepare: async () => ({ url: '/api/changes?timeout=0' }) },
  'GET /api/rebuild': { repeatable: true, prepare: async () => ({ url: '/api/rebuild' }) },
  'POST /api/rebuild': {
    prepare: async () => {
      await eventually(async () => expect((await p.ok('admin', 'GET', '/api/rebuild')).running).toBe(false));
      return { url: '/api/rebuild' };
    },
  },
  'GET /audit/cases/{personId}/history': { repeatable: true, prepare: async () => ({ url: `/audit/cases/${(await nextCase()).personId}/history` }) },
  'GET /audit/cases/{personId}/as-of': { repeatable: true, prepare: async () => ({ url: `/audit/cases/${(await nextCase()).personId}/as-of?at=2030-01-01T00:00:00Z` }) },
  'GET /audit/cases/{personId}/deadlines': { repeatable: true, prepare: async () => ({ url: `/audit/cases/${(await nextCase()).personId}/deadlines?at=2030-01-01T00:00:00Z` }) },
  'GET /audit/cases/{personId}/verification': { repeatable: true, prepare: async () => ({ url: `/audit/cases/${(await nextCase()).personId}/verification` }) },
  'GET /audit/verification': { repeatable: true, prepare: async () => ({ url: '/audit/verification?limit=10' }) },
  'GET /audit/digest': { repeatable: true, prepare: async () => ({ url: '/audit/digest' }) },
  'GET /audit/public-key': { repeatable: true, prepare: async () => ({ url: '/audit/public-key' }) },
  'GET /audit/log/checkpoint': { repeatable: true, prepare: async () => (await checkpoint(), { url: '/audit/log/checkpoint' }) },
  'GET /audit/log/checkpoints/{size}': { repeatable: true, prepare: async () => ({ url: `/audit/log/checkpoints/${(await checkpoint()).treeSize}` }) },
  'POST /audit/log/checkpoints': { prepare: async () => (await nextCase(), { url: '/audit/log/checkpoints' }) },
  'POST /audit/log/checkpoints/{size}/cosignatures': {
    repeatable: true,
    prepare: async () => {
      const c = await checkpoint();
      return { url: `/audit/log/checkpoints/${c.treeSize}/cosignatures`, body: { cosignature: cosign(parseNote(c.note).body, WITNESS.name, WITNESS.key, new Date()).line } };
    },
  },
  'GET /audit/log/proofs/inclusion': { repeatable: true, prepare: async () => ({ url: `/audit/log/proofs/inclusion?position=${(await referralEvent(), await checkpoint(), 1)}` }) },
  'GET /audit/log/proofs/consistency': {
    repeatable: true,
    prepare: async () => ({ url: `/audit/log/proofs/consistency?from=${(await checkpoint()).treeSize}&to=${(await checkpoint()).treeSize}` }),
  },
  'GET /audit/log/receipts/{eventId}': { repeatable: true, prepare: async () => ({ url: `/audit/log/receipts/${(await referralEvent()).id}` }) },
  'GET /audit/log/public-key': { repeatable: true, prepare: async () => ({ url: '/audit/log/public-key' }) },
  // projections: dead letters (admins)
  'GET /admin/dead-letters': { repeatable: true, prepare: async () => ({ url: '/admin/dead-letters?limit=10' }) },
  'GET /admin/dead-letters/{deadLetterId}': { repeatable: true, prepare: async () => ({ url: `/admin/dead-letters/${await deadLetter()}` }) },
  'POST /admin/dead-letters/{deadLetterId}/redrive': { prepare: async () => ({ url: `/admin/dead-letters/${await deadLetter()}/redrive`, body: { reason: 'handler fixed' } }) },
  'POST /admin/dead-letters/redrive': {
    prepare: async () => {
      const group = `authz-${randomUUID().slice(0, 8)}`;
      await deadLetter(group);
      return { url: '/admin/dead-letters/redrive', body: { reason: 'handler fixed', group } };
    },
  },
};

beforeAll(async () => {
  p = await openPlatform('authz', { env: { ONESTOP_WITNESSES: formatVkey(verifierOf(WITNESS.name, SIGNATURE_TYPE.cosignature, WITNESS.key)), ONESTOP_CHECKPOINT_INTERVAL_MS: '0' } });
  await p.cases.network();
  fiscalCode = 'RSSMRA85T10A562S';
  await p.ok('admin', 'POST', '/persons', { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Mario', familyName: 'Rossi', birthDate: '1985-12-10', fiscalCode });
  for (let i = 0; i < 24; i++) pool.push(await p.cases.case());
  await p.settled();
});

afterAll(async () => {
  await p?.close();
});

describe('the authorisation matrix of SECURITY.md', () => {
  it('has a row for every mounted route (public ones listed apart), and no row for a route that is not mounted', () => {
    const mounted = p.app.routeTable.filter((r) => r.method !== 'HEAD');
    const protectedRoutes = mounted.filter((r) => r.roles).map((r) => `${r.method} ${asDocumented(r.url)}`);
    const publicRoutes = mounted.filter((r) => !r.roles).map((r) => `${r.method} ${asDocumented(r.url)}`);
    const rows = MATRIX.map((r) => `${r.method} ${r.route}`);
    expect(protectedRoutes.filter((r) => !rows.includes(r)), 'routes without a row in SECURITY.md').toEqual([]);
    expect(rows.filter((r) => !protectedRoutes.includes(r)), 'rows of SECURITY.md for no protected route').toEqual([]);
    expect(new Set(rows).size, 'a route listed twice').toBe(rows.length);
    expect(publicRoutes.filter((r) => !PUBLIC.includes(r)), 'public routes not listed as public in SECURITY.md').toEqual([]);
    expect(PUBLIC.filter((r) => !publicRoutes.includes(r)), 'listed as public but not mounted as a public route').toEqual([]);
    expect(Object.keys(EXERCISES).filter((k) => !rows.includes(k)), 'exercises for no row').toEqual([]);
  });

  it('lets a HEAD route in exactly where its GET route lets in', () => {
    for (const head of p.app.routeTable.filter((r) => r.method === 'HEAD')) {
      const get = p.app.routeTable.find((r) => r.method === 'GET' && r.url === head.url);
      if (get) expect(head.roles, `HEAD ${head.url}`).toEqual(get.roles);
      else expect(head.roles, `HEAD ${head.url} without a GET route must be public`).toBeUndefined();
    }
  });

  it('admits at the door exactly the roles that a row allows somewhere', () => {
    for (const row of MATRIX) {
      const mounted = p.app.routeTable.find((r) => r.method === row.method && asDocumented(r.url) === row.route)!;
      const allowed = [...new Set(WHO.filter((w) => row.cells[w].allowed || row.cells[w].status !== 403).map((w) => ROLE_OF[w]))];
      expect([...(mounted.roles ?? [])].sort(), `${row.method} ${row.route}`).toEqual(allowed.sort());
    }
  });

  it('answers the public routes without a token; the dashboard page with the security headers', async () => {
    for (const url of ['/health', '/ready', '/openapi.json', '/docs/json', '/dashboard']) expect((await p.call(null, 'GET', url)).statusCode, url).toBe(200);
    const page = await p.call(null, 'GET', '/dashboard');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(page.headers['strict-transport-security']).toBeDefined();
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  describe.each(MATRIX.map((r) => [`${r.method} ${r.route}`, r] as const))('%s', (name, row) => {
    it('refuses a missing, malformed, wrongly signed, expired, unsigned or foreign token with 401', async () => {
      const exercise = EXERCISES[name];
      expect(exercise, `no exercise for ${name}: add one to this test`).toBeDefined();
      const url = row.route.replace(/\{[^}]+\}/g, randomUUID());
      const who = WHO.find((w) => row.cells[w].allowed)!;
      const principal: Principal = {
        sub: 'intruder',
        role: ROLE_OF[who],
        ...(who === 'team' ? { teamRole: 'social_worker' as const } : {}),
        ...(who.startsWith('partner') ? { partnerId: OWN.partnerId } : {}),
      };
      const secret = p.infra.config.JWT_SECRET!;
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...principal, iss: 'onestop', aud: 'onestop', exp: now + 600 })}`;
      const variants: Record<string, string | undefined> = {
        missing: undefined,
        'malformed (not a JWT)': 'Bearer not-a-token',
        'malformed (Basic)': 'Basic b3AtMTpzZWNyZXQ=',
        'malformed (trailing junk)': `Bearer ${p.tokens[who]}!`,
        'wrongly signed': `Bearer ${await issueToken('another-secret-of-at-least-32-characters', principal)}`,
        expired: `Bearer ${await issueToken(secret, principal, { expiresIn: now - 60 })}`,
        'unsigned (alg none)': `Bearer ${unsigned}.`,
        'unsigned (alg none, junk signature)': `Bearer ${unsigned}.c2ln`,
        'another audience': `Bearer ${await issueToken(secret, principal, { audience: 'another-system' })}`,
      };
      for (const [variant, authorization] of Object.entries(variants)) {
        const res = await p.app.inject({ method: row.method as 'GET', url, headers: authorization ? { authorization } : {}, ...(row.method === 'GET' ? {} : { payload: {} }) });
        expect(res.statusCode, `${variant}: ${res.body}`).toBe(401);
        // under /fhir every refusal is an OperationOutcome; elsewhere problem+json
        if (row.route.startsWith('/fhir/')) expect(res.json(), variant).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
        else expect(res.json(), variant).toMatchObject({ status: 401, code: 'unauthorized' });
      }
    });

    it(WHO.map((w) => `${w} ${row.cells[w].allowed ? '✓' : row.cells[w].status}`).join(', '), async () => {
      const exercise = EXERCISES[name]!;
      const sample = await exercise.prepare();
      // refusals first, on the sample: a refused request changes nothing
      for (const who of WHO.filter((w) => !row.cells[w].allowed)) {
        const res = await p.call(who, row.method, sample.url, sample.body, sample.headers);
        expect(res.statusCode, `${who}: ${res.body}`).toBe(row.cells[who].status);
      }
      for (const who of WHO.filter((w) => row.cells[w].allowed)) {
        const req = exercise.repeatable ? sample : await exercise.prepare();
        const res = await p.call(who, row.method, req.url, req.body, req.headers);
        expect(res.statusCode, `${who}: ${res.body}`).toBeGreaterThanOrEqual(200);
        expect(res.statusCode, `${who}: ${res.body}`).toBeLessThan(300);
      }
    });
  });
});
