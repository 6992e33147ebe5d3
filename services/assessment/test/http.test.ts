import { validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIFE_DOMAINS, type LifeDomain } from '@onestop/events';
import { intakeModule } from '@onestop/intake';
import { buildServiceApp, CaseFactsView, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { assessmentModule } from '../src/app.js';

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let assessment: ServiceModule;
let stopConsumer: () => Promise<void>;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase('assessment');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  const intake = intakeModule();
  assessment = assessmentModule();
  await intake.migrate!(infra);
  await assessment.migrate!(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'intake and assessment', modules: [intake, assessment], ctx: infra });
  await app.ready();
  stopConsumer = await assessment.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.sw = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.eo = await infra.token({ sub: 'eo-1', role: 'team', teamRole: 'employment_operator' });
  tokens.outsider = await infra.token({ sub: 'ed-9', role: 'team', teamRole: 'educator' });
  tokens.partner = await infra.token({ sub: 'p-1', role: 'partner', partnerId: 'caritas' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
});

afterAll(async () => {
  await stopConsumer?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, who: string | null, body?: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method,
    url,
    ...(body !== undefined ? { payload: body as object } : {}),
    headers: { ...headers, ...(who ? { authorization: `Bearer ${tokens[who]}` } : {}) },
  });

/** Polls until `fn` stops throwing: the facts arrive through the bus, eventually. */
async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

const UNKNOWN = '3b0f0e3c-0000-4000-8000-000000000000';
const team = [
  { memberId: 'sw-1', role: 'social_worker' },
  { memberId: 'eo-1', role: 'employment_operator' },
];
// employment and housing are priorities (level ≥ 3); education has no need
const levels: Record<LifeDomain, number> = { economic: 2, employment: 4, education: 0, housing: 3, social_network: 1, health_care: 2, training: 1 };
const goals = [
  { domain: 'employment', description: 'Tirocinio presso la cooperativa Il Seme', targetDate: '2027-06-30' },
  { domain: 'housing', description: 'Domanda di alloggio ERP a Pistoia', targetDate: '2027-03-31' },
];

/** What this service's facts view says about the person (null: not heard of yet). */
async function factsOf(personId: string) {
  const rows = await infra.db.query<{ assessment_consent: boolean; erased: boolean }>(
    'SELECT assessment_consent, erased FROM assessment_view.person_facts WHERE person_id = $1',
    [personId],
  );
  return rows[0] ?? null;
}

let people = 0;
/** Registers a person through intake (and gives the assessment consent), then waits until the assessment service has heard. */
async function person(options: { consent?: boolean } = {}): Promise<string> {
  people += 1;
  const res = await call('POST', '/persons', 'operator', {
    accessPoint: 'pistoia-centro',
    municipality: 'Pistoia',
    givenName: `Persona${String.fromCharCode(65 + people)}`,
    familyName: 'Test',
    birthDate: '1980-01-01',
  });
  expect(res.statusCode).toBe(201);
  const { personId } = res.json();
  if (options.consent !== false) {
    expect((await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'assessment', legalBasis: 'explicit_consent' })).statusCode).toBe(201);
  }
  await eventually(async () => expect(await factsOf(personId)).toMatchObject({ assessment_consent: options.consent !== false }));
  return personId;
}

/**
 * Waits until the background consumer has handled everything appended so far:
 * it handles the log in order, so once it has heard of a person registered
 * now, it is done with every earlier event.
 */
const caughtUp = () => person();

async function startFor(personId: string, who = 'sw'): Promise<string> {
  const res = await call('POST', '/assessments', who, { personId, team });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().assessmentId;
}

async function evaluateAll(assessmentId: string, overrides: Partial<Record<LifeDomain, number>> = {}): Promise<void> {
  for (const [i, domain] of LIFE_DOMAINS.entries()) {
    const res = await call('PUT', `/assessments/${assessmentId}/domains/${domain}`, i % 2 ? 'eo' : 'sw', { needLevel: overrides[domain] ?? levels[domain] });
    expect(res.statusCode, res.body).toBe(200);
  }
}

