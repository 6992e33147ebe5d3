/// <reference lib="dom" />
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildServiceApp, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase } from '@onestop/testkit';
import { demoTokens, seedDemo } from '../src/demo.js';
import { allModules } from '../src/modules.js';

// What the console's browser tests share: the platform listening on loopback
// (PostgreSQL from testkit, the embedded bus, the demo network seeded through
// the API), Debian's Chromium driven by playwright-core, axe-core injected
// into the page (axe-core itself: @axe-core/playwright needs Node 22).

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The platform of a console test. `env` adds settings (e.g. an OpenID provider);
 * `seed: false` leaves the demo network out, for a platform whose tokens come
 * only from a provider (the demo is seeded through the API with tokens it signs itself).
 */
export async function openConsolePlatform(label: string, options: { env?: Record<string, string>; seed?: boolean } = {}) {
  const db = await createTestDatabase(label);
  // the system clock: the auditor's as-of view needs the steps of the journey at distinct instants
  const infra = await openTestInfrastructure({ databaseUrl: db.url, env: { RATE_LIMIT_PER_MINUTE: '1000000', ...options.env }, clock: { now: () => new Date() } });
  const modules: ServiceModule[] = allModules();
  for (const m of modules) await m.migrate?.(infra);
  const app: FastifyInstance = await buildServiceApp({ title: 'OneStop', description: label, modules, ctx: infra });
  const stops: Array<() => Promise<void>> = [];
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  const tokens = options.seed === false ? {} : await demoTokens(infra);
  if (options.seed !== false) await seedDemo(app, tokens, { set: () => undefined, reset: () => undefined });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    infra,
    tokens,
    address,
    async api<T>(who: string, method: string, url: string): Promise<T> {
      const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${tokens[who]}` } });
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
      return res.json() as T;
    },
    async countEvents(type: string, purpose?: string): Promise<number> {
      const [row] = await infra.db.query<{ n: string }>(
        "SELECT count(*) AS n FROM eventstore.events WHERE event_type = $1 AND ($2::text IS NULL OR data->>'purpose' = $2)",
        [type, purpose ?? null],
      );
      return Number(row!.n);
    },
    async close() {
      await app.close();
      for (const s of stops) await s();
      await infra.close();
      await db.drop();
    },
  };
}

export async function openBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  // launch() gives the browser a fresh user data dir of its own (a temporary profile, removed on close)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
  return { browser, close: () => browser.close() };
}

export const newContext = (browser: Browser): Promise<BrowserContext> =>
  browser.newContext({ locale: 'it-IT', timezoneId: 'UTC', viewport: { width: 1280, height: 900 } });

/** Signs in through the development sign-in form, as a real user would pick a demo user. */
export async function signIn(page: Page, address: string, user: string): Promise<void> {
  await page.goto(`${address}/app`);
  await page.selectOption('#demo-user', user);
  await page.getByRole('button', { name: 'Accedi' }).click();
  await page.getByTestId('who').waitFor();
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown }>;
}

/** axe-core's WCAG 2.1 A/AA rules on the page as it is now; the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // evaluated through the DevTools protocol: the page's CSP (script-src 'self') does not apply to it
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
