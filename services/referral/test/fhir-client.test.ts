import type { AddressInfo } from 'node:net';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import { CARITAS, openJourney, type Journey } from './journey.js';

// A partner's own system, played by fhir-kit-client (a FHIR client nobody
// here wrote) over real HTTP: it reads its Tasks, accepts one, declines
// another with a statusReason, completes a third with an output. The native
// API shows the same states afterwards.

type Resource = Record<string, unknown> & { resourceType: string; id?: string; status?: string };
type Bundle = Resource & { entry?: Array<{ resource: Resource; search?: { mode: string } }>; link?: Array<{ relation: string; url: string }> };

let j: Journey;
let client: Client;
const referrals: string[] = [];

beforeAll(async () => {
  j = await openJourney('referral_fhir_client');
  await j.network();
  for (let i = 0; i < 3; i++) referrals.push((await j.referredPerson()).referralId);
  await j.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = j.app.server.address() as AddressInfo;
  client = new Client({ baseUrl: `http://127.0.0.1:${port}/fhir`, bearerToken: j.tokens.caritas! });
});

afterAll(async () => {
  await j?.close();
});

describe('fhir-kit-client as a partner’s system', () => {
  it('reads the CapabilityStatement', async () => {
    const cs = (await client.capabilityStatement()) as Resource;
    expect(cs).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
  });

  it('reads its Tasks page by page (nextPage follows the Bundle’s next link)', async () => {
    const ids: string[] = [];
    let page = (await client.search({ resourceType: 'Task', searchParams: { owner: `Organization/${CARITAS.partnerId}`, status: 'requested', _count: '2' } })) as Bundle;
    for (;;) {
      ids.push(...(page.entry ?? []).map((e) => e.resource.id!));
      const next = client.nextPage({ bundle: page as never });
      if (!next) break;
      page = (await next) as Bundle;
    }
    expect(ids.sort()).toEqual([...referrals].sort());
  });

  it('accepts one, declines another with a statusReason, starts and completes the first with an output', async () => {
    const [a, b] = referrals as [string, string];
    const taskA = (await client.read({ resourceType: 'Task', id: a })) as Resource;
    const accepted = (await client.update({ resourceType: 'Task', id: a, body: { ...taskA, status: 'accepted' } })) as Resource;
    expect(accepted.status).toBe('accepted');

    const taskB = (await client.read({ resourceType: 'Task', id: b })) as Resource;
    const declined = (await client.update({
      resourceType: 'Task',
      id: b,
      body: { ...taskB, status: 'rejected', statusReason: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/referral-status-reason', code: 'no_capacity' }] } },
    })) as Resource;
    expect(declined).toMatchObject({ status: 'rejected', statusReason: { coding: [{ code: 'no_capacity' }] } });

    const started = (await client.patch({ resourceType: 'Task', id: a, jsonPatch: [{ op: 'replace', path: '/status', value: 'in-progress' }] })) as Resource;
    expect(started.status).toBe('in-progress');
    const completed = (await client.patch({
      resourceType: 'Task',
      id: a,
      jsonPatch: [
        { op: 'replace', path: '/status', value: 'completed' },
        {
          op: 'add',
          path: '/output',
          value: [
            {
              type: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/task-output-type', code: 'outcome' }] },
              valueCodeableConcept: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/service-outcome', code: 'partially_achieved' }] },
            },
          ],
        },
      ],
    })) as Resource;
    expect(completed).toMatchObject({ status: 'completed', output: [{ valueCodeableConcept: { coding: [{ code: 'partially_achieved' }] } }] });
  });

  it('gets an OperationOutcome when the decider refuses (a status jump), and nothing changes', async () => {
    const c = referrals[2]!;
    const task = (await client.read({ resourceType: 'Task', id: c })) as Resource;
    const error = await client.update({ resourceType: 'Task', id: c, body: { ...task, status: 'in-progress' } }).then(
      () => undefined,
      (e: { response?: { status: number; data: Resource } }) => e.response,
    );
    expect(error?.status).toBe(422);
    expect(error?.data.resourceType).toBe('OperationOutcome');
    expect(((await client.read({ resourceType: 'Task', id: c })) as Resource).status).toBe('requested');
  });

  it('the native API shows the same states', async () => {
    const [a, b, c] = referrals as [string, string, string];
    await eventually(async () => {
      expect((await j.call('GET', `/referrals/${a}`, 'caritas')).json()).toMatchObject({ status: 'completed' });
      expect((await j.call('GET', `/referrals/${b}`, 'caritas')).json()).toMatchObject({ status: 'rejected', statusReason: 'no_capacity' });
      expect((await j.call('GET', `/referrals/${c}`, 'caritas')).json()).toMatchObject({ status: 'requested' });
    });
    const types = (await j.infra.store.readStream(`referral-${a}`)).map((e) => e.type);
    expect(types).toEqual(['ReferredToPartner', 'ReferralAccepted', 'ServiceStarted', 'ServiceCompleted']);
  });
});
