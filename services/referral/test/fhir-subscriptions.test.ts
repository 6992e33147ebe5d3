import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, validateFhir } from '@onestop/testkit';
import { CPI, openJourney, type Journey } from './journey.js';

// FHIR Subscriptions (R4 Backport, rest-hook, id-only): a partner registers
// its endpoint; a real HTTP server in this test receives the notifications.
// Two processes of the referral service deliver (no lease between them): one
// notification per change of one of the partner's Tasks, numbered from 1 (a
// number may arrive twice, at-least-once: always for the same Task); the
// endpoint goes away for 10 s while one process stops, and comes back: every
// notification arrives, none is lost, and the Subscription showed the error.

interface Notification {
  type: string;
  eventNumber?: number;
  eventsSinceStart: number;
  focus?: string;
  bundle: Record<string, unknown>;
}

/** A partner's endpoint: it records what it receives, and can be taken down and brought back on the same port. */
class Receiver {
  readonly received: Notification[] = [];
  private server?: Server;
  port = 0;

  async up(): Promise<void> {
    this.server = createServer((req, res) => void this.take(req).then(() => res.writeHead(200).end(), () => res.writeHead(400).end()));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  private async take(req: IncomingMessage): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const bundle = JSON.parse(body) as { entry: Array<{ resource?: { parameter: Array<{ name: string; valueCode?: string; valueString?: string; part?: Array<{ name: string; valueString?: string; valueReference?: { reference: string } }> }> } }> };
    const params = bundle.entry[0]!.resource!.parameter;
    const value = (name: string) => params.find((p) => p.name === name);
    const event = value('notification-event')?.part;
    this.received.push({
      type: value('type')!.valueCode!,
      eventsSinceStart: Number(value('events-since-subscription-start')!.valueString),
      ...(event ? { eventNumber: Number(event.find((p) => p.name === 'event-number')!.valueString), focus: event.find((p) => p.name === 'focus')!.valueReference!.reference } : {}),
      bundle: bundle as unknown as Record<string, unknown>,
    });
  }

  /** The event notifications, one per number (a duplicate must name the same Task as the first). */
  events(): Notification[] {
    const byNumber = new Map<number, Notification>();
    for (const n of this.received.filter((x) => x.type === 'event-notification')) {
      const first = byNumber.get(n.eventNumber!);
      if (first) expect(n.focus, `notification ${n.eventNumber} sent twice for different Tasks`).toBe(first.focus);
      else byNumber.set(n.eventNumber!, n);
    }
    return [...byNumber.values()].sort((a, b) => a.eventNumber! - b.eventNumber!);
  }
}

let j: Journey;
const receiver = new Receiver();
let subscriptionId = '';
let stopReplica: (() => Promise<void>) | undefined;

beforeAll(async () => {
  await receiver.up();
  j = await openJourney('referral_fhir_subscriptions', { fhirRetryMaxMs: 2_000 });
  stopReplica = await j.replica();
  await j.network();
});

afterAll(async () => {
  await stopReplica?.();
  await j?.close();
  await receiver.down();
});

const fhir = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, role: string, body?: unknown, type = 'application/fhir+json') => j.call(method, `/fhir${url}`, role, body, type);
const patchStatus = async (referralId: string, status: string, extra: object[] = []) => {
  const res = await fhir('PATCH', `/Task/${referralId}`, 'caritas', [{ op: 'replace', path: '/status', value: status }, ...extra], 'application/json-patch+json');
  expect(res.statusCode, res.body).toBe(200);
};
const OUTCOME = {
  op: 'add',
  path: '/output',
  value: [
    {
      type: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/task-output-type', code: 'outcome' }] },
      valueCodeableConcept: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/service-outcome', code: 'achieved' }] },
    },
  ],
};