const statusOf = async (assessmentId: string) => (await call('GET', `/assessments/${assessmentId}`, 'admin')).json().status;

describe('POST /assessments', () => {
  it('starts an assessment (201) for a consenting person, keyed by the person', async () => {
    const personId = await person();
    const res = await call('POST', '/assessments', 'sw', { personId, team });
    expect(res.statusCode).toBe(201);
    const { assessmentId } = res.json();
    expect(res.headers.location).toBe(`/assessments/${assessmentId}`);
    const [event] = await infra.store.readStream(`assessment-${assessmentId}`);
    expect(event).toMatchObject({
      type: 'AssessmentStarted',
      source: '/onestop/assessment',
      partitionKey: personId,
      actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' },
      data: { assessmentId, personId, team },
    });
  });

  it('lets an admin start one too', async () => {
    expect((await call('POST', '/assessments', 'admin', { personId: await person(), team })).statusCode).toBe(201);
  });

  it('refuses a second open assessment for the person (409) and names the open one', async () => {
    const personId = await person();
    const first = await startFor(personId);
    const again = await call('POST', '/assessments', 'eo', { personId, team });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'assessment_already_open', openAssessmentId: first });
  });

  it('refuses six simultaneous starts for one person but one', async () => {
    const personId = await person();
    const results = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/assessments', 'sw', { personId, team })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.statusCode === 201)!.json().assessmentId;
    for (const r of results.filter((x) => x.statusCode === 409)) expect(r.json().openAssessmentId).toBe(winner);
    const position = results.find((r) => r.statusCode === 201)!.json().position;
    expect((await call('GET', `/persons/${personId}/assessments?after=${position}`, 'sw')).json().assessments).toHaveLength(1);
  });

  it('refuses without an active assessment consent (422)', async () => {
    const personId = await person({ consent: false });
    const res = await call('POST', '/assessments', 'sw', { personId, team });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'assessment_consent_missing' });
    // the refused start left no claim behind: with consent it starts
    await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'assessment', legalBasis: 'explicit_consent' });
    await eventually(async () => expect(await factsOf(personId)).toMatchObject({ assessment_consent: true }));
    expect((await call('POST', '/assessments', 'sw', { personId, team })).statusCode).toBe(201);
  });

  it('refuses a team that is not multidisciplinary, or lists a member twice (422)', async () => {
    const personId = await person();
    const one = await call('POST', '/assessments', 'sw', { personId, team: [team[0]] });
    expect(one.json()).toMatchObject({ status: 422, code: 'team_not_multidisciplinary' });
    const sameRole = await call('POST', '/assessments', 'sw', {
      personId,
      team: [team[0], { memberId: 'sw-2', role: 'social_worker' }],
    });
    expect(sameRole.json()).toMatchObject({ status: 422, code: 'team_not_multidisciplinary' });
    const twice = await call('POST', '/assessments', 'sw', { personId, team: [...team, { memberId: 'sw-1', role: 'tutor' }] });
    expect(twice.json()).toMatchObject({ status: 422, code: 'duplicate_team_member', memberIds: ['sw-1'] });
  });

  it('404 for a person it has never heard of', async () => {
    const res = await call('POST', '/assessments', 'sw', { personId: UNKNOWN, team });
    expect(res.statusCode).toBe(404);
  });

  it('refuses bad bodies with 400 naming the fields', async () => {
    const res = await call('POST', '/assessments', 'sw', { personId: 'nope', team: [{ memberId: 'x', role: 'chef' }], extra: 1 });
    expect(res.statusCode).toBe(400);
    const paths = res.json().issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.personId', 'body.team.0.role']));
    expect((await call('POST', '/assessments', 'sw', { personId: UNKNOWN, team: [] })).statusCode).toBe(400);
  });

  it('requires a token (401) of a team member or admin (403)', async () => {
    expect((await call('POST', '/assessments', null, { personId: UNKNOWN, team })).statusCode).toBe(401);
    for (const who of ['operator', 'partner', 'auditor']) expect((await call('POST', '/assessments', who, { personId: UNKNOWN, team })).statusCode).toBe(403);
  });

  it('replays the answer to a retried request with the same Idempotency-Key', async () => {
    const personId = await person();
    const first = await call('POST', '/assessments', 'sw', { personId, team }, { 'idempotency-key': `start-${personId}` });
    const retry = await call('POST', '/assessments', 'sw', { personId, team }, { 'idempotency-key': `start-${personId}` });
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
  });

  // the process that recorded a command died before it could keep its answer: the retry runs again
  const answerLost = (key: string) => infra.db.query('DELETE FROM kit.idempotency_keys WHERE key = $1', [key]);

  it('a retry whose first answer was lost records nothing twice and answers the same (a new stream)', async () => {
    const personId = await person();
    const key = `start-lost-${personId}`;
    const first = await call('POST', '/assessments', 'sw', { personId, team }, { 'idempotency-key': key });
    await answerLost(key);
    const retry = await call('POST', '/assessments', 'sw', { personId, team }, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.json()).toEqual(first.json());
    const started = (await infra.store.readCase(personId)).filter((e) => e.type === 'AssessmentStarted');
    expect(started).toHaveLength(1);
  });

  it('a retry whose first answer was lost records nothing twice and answers the same (an evaluation of an open assessment)', async () => {
    const personId = await person();
    const assessmentId = await startFor(personId);
    const key = `eval-lost-${assessmentId}`;
    const body = { needLevel: 3, notes: 'Sfratto esecutivo a gennaio' };
    const first = await call('PUT', `/assessments/${assessmentId}/domains/housing`, 'sw', body, { 'idempotency-key': key });
    // someone else records an evaluation in between: the retry still decides on the state its first attempt saw
    await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'eo', { needLevel: 1 });
    await answerLost(key);
    const retry = await call('PUT', `/assessments/${assessmentId}/domains/housing`, 'sw', body, { 'idempotency-key': key });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toEqual(first.json());
    const evaluated = (await infra.store.readStream(`assessment-${assessmentId}`)).filter((e) => e.type === 'DomainEvaluated');
    expect(evaluated.map((e) => e.data)).toMatchObject([{ domain: 'housing' }, { domain: 'economic' }]);
  });

  it('the same request sent at once to the service five times records one start, and every answer is the same', async () => {
    const personId = await person();
    const key = `start-burst-${personId}`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/assessments', 'sw', { personId, team }, { 'idempotency-key': key })));
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.json().assessmentId)).size).toBe(1);
    expect((await infra.store.readCase(personId)).filter((e) => e.type === 'AssessmentStarted')).toHaveLength(1);
  });
});

