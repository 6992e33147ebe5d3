import { TOPICS } from '@onestop/events';
import { CaseFactsView, every, type ServiceContext, type ServiceModule } from '@onestop/kit';
import { Assessments } from './assessments.js';
import { Casework } from './casework.js';
import { consentWatch } from './consent-watch.js';
import { DeadlineWatcher } from './deadline-watcher.js';
import { caseworkRoutes } from './http/casework-routes.js';
import { Documents } from './documents.js';
import { documentRoutes } from './documents-routes.js';
import { assessmentRoutes } from './http/routes.js';
import { PersonAssessments } from './person-assessments.js';

/** The bus consumer group that keeps this service's facts view. */
export const FACTS_GROUP = 'assessment-facts';

export interface AssessmentModuleOptions {
  /** how often the deadline watcher passes (ms; default ONESTOP_DEADLINE_INTERVAL_MS) */
  deadlineIntervalMs?: number;
}

/** Assessment: the multidimensional assessment of a person by the multidisciplinary team, and the statutory clocks of the cases. */
export function assessmentModule(options: AssessmentModuleOptions = {}): ServiceModule {
  let parts: { facts: CaseFactsView; assessments: PersonAssessments; commands: Assessments; documents: Documents } | undefined;
  const tables = (ctx: ServiceContext) => {
    if (!parts) {
      const facts = new CaseFactsView(ctx.db, 'assessment_view', 7411090);
      parts = { facts, assessments: new PersonAssessments(ctx.db), commands: new Assessments(ctx, facts), documents: new Documents(ctx, facts) };
    }
    return parts;
  };
  return {
    name: 'assessment',
    title: 'OneStop assessment',
    tags: [
      { name: 'assessments', description: 'The multidimensional assessment by a team of at least two roles: seven domains, need levels 0–4, goals for every priority domain.' },
      {
        name: 'casework',
        description: 'Taking charge of a person (presa in carico): the case and its case manager, the personal plan and its versions, meetings, case notes (docs/casework.md).',
      },
      { name: 'documents', description: 'Files attached to a person’s case: encrypted with the person’s key, type-checked by their bytes, erased with the person; every download is recorded.' },
    ],
    description:
      'The assessment of a person by a multidisciplinary team across seven life domains, with the goals of the personal plan (DESIGN §4 Assessment).',
    async migrate(ctx) {
      const t = tables(ctx);
      await t.facts.migrate();
      await t.assessments.migrate();
      await t.documents.migrate();
    },
    routes: async (app, opts) => {
      const t = tables(opts.ctx);
      await app.register(assessmentRoutes(t.commands, t.assessments), opts);
      await app.register(caseworkRoutes(new Casework(opts.ctx.store), t.facts), opts);
      await app.register(documentRoutes(t.documents), opts);
    },
    async start(ctx) {
      const t = tables(ctx);
      const consumer = await t.facts.consume(ctx.bus, FACTS_GROUP, consentWatch(t.commands, t.assessments));
      // an erasure deletes the person's documents (their key is shredded by intake already)
      const erasures = await ctx.bus.consume({
        group: 'assessment-documents',
        topics: [TOPICS.intake],
        handle: async (batch) => {
          for (const e of batch) if (e.type === 'PersonalDataErased') await t.documents.erase(e.partitionKey);
        },
      });
      const watcher = new DeadlineWatcher(ctx.store, ctx.clock, { approachingDays: ctx.config.ONESTOP_DEADLINE_APPROACHING_DAYS });
      // a first pass soon after start: deadlines may have come while the service was down
      const stopWatcher = every(
        options.deadlineIntervalMs ?? ctx.config.ONESTOP_DEADLINE_INTERVAL_MS,
        async () => {
          await watcher.publishPolicies();
          await watcher.pass();
        },
        (err) => ctx.logger.warn({ err }, 'deadline watcher pass failed'),
      );
      return async () => {
        stopWatcher();
        await erasures.stop();
        await consumer.stop();
      };
    },
  };
}

// the statutory clocks, for the auditors' as-of replay and the read models in projections
export { CLOCK_POLICIES, policyFor, type ClockPolicy } from './domain/clock-policies.js';
export * from './domain/deadlines.js';
export { deadlineWatchDecider, deadlinesStream, type DeadlineWatchEvent } from './domain/deadline-watch.js';
export { DeadlineWatcher, DEADLINE_WATCHER, deadlinesOf, deadlinesAsOf, type DeadlineAsOf, knownPolicies, inRecordedOrder, deadlineSourceStreams, clockPolicyStream } from './deadline-watcher.js';
// the Assessment decider, for auditors' as-of replay in projections
export { assessmentDecider, type AssessmentState, type AssessmentEvent } from './domain/assessment.js';
// the taking-charge deciders (docs/casework.md), for the same replay
export { careDecider, type CareEvent, type CareState } from './domain/care.js';
export { planDecider, type PlanEvent, type PlanState } from './domain/plan.js';
export { meetingsDecider, type MeetingEvent, type MeetingsState } from './domain/meetings.js';
