import type { ServiceModule } from '@onestop/kit';
import { intakeRoutes } from './http/routes.js';
import { PersonIndex } from './person-index.js';

/** Intake: person registration, consent, contact details, erasure. */
export function intakeModule(): ServiceModule {
  let index: PersonIndex | undefined;
  return {
    name: 'intake',
    title: 'OneStop intake',
    description: 'Person registration at the access point, consents, contact details and erasure (DESIGN §4 Intake).',
    async migrate(ctx) {
      index = new PersonIndex(ctx.db);
      await index.migrate();
    },
    routes: async (app, opts) => {
      index ??= new PersonIndex(opts.ctx.db);
      await app.register(intakeRoutes(index), opts);
    },
  };
}

// the Person decider, for auditors' as-of replay in projections
export { personDecider, type PersonState, type PersonEvent } from './domain/person.js';