describe('the full assessment: two roles, seven domains, completion', () => {
  let personId: string;
  let assessmentId: string;
  beforeAll(async () => {
    personId = await person();
    assessmentId = await startFor(personId);
  });

  it('evaluates every domain (200), re-evaluating one replaces its level', async () => {
    const res = await call('PUT', `/assessments/${assessmentId}/domains/housing`, 'sw', { needLevel: 1, notes: 'Sfratto esecutivo previsto per gennaio' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ assessmentId, status: 'open', revision: 1 });
    await evaluateAll(assessmentId);
    await call('PUT', `/assessments/${assessmentId}/domains/housing`, 'eo', { needLevel: 3, notes: 'Sfratto esecutivo confermato' });
    const view = (await call('GET', `/assessments/${assessmentId}`, 'sw')).json();
    expect(view.evaluations).toHaveLength(7);
    expect(view.evaluations.find((e: { domain: string }) => e.domain === 'housing')).toMatchObject({
      needLevel: 3,
      notes: 'Sfratto esecutivo confermato',
      evaluatedBy: 'eo-1',
    });
  });

  it('refuses completion without a goal for every priority domain (422), naming them', async () => {
    const res = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: [goals[0]] });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'goal_missing_for_priority_domain', domains: ['housing'] });
  });

  it('refuses goals with a target date not after today, or for a domain without a need (422)', async () => {
    const today = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: [{ ...goals[0], targetDate: '2026-11-26' }, goals[1]] });
    expect(today.json()).toMatchObject({ status: 422, code: 'goal_target_date_not_in_future' });
    const noNeed = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', {
      goals: [...goals, { domain: 'education', description: 'Corso serale', targetDate: '2027-09-01' }],
    });
    expect(noNeed.json()).toMatchObject({ status: 422, code: 'goal_for_domain_without_need', domains: ['education'] });
  });

  it('refuses priorities given by the caller (400): they are derived from the levels', async () => {
    const res = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals, priorityDomains: ['economic'] });
    expect(res.statusCode).toBe(400);
    const bad = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: [{ ...goals[0], targetDate: '30/06/2027' }] });
    expect(bad.statusCode).toBe(400);
  });

  it('refuses completion by someone outside the team (403) or not in the team role (403)', async () => {
    const res = await call('POST', `/assessments/${assessmentId}/completion`, 'outsider', { goals });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'not_a_team_member' });
    for (const who of ['admin', 'operator', 'auditor']) expect((await call('POST', `/assessments/${assessmentId}/completion`, who, { goals })).statusCode).toBe(403);
    expect((await call('POST', `/assessments/${assessmentId}/completion`, null, { goals })).statusCode).toBe(401);
  });

  let firstCompletion: { revision: number; goals: Array<{ goalId: string }> } | undefined;
  it('completes (200) with the need profile, derived priorities and server-made goal ids', async () => {
    const res = await call('POST', `/assessments/${assessmentId}/completion`, 'eo', { goals });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    firstCompletion = body;
    expect(body).toMatchObject({ recorded: true, revision: expect.any(Number), position: expect.any(Number) });
    expect(body).toMatchObject({ assessmentId, status: 'completed', priorityDomains: ['employment', 'housing'] });
    expect(body.goals.map((g: { goalId: string }) => g.goalId)).toEqual([expect.any(String), expect.any(String)]);
    const view = (await call('GET', `/assessments/${assessmentId}`, 'sw')).json();
    expect(view).toMatchObject({ status: 'completed', needProfile: levels, priorityDomains: ['employment', 'housing'], completedAt: expect.any(String) });
    expect(view.goals.map((g: { description: string }) => g.description)).toEqual(goals.map((g) => g.description));
  });

  it('refuses any change once completed (409); a repeated completion records nothing and answers with the first one', async () => {
    const evaluate = await call('PUT', `/assessments/${assessmentId}/domains/housing`, 'sw', { needLevel: 2 });
    expect(evaluate.statusCode).toBe(409);
    expect(evaluate.json()).toMatchObject({ code: 'assessment_not_open', status: 409 });
    const view = firstCompletion!;
    // other goals: refused, the first completion stands
    const other = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: goals.slice(0, 1) });
    expect(other.json()).toMatchObject({ status: 409, code: 'done_otherwise', stands: { goals: view.goals } });
    // the same goals, in another order: a plain repeat
    const again = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: [...goals].reverse() });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ assessmentId, status: 'completed', recorded: false, revision: view.revision, priorityDomains: ['employment', 'housing'] });
    expect(again.json().goals.map((g: { goalId: string }) => g.goalId)).toEqual(view.goals.map((g: { goalId: string }) => g.goalId));
    expect(again.json()).not.toHaveProperty('position');
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', { reason: 'team_decision' })).statusCode).toBe(409);
  });

  it('frees the person for a new assessment once completed', async () => {
    const next = await call('POST', '/assessments', 'sw', { personId, team });
    expect(next.statusCode).toBe(201);
    // the list is a view: `after` waits for the start just made
    const list = (await call('GET', `/persons/${personId}/assessments?after=${next.json().position}`, 'operator')).json();
    expect(list.assessments.map((a: { assessmentId: string; status: string }) => [a.assessmentId, a.status])).toEqual([
      [assessmentId, 'completed'],
      [next.json().assessmentId, 'open'],
    ]);
    expect(list.assessments[0]).toMatchObject({ priorityDomains: ['employment', 'housing'], closedAt: expect.any(String) });
  });

  it('never stores notes or goal texts in clear in the event store', async () => {
    const events = await infra.store.readStream(`assessment-${assessmentId}`);
    expect(events.map((e) => e.type)).toContain('AssessmentCompleted');
    const raw = JSON.stringify(events);
    for (const secret of ['Sfratto', 'gennaio', 'Tirocinio', 'Il Seme', 'ERP a Pistoia']) expect(raw).not.toContain(secret);
    for (const e of events) expect(e.partitionKey).toBe(personId);
    expect(await infra.store.verifyStream(`assessment-${assessmentId}`)).toMatchObject({ ok: true });
  });
});

