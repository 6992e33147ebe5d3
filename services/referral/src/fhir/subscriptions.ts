import { randomUUID } from 'node:crypto';
import { liftRecorded, type EventContext, type RawRecordedEvent } from '@onestop/events';
import { applySchema, type Subscription as LogSubscription } from '@onestop/eventstore';
import { handleCommand, loadAggregate, type ServiceContext } from '@onestop/kit';
import { subscriptionDecider, subscriptionStream, type SubscriptionCommand, type SubscriptionState } from '../domain/subscription.js';
import { TASK_TOPIC_URL, type Resource } from './resources.js';

// FHIR Subscriptions (R4 Subscriptions Backport IG), rest-hook, id-only.
//
// A subscription is its stream in the store (subscription-<id>): requested,
// activated, errored, ended. Its notifications come from the store's global
// log: a courier per subscription reads the referral streams from where its
// checkpoint stands, and for each event of a referral of the subscription's
// partner sends one notification, numbered 1, 2, 3… from the subscription's
// start (events-since-subscription-start and the notification's event-number).
// The checkpoint (global position, events numbered so far) is saved after the
// endpoint answered 2xx, so delivery is at-least-once: a crash or a failure
// sends the same notification again, with the same number, never skips one.
// The number is a function of the log alone (the count of the partner's
// referral events after the subscription's start position), so every replica
// gives each notification the same number.
//
// Several replicas: every referral process runs a courier for every
// subscription (no lease, no claim). Before sending, a courier adopts a
// checkpoint another replica saved further ahead, so the replicas mostly
// share the work; two that reach the same event at the same time both send it
// (a duplicate with the same event number, which at-least-once allows and a
// receiver drops by number). No notification is lost when a replica stops:
// the others carry on from the shared checkpoint.

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS referral;
-- Where each subscription's notifications stand: the global position of the
-- last event handled and how many notifications were numbered up to it. A
-- checkpoint, not a lease: it only moves forward, and any replica may move it.
CREATE TABLE IF NOT EXISTS referral.subscription_checkpoints (
  subscription_id uuid PRIMARY KEY,
  position        bigint NOT NULL,
  events          bigint NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
`;

const SOURCE = '/onestop/referral';
const COURIER = 'referral-fhir-courier';

export interface NewSubscription {
  partnerId: string;
  endpoint: string;
  heartbeatSeconds: number;
}

export interface SubscriptionView extends SubscriptionState {
  /** notifications numbered so far (events-since-subscription-start) */
  eventsSinceStart: number;
}

export interface SubscriptionOptions {
  /** the facade's base URL as partners reach it */
  baseUrl: string;
  /** first pause between retries (ms); doubles up to maxRetryMs */
  firstRetryMs?: number;
  maxRetryMs: number;
  /** how long one delivery may take (ms) */
  timeoutMs?: number;
}

type NotificationType = 'handshake' | 'heartbeat' | 'event-notification';

/** An R4 Backport notification Bundle (history): the SubscriptionStatus Parameters, then the focus by id only. */
export function notificationBundle(
  baseUrl: string,
  s: Pick<SubscriptionState, 'subscriptionId' | 'status'>,
  type: NotificationType,
  eventsSinceStart: number,
  event?: { number: number; time: string; taskId: string },
  now = new Date(),
): Resource {
  const statusId = randomUUID();
  const parameter: object[] = [
    { name: 'subscription', valueReference: { reference: `${baseUrl}/Subscription/${s.subscriptionId}` } },
    { name: 'topic', valueCanonical: TASK_TOPIC_URL },
    { name: 'status', valueCode: s.status === 'none' || s.status === 'error' ? 'active' : s.status },
    { name: 'type', valueCode: type },
    { name: 'events-since-subscription-start', valueString: String(eventsSinceStart) },
  ];
  if (event) {
    parameter.push({
      name: 'notification-event',
      part: [
        { name: 'event-number', valueString: String(event.number) },
        { name: 'timestamp', valueInstant: event.time },
        { name: 'focus', valueReference: { reference: `${baseUrl}/Task/${event.taskId}` } },
      ],
    });
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'history',
    timestamp: now.toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${statusId}`,
        resource: { resourceType: 'Parameters', id: statusId, parameter },
        request: { method: 'GET', url: `${baseUrl}/Subscription/${s.subscriptionId}/$status` },
        response: { status: '200' },
      },
      ...(event ? [{ fullUrl: `${baseUrl}/Task/${event.taskId}`, request: { method: 'PUT', url: `Task/${event.taskId}` }, response: { status: '200' } }] : []),
    ],
  };
}

