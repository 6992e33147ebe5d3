import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import { npmStart, stopAll as stop, type Started } from './npm-start-process.js';
import { freePort } from './topology.js';

const dataDir = mkdtempSync(join(tmpdir(), 'onestop-start-'));
let current: Started | undefined;
afterAll(async () => {
  if (current) await stop(current);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start (embedded default, demo network)', { timeout: 240_000 }, () => {
  let personId = '';

  it('starts on a fresh data directory, seeds the demo and prints the dashboard URL and a token per role', async () => {
    current = await npmStart(dataDir, await freePort());
    expect(Object.keys(current.tokens)).toEqual(
      expect.arrayContaining(['operator', 'socialWorker', 'employmentOperator', 'networkManager', 'educator', 'tutor', 'auditor', 'admin', 'partner:centro-impiego', 'partner:servizi-sociali', 'partner:consorzio-coeso', 'partner:sportello-legale', 'partner:tutoraggio']),
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
