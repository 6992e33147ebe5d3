import { TOPICS, type RecordedEvent } from '@onestop/events';
import { CaseFactsView, type ServiceContext, type ServiceModule } from '@onestop/kit';
import { referralRoutes } from './http/routes.js';
import { PartnerGateway } from './partner-gateway.js';
import { ReferralView } from './referral-view.js';
import { Referrals } from './referrals.js';

export interface ReferralModuleOptions {
  /** how often the SLA watcher looks for late answers (ms) */
  slaIntervalMs?: number;
}

/** Referral: partner directory, network agreement, referral lifecycle, SLA watcher, partner inbound. */
export function referralModule(options: ReferralModuleOptions = {}): ServiceModule & { referrals(ctx: ServiceContext): Referrals } {
  let referrals: Referrals | undefined;
  const get = (ctx: ServiceContext) => (referrals ??= new Referrals(ctx, new ReferralView(ctx.db), new CaseFactsView(ctx.db, 'referral_facts', 7411101)));
  return {
    name: 'referral',
    title: 'OneStop referral',
    description: 'Partner directory, network agreement membership, the referral lifecycle (FHIR Task) and partner answers (DESIGN §4 Referral).',
    referrals: get,
    async migrate(ctx) {
      const r = get(ctx);
      await r.view.migrate();
      await r.facts.migrate();
    },
    routes: async (app, opts) => {
      await app.register(referralRoutes(get(opts.ctx)), opts);
    },
    async start(ctx) {
      const r = get(ctx);
      // consent and assessment facts; withdrawing referral_sharing or erasure cancels open referrals
      const facts = await r.facts.consume(ctx.bus, 'referral-facts', async (batch: readonly RecordedEvent[]) => {
        for (const e of batch) {
          if ((e.type === 'ConsentWithdrawn' && e.data.scope === 'referral_sharing') || e.type === 'PersonalDataErased') {
            await r.cancelOpenReferralsOf(
              e.partitionKey,
              e.type === 'PersonalDataErased' ? 'personal_data_erased' : 'consent_withdrawn',
              e.id,
              e.correlationId,
            );
          }
        }
      });
      // the view is written right after each command; the bus confirms it (and heals a crash in between)
      const own = await ctx.bus.consume({ group: 'referral-view', topics: [TOPICS.referral, TOPICS.directory], handle: (batch) => r.view.apply(batch) });
      // the partner topics of DESIGN §5 exist only on Kafka
      const gateway = ctx.bus.kind === 'kafka' ? await PartnerGateway.start(ctx, r) : undefined;
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      const tick = async () => {
        try {
          await r.markOverdue(ctx.clock.now());
        } catch (err) {
          ctx.logger.warn({ err }, 'SLA watcher pass failed');
        }
        if (!stopped) timer = setTimeout(() => void tick(), options.slaIntervalMs ?? 60_000);
      };
      // a first pass soon after start: answers may have become late while the service was down
      timer = setTimeout(() => void tick(), Math.min(options.slaIntervalMs ?? 60_000, 1_000));
      return async () => {
        stopped = true;
        clearTimeout(timer);
        await gateway?.stop();
        await facts.stop();
        await own.stop();
      };
    },
  };
}

export { Referrals, type PartnerAnswer, type NewReferral } from './referrals.js';
export { ReferralView } from './referral-view.js';
export * from './domain/referral.js';
export { partnerDecider, partnerStream, type PartnerState } from './domain/partner.js';
