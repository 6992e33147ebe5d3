// 8. The work console: what /app makes the browser download (compressed, as
// the server sends it), and the time from navigation to a usable partner
// inbox in Chromium, beside the time to load the static dashboard page in the
// same run (both cold: a fresh browser context each time).
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildServiceApp, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { allModules } from '@onestop/platform';
import { demoTokens, seedDemo } from '@onestop/platform/demo';
import type { Benchmark, RoundResult } from '../harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PARTNER = 'partner:servizi-sociali';

/** The files /app loads (page, script, stylesheet, the fonts the stylesheet names) and their bytes on the wire. */
async function transferred(address: string): Promise<Record<string, number>> {
  const get = async (path: string) => {
    const res = await fetch(`${address}${path}`, { headers: { 'accept-encoding': 'br, gzip' } });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    // fetch decodes the body: the wire size is content-length (the server sends whole buffers)
    const length = Number(res.headers.get('content-length'));
    return { length, text: res.headers.get('content-type')?.startsWith('text/') ? await res.text() : '' };
  };
  const page = await get('/app');
  const js = /src="(\/app\/assets\/[^"]+\.js)"/.exec(page.text)![1]!;
  const css = /href="(\/app\/assets\/[^"]+\.css)"/.exec(page.text)![1]!;
  const script = await get(js);
  const style = await get(css);
  const fonts = [...new Set([...style.text.matchAll(/url\(["']?([^)"']+\.woff2)["']?\)/g)].map((m) => new URL(m[1]!, `${address}${css}`).pathname))];
  let fontBytes = 0;
  for (const f of fonts) fontBytes += (await get(f)).length;
  return { htmlKB: page.length / 1024, jsKB: script.length / 1024, cssKB: style.length / 1024, fontsKB: fontBytes / 1024, jsCssKB: (script.length + style.length) / 1024 };
}

export const consoleBenchmark: Benchmark = {
  id: 'console',
  title: 'Work console',
  method: [
    'The platform (every module and the console, PostgreSQL, the embedded bus) listening on loopback with the demo network seeded through the API.',
    '',
    '- **bytes**: what `/app` makes the browser download, as the server sends it with `Accept-Encoding: br, gzip` (brotli, compressed once when the bundle is built): the page, the script, the stylesheet (Bootstrap Italia and the console’s own rules) and the three Titillium Web fonts (woff2). Goal: script + stylesheet ≤ 300 KB.',
    '- **inbox**: Debian’s Chromium (playwright-core), a fresh browser context each time (cold cache), signed in as the desk of *Comune di Pistoia – Servizi sociali* (the development sign-in’s token put in the tab’s session beforehand): from `page.goto(/app#/inbox)` until the inbox list is visible — the page, its bundle, `/app/config`, the partner and its referrals read through the API.',
    '- **dashboard**: the same, for the static dashboard page (`/dashboard`, no build step) until its `load` event — the reference the issue asks for.',
  ].join('\n'),
  // a cold Chromium context per load is slow on a busy machine: the one smoke run (load 18 on 2 cores) ran out of a 60 s budget
  budget: () => ({ plannedMs: 150_000, minMs: 40_000 }),
  async prepare(ctx) {
    const db = await ctx.database('console');
    const infra = await openTestInfrastructure({ databaseUrl: db.url, env: { RATE_LIMIT_PER_MINUTE: '1000000' }, clock: { now: () => new Date() } });
    const modules: ServiceModule[] = allModules();
    for (const m of modules) await m.migrate?.(infra);
    const app: FastifyInstance = await buildServiceApp({ title: 'OneStop', description: 'bench', modules, ctx: infra });
    const stops: Array<() => Promise<void>> = [];
    for (const m of modules) if (m.start) stops.push(await m.start(infra));
    await seedDemo(app, await demoTokens(infra), { set: () => undefined, reset: () => undefined });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const session = (await (await fetch(`${address}/app/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: PARTNER }) })).json()) as unknown;
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    const perRound = Math.max(2, Math.ceil(ctx.scale.replay.iterations / ctx.scale.rounds));

    const timed = async (open: (page: Page) => Promise<void>): Promise<RoundResult> => {
      const latenciesMs: number[] = [];
      const t = performance.now();
      for (let i = 0; i < perRound; i++) {
        const context = await browser.newContext();
        await context.addInitScript({ content: `sessionStorage.setItem('onestop.session', ${JSON.stringify(JSON.stringify(session))})` });
        const page = await context.newPage();
        const s = performance.now();
        await open(page);
        latenciesMs.push(performance.now() - s);
        await context.close();
      }
      return { events: perRound, durationMs: performance.now() - t, latenciesMs };
    };

    return {
      info: { 'loads per round': perRound, browser: CHROMIUM, database: db.name },
      cases: [
        {
          id: 'console-bytes',
          title: 'bytes /app loads (brotli as sent)',
          primary: 'latency',
          unit: 'downloads',
          rounds: 1,
          warmupRounds: 0,
          aggregate: { jsKB: 'last', cssKB: 'last', fontsKB: 'last', htmlKB: 'last', jsCssKB: 'last' },
          extraColumns: { jsKB: 'script KB', cssKB: 'styles KB', fontsKB: 'fonts KB', jsCssKB: 'script + styles KB' },
          variants: [
            {
              id: 'console',
              name: 'console /app',
              role: 'subject',
              description: 'page, script, stylesheet and fonts, with Accept-Encoding: br, gzip',
              run: async () => {
                const t = performance.now();
                const extra = await transferred(address);
                const ms = performance.now() - t;
                return { events: 1, durationMs: ms, latenciesMs: [ms], extra };
              },
            },
          ],
        },
        {
          id: 'inbox-ready',
          title: 'navigation to a usable inbox, cold, in Chromium',
          primary: 'latency',
          unit: 'page loads',
          variants: [
            {
              id: 'console',
              name: 'console inbox',
              role: 'subject',
              description: 'goto /app#/inbox → the inbox list visible',
              run: () =>
                timed(async (page) => {
                  await page.goto(`${address}/app#/inbox`);
                  await page.getByTestId('inbox').waitFor();
                }),
            },
            {
              id: 'dashboard',
              name: 'static dashboard',
              role: 'reference',
              description: 'goto /dashboard → load event',
              run: () =>
                timed(async (page) => {
                  await page.goto(`${address}/dashboard`, { waitUntil: 'load' });
                }),
            },
          ],
        },
      ],
      async teardown() {
        await browser.close();
        await app.close();
        for (const s of stops) await s();
        await infra.close();
      },
    };
  },
};