describe('PUT /assessments/:assessmentId/domains/:domain', () => {
  let assessmentId: string;
  beforeAll(async () => {
    assessmentId = await startFor(await person());
  });

  it('refuses someone outside the team (403 not_a_team_member) and other roles (403)', async () => {
    const res = await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'outsider', { needLevel: 2 });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'not_a_team_member' });
    for (const who of ['admin', 'operator', 'partner', 'auditor']) {
      expect((await call('PUT', `/assessments/${assessmentId}/domains/economic`, who, { needLevel: 2 })).statusCode).toBe(403);
    }
    expect((await call('PUT', `/assessments/${assessmentId}/domains/economic`, null, { needLevel: 2 })).statusCode).toBe(401);
  });

  it('400 for a level outside 0–4, an unknown domain, or extra fields', async () => {
    expect((await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'sw', { needLevel: 5 })).statusCode).toBe(400);
    expect((await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'sw', { needLevel: 1.5 })).statusCode).toBe(400);
    expect((await call('PUT', `/assessments/${assessmentId}/domains/leisure`, 'sw', { needLevel: 1 })).statusCode).toBe(400);
    expect((await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'sw', { needLevel: 1, evaluatedBy: 'x' })).statusCode).toBe(400);
    expect((await call('PUT', '/assessments/not-a-uuid/domains/economic', 'sw', { needLevel: 1 })).statusCode).toBe(400);
  });

  it('404 for an unknown assessment', async () => {
    expect((await call('PUT', `/assessments/${UNKNOWN}/domains/economic`, 'sw', { needLevel: 1 })).statusCode).toBe(404);
  });

  it('422 for completion before all seven domains, naming the missing ones', async () => {
    await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'sw', { needLevel: 2 });
    const res = await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals: [] });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'domains_missing', missingDomains: LIFE_DOMAINS.filter((d) => d !== 'economic') });
  });

  it('404 and 409 for completion of an unknown or cancelled assessment', async () => {
    expect((await call('POST', `/assessments/${UNKNOWN}/completion`, 'sw', { goals })).statusCode).toBe(404);
    const other = await startFor(await person());
    await call('POST', `/assessments/${other}/cancellation`, 'sw', { reason: 'started_in_error' });
    expect((await call('POST', `/assessments/${other}/completion`, 'sw', { goals })).statusCode).toBe(409);
  });
});

