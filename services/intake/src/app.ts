import { TOPICS } from '@onestop/events';
import type { ServiceContext, ServiceModule } from '@onestop/kit';
import { intakeRoutes } from './http/routes.js';
import { PartnerReferrals } from './partner-referrals.js';
import { backfillFiscalCodes } from './fiscal-code-backfill.js';
import { PersonIndex } from './person-index.js';

/** The bus consumer group that keeps intake's view of partners' referrals. */
export const PARTNER_REFERRALS_GROUP = 'intake-partner-referrals';
/** The bus consumer group that keeps intake's likely-duplicate index. */
export const DUPLICATES_GROUP = 'intake-duplicates';
/** The bus consumer group that keeps intake's search index (name prefixes and birth dates, as keyed digests). */
export const SEARCH_GROUP = 'intake-person-search';

/** Intake: person registration, consent, contact details (and their audited disclosure to partners), subject-access export, erasure. */
export function intakeModule(): ServiceModule {
  let index: PersonIndex | undefined;
  let referrals: PartnerReferrals | undefined;
  const indexOf = (ctx: ServiceContext) => (index ??= new PersonIndex(ctx.db, ctx.keyring, ctx.indexKey));
  return {
    name: 'intake',
    title: 'OneStop intake',
    tags: [
      { name: 'persons', description: 'People registered at an access point: registration, search by fiscal code, name or birth date, contact details, the subject-access export and erasure.' },
      { name: 'consents', description: 'Consents of a person (assessment, referral_sharing): given and withdrawn at any time.' },
    ],
    description:
      'Person registration at the access point, consents, contact details (disclosed to partners only through an audited read), the subject-access export and erasure (DESIGN §4 Intake, §6).',
    async migrate(ctx) {
      referrals = new PartnerReferrals(ctx.db);
      // before the index's migration drops the claim table of earlier versions
      await backfillFiscalCodes(ctx);
      await indexOf(ctx).migrate();
      await referrals.migrate();
    },
    routes: async (app, opts) => {
      referrals ??= new PartnerReferrals(opts.ctx.db);
      await app.register(intakeRoutes(indexOf(opts.ctx), referrals), opts);
    },
    async start(ctx) {
      // which partner has an open referral of whom: contact details are disclosed only to them
      const view = (referrals ??= new PartnerReferrals(ctx.db));
      const consumer = await ctx.bus.consume({ group: PARTNER_REFERRALS_GROUP, topics: [TOPICS.referral], handle: (batch) => view.apply(batch) });
      const duplicates = indexOf(ctx);
      const indexer = await ctx.bus.consume({ group: DUPLICATES_GROUP, topics: [TOPICS.intake], handle: (batch) => duplicates.apply(batch) });
      // a group of its own: a deployment that adds it reads the intake topic from the start and indexes everyone
      const searcher = await ctx.bus.consume({ group: SEARCH_GROUP, topics: [TOPICS.intake], handle: (batch) => duplicates.applySearch(batch) });
      return async () => {
        await searcher.stop();
        await indexer.stop();
        await consumer.stop();
      };
    },
  };
}

// the Person decider, for auditors' as-of replay in projections
export { personDecider, type PersonState, type PersonEvent } from './domain/person.js';
