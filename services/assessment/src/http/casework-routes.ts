import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CaseCloseReason,
  CaseTransferReason,
  GoalProgress,
  IsoDate,
  IsoDateTime,
  KNOWN_PROGRAMMES,
  LifeDomain,
  MeetingKind,
  MeetingModality,
  NotFoundError,
  RuleViolation,
  Slug,
  TeamRole,
  Uuid,
  type Encrypted,
  type EventData,
  type RecordedEvent,
} from '@onestop/events';
import { caseDecider, caseStream } from '@onestop/case';
import { eventContextOf, loadAggregate, newId, principalOf, recordCaseHistoryRead, type CaseFactsView, type ServiceContext } from '@onestop/kit';
import type { Casework, CaseworkResult } from '../casework.js';
import { careStream } from '../domain/care.js';
import { meetingsStream } from '../domain/meetings.js';
import { notesDecider, notesStream, partnerMayRead } from '../domain/notes.js';
import { planStream, type PlanGoal, type RevisePlan } from '../domain/plan.js';
import { encryptFor, endOfLocalDay, localDate } from './personal-text.js';

// The taking-charge routes (docs/casework.md): thin edges over the deciders of
// src/domain. Commands are the team's; reads of decrypted text (closure note,
// plan texts, minutes, notes) are for team members and admins, and each one is
// recorded in the person's read audit before the answer leaves; auditors and
// operators read the structure (codes, dates, owners) with the text null; a
// partner reads only the notes shared with it through a referral still open.

const SOURCE = '/onestop/assessment';
const PersonParams = z.object({ personId: Uuid });
const PersonalText = z.string().trim().min(1).max(4000);
const Member = z.object({ memberId: z.string().trim().min(1).max(200), role: TeamRole }).strict();
/** A goal's or a commitment's owner, as bodies give it (strict: no field is silently dropped). */
const Owner = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('team'), memberId: z.string().trim().min(1).max(200), role: TeamRole }).strict(),
  z.object({ kind: z.literal('partner'), partnerId: Slug, serviceId: Slug.optional() }).strict(),
]);
const Text = z.string().nullable().describe('null when the caller may not read it, or once the personal data is erased');
const Recorded = z.object({
  personId: z.string(),
  recorded: z.boolean().describe('false: the same action was done already (a repeat); nothing was recorded'),
  revision: z.number(),
  position: z.number().optional().describe('the global position of the last event recorded: pass it as `after` to reads of views'),
});
const Created = Recorded.extend({ id: z.string() });
const CaseStatus = z.enum(['none', 'open', 'closed']);

type Req = FastifyRequest;
const readsText = (req: Req) => ['team', 'admin'].includes(principalOf(req).role);