describe('consent withdrawn, personal data erased', () => {
  it('refuses evaluation (422) once the service has heard the consent is withdrawn, and then cancels the assessment', async () => {
    const personId = await person();
    const assessmentId = await startFor(personId);
    // hold the background consumer, and let the view alone hear the withdrawal
    await stopConsumer();
    expect((await call('POST', `/persons/${personId}/consents/assessment/withdrawal`, 'operator')).statusCode).toBe(200);
    const view = new CaseFactsView(infra.db, 'assessment_view', 7411090);
    await view.apply((await infra.store.readStream(`person-${personId}`)).map((e) => e as never));
    const res = await call('PUT', `/assessments/${assessmentId}/domains/economic`, 'sw', { needLevel: 2 });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'assessment_consent_missing' });
    expect((await call('POST', `/assessments/${assessmentId}/completion`, 'sw', { goals })).json()).toMatchObject({ status: 422 });
    // the consumer resumes from its checkpoint and cancels the open assessment
    stopConsumer = await assessment.start!(infra);
    await eventually(async () => expect(await statusOf(assessmentId)).toBe('cancelled'));
    const detail = (await call('GET', `/assessments/${assessmentId}`, 'sw')).json();
    expect(detail.cancellationReason).toBe('consent_withdrawn');
    const [, cancelled] = await infra.store.readStream(`assessment-${assessmentId}`);
    expect(cancelled).toMatchObject({ type: 'AssessmentCancelled', actor: { role: 'system' }, partitionKey: personId });
  });

  it('cancels the open assessment when the personal data is erased; notes become unreadable', async () => {
    const personId = await person();
    const assessmentId = await startFor(personId);
    await call('PUT', `/assessments/${assessmentId}/domains/health_care`, 'sw', { needLevel: 2, notes: 'Diabete in cura' });
    expect((await call('GET', `/assessments/${assessmentId}`, 'admin')).json().evaluations[0].notes).toBe('Diabete in cura');
    expect((await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' })).statusCode).toBe(200);
    await eventually(async () => expect(await statusOf(assessmentId)).toBe('cancelled'));
    const view = (await call('GET', `/assessments/${assessmentId}`, 'admin')).json();
    expect(view).toMatchObject({ cancellationReason: 'personal_data_erased', evaluations: [{ domain: 'health_care', needLevel: 2, notes: null }] });
    const again = await call('POST', '/assessments', 'sw', { personId, team });
    expect(again.json()).toMatchObject({ status: 422, code: 'personal_data_erased' });
  });

  it('cancels only once: the closed assessment is left alone when the consent goes again', async () => {
    const personId = await person();
    const assessmentId = await startFor(personId);
    await call('POST', `/assessments/${assessmentId}/cancellation`, 'eo', { reason: 'person_request' });
    await call('POST', `/persons/${personId}/consents/assessment/withdrawal`, 'operator');
    await caughtUp();
    // the history has one cancellation: the team's
    const events = await infra.store.readStream(`assessment-${assessmentId}`);
    expect(events.map((e) => e.type)).toEqual(['AssessmentStarted', 'AssessmentCancelled']);
    expect(events[1]).toMatchObject({ data: { reason: 'person_request' } });
  });

  it('cancels an assessment whose start raced the withdrawal (the view had not heard of it yet)', async () => {
    const personId = await person();
    await stopConsumer();
    await call('POST', `/persons/${personId}/consents/assessment/withdrawal`, 'operator');
    // the view has not heard yet: the start is accepted
    const assessmentId = await startFor(personId);
    stopConsumer = await assessment.start!(infra);
    await eventually(async () => expect(await statusOf(assessmentId)).toBe('cancelled'));
    const [, cancelled] = await infra.store.readStream(`assessment-${assessmentId}`);
    expect(cancelled).toMatchObject({ actor: { id: 'assessment-consent-watch', role: 'system' } });
    await eventually(async () =>
      expect((await call('GET', `/persons/${personId}/assessments`, 'sw')).json().assessments).toMatchObject([{ assessmentId, status: 'cancelled' }]),
    );
  });

  it('a withdrawal delivered again, after the consent was given again, cancels nothing new', async () => {
    const personId = await person();
    const first = await startFor(personId);
    await call('POST', `/persons/${personId}/consents/assessment/withdrawal`, 'operator');
    await eventually(async () => expect(await statusOf(first)).toBe('cancelled'));
    await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'assessment', legalBasis: 'explicit_consent' });
    await eventually(async () => expect((await factsOf(personId))?.assessment_consent).toBe(true));
    const second = await startFor(personId);
    // the consumer is sent back to the start of the log: every event comes again, the old withdrawal too
    await stopConsumer();
    await infra.store.resetCheckpoint('consumer:assessment-facts', 0);
    stopConsumer = await assessment.start!(infra);
    await caughtUp();
    expect(await statusOf(second)).toBe('open');
    const history = await infra.store.readStream(`assessment-${second}`);
    expect(history.map((e) => e.type)).toEqual(['AssessmentStarted']);
  });
});

