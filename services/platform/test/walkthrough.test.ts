import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdjustableClock, buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { REPO_ROOT, eventually } from '@onestop/testkit';
import { demoTokens, seedDemo } from '../src/demo.js';
import { allModules } from '../src/modules.js';
import { busSettled } from './platform.js';

// The README's curl walk-through, run as it stands: every ```sh walkthrough
// block, in order, in one bash session (its variables carry from step to step),
// against the platform as `npm start` runs it (every service, the embedded
// store on a fresh data directory, the demo network) listening on a real port,
// with the tokens the README tells the reader to copy from the banner. Each
// step's answer is checked. Between steps the test waits until every bus
// consumer has caught up, as a reader typing by hand does without noticing.

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const blocks = [...README.matchAll(/^```sh walkthrough\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

/** A bash session that runs one block at a time and hands back what it printed. */
class Session {
  private out = '';
  private err = '';
  private readonly bash: ChildProcessWithoutNullStreams;
  private exited: number | null = null;
  constructor(env: Record<string, string>) {
    this.bash = spawn('bash', ['--noprofile', '--norc'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env } });
    this.bash.stdout.on('data', (d) => (this.out += String(d)));
    this.bash.stderr.on('data', (d) => (this.err += String(d)));
    this.bash.on('exit', (code) => (this.exited = code ?? -1));
    this.bash.stdin.write('set -euo pipefail\n');
  }
  async run(block: string): Promise<string> {
    const marker = `@@step-${Math.random().toString(36).slice(2)}@@`;
    const start = this.out.length;
    this.err = '';
    this.bash.stdin.write(`${block}\nprintf '\\n${marker}\\n'\n`);
    return eventually(() => {
      if (this.exited !== null) throw Object.assign(new Error(`the block failed (bash exited ${this.exited}):\n${this.out.slice(start)}\n${this.err}`), { fatal: true });
      const end = this.out.indexOf(marker, start);
      if (end < 0) throw new Error('still running');
      return this.out.slice(start, end);
    }, 60_000, 20);
  }
  close(): void {
    this.bash.stdin.end();
    if (this.exited === null) this.bash.kill();
  }
}

/** Every JSON document a step printed, one per line. */
const answers = (out: string): any[] => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)); // eslint-disable-line @typescript-eslint/no-explicit-any

let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let session: Session;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const clock = new AdjustableClock();
  infra = await openTestInfrastructure({ clock, env: { RATE_LIMIT_PER_MINUTE: '100000' } });
  const modules = allModules();
  for (const m of modules) await m.migrate?.(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'walkthrough', modules, ctx: infra });
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  const tokens = await demoTokens(infra);
  await seedDemo(app, tokens, clock);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  session = new Session({
    ONESTOP: address,
    OPERATOR_TOKEN: tokens.operator!,
    SOCIAL_WORKER_TOKEN: tokens.socialWorker!,
    PARTNER_TOKEN: tokens['partner:servizi-sociali']!,
    AUDITOR_TOKEN: tokens.auditor!,
  });
}, 180_000);

afterAll(async () => {
  session?.close();
  await app?.close();
  for (const stop of stops) await stop();
  await infra?.close();
});

describe('the README walk-through (run verbatim against the platform)', () => {
  let step = 0;
  const next = async () => {
    await busSettled(infra.db, 30_000);
    const block = blocks[step++];
    expect(block, `README block ${step}`).toBeDefined();
    return answers(await session.run(block!));
  };

  it('has one marked block per step of the journey', () => {
    expect(blocks).toHaveLength(10);
  });

  it('1. registers the person', async () => {
    const [person] = await next();
    expect(person.personId).toMatch(/^[0-9a-f-]{36}$/);
    expect(person.likelyDuplicates).toEqual([]);
  });

  it('2. records both consents', async () => {
    const consents = await next();
    expect(consents.map((c) => c.recorded)).toEqual([true, true]);
  });

  it('3. starts the assessment with a team of two roles', async () => {
    const [assessment] = await next();
    expect(assessment.assessmentId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('4. evaluates the seven domains', async () => {
    const evaluations = await next();
    expect(evaluations).toHaveLength(7);
    expect(evaluations.every((e) => e.status === 'open')).toBe(true);
  });

  it('5. completes it with a goal for the priority domain', async () => {
    const [completed] = await next();
    expect(completed.status).toBe('completed');
    expect(completed.priorityDomains).toEqual(['housing']);
    expect(completed.goals).toHaveLength(1);
  });

  it('6. refers her to the housing emergency service', async () => {
    const [referral] = await next();
    expect(referral.status).toBe('requested');
    expect(Date.parse(referral.respondBy)).toBeGreaterThan(infra.clock.now().getTime());
  });

  it('7. the partner sees it in its inbox and accepts it', async () => {
    const [inboxItem, accepted] = await next();
    expect(inboxItem.status).toBe('requested');
    expect(inboxItem.priority).toBe('urgent');
    expect(accepted.recorded).toBe(true);
  });

  it('8. the service starts and ends', async () => {
    const [started, completed] = await next();
    expect(started.recorded).toBe(true);
    expect(completed.recorded).toBe(true);
  });

  it('9. the team reads the referral completed; the dashboard counts it', async () => {
    const [referral, overview] = await next();
    expect(referral.status).toBe('completed');
    expect(overview.persons.registered).toBe(13);
  });

  it('10. the auditor replays the case and its hash chains verify', async () => {
    const [types, verification] = await next();
    expect(types).toEqual(
      expect.arrayContaining(['PersonRegistered', 'ConsentGiven', 'AssessmentStarted', 'DomainEvaluated', 'AssessmentCompleted', 'ReferredToPartner', 'ReferralAccepted', 'ServiceStarted', 'ServiceCompleted']),
    );
    expect(verification.ok).toBe(true);
    expect(verification.broken).toEqual([]);
  });

  it('stores no trace context with tracing off (the default, as npm start runs)', async () => {
    const [row] = await infra.db.query<{ traced: string; total: string }>(
      `SELECT count(*) FILTER (WHERE metadata ? 'traceparent') AS traced, count(*) AS total FROM eventstore.events`,
    );
    expect(Number(row!.total)).toBeGreaterThan(100);
    expect(Number(row!.traced)).toBe(0);
  });
});
