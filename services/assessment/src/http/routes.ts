import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DoneOtherwise, IsoDate, LifeDomain, NeedLevel, NotFoundError, TeamRole, Uuid, type Encrypted, type RecordedEvent } from '@onestop/events';
import {
  AfterPosition,
  awaitOwnWrite,
  eventContextOf,
  EVENTUALLY_CONSISTENT,
  loadAggregate,
  newId,
  principalOf,
  recordCaseHistoryRead,
  type ServiceContext,
} from '@onestop/kit';
import type { Assessments } from '../assessments.js';
import {
  assessmentDecider,
  assessmentStream,
  MANUAL_CANCEL_REASONS,
  type AssessmentCommand,
  type AssessmentState,
  type PersonFact,
} from '../domain/assessment.js';
import type { PersonAssessments } from '../person-assessments.js';
import { encryptFor, localDate } from './personal-text.js';

const SOURCE = '/onestop/assessment';
const AssessmentParams = z.object({ assessmentId: Uuid });
const PersonParams = z.object({ personId: Uuid });
const Member = z.object({ memberId: z.string().trim().min(1).max(200), role: TeamRole });
/** Free text about the person: encrypted with the person's key before it is recorded. */
const PersonalText = z.string().trim().min(1).max(4000);
const Status = z.enum(['open', 'completed', 'cancelled']);

const Evaluation = z.object({
  domain: LifeDomain,
  needLevel: NeedLevel,
  notes: z.string().nullable().describe('null when there are none, when the caller may not read them, or once the personal data is erased'),
  evaluatedBy: z.string(),
  evaluatedAt: z.string(),
});
const GoalView = z.object({
  goalId: z.string(),
  domain: LifeDomain,
  description: z.string().nullable().describe('null when the caller may not read it, or once the personal data is erased'),
  targetDate: z.string(),
});
const AssessmentView = z.object({
  assessmentId: z.string(),
  personId: z.string(),
  status: Status,
  team: z.array(Member),
  startedAt: z.string(),
  startedBy: z.string(),
  evaluations: z.array(Evaluation).describe('the latest evaluation of each domain evaluated so far'),
  needProfile: z.record(z.string(), NeedLevel).nullable(),
  priorityDomains: z.array(LifeDomain).nullable(),
  goals: z.array(GoalView),
  completedAt: z.string().nullable(),
  cancelledAt: z.string().nullable(),
  cancellationReason: z.string().nullable(),
});
type AssessmentView = z.infer<typeof AssessmentView>;
const Summary = z.object({
  assessmentId: z.string(),
  status: Status,
  team: z.array(Member),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
  priorityDomains: z.array(LifeDomain).nullable(),
});
const Recorded = z.object({ assessmentId: z.string(), status: Status, recorded: z.boolean(), revision: z.number(), position: z.number().optional() });

