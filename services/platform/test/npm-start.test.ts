import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, eventually } from '@onestop/testkit';

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Started {
  child: ChildProcess;
  output: () => string;
  address: string;
  tokens: Record<string, string>;
  readyIn: number;
}

/** Runs the real `npm start` on a data directory and waits for its ready banner. */
async function npmStart(dataDir: string, port: number): Promise<Started> {
  let out = '';
  const child = spawn('npm', ['start', '--silent'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ONESTOP_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'development', DATABASE_URL: '', KAFKA_BROKERS: '', ONESTOP_STORE: '', ONESTOP_BUS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const ready = await eventually(() => {
    if (child.exitCode !== null) throw Object.assign(new Error(`npm start exited ${child.exitCode}:\n${out}`), { fatal: true });
    const m = /OneStop is ready in ([\d.]+) s/.exec(out);
    if (!m || !out.includes('Partners of the network agreement')) throw new Error(`not ready yet:\n${out.slice(-2000)}`);
    return Number(m[1]);
  }, 120_000, 200);
  const tokens = Object.fromEntries([...out.matchAll(/^ {2}(\S+)\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const address = /Dashboard:\s+(http:\/\/\S+)\/dashboard/.exec(out)![1]!;
  return { child, output: () => out, address, tokens, readyIn: ready };
}

async function stop(s: Started): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  process.kill(-s.child.pid!, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (s.child.exitCode === null) process.kill(-s.child.pid!, 'SIGKILL');
}

const dataDir = mkdtempSync(join(tmpdir(), 'onestop-start-'));
let current: Started | undefined;
afterAll(async () => {
  if (current) await stop(current);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start (embedded default, demo network)', () => {
  let personId = '';

  it('starts on a fresh data directory, seeds the demo and prints the dashboard URL and a token per role', async () => {
    current = await npmStart(dataDir, await freePort());
    expect(Object.keys(current.tokens)).toEqual(
      expect.arrayContaining(['operator', 'socialWorker', 'employmentOperator', 'auditor', 'admin', 'partner:centro-impiego', 'partner:servizi-sociali', 'partner:consorzio-coeso', 'partner:sportello-legale', 'partner:tutoraggio']),
    );
    const ready = await fetch(`${current.address}/ready`);
    expect(ready.status).toBe(200);
    // the banner opens with the work console's address, and the console answers there, with educator and tutor among its demo users
    const banner = current.output().slice(current.output().lastIndexOf('Work console:'));
    expect(banner.indexOf('Work console:')).toBeLessThan(banner.indexOf('OneStop is ready'));
    expect(banner).toMatch(new RegExp(`^Work console: ${current.address}/app`));
    expect((await fetch(`${current.address}/app`)).status).toBe(200);
    const config = (await (await fetch(`${current.address}/app/config`)).json()) as { demoUsers: Array<{ teamRole?: string }> };
    expect(config.demoUsers.map((u) => u.teamRole)).toEqual(expect.arrayContaining(['educator', 'tutor']));
    expect(Object.keys(current.tokens)).toEqual(expect.arrayContaining(['educator', 'tutor']));
    const partners = await (await fetch(`${current.address}/partners`, { headers: { authorization: `Bearer ${current.tokens.operator}` } })).json();
    expect(partners).toHaveLength(5);
    // the demo holds referrals at every stage, overdue ones included
    const inbox = (await (await fetch(`${current.address}/partners/servizi-sociali/referrals`, { headers: { authorization: `Bearer ${current.tokens['partner:servizi-sociali']}` } })).json()) as Array<{ status: string }>;
    expect(inbox.map((r) => r.status)).toEqual(expect.arrayContaining(['accepted', 'rejected', 'requested']));
    await eventually(async () => {
      const late = (await (await fetch(`${current!.address}/partners/servizi-sociali/referrals?overdue=true`, { headers: { authorization: `Bearer ${current!.tokens['partner:servizi-sociali']}` } })).json()) as unknown[];
      expect(late.length).toBeGreaterThan(0);
    });
    // the start (the console's bundle built, the demo seeded) waits up to 120 s on a busy machine: so may this test
  }, 150_000);

  it('drives a scenario over HTTP with the printed tokens', async () => {
    const s = current!;
    const as = (who: string, method: string, path: string, body?: unknown) =>
      fetch(`${s.address}${path}`, {
        method,
        headers: { authorization: `Bearer ${s.tokens[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const reg = await as('operator', 'POST', '/persons', { accessPoint: 'pistoia-centro-melos', municipality: 'Pistoia', givenName: 'Nadia', familyName: 'Test', birthDate: '1991-04-04' });
    expect(reg.status).toBe(201);
    personId = ((await reg.json()) as { personId: string }).personId;
    expect((await as('operator', 'POST', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' })).status).toBe(201);
    const started = await eventually(async () => {
      const r = await as('socialWorker', 'POST', '/assessments', {
        personId,
        team: [{ memberId: 'assistente-sociale-1', role: 'social_worker' }, { memberId: 'operatore-cpi-1', role: 'employment_operator' }],
      });
      expect(r.status).toBe(201);
      return (await r.json()) as { assessmentId: string };
    });
    expect(started.assessmentId).toBeTruthy();
  });

  it('keeps the data across a restart', async () => {
    await stop(current!);
    current = await npmStart(dataDir, await freePort());
    const res = await fetch(`${current.address}/persons/${personId}`, { headers: { authorization: `Bearer ${current.tokens.operator}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { personalData: { givenName: string } }).personalData.givenName).toBe('Nadia');
    // the demo is not seeded twice
    expect(await (await fetch(`${current.address}/partners`, { headers: { authorization: `Bearer ${current.tokens.operator}` } })).json()).toHaveLength(5);
  });
});