/** Subscriptions: the use cases of the /fhir/Subscription routes, and the couriers that deliver. */
export class Subscriptions {
  private registry?: LogSubscription;
  private readonly couriers = new Map<string, Courier>();
  /** a referral's partner never changes: kept once read */
  private readonly partnerOfReferral = new Map<string, string>();

  constructor(
    private readonly ctx: ServiceContext,
    readonly options: SubscriptionOptions,
  ) {}

  async migrate(): Promise<void> {
    await applySchema(this.ctx.db, 7411103, SCHEMA);
  }

  async create(input: NewSubscription, ec: EventContext): Promise<string> {
    const subscriptionId = randomUUID();
    // notifications cover what is recorded after the request
    const startPosition = await this.ctx.store.headPosition();
    await handleCommand(
      this.ctx.store,
      subscriptionStream(subscriptionId),
      subscriptionDecider,
      { type: 'RequestSubscription', subscriptionId, topic: TASK_TOPIC_URL, startPosition, requestedBy: ec.actor.id, ...input },
      { partitionKey: input.partnerId, ctx: ec, newStream: true },
    );
    return subscriptionId;
  }

  /** A subscription as its stream and checkpoint tell; undefined when unknown. */
  async get(subscriptionId: string): Promise<SubscriptionView | undefined> {
    const { state } = await loadAggregate(this.ctx.store, subscriptionStream(subscriptionId), subscriptionDecider);
    if (state.status === 'none') return undefined;
    const cp = await this.checkpoint(subscriptionId);
    return { ...state, eventsSinceStart: cp?.events ?? 0 };
  }

  /** A partner's subscriptions (all, for an admin), from their streams. */
  async list(partnerId: string | undefined): Promise<SubscriptionView[]> {
    const requested = await this.ctx.store.readAll({ types: ['SubscriptionRequested'], maxCount: 1000 });
    const ids = requested
      .map((e) => e.data as { subscriptionId: string; partnerId: string })
      .filter((d) => !partnerId || d.partnerId === partnerId)
      .map((d) => d.subscriptionId);
    return (await Promise.all(ids.map((id) => this.get(id)))).filter((s): s is SubscriptionView => !!s);
  }

  end(subscriptionId: string, partnerId: string | undefined, ec: EventContext) {
    return this.decide(subscriptionId, { type: 'EndSubscription', partnerId, endedBy: ec.actor.id }, ec);
  }

  private decide(subscriptionId: string, command: SubscriptionCommand, ec: EventContext) {
    return handleCommand(this.ctx.store, subscriptionStream(subscriptionId), subscriptionDecider, command, {
      partitionKey: (s) => s.partnerId ?? subscriptionId,
      ctx: ec,
    });
  }

  /** Records a delivery or a failure (once per change of status: the decider ignores repeats). */
  async record(subscriptionId: string, command: SubscriptionCommand, causationId: string): Promise<void> {
    const ec: EventContext = { source: SOURCE, actor: { id: COURIER, role: 'system' }, correlationId: COURIER, causationId, time: this.ctx.clock.now().toISOString() };
    await this.decide(subscriptionId, command, ec);
  }

