import { TOPICS, type RecordedEvent } from '@onestop/events';
import { CaseFactsView, every, type ServiceContext, type ServiceModule } from '@onestop/kit';
import { referralRoutes } from './http/routes.js';
import { sendOutcome } from './fhir/http.js';
import { fhirRoutes } from './fhir/routes.js';
import { Subscriptions } from './fhir/subscriptions.js';
import { GoalView } from './goal-view.js';
import { PartnerGateway } from './partner-gateway.js';
import { ReferralView } from './referral-view.js';
import { Referrals } from './referrals.js';
import { backfillReservations } from './reservations-backfill.js';

export interface ReferralModuleOptions {
  /** how often the SLA watcher looks for late answers (ms) */
  slaIntervalMs?: number;
  /** longest pause between retries of a FHIR notification (ms) */
  fhirRetryMaxMs?: number;
}

/**
 * What the referral service does with the facts it hears, after its facts view
 * applied them (same batch, in log order), each effect idempotent:
 * - referral_sharing withdrawn: the open referrals made under the consent it
 *   ends are cancelled; erasure: every open referral is cancelled;
 * - a referral seen after the end of the consent it was made under (a request
 *   that raced the withdrawal through a view not yet up to date) is cancelled.
 */
function consentWatch(r: Referrals) {
  return async (batch: readonly RecordedEvent[]): Promise<void> => {
    for (const e of batch) {
      if (e.type === 'ConsentWithdrawn' && e.data.scope === 'referral_sharing') {
        await r.cancelOpenReferralsOf(e, await r.facts.consentEndedBy(e));
      } else if (e.type === 'PersonalDataErased') {
        await r.cancelOpenReferralsOf(e, undefined);
      } else if (e.type === 'ReferredToPartner') {
        const ended = await r.facts.consentEndReason(e.data.personId, e.data.consentEventId);
        if (ended) await r.cancelLateReferral(e, ended);
      }
    }
  };
}

/** Referral: partner directory, network agreement, referral lifecycle, SLA watcher, partner inbound. */
export function referralModule(options: ReferralModuleOptions = {}): ServiceModule & { referrals(ctx: ServiceContext): Referrals } {
  let referrals: Referrals | undefined;
  let fhir: { goals: GoalView; subscriptions: Subscriptions } | undefined;
  const get = (ctx: ServiceContext) => (referrals ??= new Referrals(ctx, new ReferralView(ctx.db), new CaseFactsView(ctx.db, 'referral_facts', 7411101)));
  const fhirOf = (ctx: ServiceContext) =>
    (fhir ??= {
      goals: new GoalView(ctx.db),
      subscriptions: new Subscriptions(ctx, {
        baseUrl: ctx.config.ONESTOP_FHIR_BASE_URL?.replace(/\/$/, '') ?? `http://${ctx.config.HOST}:${ctx.config.PORT}/fhir`,
        maxRetryMs: options.fhirRetryMaxMs ?? ctx.config.ONESTOP_FHIR_RETRY_MAX_MS,
      }),
    });
  return {
    name: 'referral',
    title: 'OneStop referral',
    tags: [
      { name: 'directory', description: 'Partners of the network agreement, their services and capacity.' },
      { name: 'referrals', description: 'Referrals of a person to a partner service, by the team (FHIR Task lifecycle).' },
      { name: 'partner inbox', description: 'What a partner sees and answers: its own referrals only (accept, decline, start, complete).' },
      {
        name: 'fhir',
        description:
          'The FHIR R4 facade (application/fhir+json; SDOH Clinical Care referral management, R4 Subscriptions Backport). Its CapabilityStatement is at /fhir/metadata; its errors are OperationOutcomes. The README\'s section [FHIR](README.md#fhir) has the events → Task states table, the resources, Subscriptions and how to run the validator.',
      },
    ],
    description: 'Partner directory, network agreement membership, the referral lifecycle (FHIR Task) and partner answers (DESIGN §4 Referral).',
    referrals: get,
    errorFormats: [{ prefix: '/fhir/', send: (reply, status, detail) => void sendOutcome(reply, status, detail) }],
    async migrate(ctx) {
      const r = get(ctx);
      await r.view.migrate();
      await r.facts.migrate();
      await fhirOf(ctx).goals.migrate();
      await fhirOf(ctx).subscriptions.migrate();
      // once per store: what events from before the reservation streams left open
      await backfillReservations(ctx);
    },
    routes: async (app, opts) => {
      await app.register(referralRoutes(get(opts.ctx)), opts);
      await app.register(fhirRoutes({ referrals: get(opts.ctx), ...fhirOf(opts.ctx) }), { ...opts, prefix: '/fhir' });
    },
    async start(ctx) {
      const r = get(ctx);
      // consent and assessment facts, and what they mean for open referrals (each decided from the event itself)
      const facts = await r.facts.consume(ctx.bus, 'referral-facts', consentWatch(r), [TOPICS.referral]);
      // the view only consumes: no command writes it
      const own = await ctx.bus.consume({ group: 'referral-view', topics: [TOPICS.referral, TOPICS.directory], handle: (batch) => r.view.apply(batch) });
      // the assessment goals the FHIR facade shows, and the notifications of FHIR subscriptions
      const goals = await fhirOf(ctx).goals.consume(ctx.bus);
      fhirOf(ctx).subscriptions.start();
      // the partner topics of DESIGN §5 exist only on Kafka
      const gateway = ctx.bus.kind === 'kafka' ? await PartnerGateway.start(ctx, r) : undefined;
      // a first pass soon after start: answers may have become late while the service was down
      const stopSla = every(
        options.slaIntervalMs ?? ctx.config.ONESTOP_SLA_INTERVAL_MS,
        () => r.markOverdue(ctx.clock.now()),
        (err) => ctx.logger.warn({ err }, 'SLA watcher pass failed'),
      );
      return async () => {
        stopSla();
        await gateway?.stop();
        await fhirOf(ctx).subscriptions.stop();
        await goals.stop();
        await facts.stop();
        await own.stop();
      };
    },
  };
}

export { Referrals, type PartnerAnswer, type NewReferral } from './referrals.js';
export { ReferralView } from './referral-view.js';
export { GoalView } from './goal-view.js';
export { Subscriptions, notificationBundle } from './fhir/subscriptions.js';
export { backfillReservations } from './reservations-backfill.js';
export * from './domain/referral.js';
export { partnerDecider, partnerStream, type PartnerState } from './domain/partner.js';
