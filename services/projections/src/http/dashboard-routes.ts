import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ConflictError, LifeDomain, NotFoundError, ReferralStatus, Slug, Uuid } from '@onestop/events';
import { AfterPosition, awaitOwnWrite, EVENTUALLY_CONSISTENT, type Role, type ServiceContext } from '@onestop/kit';
import { addDays, dayOf } from '@onestop/assessment';
import type { Projections } from '../projections.js';

// The dashboards of the network agreement (DESIGN §7), read from the read
// models: eventually consistent with the event store, never with personal data.

const READERS: readonly Role[] = ['operator', 'team', 'admin', 'auditor'];
const Paging = { limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).max(1_000_000).default(0) };
const count = z.number().int();
const hours = z.number().nullable();

const Overview = z.object({
  persons: z.object({ registered: count, erased: count, withAssessmentConsent: count, withReferralSharingConsent: count }),
  assessments: z.object({ open: count, completed: count, cancelled: count }),
  referrals: z.object({ total: count, open: count, overdue: count.describe('still requested after the agreed answer date') }),
  partners: z.object({ total: count, inAgreement: count, services: count }),
});
const share = z.number().nullable().describe('a share from 0 to 1; null when nothing is settled yet');
const Casework = z.object({
  week: z.object({ from: z.string(), to: z.string() }).describe('Monday to Sunday, Europe/Rome'),
  deadlinesDue: z
    .array(
      z.object({
        caseManager: z.string().nullable(),
        deadlines: z.array(
          z.object({
            personId: z.string(),
            deadlineId: z.string(),
            kind: z.string(),
            programme: z.string(),
            dueDate: z.string(),
            accessPoint: z.string().nullable(),
            missed: z.boolean().describe('already past its due date'),
          }),
        ),
      }),
    )
    .describe('statutory deadlines due this week, not met yet, of open cases, per case manager'),
  firstMeetings: z
    .array(
      z.object({
        accessPoint: z.string().nullable(),
        settled: count.describe('first-meeting deadlines met or missed'),
        withinRecommended: count.describe('met by the recommended date (ADI: 60 days from activation)'),
        withinDue: count.describe('met by the due date (ADI: 120 days)'),
        stillMissing: count.describe('missed and not held since'),
        shareWithinRecommended: share,
        shareWithinDue: share,
      }),
    )
    .describe('first meetings by access point'),
  reviews: z.array(z.object({ kind: z.enum(['plan_review', 'review']), settled: count, onTime: count, shareOnTime: share })).describe('reviews on time'),
  waitlists: z
    .array(z.object({ partnerId: z.string(), serviceId: z.string(), waiting: count, earliestExpected: z.string().nullable(), waitingSince: z.string().nullable() }))
    .describe('referrals on hold for a place, per service'),
});
const Funnel = z.object({ referred: count, accepted: count, started: count, completed: count, declined: count, cancelled: count, open: count });
const PartnerStatistics = z.object({
  partnerId: z.string(),
  name: z.string().nullable(),
  sector: z.string().nullable(),
  received: count,
  accepted: count,
  declined: count,
  declinedByReason: z.record(z.string(), count),
  started: count,
  completed: count,
  completedByOutcome: z.record(z.string(), count),
  cancelled: count,
  overdue: count,
  medianHoursToAnswer: hours.describe('median of (first of accepted/declined − referred), in hours'),
  medianHoursToStart: hours.describe('median of (started − referred), in hours'),
});
const ts = z.string().nullable();
const Referral = z.object({
  referralId: z.string(),
  personId: z.string(),
  assessmentId: z.string(),
  partnerId: z.string(),
  serviceId: z.string(),
  domain: z.string(),
  priority: z.string(),
  status: z.string().describe('FHIR Task.status'),
  referredBy: z.string(),
  referredAt: z.string(),
  respondBy: z.string(),
  acceptedAt: ts,
  expectedStart: ts,
  declinedAt: ts,
  declineReason: ts,
  startedAt: ts,
  completedAt: ts,
  outcome: ts,
  cancelledAt: ts,
  cancelReason: ts,
  overdue: z.boolean().describe('marked late by the SLA watcher (stays true once the answer comes)'),
  overdueAt: ts,
});
const Levels = z.object({ '0': count, '1': count, '2': count, '3': count, '4': count });
const NeedLevels = z.object({ domain: z.string(), assessments: count, averageLevel: z.number(), levels: Levels });
const NeedProfiles = z.object({
  byDomain: z.array(NeedLevels),
  byAccessPoint: z.array(NeedLevels.extend({ accessPoint: z.string().nullable() })),
});
const Caseload = z.object({
  operators: z.array(z.object({ operator: z.string(), persons: count, registered: count, erased: count })),
  teamMembers: z.array(z.object({ memberId: z.string(), role: z.string(), assessments: count, open: count, completed: count, cancelled: count })),
});
const CaseOverview = z.object({
  personId: z.string(),
  person: z
    .object({
      accessPoint: z.string(),
      municipality: z.string(),
      birthYear: count,
      registeredBy: z.string(),
      registeredAt: z.string(),
      status: z.string(),
      consents: z.object({ assessment: z.boolean(), referral_sharing: z.boolean() }),
      erasedAt: ts,
    })
    .nullable(),
  assessments: count,
  assessmentsCompleted: count,
  referrals: count,
  openReferrals: count,
  overdueReferrals: count,
  streams: z.array(z.string()),
});
const Assessment = z.object({
  assessmentId: z.string(),
  personId: z.string(),
  status: z.string(),
  team: z.array(z.object({ memberId: z.string(), role: z.string() })),
  levels: z.record(z.string(), count),
  needProfile: z.record(z.string(), count).nullable(),
  priorityDomains: z.array(z.string()).nullable(),
  goals: count.nullable(),
  startedAt: z.string(),
  completedAt: ts,
  cancelledAt: ts,
});
const RebuildStatus = z.object({
  running: z.boolean(),
  progress: z
    .object({ phase: z.string(), events: count, position: count, headPosition: count, skipped: count })
    .nullable(),
  last: z.object({ events: count, position: count, durationMs: count, eventsPerSecond: count, skipped: count, swapAttempts: count }).nullable(),
  error: z.string().nullable(),
});