  async checkpoint(subscriptionId: string): Promise<{ position: number; events: number } | undefined> {
    const rows = await this.ctx.db.query<{ position: unknown; events: unknown }>(
      'SELECT position, events FROM referral.subscription_checkpoints WHERE subscription_id = $1',
      [subscriptionId],
    );
    return rows[0] ? { position: Number(rows[0].position), events: Number(rows[0].events) } : undefined;
  }

  /** Moves a checkpoint forward (never back: a replica behind another leaves it where it is). */
  async saveCheckpoint(subscriptionId: string, position: number, events: number): Promise<void> {
    await this.ctx.db.query(
      `INSERT INTO referral.subscription_checkpoints (subscription_id, position, events) VALUES ($1, $2, $3)
       ON CONFLICT (subscription_id) DO UPDATE SET position = excluded.position, events = excluded.events, updated_at = now()
       WHERE referral.subscription_checkpoints.position < excluded.position`,
      [subscriptionId, position, events],
    );
  }

  /** The partner a referral is addressed to (its first event says so, once and for all). */
  async partnerOf(referralStreamId: string): Promise<string | undefined> {
    const known = this.partnerOfReferral.get(referralStreamId);
    if (known) return known;
    const [first] = await this.ctx.store.readStream(referralStreamId, { maxCount: 1 });
    const partnerId = first?.type === 'ReferredToPartner' ? (first.data as { partnerId: string }).partnerId : undefined;
    if (partnerId) {
      // bounded: a forgotten entry is only read again
      if (this.partnerOfReferral.size >= 100_000) this.partnerOfReferral.clear();
      this.partnerOfReferral.set(referralStreamId, partnerId);
    }
    return partnerId;
  }

  /** Starts delivering: follows the subscription streams and runs a courier for each live subscription. */
  start(): void {
    this.registry = this.ctx.store.subscribeToAll({
      from: 0,
      filter: { streamPrefix: 'subscription-' },
      handle: async (events) => {
        for (const e of events) {
          const id = e.subject.slice('subscription-'.length);
          if (e.type === 'SubscriptionEnded') {
            await this.couriers.get(id)?.stop();
            this.couriers.delete(id);
          } else if (!this.couriers.has(id)) {
            const { state } = await loadAggregate(this.ctx.store, e.subject, subscriptionDecider);
            if (state.status === 'off') continue;
            const courier = new Courier(this, this.ctx, state, this.options);
            this.couriers.set(id, courier);
            courier.start();
          } else {
            this.couriers.get(id)!.observe(liftRecorded(e).type);
          }
        }
      },
      onError: (err) => this.ctx.logger.warn({ err }, 'FHIR subscription registry: a batch failed, retried'),
    });
  }

  async stop(): Promise<void> {
    await this.registry?.stop();
    await Promise.all([...this.couriers.values()].map((c) => c.stop()));
    this.couriers.clear();
  }
}

class Stopped extends Error {}

/** Delivers one subscription's notifications, in order, each until the endpoint takes it. */
class Courier {
  private log?: LogSubscription;
  private stopped = false;
  private wake?: () => void;
  private heartbeat?: NodeJS.Timeout;
  private position = 0;
  private events = 0;
  private lastSent = Date.now();
  private busy = false;
  private status: SubscriptionState['status'];

  constructor(
    private readonly subs: Subscriptions,
    private readonly ctx: ServiceContext,
    private readonly sub: SubscriptionState,
    private readonly options: SubscriptionOptions,
  ) {
    this.status = sub.status;
  }

  /** What another process recorded about this subscription (its status). */
  observe(type: string): void {
    if (type === 'SubscriptionActivated') this.status = 'active';
    else if (type === 'SubscriptionErrored') this.status = 'error';
  }

  start(): void {
    void this.run().catch((err) => {
      if (!(err instanceof Stopped)) this.ctx.logger.error({ err, subscriptionId: this.sub.subscriptionId }, 'FHIR courier stopped on an error');
    });
  }

