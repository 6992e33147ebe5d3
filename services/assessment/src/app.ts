import { CaseFactsView, type ServiceModule } from '@onestop/kit';
import { consentWatch } from './consent-watch.js';
import { assessmentRoutes } from './http/routes.js';
import { PersonAssessments } from './person-assessments.js';

/** The bus consumer group that keeps this service's facts view. */
export const FACTS_GROUP = 'assessment-facts';

/** Assessment: the multidimensional assessment of a person by the multidisciplinary team. */
export function assessmentModule(): ServiceModule {
  let facts: CaseFactsView | undefined;
  let assessments: PersonAssessments | undefined;
  const tables = (db: ConstructorParameters<typeof PersonAssessments>[0]) => {
    facts ??= new CaseFactsView(db, 'assessment_view', 7411090);
    assessments ??= new PersonAssessments(db);
    return { facts, assessments };
  };
  return {
    name: 'assessment',
    title: 'OneStop assessment',
    description:
      'The assessment of a person by a multidisciplinary team across seven life domains, with the goals of the personal plan (DESIGN §4 Assessment).',
    async migrate(ctx) {
      const t = tables(ctx.db);
      await t.facts.migrate();
      await t.assessments.migrate();
    },
    routes: async (app, opts) => {
      const t = tables(opts.ctx.db);
      await app.register(assessmentRoutes(t.facts, t.assessments), opts);
    },
    async start(ctx) {
      const t = tables(ctx.db);
      const consumer = await t.facts.consume(ctx.bus, FACTS_GROUP, consentWatch(ctx, t.facts, t.assessments));
      return () => consumer.stop();
    },
  };
}

// the Assessment decider, for auditors' as-of replay in projections
export { assessmentDecider, type AssessmentState, type AssessmentEvent } from './domain/assessment.js';
