// `npm start`: every OneStop service and the dashboard in one process, on the
// embedded default (PGlite in ./.data and the embedded bus) unless the
// environment says otherwise. A demo network is seeded on first start.
import { startServices } from '@onestop/kit';
import { DemoClock, demoTokens, seedDemo, DEMO_PARTNERS } from './demo.js';
import { allModules, referralOf } from './modules.js';


const started = Date.now();
const clock = new DemoClock();
const modules = allModules();
const { infra, address } = await startServices('onestop', modules, {
  clock,
  beforeListen: async (app, infra) => {
    const seeded = (await infra.store.headPosition()) > 0;
    if (seeded || process.env.ONESTOP_DEMO === 'off') return;
    const tokens = await demoTokens(infra);
    const r = await seedDemo(app, tokens, (days) => clock.travel(days));
    // some demo answers are already late: let the SLA watcher mark them now
    await referralOf(modules).referrals(infra).markOverdue(clock.now());
    infra.logger.info(r, 'demo network seeded');
  },
});

const tokens = await demoTokens(infra);
const lines = [
  '',
  `Work console: ${address}/app   (sign in as any demo user, or with the identity provider)`,
  '',
  `OneStop is ready in ${((Date.now() - started) / 1000).toFixed(1)} s on ${infra.config.ONESTOP_STORE === 'embedded' ? `the embedded store (${infra.config.ONESTOP_DATA_DIR})` : infra.config.ONESTOP_STORE}.`,
  `  Dashboard:  ${address}/dashboard`,
  `  API docs:   ${address}/docs   (OpenAPI: ${address}/openapi.json)`,
  '',
  'Tokens (Authorization: Bearer <token>), valid 30 days:',
  ...Object.entries(tokens).map(([who, token]) => `  ${who.padEnd(34)} ${token}`),
  '',
  `Partners of the network agreement: ${DEMO_PARTNERS.map((p) => p.partnerId).join(', ')}`,
  '',
];
console.log(lines.join('\n'));
