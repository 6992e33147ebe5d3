import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CancelReason,
  DeclineReason,
  ForbiddenError,
  IsoDate,
  LifeDomain,
  Name,
  NotFoundError,
  Outcome,
  ReferralPriority,
  ReferralStatus,
  Sector,
  ShortText,
  Slug,
  Uuid,
} from '@onestop/events';
import { AfterPosition, awaitOwnWrite, eventContextOf, EVENTUALLY_CONSISTENT, principalOf, ReceiptSchema, receiptOf, type ServiceContext } from '@onestop/kit';
import { referralStream } from '../domain/referral.js';
import type { Referrals } from '../referrals.js';

const SOURCE = '/onestop/referral';
const ReferralParams = z.object({ referralId: Uuid });
const PartnerParams = z.object({ partnerId: Slug });
const Service = z.object({ serviceId: Slug, name: Name, domain: LifeDomain, capacity: z.number().int().min(0).max(100_000) }).strict();
const PartnerView = z.object({
  partnerId: z.string(),
  name: z.string(),
  sector: z.string(),
  services: z.array(
    z.object({
      serviceId: z.string(),
      name: z.string(),
      domain: z.string(),
      capacity: z.number(),
      occupied: z.number().describe('places taken by accepted or started referrals'),
      free: z.number(),
      overbooked: z.boolean().describe('more places taken than the capacity allows: possible only after the capacity was lowered'),
    }),
  ),
  agreements: z.record(z.string(), z.object({ responseDays: z.number() })),
});
const ReferralView = z.object({
  referralId: z.string(),
  personId: z.string(),
  assessmentId: z.string().nullable(),
  partnerId: z.string(),
  serviceId: z.string(),
  domain: z.string().nullable(),
  priority: z.string().nullable(),
  status: z.string().describe('FHIR Task.status: requested, on-hold (waitlisted), accepted, rejected, in-progress, completed, cancelled'),
  statusReason: z
    .string()
    .nullable()
    .describe('why it was declined or cancelled (a code); `consent_withdrawn` or `personal_data_erased` tell the partner to stop processing the person’s data'),
  respondBy: z.string().nullable(),
  overdue: z.boolean(),
  referredAt: z.string().nullable(),
  updatedAt: z.string(),
  expectedDate: z.string().nullable().describe('waitlisted (on-hold): the date the partner expects a place'),
  placeAvailableAt: z.string().nullable().describe('waitlisted: when a freed place of the service was offered to this referral, first in line (null: not yet)'),
  replacesReferralId: z.string().nullable().describe('a re-referral: the declined referral it replaces'),
  replacedBy: z.string().nullable().describe('a declined referral that was re-referred: the referral that replaces it'),
});
const Position = z.number().optional().describe('global position of what was recorded: pass it as `after` to a read to see your own write');
const Done = z.object({ referralId: z.string(), recorded: z.boolean(), revision: z.number(), position: Position });
const Directory = z.object({ partnerId: z.string(), recorded: z.boolean(), revision: z.number(), position: Position });
const ReadAfter = z.object({ after: AfterPosition });
const Answered = Done.extend({ receipt: ReceiptSchema.optional().describe('the answer event in the verifiable log; absent when nothing was recorded') });
const places = (s: { capacity: number }, occupied: number) => ({ occupied, free: Math.max(0, s.capacity - occupied), overbooked: occupied > s.capacity });