export const caseworkRoutes = (casework: Casework, facts: CaseFactsView): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const { store, keyring, clock } = ctx;
    const ec = (req: Req) => eventContextOf(req, SOURCE, clock.now());
    const encrypt = (personId: string, text: string) => encryptFor(keyring, personId, text);
    const answer = (personId: string, res: CaseworkResult<unknown>) => ({
      personId,
      recorded: res.recorded,
      revision: res.revision,
      ...(res.position !== undefined ? { position: res.position } : {}),
    });
    const by = (req: Req) => principalOf(req).sub;
    /**
     * A decrypter for this caller: team members and admins read, others get
     * null; `audit` records the read (once, if anything was decrypted) before
     * the answer leaves: no record, no answer.
     */
    const reader = (req: Req, personId: string, purpose: EventData<'CaseHistoryRead'>['purpose']) => {
      let decrypted = false;
      const may = readsText(req);
      return {
        text: async (enc: Encrypted | undefined): Promise<string | null> => {
          if (!may || !enc) return null;
          const t = await keyring.tryDecrypt<string>(enc);
          decrypted ||= t !== undefined;
          return t ?? null;
        },
        audit: async () => {
          if (decrypted) await recordCaseHistoryRead(store, { personId, purpose, readBy: principalOf(req).sub }, ec(req));
        },
      };
    };
    const history = async (streamId: string) => (await store.readStream(streamId)) as unknown as RecordedEvent[];

    // ── Case ──────────────────────────────────────────────────────────────────
    r.post(
      '/persons/:personId/case',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Open the person’s case (presa in carico) with its programme, activation date and first case manager',
          description:
            'For a registered person whose data is not erased. The activation date (the digital activation pact) starts the statutory clocks and is not after today. ' +
            'One case per person: the same opening again answers `recorded: false`; other data 409 `done_otherwise`; a closed case is reopened instead.',
          params: PersonParams,
          body: z
            .object({ programme: z.enum(KNOWN_PROGRAMMES), activationDate: IsoDate, accessPoint: Slug, caseManager: Member })
            .strict()
            .meta({ examples: [{ programme: 'adi', activationDate: '2026-10-01', accessPoint: 'pistoia-centro', caseManager: { memberId: 'sw-1', role: 'social_worker' } }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const f = await facts.person(personId);
        const res = await casework.care(
          personId,
          { type: 'OpenCase', personId, ...req.body, openedBy: by(req), today: localDate(clock.now()), person: { known: f !== undefined, erased: f?.erased ?? false } },
          ec(req),
        );
        return answer(personId, res);
      },
    );

    r.post(
      '/persons/:personId/case/transfer',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Hand the case to another case manager, with a coded reason',
          description: 'On an open case. To the current case manager it answers `recorded: false`.',
          params: PersonParams,
          body: z.object({ to: Member, reason: CaseTransferReason }).strict().meta({ examples: [{ to: { memberId: 'sw-2', role: 'social_worker' }, reason: 'workload' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        return answer(personId, await casework.care(personId, { type: 'TransferCase', ...req.body, transferredBy: by(req) }, ec(req)));
      },
    );

    r.post(
      '/persons/:personId/case/closure',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Close the case with a coded reason (`other` needs a note, kept encrypted)',
          description: 'Closing it again for the same reason answers `recorded: false`; for another reason 409 `done_otherwise`.',
          params: PersonParams,
          body: z.object({ reason: CaseCloseReason, note: PersonalText.optional() }).strict().meta({ examples: [{ reason: 'goals_achieved' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const note = req.body.note !== undefined ? await encrypt(personId, req.body.note) : undefined;
        return answer(personId, await casework.care(personId, { type: 'CloseCase', reason: req.body.reason, ...(note ? { note } : {}), closedBy: by(req) }, ec(req)));
      },
    );

    r.post(
      '/persons/:personId/case/reopening',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Reopen a closed case, optionally under a new activation pact (which restarts the clocks)',
          params: PersonParams,
          body: z.object({ activationDate: IsoDate.optional() }).strict().meta({ examples: [{ activationDate: '2027-01-08' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const { activationDate } = req.body;
        return answer(
          personId,
          await casework.care(personId, { type: 'ReopenCase', reopenedBy: by(req), ...(activationDate ? { activationDate } : {}), today: localDate(clock.now()) }, ec(req)),
        );
      },
    );

    const CaseStep = z.object({
      type: z.string(),
      at: z.string(),
      by: z.string(),
      reason: z.string().nullable(),
      caseManager: Member.nullable(),
      activationDate: z.string().nullable(),
      note: Text,
    });
    r.get(
      '/persons/:personId/case',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor'] },
        schema: {
          tags: ['casework'],
          summary: 'The person’s case: programme, clocks’ start, case manager, and its history (the closure note decrypted for team members and admins)',
          params: PersonParams,
          response: {
            200: z.object({
              personId: z.string(),
              status: CaseStatus,
              programme: z.string(),
              activationDate: z.string(),
              accessPoint: z.string(),
              caseManager: Member.nullable(),
              history: z.array(CaseStep),
            }),
          },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const events = await history(careStream(personId));
        if (events.length === 0) throw new NotFoundError('case', personId);
        const read = reader(req, personId, 'care_case');
        const view = { personId, status: 'open' as z.infer<typeof CaseStatus>, programme: '', activationDate: '', accessPoint: '', caseManager: null as z.infer<typeof Member> | null };
        const steps: Array<z.infer<typeof CaseStep>> = [];
        for (const e of events) {
          const step = { type: e.type, at: e.time, by: e.actor.id, reason: null, caseManager: null, activationDate: null, note: null };
          switch (e.type) {
            case 'CaseOpened':
              Object.assign(view, { programme: e.data.programme, activationDate: e.data.activationDate, accessPoint: e.data.accessPoint, status: 'open' });
              steps.push({ ...step, activationDate: e.data.activationDate });
              break;
            case 'CaseManagerAssigned':
              view.caseManager = e.data.caseManager;
              steps.push({ ...step, caseManager: e.data.caseManager });
              break;
            case 'CaseTransferred':
              view.caseManager = e.data.to;
              steps.push({ ...step, caseManager: e.data.to, reason: e.data.reason });
              break;
            case 'CaseClosed':
              view.status = 'closed';
              steps.push({ ...step, reason: e.data.reason, note: await read.text(e.data.note) });
              break;
            case 'CaseReopened':
              view.status = 'open';
              if (e.data.activationDate) view.activationDate = e.data.activationDate;
              steps.push({ ...step, activationDate: e.data.activationDate ?? null });
              break;
            default:
              break;
          }
        }
        await read.audit();
        return { ...view, history: steps };
      },
    );

    // ── Personal plan ─────────────────────────────────────────────────────────
    const Commitments = {
      personCommitments: z.array(PersonalText).max(30),
      serviceCommitments: z.array(z.object({ owner: Owner, text: PersonalText }).strict()).max(30),
    };
    const encryptCommitments = async (personId: string, b: { personCommitments: string[]; serviceCommitments: Array<{ owner: z.infer<typeof Owner>; text: string }> }) => ({
      personCommitments: await Promise.all(b.personCommitments.map((t) => encrypt(personId, t))),
      serviceCommitments: await Promise.all(b.serviceCommitments.map(async (c) => ({ owner: c.owner, text: await encrypt(personId, c.text) }))),
    });

    r.post(
      '/persons/:personId/plan',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Agree the personal plan from the completed assessment: an owner for each of its goals, commitments, a review date',
          description:
            'On an open case, from a completed assessment of the person. Every goal of the assessment needs an owner (a team member or a partner’s service); ' +
            'further goals may be added. The review date is after today. Texts are encrypted with the person’s key.',
          params: PersonParams,
          body: z
            .object({
              assessmentId: Uuid,
              owners: z.array(z.object({ goalId: Uuid, owner: Owner }).strict()).max(50),
              goals: z.array(z.object({ domain: LifeDomain, description: PersonalText, targetDate: IsoDate, owner: Owner }).strict()).max(50).default([]),
              ...Commitments,
              reviewDate: IsoDate,
            })
            .strict()
            .meta({
              examples: [
                {
                  assessmentId: '7d1e2f3a-4b5c-4d6e-8f70-819203a4b5c6',
                  owners: [{ goalId: '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d', owner: { kind: 'partner', partnerId: 'caritas', serviceId: 'casa' } }],
                  goals: [],
                  personCommitments: ['partecipare ai colloqui al centro per l’impiego'],
                  serviceCommitments: [{ owner: { kind: 'team', memberId: 'eo-1', role: 'employment_operator' }, text: 'proporre un tirocinio' }],
                  reviewDate: '2027-01-15',
                },
              ],
            }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const b = req.body;
        const extraGoals: PlanGoal[] = [];
        for (const g of b.goals) extraGoals.push({ goalId: newId(), domain: g.domain, description: await encrypt(personId, g.description), targetDate: g.targetDate, owner: g.owner });
        const commitments = await encryptCommitments(personId, b);
        const today = localDate(clock.now());
        const res = await casework.plan(
          personId,
          (care, assessment) => ({
            type: 'AgreePlan',
            personId,
            assessment: assessment!,
            owners: b.owners,
            extraGoals,
            ...commitments,
            reviewDate: b.reviewDate,
            agreedBy: by(req),
            today,
            care,
          }),
          ec(req),
          b.assessmentId,
        );
        return answer(personId, res);
      },
    );

    r.post(
      '/persons/:personId/plan/revisions',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Revise the plan: its whole new content, a new version',
          description:
            'A goal sent with its `goalId` and no description keeps its description; a goal without `goalId` is new and needs one. ' +
            'Every priority domain of the assessment keeps a goal. Commitments are sent in full each time.',
          params: PersonParams,
          body: z
            .object({
              goals: z
                .array(z.object({ goalId: Uuid.optional(), domain: LifeDomain, description: PersonalText.optional(), targetDate: IsoDate, owner: Owner }).strict())
                .min(1)
                .max(50),
              ...Commitments,
              reviewDate: IsoDate,
              reason: z.enum(['review', 'new_needs', 'goal_change', 'owner_change', 'other']),
            })
            .strict()
            .meta({
              examples: [
                {
                  goals: [{ goalId: '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d', domain: 'housing', targetDate: '2027-06-30', owner: { kind: 'partner', partnerId: 'caritas' } }],
                  personCommitments: [],
                  serviceCommitments: [],
                  reviewDate: '2027-04-15',
                  reason: 'review',
                },
              ],
            }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const b = req.body;
        const goals: RevisePlan['goals'] = [];
        for (const g of b.goals) {
          if (g.goalId === undefined && g.description === undefined) {
            throw new RuleViolation('description_required', 'a new goal (no goalId) needs a description');
          }
          const description = g.description !== undefined ? await encrypt(personId, g.description) : undefined;
          goals.push({ goalId: g.goalId ?? newId(), domain: g.domain, targetDate: g.targetDate, owner: g.owner, ...(description ? { description } : {}) });
        }
        const commitments = await encryptCommitments(personId, b);
        const today = localDate(clock.now());
        const res = await casework.plan(
          personId,
          (care, assessment) => ({
            type: 'RevisePlan',
            goals,
            ...commitments,
            reviewDate: b.reviewDate,
            reason: b.reason,
            revisedBy: by(req),
            priorityDomains: assessment?.priorityDomains ?? [],
            today,
            care,
          }),
          ec(req),
        );
        return answer(personId, res);
      },
    );

    r.post(
      '/persons/:personId/plan/goals/:goalId/progress',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Record a goal’s progress (a new version of the plan), with an optional note kept encrypted',
          description: 'The same progress again without a note answers `recorded: false`.',
          params: PersonParams.extend({ goalId: Uuid }),
          body: z.object({ progress: GoalProgress, note: PersonalText.optional() }).strict().meta({ examples: [{ progress: 'partially_achieved', note: 'colloquio svolto' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId, goalId } = req.params;
        const note = req.body.note !== undefined ? await encrypt(personId, req.body.note) : undefined;
        const today = localDate(clock.now());
        const res = await casework.plan(
          personId,
          (care) => ({ type: 'RecordGoalProgress', goalId, progress: req.body.progress, ...(note ? { note } : {}), recordedBy: by(req), today, care }),
          ec(req),
        );
        return answer(personId, res);
      },
    );

    const GoalView = z.object({
      goalId: z.string(),
      domain: LifeDomain,
      description: Text,
      targetDate: z.string(),
      owner: Owner,
      progress: GoalProgress.nullable(),
      progressNote: Text,
      progressAt: z.string().nullable(),
    });
    r.get(
      '/persons/:personId/plan',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor'] },
        schema: {
          tags: ['casework'],
          summary: 'The personal plan, now or as it stood on a date (`asOf`): version, goals with owners and progress, commitments, review date',
          description:
            'Derived from the plan’s events recorded up to `asOf` (an instant with offset, or a date: the end of that day in Italy). ' +
            'Texts are decrypted for team members and admins only, and the read is recorded.',
          params: PersonParams,
          querystring: z.object({ asOf: z.union([IsoDateTime, IsoDate]).optional() }),
          response: {
            200: z.object({
              personId: z.string(),
              asOf: z.string(),
              version: z.number(),
              assessmentId: z.string(),
              agreedAt: z.string(),
              changedAt: z.string(),
              reviewDate: z.string(),
              goals: z.array(GoalView),
              personCommitments: z.array(Text),
              serviceCommitments: z.array(z.object({ owner: Owner, text: Text })),
            }),
          },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const { asOf } = req.query;
        const until = asOf === undefined ? clock.now() : asOf.length === 10 ? endOfLocalDay(asOf) : new Date(asOf);
        const events = (await history(planStream(personId))).filter((e) => Date.parse(e.time) <= until.getTime());
        if (!events.some((e) => e.type === 'PlanAgreed')) throw new NotFoundError('plan', personId);
        const read = reader(req, personId, 'care_plan');
        let content: EventData<'PlanAgreed'> | EventData<'PlanRevised'> | undefined;
        let agreedAt = '';
        let changedAt = '';
        let version = 0;
        let progress = new Map<string, { progress: z.infer<typeof GoalProgress>; note?: Encrypted; at: string }>();
        for (const e of events) {
          changedAt = e.time;
          if (e.type === 'PlanAgreed') {
            content = e.data;
            agreedAt = e.time;
            version = e.data.version;
            progress = new Map();
          } else if (e.type === 'PlanRevised') {
            content = e.data;
            version = e.data.version;
          } else if (e.type === 'GoalProgressRecorded') {
            version = e.data.version;
            progress.set(e.data.goalId, { progress: e.data.progress, ...(e.data.note ? { note: e.data.note } : {}), at: e.time });
          }
        }
        const plan = content!;
        const goals = [];
        for (const g of plan.goals) {
          const p = progress.get(g.goalId);
          goals.push({
            goalId: g.goalId,
            domain: g.domain,
            description: await read.text(g.description),
            targetDate: g.targetDate,
            owner: g.owner,
            progress: p?.progress ?? null,
            progressNote: await read.text(p?.note),
            progressAt: p?.at ?? null,
          });
        }
        const personCommitments = [];
        for (const c of plan.personCommitments) personCommitments.push(await read.text(c));
        const serviceCommitments = [];
        for (const c of plan.serviceCommitments) serviceCommitments.push({ owner: c.owner, text: await read.text(c.text) });
        await read.audit();
        return {
          personId,
          asOf: until.toISOString(),
          version,
          assessmentId: plan.assessmentId,
          agreedAt,
          changedAt,
          reviewDate: plan.reviewDate,
          goals,
          personCommitments,
          serviceCommitments,
        };
      },
    );

    // ── Meetings ──────────────────────────────────────────────────────────────
    const MeetingParams = PersonParams.extend({ meetingId: Uuid });
    const Where = { at: IsoDateTime, modality: MeetingModality, place: Slug.optional().describe('an office or access point code; never an address') };
    r.post(
      '/persons/:personId/meetings',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Schedule a meeting with the person (first meeting, review, other)',
          description: 'On an open case. At most one first meeting waits at a time.',
          params: PersonParams,
          body: z.object({ kind: MeetingKind, ...Where }).strict().meta({ examples: [{ kind: 'first_meeting', at: '2026-11-02T09:30:00+01:00', modality: 'in_person', place: 'pistoia-centro' }] }),
          response: { 201: Created },
        },
      },
      async (req, reply) => {
        const { personId } = req.params;
        const meetingId = newId();
        const { place, ...rest } = req.body;
        const res = await casework.meeting(personId, (care) => ({ type: 'ScheduleMeeting', meetingId, ...rest, ...(place ? { place } : {}), scheduledBy: by(req), care }), ec(req));
        return reply.code(201).header('location', `/persons/${personId}/meetings`).send({ id: meetingId, ...answer(personId, res) });
      },
    );

    r.post(
      '/persons/:personId/meetings/:meetingId/rescheduling',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Move a scheduled meeting to another time, modality or place, with a coded reason',
          params: MeetingParams,
          body: z.object({ ...Where, reason: z.enum(['person_request', 'team_request', 'other']) }).strict().meta({ examples: [{ at: '2026-11-04T09:30:00+01:00', modality: 'video', reason: 'person_request' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId, meetingId } = req.params;
        const { place, ...rest } = req.body;
        return answer(personId, await casework.meeting(personId, (care) => ({ type: 'RescheduleMeeting', meetingId, ...rest, ...(place ? { place } : {}), rescheduledBy: by(req), care }), ec(req)));
      },
    );

    r.post(
      '/persons/:personId/meetings/:meetingId/held',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Record a meeting as held: when, who attended, the minutes (encrypted with the person’s key)',
          params: MeetingParams,
          body: z
            .object({
              heldAt: IsoDateTime,
              personAttended: z.boolean(),
              attendees: z.array(Member).max(30),
              partnerIds: z.array(Slug).max(30).default([]),
              minutes: z.string().trim().min(1).max(20_000).optional(),
            })
            .strict()
            .meta({ examples: [{ heldAt: '2026-11-02T09:40:00+01:00', personAttended: true, attendees: [{ memberId: 'sw-1', role: 'social_worker' }], partnerIds: [], minutes: 'primo colloquio' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId, meetingId } = req.params;
        const { minutes: text, ...rest } = req.body;
        const minutes = text !== undefined ? await encrypt(personId, text) : undefined;
        const now = clock.now().toISOString();
        return answer(
          personId,
          await casework.meeting(personId, (care) => ({ type: 'HoldMeeting', meetingId, ...rest, ...(minutes ? { minutes } : {}), recordedBy: by(req), now, care }), ec(req)),
        );
      },
    );

    r.post(
      '/persons/:personId/meetings/:meetingId/missed',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Record a meeting as missed, justified or not, with a coded reason and an optional note (encrypted)',
          params: MeetingParams,
          body: z
            .object({
              justified: z.boolean(),
              reason: z.enum(['illness', 'work', 'family_care', 'transport', 'not_reached', 'no_show', 'other']),
              note: PersonalText.optional(),
            })
            .strict()
            .meta({ examples: [{ justified: true, reason: 'illness' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId, meetingId } = req.params;
        const { note: text, ...rest } = req.body;
        const note = text !== undefined ? await encrypt(personId, text) : undefined;
        const now = clock.now().toISOString();
        return answer(personId, await casework.meeting(personId, (care) => ({ type: 'MissMeeting', meetingId, ...rest, ...(note ? { note } : {}), recordedBy: by(req), now, care }), ec(req)));
      },
    );

    const MeetingView = z.object({
      meetingId: z.string(),
      kind: MeetingKind,
      at: z.string(),
      modality: MeetingModality,
      place: z.string().nullable(),
      status: z.enum(['scheduled', 'held', 'missed']),
      rescheduled: z.number().describe('times it was moved'),
      heldAt: z.string().nullable(),
      personAttended: z.boolean().nullable(),
      attendees: z.array(Member),
      partnerIds: z.array(z.string()),
      minutes: Text,
      justified: z.boolean().nullable(),
      missedReason: z.string().nullable(),
      missedNote: Text,
    });
    r.get(
      '/persons/:personId/meetings',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor'] },
        schema: {
          tags: ['casework'],
          summary: 'The person’s meetings, in the order they were scheduled; minutes and notes decrypted for team members and admins',
          params: PersonParams,
          response: { 200: z.object({ personId: z.string(), meetings: z.array(MeetingView) }) },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const read = reader(req, personId, 'meeting_minutes');
        const meetings = new Map<string, z.infer<typeof MeetingView>>();
        for (const e of await history(meetingsStream(personId))) {
          if (e.type === 'MeetingScheduled') {
            const { meetingId, kind, at, modality, place } = e.data;
            meetings.set(meetingId, {
              meetingId, kind, at, modality, place: place ?? null, status: 'scheduled', rescheduled: 0,
              heldAt: null, personAttended: null, attendees: [], partnerIds: [], minutes: null, justified: null, missedReason: null, missedNote: null,
            });
            continue;
          }
          if (e.type !== 'MeetingRescheduled' && e.type !== 'MeetingHeld' && e.type !== 'MeetingMissed') continue;
          const m = meetings.get(e.data.meetingId)!;
          if (e.type === 'MeetingRescheduled') Object.assign(m, { at: e.data.at, modality: e.data.modality, place: e.data.place ?? null, rescheduled: m.rescheduled + 1 });
          if (e.type === 'MeetingHeld') {
            Object.assign(m, { status: 'held', heldAt: e.data.heldAt, personAttended: e.data.personAttended, attendees: e.data.attendees, partnerIds: e.data.partnerIds, minutes: await read.text(e.data.minutes) });
          }
          if (e.type === 'MeetingMissed') Object.assign(m, { status: 'missed', justified: e.data.justified, missedReason: e.data.reason, missedNote: await read.text(e.data.note) });
        }
        await read.audit();
        return { personId, meetings: [...meetings.values()] };
      },
    );

    // ── Case notes ────────────────────────────────────────────────────────────
    r.post(
      '/persons/:personId/notes',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['casework'],
          summary: 'Write a case note (encrypted with the person’s key), for the team or shared with the partner of an open referral',
          description:
            '`team`: team members and admins read it. `shared`: also the partner of `referralId`, which must be an open referral of the person; ' +
            'the partner reads it only while that referral stays open.',
          params: PersonParams,
          body: z
            .object({ text: z.string().trim().min(1).max(20_000), visibility: z.enum(['team', 'shared']), referralId: Uuid.optional() })
            .strict()
            .meta({ examples: [{ text: 'la persona preferisce essere contattata al mattino', visibility: 'shared', referralId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b' }] }),
          response: { 201: Created },
        },
      },
      async (req, reply) => {
        const { personId } = req.params;
        const { text, visibility, referralId } = req.body;
        const noteId = newId();
        const enc = await encrypt(personId, text);
        const res = await casework.note(
          personId,
          (care, openReferrals) => ({ type: 'WriteNote', noteId, text: enc, visibility, ...(referralId ? { referralId } : {}), writtenBy: by(req), care, openReferrals }),
          ec(req),
        );
        return reply.code(201).header('location', `/persons/${personId}/notes`).send({ id: noteId, ...answer(personId, res) });
      },
    );

    r.get(
      '/persons/:personId/notes',
      {
        config: { roles: ['team', 'admin', 'auditor', 'partner'] },
        schema: {
          tags: ['casework'],
          summary: 'The person’s case notes, oldest first: all of them for the team (decrypted), only those shared with it through a referral still open for a partner',
          description:
            'Auditors see who wrote what when, with the text null. A partner with no open referral of the person gets 404, as for a person it does not know.',
          params: PersonParams,
          response: {
            200: z.object({
              personId: z.string(),
              notes: z.array(
                z.object({
                  noteId: z.string(),
                  visibility: z.enum(['team', 'shared']),
                  referralId: z.string().nullable(),
                  partnerId: z.string().nullable(),
                  writtenBy: z.string(),
                  writtenAt: z.string(),
                  text: Text,
                }),
              ),
            }),
          },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const p = principalOf(req);
        const events = await history(notesStream(personId));
        let visible = events;
        let partnerReferral: string | undefined;
        if (p.role === 'partner') {
          // checked now, on the person's reservation stream: a closed referral ends the partner's access
          const { openReferrals } = (await loadAggregate(store, caseStream(personId), caseDecider)).state;
          partnerReferral = Object.entries(openReferrals).find(([, o]) => o.partnerId === p.partnerId)?.[0];
          if (!partnerReferral) throw new NotFoundError('person', personId);
          visible = events.filter((e) => {
            if (e.type !== 'CaseNoteWritten') return false;
            const note = notesDecider.evolve(notesDecider.initialState, e as never).notes[e.data.noteId]!;
            return partnerMayRead(note, p.partnerId!, openReferrals);
          });
        }
        let decrypted = false;
        const notes = [];
        for (const e of visible) {
          if (e.type !== 'CaseNoteWritten') continue;
          let text: string | null = null;
          if (p.role !== 'auditor') {
            text = (await keyring.tryDecrypt<string>(e.data.text)) ?? null;
            decrypted ||= text !== null;
          }
          notes.push({
            noteId: e.data.noteId,
            visibility: e.data.visibility,
            referralId: e.data.referralId ?? null,
            partnerId: e.data.partnerId ?? null,
            writtenBy: e.data.writtenBy,
            writtenAt: e.time,
            text,
          });
        }
        // no record, no answer: the read names the partner's referral when a partner read
        if (decrypted) {
          await recordCaseHistoryRead(store, { personId, purpose: 'case_notes', readBy: p.sub, ...(partnerReferral ? { referralId: partnerReferral } : {}) }, ec(req));
        }
        return { personId, notes };
      },
    );
  };
