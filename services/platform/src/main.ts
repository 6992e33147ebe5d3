// `npm start`: every OneStop service and the dashboard in one process, on the
// embedded default (PGlite in ./.data and the embedded bus) unless the
// environment says otherwise. A demo network is seeded on first start.
import type { FastifyInstance } from 'fastify';
import { AdjustableClock, startServices, type Logger } from '@onestop/kit';
import { DeadlineWatcher } from '@onestop/assessment';
import { demoTokens, seedDemo, DEMO_PRINCIPALS } from './demo.js';
import { devClockModule } from './dev-clock.js';
import { allModules, referralOf } from './modules.js';

/** Runs `fn` with info lines held back: the demo's few hundred API calls would bury the banner. */
async function quietly<T>(logger: Logger, fn: () => Promise<T>): Promise<T> {
  const level = logger.level;
  if (logger.isLevelEnabled('info')) logger.level = 'warn';
  try {
    return await fn();
  } finally {
    logger.level = level;
  }
}

const started = Date.now();
// the platform's one clock: the demo writes its history through it, and in development
// a route moves it (POST /dev/clock); production runs on the system clock, nothing mounted
const production = process.env.NODE_ENV === 'production';
const clock = new AdjustableClock(production ? 0 : Number(process.env.ONESTOP_CLOCK_OFFSET_MS || 0));
const modules = production ? allModules() : [...allModules(), devClockModule(clock)];
const { app, infra, address } = await startServices('onestop', modules, {
  clock,
  beforeListen: async (app, infra) => {
    if ((await infra.store.headPosition()) > 0 || process.env.ONESTOP_DEMO === 'off') return;
    const t0 = Date.now();
    const seeded = await quietly(infra.logger, async () => {
      const r = await seedDemo(app, await demoTokens(infra), clock);
      // some demo answers are already late: let the SLA watcher mark them now
      const overdue = await referralOf(modules).referrals(infra).markOverdue(clock.now());
      // and the deadline watcher tell what is approaching, missed and met, without waiting for its next pass
      const watcher = new DeadlineWatcher(infra.store, clock, { approachingDays: infra.config.ONESTOP_DEADLINE_APPROACHING_DAYS });
      await watcher.publishPolicies();
      return { ...r, overdue, deadlineFindings: await watcher.pass() };
    });
    infra.logger.info(
      { ...seeded, ms: Date.now() - t0 },
      `demo network seeded (first start): ${seeded.persons} persons, ${seeded.referrals} referrals, ${seeded.overdue} overdue, ${seeded.cases} cases taken in charge`,
    );
  },
});

/** The partners the directory holds: a token is printed for each (none when the demo is off). */
async function registeredPartners(app: FastifyInstance, token: string): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/partners', headers: { authorization: `Bearer ${token}` } });
  return res.statusCode === 200 ? (res.json() as Array<{ partnerId: string }>).map((p) => p.partnerId) : [];
}

const tokens = await demoTokens(infra, []);
const partners = tokens.operator ? await quietly(infra.logger, () => registeredPartners(app, tokens.operator!)) : [];
Object.assign(tokens, await demoTokens(infra, partners));
const team = Object.entries(DEMO_PRINCIPALS).filter(([, p]) => p.role === 'team');
const lines = [
  '',
  `Work console: ${address}/app   (sign in as any demo user, or with the identity provider)`,
  '',
  `OneStop is ready in ${((Date.now() - started) / 1000).toFixed(1)} s on ${infra.config.ONESTOP_STORE === 'embedded' ? `the embedded store (${infra.config.ONESTOP_DATA_DIR})` : infra.config.ONESTOP_STORE}, Node.js ${process.versions.node}.`,
  `  Dashboard:  ${address}/dashboard`,
  `  API docs:   ${address}/docs   (OpenAPI: ${address}/openapi.json)`,
  '',
  ...(Object.keys(tokens).length
    ? [
        'Tokens (Authorization: Bearer <token>), valid 30 days; more with `npm run onestop -- token --role …`:',
        ...Object.entries(tokens).map(([who, token]) => `  ${who.padEnd(34)} ${token}`),
        '',
        `An assessment's team lists members by the sub of their tokens: ${team.map(([who, p]) => `${p.sub} (${who})`).join(', ')}.`,
      ]
    : ['No tokens: this installation verifies the tokens of an identity provider (JWT_JWKS_URL).']),
  partners.length ? `Partners of the network agreement: ${partners.join(', ')}` : 'No partners in the directory yet (ONESTOP_DEMO=off): register them with POST /partners (admin).',
  '',
  'Ctrl-C stops it (or SIGTERM to npm or to node).',
  '',
];
console.log(lines.join('\n'));