export const dashboardRoutes = (projections: Projections): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const rm = projections.readModels;
    const get = { config: { roles: READERS } };
    // every dashboard read is served from the read models, a view of the bus: each
    // says so, and takes `after` to wait for the caller's own write
    app.addHook('onRoute', (route) => {
      if (route.method !== 'GET' || !route.url.startsWith('/api/') || route.url === '/api/rebuild') return;
      const schema = (route.schema ??= {}) as { querystring?: z.ZodObject; description?: string };
      schema.querystring = (schema.querystring ?? z.object({})).extend({ after: AfterPosition });
      schema.description = schema.description ? `${schema.description} ${EVENTUALLY_CONSISTENT}` : EVENTUALLY_CONSISTENT;
      const before = route.preHandler ? [route.preHandler].flat() : [];
      route.preHandler = [...before, async (req) => awaitOwnWrite(ctx.store, rm, (req.query as { after?: number }).after)];
    });

    r.get('/api/overview', { ...get, schema: { tags: ['dashboards'], summary: 'Totals of the network', response: { 200: Overview } } }, () =>
      rm.overview(),
    );

    r.get(
      '/api/funnel',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Referral funnel: referred → accepted → started → completed, and declined / cancelled',
          querystring: z.object({ partnerId: Slug.optional(), domain: LifeDomain.optional() }),
          response: { 200: Funnel },
        },
      },
      (req) => rm.funnel(req.query),
    );

    r.get(
      '/api/partners',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Partner statistics: received, accepted, declined by reason, completed by outcome, median times to answer and to start',
          response: { 200: z.array(PartnerStatistics) },
        },
      },
      () => rm.partnerStatistics(),
    );

    r.get(
      '/api/referrals',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Referrals with status, timestamps and overdue flag, newest first',
          querystring: z.object({
            status: ReferralStatus.optional(),
            overdue: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
            partnerId: Slug.optional(),
            ...Paging,
          }),
          response: { 200: z.array(Referral) },
        },
      },
      (req) => rm.referrals(req.query),
    );

    r.get(
      '/api/referrals/overdue',
      {
        ...get,
        schema: { tags: ['dashboards'], summary: 'Referrals still waiting for an answer after the agreed date', response: { 200: z.array(Referral) } },
      },
      () => rm.overdueReferrals(),
    );

    r.get(
      '/api/need-profiles',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Completed assessments per domain and need level, overall and per access point',
          response: { 200: NeedProfiles },
        },
      },
      () => rm.needProfiles(),
    );

    r.get(
      '/api/casework',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Taking charge: deadlines due this week per case manager, first meetings within 60 and 120 days per access point, reviews on time, waitlists per service',
          querystring: z.object({ day: z.iso.date().optional().describe("any day of the week to show (default: today, by the platform's clock)") }),
          response: { 200: Casework },
        },
      },
      async (req) => {
        const day = req.query.day ?? dayOf(ctx.clock.now());
        // Monday of that week: getUTCDay of a date at midnight UTC is its weekday
        const monday = addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7));
        return (await rm.casework({ from: monday, to: addDays(monday, 6) })) as z.infer<typeof Casework>;
      },
    );

    r.get(
      '/api/caseload',
      {
        ...get,
        schema: { tags: ['dashboards'], summary: 'Persons registered per operator; assessments per team member', response: { 200: Caseload } },
      },
      () => rm.caseload(),
    );

    r.get(
      '/api/cases',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'Case overview per person, newest registration first',
          querystring: z.object({ accessPoint: Slug.optional(), ...Paging }),
          response: { 200: z.array(CaseOverview) },
        },
      },
      (req) => rm.caseOverviews(req.query),
    );

    r.get(
      '/api/cases/:personId',
      {
        ...get,
        schema: {
          tags: ['dashboards'],
          summary: 'One case: the person, counts, assessments and referrals',
          params: z.object({ personId: Uuid }),
          response: { 200: CaseOverview.extend({ assessmentList: z.array(Assessment), referralList: z.array(Referral) }) },
        },
      },
      async (req) => {
        const overview = await rm.caseOverview(req.params.personId);
        if (!overview) throw new NotFoundError('case', req.params.personId);
        return overview;
      },
    );

    r.post(
      '/api/rebuild',
      {
        config: { roles: ['admin'] },
        schema: {
          tags: ['operations'],
          summary: 'Rebuilds the read models from the event store (in the background; the current ones answer meanwhile)',
          response: { 202: RebuildStatus },
        },
      },
      async (req, reply) => {
        if (projections.rebuildStatus().running) throw new ConflictError('rebuild_running', 'a rebuild of the read models is already running');
        projections.rebuild().catch((err: unknown) => req.log.error({ err }, 'rebuild of the read models failed'));
        return reply.code(202).send(projections.rebuildStatus());
      },
    );

    r.get(
      '/api/rebuild',
      {
        config: { roles: ['admin'] },
        schema: { tags: ['operations'], summary: 'Progress of the current (or last) rebuild', response: { 200: RebuildStatus } },
      },
      () => projections.rebuildStatus(),
    );
  };