describe("the person's case stream keeps one open assessment", () => {
  it('records the opening and the closing of each assessment, in the same append as its start and its end', async () => {
    const personId = await person();
    const first = await startFor(personId);
    await call('POST', `/assessments/${first}/cancellation`, 'sw', { reason: 'team_decision' });
    const second = await startFor(personId);
    const kase = await infra.store.readStream(`case-${personId}`);
    expect(kase.map((e) => [e.type, e.data])).toEqual([
      ['CaseAssessmentOpened', { assessmentId: first }],
      ['CaseAssessmentClosed', { assessmentId: first, status: 'cancelled' }],
      ['CaseAssessmentOpened', { assessmentId: second }],
    ]);
    // the case's events are appended atomically with the assessment's: the same transaction, consecutive positions
    const [started] = await infra.store.readStream(`assessment-${second}`);
    expect(Math.abs(kase[2]!.globalPosition - started!.globalPosition)).toBe(1);
  });

  it('a start the rules refuse leaves the case as it was', async () => {
    const personId = await person();
    const refused = await call('POST', '/assessments', 'sw', { personId, team: [team[0]] });
    expect(refused.statusCode).toBe(422);
    expect(await infra.store.readStream(`case-${personId}`)).toEqual([]);
    expect((await call('POST', '/assessments', 'sw', { personId, team })).statusCode).toBe(201);
  });
});