  private async run(): Promise<void> {
    const id = this.sub.subscriptionId!;
    const cp = await this.subs.checkpoint(id);
    this.position = cp?.position ?? this.sub.startPosition;
    this.events = cp?.events ?? 0;
    if (this.status === 'requested') await this.send('handshake');
    if (this.stopped) return;
    if (this.sub.heartbeatSeconds > 0) {
      const every = this.sub.heartbeatSeconds * 1000;
      this.heartbeat = setInterval(() => {
        if (this.busy || this.stopped || Date.now() - this.lastSent < every) return;
        this.busy = true;
        void this.send('heartbeat')
          .catch(() => undefined)
          .finally(() => (this.busy = false));
      }, Math.min(every, 1000));
    }
    this.log = this.ctx.store.subscribeToAll({
      from: this.position,
      filter: { streamPrefix: 'referral-' },
      handle: (batch) => this.handle(batch),
      onError: (err) => {
        if (!(err instanceof Stopped)) this.ctx.logger.warn({ err, subscriptionId: id }, 'FHIR courier: a batch failed, retried');
      },
    });
  }

  private async handle(batch: RawRecordedEvent[]): Promise<void> {
    const id = this.sub.subscriptionId!;
    for (const e of batch) {
      if (this.stopped) throw new Stopped();
      if (e.globalPosition <= this.position) continue;
      // another replica went further: take its count, do not send again what it sent
      const shared = await this.subs.checkpoint(id);
      if (shared && shared.position >= e.globalPosition) {
        this.position = shared.position;
        this.events = shared.events;
        continue;
      }
      if ((await this.subs.partnerOf(e.subject)) !== this.sub.partnerId) {
        this.position = e.globalPosition;
        continue;
      }
      const number = this.events + 1;
      while (this.busy) await sleep(20);
      this.busy = true;
      try {
        await this.send('event-notification', { number, time: e.time, taskId: e.subject.slice('referral-'.length) });
      } finally {
        this.busy = false;
      }
      this.events = number;
      this.position = e.globalPosition;
      await this.subs.saveCheckpoint(id, this.position, this.events);
    }
    // events of other partners: the checkpoint moves past them once per batch
    await this.subs.saveCheckpoint(id, this.position, this.events);
  }

  /** Sends one notification until the endpoint answers 2xx (retries with backoff); records status changes. */
  private async send(type: NotificationType, event?: { number: number; time: string; taskId: string }): Promise<void> {
    const id = this.sub.subscriptionId!;
    const eventNumber = event?.number ?? this.events;
    let pause = this.options.firstRetryMs ?? 500;
    for (;;) {
      if (this.stopped) throw new Stopped();
      const bundle = notificationBundle(this.options.baseUrl, { subscriptionId: id, status: this.status }, type, event ? event.number : this.events, event, this.ctx.clock.now());
      const error = await this.post(bundle);
      if (!error) {
        this.lastSent = Date.now();
        if (this.status !== 'active') {
          await this.subs.record(id, { type: 'RecordDelivery', eventNumber }, `${id}:${eventNumber}`).catch((err) => this.ctx.logger.warn({ err }, 'FHIR courier: could not record the delivery'));
          this.status = 'active';
        }
        return;
      }
      if (type === 'heartbeat') throw new Error(error); // the next heartbeat tries again
      if (this.status !== 'error') {
        await this.subs.record(id, { type: 'RecordFailure', eventNumber, error }, `${id}:${eventNumber}`).catch((err) => this.ctx.logger.warn({ err }, 'FHIR courier: could not record the failure'));
        this.status = 'error';
      }
      await this.pause(pause);
      pause = Math.min(pause * 2, this.options.maxRetryMs);
    }
  }

  /** POSTs a bundle; the cause of a failure (status code or network error code), or undefined on 2xx. */
  private async post(bundle: Resource): Promise<string | undefined> {
    try {
      const res = await fetch(this.sub.endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(bundle),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        redirect: 'error',
      });
      await res.body?.cancel().catch(() => undefined);
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as { name?: string }).name ?? 'network error';
      return String(cause).slice(0, 200);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.wake?.();
    await this.log?.stop().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