export const referralRoutes = (referrals: Referrals): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const ec = (req: Parameters<typeof eventContextOf>[0]) => eventContextOf(req, SOURCE, ctx.clock.now());
    const recorded = (res: { events: unknown[]; revision: number; globalPositions: number[] }) => ({
      recorded: res.events.length > 0,
      revision: res.revision,
      ...(res.globalPositions.length ? { position: res.globalPositions.at(-1)! } : {}),
    });
    const directory = (partnerId: string, res: Parameters<typeof recorded>[0]) => ({ partnerId, ...recorded(res) });
    const done = (referralId: string, res: Parameters<typeof recorded>[0]) => ({ referralId, ...recorded(res) });
    const fresh = (after: number | undefined) => awaitOwnWrite(ctx.store, referrals.view, after);

    // one partner, read from its streams (partner and places): exact, no view
    const partnerView = async (partnerId: string) => {
      const p = await referrals.partner(partnerId);
      const occupied = await referrals.occupied(partnerId, Object.keys(p.services));
      return {
        partnerId,
        name: p.name,
        sector: p.sector ?? 'public',
        services: Object.values(p.services).map((s) => ({ ...s, ...places(s, occupied.get(s.serviceId) ?? 0) })),
        agreements: p.agreements,
      };
    };

    // ── Directory ───────────────────────────────────────────────────────────
    r.post(
      '/partners',
      {
        config: { roles: ['admin'], idempotent: true },
        schema: {
          tags: ['directory'],
          summary: 'Register a partner organisation and its services',
          body: z
            .object({ partnerId: Slug, name: Name, sector: Sector, services: z.array(Service).min(1).max(100) })
            .strict()
            .meta({
              examples: [
                {
                  partnerId: 'caritas-pistoia',
                  name: 'Caritas diocesana di Pistoia',
                  sector: 'third_sector',
                  services: [{ serviceId: 'emporio-solidale', name: 'Emporio solidale', domain: 'economic', capacity: 25 }],
                },
              ],
            }),
          response: { 201: Directory },
        },
      },
      async (req, reply) => {
        const res = await referrals.changeDirectory(req.body.partnerId, { type: 'RegisterPartner', ...req.body }, ec(req));
        return reply.code(201).header('location', `/partners/${req.body.partnerId}`).send(directory(req.body.partnerId, res));
      },
    );

    r.post(
      '/partners/:partnerId/agreements',
      {
        config: { roles: ['admin'], idempotent: true },
        schema: {
          tags: ['directory'],
          summary: 'The partner joins a network agreement (Accordo di Rete) with its response time',
          params: PartnerParams,
          body: z
            .object({ agreementId: Slug.optional(), responseDays: z.number().int().min(1).max(90) })
            .strict()
            .meta({ examples: [{ agreementId: 'accordo-pistoia', responseDays: 5 }] }),
          response: { 201: Directory.describe('joined'), 200: Directory.describe('in the agreement on these terms already: nothing recorded') },
        },
      },
      async (req, reply) => {
        const agreementId = req.body.agreementId ?? ctx.config.ONESTOP_AGREEMENT_ID;
        const res = await referrals.changeDirectory(req.params.partnerId, { type: 'JoinAgreement', agreementId, responseDays: req.body.responseDays }, ec(req));
        // a repeat is 200 with recorded:false, as on every route (README, "Repeating an action")
        return reply.code(res.events.length ? 201 : 200).send(directory(req.params.partnerId, res));
      },
    );

    r.post(
      '/partners/:partnerId/agreements/:agreementId/leave',
      {
        config: { roles: ['admin'], idempotent: true },
        schema: { tags: ['directory'], summary: 'The partner leaves a network agreement', params: PartnerParams.extend({ agreementId: Slug }), response: { 200: Directory } },
      },
      async (req) =>
        directory(req.params.partnerId, await referrals.changeDirectory(req.params.partnerId, { type: 'LeaveAgreement', agreementId: req.params.agreementId }, ec(req))),
    );

    r.put(
      '/partners/:partnerId/services/:serviceId/capacity',
      {
        config: { roles: ['admin', 'partner'], idempotent: true },
        schema: {
          tags: ['directory'],
          summary: 'Change the capacity of a service (an admin, or the partner itself)',
          params: PartnerParams.extend({ serviceId: Slug }),
          body: z
            .object({ capacity: z.number().int().min(0).max(100_000) })
            .strict()
            .meta({ examples: [{ capacity: 40 }] }),
          response: { 200: Directory },
        },
      },
      async (req) => {
        const p = principalOf(req);
        if (p.role === 'partner' && p.partnerId !== req.params.partnerId) throw new ForbiddenError('a partner changes only its own services');
        const res = await referrals.changeDirectory(
          req.params.partnerId,
          { type: 'ChangeServiceCapacity', serviceId: req.params.serviceId, capacity: req.body.capacity },
          ec(req),
        );
        return directory(req.params.partnerId, res);
      },
    );

    r.get(
      '/partners',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor', 'partner'] },
        schema: {
          tags: ['directory'],
          summary: 'The partner directory with free capacity',
          description: `${EVENTUALLY_CONSISTENT} GET /partners/{partnerId} reads one partner exactly.`,
          querystring: ReadAfter,
          response: { 200: z.array(PartnerView) },
        },
      },
      async (req) => {
        await fresh(req.query.after);
        const occupancy = await referrals.view.occupancy();
        return (await referrals.view.partners()).map((p) => ({
          ...p,
          services: p.services.map((s) => ({ ...s, ...places(s, occupancy.get(`${p.partnerId}/${s.serviceId}`) ?? 0) })),
        }));
      },
    );

    r.get(
      '/partners/:partnerId',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor', 'partner'] },
        schema: {
          tags: ['directory'],
          summary: 'One partner',
          description: 'Read from the partner’s and its services’ streams: always up to date.',
          params: PartnerParams,
          response: { 200: PartnerView },
        },
      },
      async (req) => partnerView(req.params.partnerId),
    );

    // ── Referrals (team) ────────────────────────────────────────────────────
    r.post(
      '/referrals',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['referrals'],
          summary: 'Refer a person to a partner service (FHIR Task: requested)',
          body: z
            .object({ personId: Uuid, assessmentId: Uuid, partnerId: Slug, serviceId: Slug, reason: ShortText, priority: ReferralPriority.default('routine') })
            .strict()
            .meta({
              examples: [
                {
                  personId: '3f0c5a8e-2b1d-4c6e-9a7f-1d2e3f4a5b6c',
                  assessmentId: '9d4b2c1a-7e6f-4a5b-8c9d-0e1f2a3b4c5d',
                  partnerId: 'servizi-sociali',
                  serviceId: 'emergenza-abitativa',
                  reason: 'supporto abitativo urgente',
                  priority: 'urgent',
                },
              ],
            }),
          response: { 201: z.object({ referralId: z.string(), respondBy: z.string(), status: z.literal('requested'), position: z.number() }) },
        },
      },
      async (req, reply) => {
        const res = await referrals.refer(req.body, ec(req));
        return reply
          .code(201)
          .header('location', `/referrals/${res.referralId}?after=${res.position}`)
          .send({ referralId: res.referralId, respondBy: res.respondBy, status: 'requested' as const, position: res.position });
      },
    );

    r.get(
      '/referrals/:referralId',
      {
        config: { roles: ['operator', 'team', 'admin', 'auditor', 'partner'] },
        schema: {
          tags: ['referrals'],
          summary: 'A referral (a partner sees only its own)',
          description: EVENTUALLY_CONSISTENT,
          params: ReferralParams,
          querystring: ReadAfter,
          response: { 200: ReferralView },
        },
      },
      async (req) => {
        await fresh(req.query.after);
        const row = await referrals.view.get(req.params.referralId);
        const p = principalOf(req);
        // a partner must not even learn that another partner's referral exists
        if (!row || (p.role === 'partner' && row.partnerId !== p.partnerId)) throw new NotFoundError('referral', req.params.referralId);
        return row;
      },
    );

    r.get(
      '/persons/:personId/referrals',
      {
        config: { roles: ['operator', 'team', 'admin'] },
        schema: {
          tags: ['referrals'],
          summary: 'The referrals of a person',
          description: EVENTUALLY_CONSISTENT,
          params: z.object({ personId: Uuid }),
          querystring: ReadAfter,
          response: { 200: z.array(ReferralView) },
        },
      },
      async (req) => {
        await fresh(req.query.after);
        return referrals.view.list({ personId: req.params.personId });
      },
    );

    r.post(
      '/referrals/:referralId/re-referral',
      {
        config: { roles: ['team'], idempotent: true },
        schema: {
          tags: ['referrals'],
          summary: 'Re-refer a declined referral to another partner or service',
          description:
            'A new referral (every check of POST /referrals) that carries `replacesReferralId`; the declined one shows `replacedBy`. The same re-referral again records nothing (200, the first referral’s id); another one, or re-referring a referral that was not declined, is refused (409).',
          params: ReferralParams,
          body: z
            .object({ partnerId: Slug, serviceId: Slug, reason: ShortText, priority: ReferralPriority.default('routine') })
            .strict()
            .meta({ examples: [{ partnerId: 'caritas-pistoia', serviceId: 'emporio-solidale', reason: 'posto non disponibile presso il primo servizio', priority: 'routine' }] }),
          response: {
            201: z.object({ referralId: z.string(), replacesReferralId: z.string(), recorded: z.literal(true), respondBy: z.string(), status: z.literal('requested'), position: z.number() }),
            200: z.object({ referralId: z.string(), replacesReferralId: z.string(), recorded: z.literal(false) }).describe('re-referred so already: nothing recorded'),
          },
        },
      },
      async (req, reply) => {
        const res = await referrals.reRefer(req.params.referralId, req.body, ec(req));
        if (!res.recorded) return reply.code(200).send({ referralId: res.referralId, replacesReferralId: req.params.referralId, recorded: false as const });
        return reply
          .code(201)
          .header('location', `/referrals/${res.referralId}?after=${res.position}`)
          .send({ referralId: res.referralId, replacesReferralId: req.params.referralId, recorded: true as const, respondBy: res.respondBy!, status: 'requested' as const, position: res.position! });
      },
    );

    r.post(
      '/referrals/:referralId/cancellation',
      {
        config: { roles: ['team', 'admin'], idempotent: true },
        schema: {
          tags: ['referrals'],
          summary: 'Cancel an open referral',
          params: ReferralParams,
          body: z.object({ reason: CancelReason.extract(['team_decision', 'person_request']) }).strict(),
          response: { 200: Done },
        },
      },
      async (req) => done(req.params.referralId, await referrals.cancel(req.params.referralId, req.body.reason, false, ec(req))),
    );

    // ── Partner inbox and answers ───────────────────────────────────────────
    r.get(
      '/partners/:partnerId/referrals',
      {
        config: { roles: ['partner', 'admin'] },
        schema: {
          tags: ['partner inbox'],
          summary: 'A partner’s referrals, id-only (contact details through the audited API)',
          description: EVENTUALLY_CONSISTENT,
          params: PartnerParams,
          querystring: z.object({
            status: ReferralStatus.optional(),
            overdue: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
            after: AfterPosition,
          }),
          response: { 200: z.array(ReferralView) },
        },
      },
      async (req) => {
        const p = principalOf(req);
        if (p.role === 'partner' && p.partnerId !== req.params.partnerId) throw new ForbiddenError('a partner sees only its own inbox');
        const { after, ...filter } = req.query;
        await fresh(after);
        return referrals.view.list({ partnerId: req.params.partnerId, ...filter });
      },
    );

    const answerRoute = <B extends z.ZodType>(path: string, summary: string, body: B, toAnswer: (b: z.infer<B>) => Parameters<Referrals['answer']>[2]) =>
      r.post(
        `/referrals/:referralId/${path}`,
        {
          config: { roles: ['partner'], idempotent: true },
          schema: { tags: ['partner inbox'], summary, params: ReferralParams, body, response: { 200: Answered } },
        },
        async (req) => {
          const p = principalOf(req);
          const res = await referrals.answer(p.partnerId!, req.params.referralId, toAnswer(req.body as z.infer<B>), ec(req));
          // the answer's receipt in the verifiable log (pending until a checkpoint covers it)
          const answer = res.events.find((e) => e.subject === referralStream(req.params.referralId));
          const receipt = answer ? await receiptOf(ctx.store, answer.id) : undefined;
          return { ...done(req.params.referralId, res), ...(receipt ? { receipt } : {}) };
        },
      );

    answerRoute('acceptance', 'Accept a referral (takes a place of the service)', z.object({ expectedStart: IsoDate.optional() }).strict().meta({ examples: [{ expectedStart: '2027-01-15' }] }), (b) => ({
      action: 'accept',
      ...(b.expectedStart ? { expectedStart: b.expectedStart } : {}),
    }));
    answerRoute('decline', 'Decline a referral with a reason', z.object({ reason: DeclineReason, note: ShortText.optional() }).strict().meta({ examples: [{ reason: 'no_capacity', note: 'nessun posto libero fino a marzo' }] }), (b) => ({
      action: 'decline',
      reason: b.reason,
      ...(b.note ? { note: b.note } : {}),
    }));
    answerRoute(
      'waitlist',
      'No free place: put the referral on the service’s waitlist (FHIR Task: on-hold) with the date a place is expected; it holds no place, and is told when one frees up',
      z.object({ expectedDate: IsoDate }).strict().meta({ examples: [{ expectedDate: '2027-02-01' }] }),
      (b) => ({ action: 'waitlist', expectedDate: b.expectedDate }),
    );
    answerRoute('start', 'The service has started (FHIR Task: in-progress)', z.object({}).strict(), () => ({ action: 'start' }));
    answerRoute('completion', 'The service is over, with its outcome', z.object({ outcome: Outcome }).strict(), (b) => ({ action: 'complete', outcome: b.outcome }));
  };