describe('POST /assessments/:assessmentId/cancellation', () => {
  it('is cancelled by a member of its team (200), and frees the person', async () => {
    const personId = await person();
    const assessmentId = await startFor(personId);
    const res = await call('POST', `/assessments/${assessmentId}/cancellation`, 'eo', { reason: 'person_moved_away' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ assessmentId, status: 'cancelled' });
    expect((await call('POST', '/assessments', 'sw', { personId, team })).statusCode).toBe(201);
  });

  it('is cancelled by an admin (200)', async () => {
    const assessmentId = await startFor(await person());
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'admin', { reason: 'team_decision' })).statusCode).toBe(200);
    const again = await call('POST', `/assessments/${assessmentId}/cancellation`, 'admin', { reason: 'team_decision' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'cancelled', recorded: false });
  });

  it('refuses team callers outside its team (403) and other roles (403, 401)', async () => {
    const assessmentId = await startFor(await person());
    const res = await call('POST', `/assessments/${assessmentId}/cancellation`, 'outsider', { reason: 'team_decision' });
    expect(res.json()).toMatchObject({ status: 403, code: 'not_a_team_member' });
    for (const who of ['operator', 'partner', 'auditor']) {
      expect((await call('POST', `/assessments/${assessmentId}/cancellation`, who, { reason: 'team_decision' })).statusCode).toBe(403);
    }
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, null, { reason: 'team_decision' })).statusCode).toBe(401);
  });

  it('takes a reason code, never free text (400); 404 for an unknown assessment', async () => {
    const assessmentId = await startFor(await person());
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', { reason: 'Si è trasferita a Milano' })).statusCode).toBe(400);
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', { reason: 'consent_withdrawn' })).statusCode).toBe(400);
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', {})).statusCode).toBe(400);
    expect((await call('POST', `/assessments/${UNKNOWN}/cancellation`, 'sw', { reason: 'team_decision' })).statusCode).toBe(404);
  });

  it('422 when an Idempotency-Key is reused for another request', async () => {
    const assessmentId = await startFor(await person());
    const key = { 'idempotency-key': `cancel-${assessmentId}` };
    expect((await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', { reason: 'team_decision' }, key)).statusCode).toBe(200);
    const reused = await call('POST', `/assessments/${assessmentId}/cancellation`, 'sw', { reason: 'person_request' }, key);
    expect(reused.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
  });
});

describe('reading assessments', () => {
  let personId: string;
  let assessmentId: string;
  beforeAll(async () => {
    personId = await person();
    assessmentId = await startFor(personId);
    await call('PUT', `/assessments/${assessmentId}/domains/employment`, 'eo', { needLevel: 4, notes: 'Disoccupato da due anni' });
  });

  it('shows notes to its team members and admins only', async () => {
    for (const who of ['sw', 'eo', 'admin']) {
      const res = await call('GET', `/assessments/${assessmentId}`, who);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        assessmentId,
        personId,
        status: 'open',
        team,
        startedBy: 'sw-1',
        evaluations: [{ domain: 'employment', needLevel: 4, notes: 'Disoccupato da due anni', evaluatedBy: 'eo-1' }],
      });
    }
    for (const who of ['operator', 'auditor', 'outsider']) {
      const res = await call('GET', `/assessments/${assessmentId}`, who);
      expect(res.statusCode).toBe(200);
      expect(res.json().evaluations[0]).toMatchObject({ needLevel: 4, notes: null });
    }
  });

  it('403 for partners, 401 without a token, 404 unknown, 400 malformed', async () => {
    expect((await call('GET', `/assessments/${assessmentId}`, 'partner')).statusCode).toBe(403);
    expect((await call('GET', `/assessments/${assessmentId}`, null)).statusCode).toBe(401);
    expect((await call('GET', `/assessments/${UNKNOWN}`, 'sw')).statusCode).toBe(404);
    expect((await call('GET', '/assessments/42', 'sw')).statusCode).toBe(400);
  });

  it('lists the assessments of a person (200), empty for a person without any', async () => {
    // the list is a view of the bus: wait until it has heard of the start
    await eventually(async () => expect((await call('GET', `/persons/${personId}/assessments`, 'sw')).json().assessments).toHaveLength(1));
    for (const who of ['operator', 'sw', 'admin', 'auditor']) {
      const res = await call('GET', `/persons/${personId}/assessments`, who);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        personId,
        assessments: [{ assessmentId, status: 'open', team, startedAt: expect.any(String), closedAt: null, priorityDomains: null }],
      });
    }
    const other = await person();
    expect((await call('GET', `/persons/${other}/assessments`, 'sw')).json()).toEqual({ personId: other, assessments: [] });
  });

  it('403 for partners, 401 without a token, 404 for an unknown person, 400 malformed', async () => {
    expect((await call('GET', `/persons/${personId}/assessments`, 'partner')).statusCode).toBe(403);
    expect((await call('GET', `/persons/${personId}/assessments`, null)).statusCode).toBe(401);
    expect((await call('GET', `/persons/${UNKNOWN}/assessments`, 'sw')).statusCode).toBe(404);
    expect((await call('GET', '/persons/nobody/assessments', 'sw')).statusCode).toBe(400);
  });
});