describe('FHIR Subscriptions (rest-hook, id-only)', () => {
  it('a partner registers its endpoint; the handshake activates the subscription', async () => {
    const res = await fhir('POST', '/Subscription', 'caritas', {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'our case-management system',
      criteria: 'https://onestop.example/fhir/SubscriptionTopic/partner-task-changed',
      _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: 'Task?owner=Organization/caritas' }] },
      channel: {
        extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period', valueUnsignedInt: 1 }],
        type: 'rest-hook',
        endpoint: `http://127.0.0.1:${receiver.port}/notify`,
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'id-only' }] },
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    subscriptionId = res.json().id;
    await eventually(async () => expect((await fhir('GET', `/Subscription/${subscriptionId}`, 'caritas')).json().status).toBe('active'));
    expect(receiver.received.find((n) => n.type === 'handshake')).toMatchObject({ eventsSinceStart: 0 });
    // another partner does not see it, and may not subscribe to caritas's Tasks
    expect((await fhir('GET', `/Subscription/${subscriptionId}`, 'cpi')).statusCode).toBe(404);
    const stolen = await fhir('POST', '/Subscription', 'cpi', {
      ...(res.json() as object),
      _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: 'Task?owner=Organization/caritas' }] },
    });
    expect(stolen.statusCode).toBe(403);
    expect(stolen.json().resourceType).toBe('OperationOutcome');
  });

  it('sends heartbeats while nothing happens', async () => {
    await eventually(async () => expect(receiver.received.filter((n) => n.type === 'heartbeat').length).toBeGreaterThan(0));
  });

  it('sends one notification per change of the partner’s Tasks, numbered from 1, ids only; none for another partner’s', async () => {
    const a = await j.referredPerson();
    const b = await j.referredPerson();
    await j.referredPerson(CPI); // not caritas's: no notification
    await patchStatus(a.referralId, 'accepted');
    await patchStatus(a.referralId, 'in-progress');
    await patchStatus(a.referralId, 'completed', [OUTCOME]);
    // 2 referrals + 3 changes of the first
    await eventually(async () => expect(receiver.events().length).toBeGreaterThanOrEqual(5));
    const events = receiver.events();
    expect(events.map((n) => n.eventNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((n) => n.eventsSinceStart)).toEqual([1, 2, 3, 4, 5]);
    const focus = events.map((n) => n.focus!.slice(n.focus!.lastIndexOf('/Task/') + '/Task/'.length));
    expect(focus).toEqual([a.referralId, b.referralId, a.referralId, a.referralId, a.referralId]);
    // id-only: no resource but the status Parameters
    for (const n of events) {
      const entries = n.bundle.entry as Array<{ resource?: unknown; fullUrl: string }>;
      expect(entries).toHaveLength(2);
      expect(entries[1]!.resource).toBeUndefined();
      expect(JSON.stringify(n.bundle)).not.toMatch(/Giulia|Bianchi/);
    }
    // every notification is a valid R4 Bundle for HAPI FHIR's validator
    const results = await validateFhir([receiver.received.find((n) => n.type === 'handshake')!, receiver.received.find((n) => n.type === 'heartbeat')!, ...events].map((n, i) => ({ name: `notification ${i} (${n.type})`, resource: n.bundle })));
    expect(results.flatMap((r) => r.messages.filter((m) => m.severity === 'error' || m.severity === 'fatal').map((m) => `${r.name}: ${m.location}: ${m.message}`))).toEqual([]);
  }, 300_000);

  it('the endpoint is down for 10 s: the Subscription shows the error, and when it is back every notification arrives, none lost', async () => {
    const before = receiver.events().length;
    await receiver.down();
    const started = Date.now();
    // one of the two processes goes away too: the other delivers everything
    await stopReplica!();
    stopReplica = undefined;
    // changes while the partner's endpoint is away
    const c = await j.referredPerson();
    const d = await j.referredPerson();
    await patchStatus(c.referralId, 'accepted');
    await patchStatus(d.referralId, 'rejected', [
      { op: 'add', path: '/statusReason', value: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/referral-status-reason', code: 'not_eligible' }] } },
    ]);
    await eventually(async () => {
      const sub = (await fhir('GET', `/Subscription/${subscriptionId}`, 'caritas')).json();
      expect(sub.status).toBe('error');
      expect(sub.error).toMatch(/ECONNREFUSED|HTTP|network/);
    });
    const status = (await fhir('GET', `/Subscription/${subscriptionId}/$status`, 'caritas')).json();
    expect(status.entry[0].resource.parameter.find((p: { name: string }) => p.name === 'status').valueCode).toBe('error');
    // the endpoint stays away 10 s in all
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - started))));
    expect(receiver.events().length).toBe(before);
    await receiver.up();
    await eventually(async () => expect(receiver.events().length).toBeGreaterThanOrEqual(before + 4), 60_000);
    expect(receiver.events().map((n) => n.eventNumber)).toEqual(Array.from({ length: before + 4 }, (_, i) => i + 1));
    const sent = receiver.received.filter((n) => n.type === 'event-notification').length;
    console.log(`notifications: ${receiver.events().length} numbered, ${sent} received (${sent - receiver.events().length} duplicates from two processes and retries)`);
    const lastFour = receiver.events().slice(-4).map((n) => n.focus!.split('/Task/')[1]);
    expect(lastFour).toEqual([c.referralId, d.referralId, c.referralId, d.referralId]);
    await eventually(async () => expect((await fhir('GET', `/Subscription/${subscriptionId}`, 'caritas')).json().status).toBe('active'));
  }, 120_000);

  it('a partner ends its subscription; it shows off, and ending it again is refused', async () => {
    const res = await fhir('DELETE', `/Subscription/${subscriptionId}`, 'caritas');
    expect(res.statusCode, res.body).toBe(200);
    expect((await fhir('GET', `/Subscription/${subscriptionId}`, 'caritas')).json().status).toBe('off');
    const again = await fhir('DELETE', `/Subscription/${subscriptionId}`, 'caritas');
    expect(again.statusCode).toBe(422);
    expect(again.json().resourceType).toBe('OperationOutcome');
  });
});