export const assessmentRoutes = (
  commands: Assessments,
  assessments: PersonAssessments,
): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const { store, keyring, clock } = ctx;
    const { facts } = commands;

    const run = (assessmentId: string, personId: string, command: AssessmentCommand, req: Parameters<typeof eventContextOf>[0], newStream = false) =>
      commands.run(assessmentId, personId, command, eventContextOf(req, SOURCE, clock.now()), newStream);
    const recorded = (assessmentId: string, res: { state: AssessmentState; events: unknown[]; revision: number; globalPositions: number[] }) => ({
      assessmentId,
      status: res.state.status as z.infer<typeof Status>,
      recorded: res.events.length > 0,
      revision: res.revision,
      ...(res.globalPositions.length ? { position: res.globalPositions.at(-1)! } : {}),
    });
    /** The person as this service has heard of them (eventually consistent with intake). */
    const personFact = async (personId: string): Promise<PersonFact> => {
      const f = await facts.person(personId);
      return {
        known: f !== undefined,
        erased: f?.erased ?? false,
        assessmentConsent: f?.assessmentConsent.active ?? false,
        consentEventId: f?.assessmentConsent.active ? f.assessmentConsent.eventId : null,
      };
    };
    const existing = async (assessmentId: string) => {
      const loaded = await loadAggregate(store, assessmentStream(assessmentId), assessmentDecider);
      if (loaded.state.status === 'not_started') throw new NotFoundError('assessment', assessmentId);
      return { ...loaded, personId: loaded.state.personId! };
    };
    const encrypt = (personId: string, text: string) => encryptFor(keyring, personId, text);

    r.post(
      '/assessments',
      {
        config: { roles: ['team', 'admin'], idempotent: true },
        schema: {
          tags: ['assessments'],
          summary: 'Start the assessment of a person by a multidisciplinary team',
          description: 'Needs the person’s active `assessment` consent; one open assessment per person; at least two members with two distinct roles.',
          body: z
            .object({ personId: Uuid, team: z.array(Member.strict()).min(1).max(20) })
            .strict()
            .meta({
              examples: [
                {
                  personId: '3f0c5a8e-2b1d-4c6e-9a7f-1d2e3f4a5b6c',
                  team: [
                    { memberId: 'assistente-sociale-1', role: 'social_worker' },
                    { memberId: 'operatore-cpi-1', role: 'employment_operator' },
                  ],
                },
              ],
            }),
          response: { 201: z.object({ assessmentId: z.string(), position: z.number() }) },
        },
      },
      async (req, reply) => {
        const { personId, team } = req.body;
        const assessmentId = newId();
        const person = await personFact(personId);
        const started = await run(assessmentId, personId, { type: 'StartAssessment', assessmentId, personId, team, person }, req, true);
        const position = started.globalPositions[0]!;
        return reply.code(201).header('location', `/assessments/${assessmentId}`).send({ assessmentId, position });
      },
    );

    r.get(
      '/assessments/:assessmentId',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor'] },
        schema: {
          tags: ['assessments'],
          summary: 'An assessment: team, need levels, goals; notes and goal texts decrypted for its team members and admins',
          params: AssessmentParams,
          response: { 200: AssessmentView },
        },
      },
      async (req) => {
        const { assessmentId } = req.params;
        const { events, state } = await existing(assessmentId);
        const principal = principalOf(req);
        const mayRead = principal.role === 'admin' || (principal.role === 'team' && state.team.some((m) => m.memberId === principal.sub));
        let decrypted = false;
        const view = await viewOf(
          events,
          mayRead
            ? async (enc) => {
                const text = await keyring.tryDecrypt<string>(enc);
                decrypted ||= text !== undefined;
                return text;
              }
            : async () => undefined,
        );
        // no record, no answer: notes and goals in clear only once their read is in the person's audit stream
        if (decrypted) {
          await recordCaseHistoryRead(store, { personId: view.personId, purpose: 'assessment_view', readBy: principal.sub, assessmentId }, eventContextOf(req, SOURCE, clock.now()));
        }
        return view;
      },
    );

    r.get(
      '/persons/:personId/assessments',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor'] },
        schema: {
          tags: ['assessments'],
          summary: 'The assessments of a person, oldest first',
          description: EVENTUALLY_CONSISTENT,
          params: PersonParams,
          querystring: z.object({ after: AfterPosition }),
          response: { 200: z.object({ personId: z.string(), assessments: z.array(Summary) }) },
        },
      },
      async (req) => {
        const { personId } = req.params;
        await awaitOwnWrite(store, assessments, req.query.after);
        const ids = await assessments.ofPerson(personId);
        if (ids.length === 0 && !(await personFact(personId)).known) throw new NotFoundError('person', personId);
        const list = [];
        for (const id of ids) {
          const v = await viewOf((await existing(id)).events, async () => undefined);
          list.push({
            assessmentId: v.assessmentId,
            status: v.status,
            team: v.team,
            startedAt: v.startedAt,
            closedAt: v.completedAt ?? v.cancelledAt,
            priorityDomains: v.priorityDomains,
          });
        }
        return { personId, assessments: list };
      },
    );

    r.put(
      '/assessments/:assessmentId/domains/:domain',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['assessments'],
          summary: 'Evaluate one life domain (0 no need … 4 severe need); evaluating it again replaces the level',
          description: 'Only members of the assessment’s team, while it is open and the `assessment` consent is active.',
          params: AssessmentParams.extend({ domain: LifeDomain }),
          body: z
            .object({ needLevel: NeedLevel, notes: PersonalText.optional() })
            .strict()
            .meta({ examples: [{ needLevel: 3, notes: 'sfratto esecutivo a gennaio' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { assessmentId, domain } = req.params;
        const { personId } = await existing(assessmentId);
        const person = await personFact(personId);
        const notes = req.body.notes !== undefined ? await encrypt(personId, req.body.notes) : undefined;
        const res = await run(
          assessmentId,
          personId,
          {
            type: 'EvaluateDomain',
            domain,
            needLevel: req.body.needLevel,
            ...(notes ? { notes } : {}),
            evaluatedBy: principalOf(req).sub,
            person,
          },
          req,
        );
        return recorded(assessmentId, res);
      },
    );

    r.post(
      '/assessments/:assessmentId/completion',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['assessments'],
          summary: 'Complete the assessment with the goals of the personal plan',
          description:
            'Needs all seven domains evaluated and at least one goal for every priority domain (level ≥ 3). ' +
            'Priority domains are derived from the levels, never given. Goals address a need (level ≥ 1) and have a target date after today.',
          params: AssessmentParams,
          body: z
            .object({
              goals: z.array(z.object({ domain: LifeDomain, description: PersonalText, targetDate: IsoDate }).strict()).max(50),
            })
            .strict()
            .meta({ examples: [{ goals: [{ domain: 'housing', description: 'trovare un alloggio stabile', targetDate: '2027-06-30' }] }] }),
          response: {
            200: Recorded.extend({
              priorityDomains: z.array(LifeDomain),
              goals: z.array(z.object({ goalId: z.string(), domain: LifeDomain, targetDate: z.string() })),
            }),
          },
        },
      },
      async (req) => {
        const { assessmentId } = req.params;
        const { personId, state, events: before } = await existing(assessmentId);
        // a repeat with other goals is refused: the first completion stands (README, "Repeating an action")
        if (state.status === 'completed') await sameGoalsOrRefuse(before, req.body.goals, (enc) => keyring.decrypt(enc));
        const person = await personFact(personId);
        const goals = [];
        for (const g of req.body.goals) {
          goals.push({ goalId: newId(), domain: g.domain, targetDate: g.targetDate, description: await encrypt(personId, g.description) });
        }
        const res = await run(
          assessmentId,
          personId,
          { type: 'CompleteAssessment', goals, completedBy: principalOf(req).sub, today: localDate(clock.now()), person },
          req,
        );
        // a repeat records nothing and answers with the completion recorded the first time
        const events = (res.events.length ? res.events : (await loadAggregate(store, assessmentStream(assessmentId), assessmentDecider)).events) as RecordedEvent[];
        const completed = events.find((e): e is RecordedEvent<'AssessmentCompleted'> => e.type === 'AssessmentCompleted');
        return {
          ...recorded(assessmentId, res),
          priorityDomains: completed?.data.priorityDomains ?? [],
          goals: (completed?.data.goals ?? []).map(({ goalId, domain, targetDate }) => ({ goalId, domain, targetDate })),
        };
      },
    );

    r.post(
      '/assessments/:assessmentId/cancellation',
      {
        config: { roles: ['team', 'admin'], idempotent: true },
        schema: {
          tags: ['assessments'],
          summary: 'Cancel an open assessment (a member of its team, or an admin)',
          description: 'The reason is a code, never free text: nothing personal is recorded in clear.',
          params: AssessmentParams,
          body: z.object({ reason: z.enum(MANUAL_CANCEL_REASONS) }).strict(),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { assessmentId } = req.params;
        const { personId } = await existing(assessmentId);
        const p = principalOf(req);
        const res = await run(assessmentId, personId, { type: 'CancelAssessment', reason: req.body.reason, cancelledBy: { id: p.sub, role: p.role } }, req);
        return recorded(assessmentId, res);
      },
    );
  };


/** Goals in one comparable form: their order does not matter. */
const goalKey = (goals: ReadonlyArray<{ domain: string; targetDate: string; description: string }>): string =>
  JSON.stringify(goals.map((g) => [g.domain, g.targetDate, g.description.trim()]).sort());

/**
 * A completion sent again: a plain repeat when its goals are the ones recorded
 * (compared decrypted: the stored texts are ciphertext), otherwise 409
 * done_otherwise naming the goals that stand.
 */
async function sameGoalsOrRefuse(
  events: RecordedEvent[],
  goals: ReadonlyArray<{ domain: string; targetDate: string; description: string }>,
  decrypt: (enc: Encrypted) => Promise<unknown>,
): Promise<void> {
  const completed = events.find((e): e is RecordedEvent<'AssessmentCompleted'> => e.type === 'AssessmentCompleted');
  if (!completed) return;
  const stored = [];
  for (const g of completed.data.goals) stored.push({ domain: g.domain, targetDate: g.targetDate, description: String((await decrypt(g.description)) ?? '') });
  if (goalKey(stored) !== goalKey(goals)) {
    throw new DoneOtherwise('completing the assessment', { goals: completed.data.goals.map(({ goalId, domain, targetDate }) => ({ goalId, domain, targetDate })) });
  }
}

/** The assessment as its history tells it; `decrypt` yields undefined for what the caller may not read. */
async function viewOf(events: RecordedEvent[], decrypt: (enc: Encrypted) => Promise<string | undefined>): Promise<AssessmentView> {
  const started = events[0];
  if (started?.type !== 'AssessmentStarted') throw new Error('an assessment stream starts with AssessmentStarted');
  const view: AssessmentView = {
    assessmentId: started.data.assessmentId,
    personId: started.data.personId,
    status: 'open',
    team: started.data.team,
    startedAt: started.time,
    startedBy: started.actor.id,
    evaluations: [],
    needProfile: null,
    priorityDomains: null,
    goals: [],
    completedAt: null,
    cancelledAt: null,
    cancellationReason: null,
  };
  const latest = new Map<string, z.infer<typeof Evaluation>>();
  for (const e of events) {
    switch (e.type) {
      case 'DomainEvaluated':
        latest.set(e.data.domain, {
          domain: e.data.domain,
          needLevel: e.data.needLevel,
          notes: e.data.notes ? ((await decrypt(e.data.notes)) ?? null) : null,
          evaluatedBy: e.data.evaluatedBy,
          evaluatedAt: e.time,
        });
        break;
      case 'AssessmentCompleted':
        view.status = 'completed';
        view.completedAt = e.time;
        view.needProfile = e.data.needProfile;
        view.priorityDomains = e.data.priorityDomains;
        for (const g of e.data.goals) {
          view.goals.push({ goalId: g.goalId, domain: g.domain, targetDate: g.targetDate, description: (await decrypt(g.description)) ?? null });
        }
        break;
      case 'AssessmentCancelled':
        view.status = 'cancelled';
        view.cancelledAt = e.time;
        view.cancellationReason = e.data.reason;
        break;
      default:
        break;
    }
  }
  view.evaluations = LifeDomain.options.flatMap((d) => latest.get(d) ?? []);
  return view;
}