describe('OpenAPI', () => {
  it('publishes a valid OpenAPI 3.1 document with intake and assessment routes', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
  });

  it('lists only the assessment routes when the assessment module is mounted alone', async () => {
    const alone = assessmentModule();
    const only = await buildServiceApp({ title: alone.title, description: alone.description, modules: [alone], ctx: infra });
    try {
      await only.ready();
      const doc = (await only.inject('/openapi.json')).json();
      const result = await validate(structuredClone(doc));
      expect(result.valid ? [] : result.errors).toEqual([]);
      // (with the token revocation routes every service mounts, and the taking-charge routes of the team's work)
      expect(Object.keys(doc.paths).sort()).toEqual([
        '/assessments',
        '/assessments/{assessmentId}',
        '/assessments/{assessmentId}/cancellation',
        '/assessments/{assessmentId}/completion',
        '/assessments/{assessmentId}/domains/{domain}',
        '/auth/revocations/subjects',
        '/auth/revocations/tokens',
        '/documents/{documentId}',
        '/persons/{personId}/assessments',
        '/persons/{personId}/case',
        '/persons/{personId}/case/closure',
        '/persons/{personId}/case/reopening',
        '/persons/{personId}/case/transfer',
        '/persons/{personId}/documents',
        '/persons/{personId}/meetings',
        '/persons/{personId}/meetings/{meetingId}/held',
        '/persons/{personId}/meetings/{meetingId}/missed',
        '/persons/{personId}/meetings/{meetingId}/rescheduling',
        '/persons/{personId}/notes',
        '/persons/{personId}/plan',
        '/persons/{personId}/plan/goals/{goalId}/progress',
        '/persons/{personId}/plan/revisions',
      ]);
    } finally {
      await only.close();
    }
  });
});
