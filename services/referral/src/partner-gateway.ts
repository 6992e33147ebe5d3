import { ConflictError, liftRecorded, NotFoundError, partnerReferralsTopic, partnerResponsesTopic, TOPICS, type EventContext, type RecordedEvent } from '@onestop/events';
import { dataSchemaUri, KafkaBus, retentionConfigs, type KafkaMessageConsumer, type Outgoing, type RunningConsumer } from '@onestop/bus';
import type { ServiceContext } from '@onestop/kit';
import { NotYourReferral, referralStream } from './domain/referral.js';
import {
  isPartnerReferralEvent,
  parsePartnerResponse,
  partnerReferralMessage,
  referralFacts,
  type InboundAnswer,
  type PartnerReferralEvent,
  type ReferralFacts,
} from './partner-gateway-messages.js';
import type { Referrals } from './referrals.js';

/** Consumer group of the outbound side (internal referral and directory topics). */
export const PARTNER_GATEWAY_GROUP = 'referral-partner-gateway';
/** Consumer group of the partners' responses topics (its dead letters are the partners' refused answers). */
export const PARTNER_RESPONSES_GROUP = 'referral-partner-responses';

const SOURCE = '/onestop/referral';
/** The event each action records. */
const EVENT_OF = { accept: 'ReferralAccepted', decline: 'ReferralDeclined', waitlist: 'ReferralWaitlisted', start: 'ServiceStarted', complete: 'ServiceCompleted' } as const;
const FACTS_CACHE = 10_000;

export interface PartnerGatewayOptions {
  /**
   * How often the partners of the directory view are checked for topics and
   * subscriptions (default 30 s). A replica hears of a new partner on the
   * directory topic only if it owns that partition; this brings every replica
   * to the same subscription, which a consumer group needs to share the
   * partners' responses topics among its members.
   */
  reconcileMs?: number;
}

/**
 * The partner topics of DESIGN §5, on the Kafka bus.
 *
 * Outbound: consumes the internal referral topic (validated catalog events,
 * at-least-once) and publishes each event of a referral, id-only, on the
 * addressed partner's `referrals` topic with the bus's idempotent producer; the
 * offsets are committed only after the broker has the messages.
 *
 * Inbound: consumes every known partner's `responses` topic; the partner is
 * the topic's (brokers let a partner write only its own, with ACLs), each answer
 * goes through `Referrals.answer`, the decider the HTTP routes use. An answer
 * already applied (an event of the referral caused by its responseId) is
 * skipped; an invalid or refused one goes to the dead-letter queue with its
 * reason.
 *
 * Topics: both of a partner's topics are created (auto-creation is off) for
 * every partner of the directory at start, and for a partner that registers
 * or joins later, whose responses topic is then subscribed too. A responses
 * topic holds what the partner wrote, free-text notes in clear, out of reach
 * of erasure: it gets a bounded retention (KAFKA_PARTNER_RESPONSES_RETENTION_MS)
 * when it is created, and again at every start if it has another (issue 12).
 * The referrals topic is id-only and keeps the broker's retention.
 */
export class PartnerGateway {
  /** partners whose two topics exist */
  private readonly partners = new Set<string>();
  /** referralId → what never changes of it */
  private readonly facts = new Map<string, ReferralFacts>();
  private inbound: KafkaMessageConsumer | undefined;
  private outbound: RunningConsumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** topic work one at a time (the outbound handler and the reconcile timer) */
  private topicWork: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly referrals: Referrals,
    private readonly bus: KafkaBus,
    private readonly options: PartnerGatewayOptions = {},
  ) {}

  /** Starts the gateway on the context's bus; only the Kafka bus has partner topics. */
  static async start(ctx: ServiceContext, referrals: Referrals, options: PartnerGatewayOptions = {}): Promise<PartnerGateway> {
    if (!(ctx.bus instanceof KafkaBus)) throw new Error('the partner gateway needs the Kafka bus (ONESTOP_BUS=kafka)');
    const gateway = new PartnerGateway(ctx, referrals, ctx.bus, options);
    await gateway.start();
    return gateway;
  }

  async start(): Promise<void> {
    await this.reconcile();
    this.inbound = await this.bus.consumeMessages<InboundAnswer>({
      group: PARTNER_RESPONSES_GROUP,
      topics: this.responseTopics(),
      parse: parsePartnerResponse,
      handle: async (batch) => {
        for (const a of batch) await this.apply(a);
      },
    });
    try {
      this.outbound = await this.bus.consume({
        group: PARTNER_GATEWAY_GROUP,
        topics: [TOPICS.referral, TOPICS.directory],
        handle: (batch) => this.publish(batch),
        // its failures are the broker's (catalog events are validated before): retry for a minute or so before dead-lettering
        maxAttempts: 20,
      });
    } catch (e) {
      await this.inbound.stop();
      throw e;
    }
    const every = this.options.reconcileMs ?? 30_000;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.reconcile()
          .catch((err: unknown) => this.ctx.logger.warn({ err }, 'partner topics: reconciling with the directory failed'))
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, every);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.outbound?.stop();
    await this.topicWork;
    await this.inbound?.stop();
  }

  /** Topics and subscription for every partner of the directory view. */
  private async reconcile(): Promise<void> {
    const known = (await this.referrals.view.partners()).map((p) => p.partnerId);
    await this.createTopics(known);
  }

  /** The responses topics consumed now. */
  get consumedTopics(): readonly string[] {
    return this.inbound?.topics ?? [];
  }

  private responseTopics(): string[] {
    return [...this.partners].sort().map(partnerResponsesTopic);
  }

  /** Creates the two topics of partners not seen before; subscribes to their responses once the consumer runs. */
  private createTopics(partnerIds: readonly string[]): Promise<void> {
    const run = this.topicWork.then(async () => {
      const fresh = [...new Set(partnerIds)].filter((p) => !this.partners.has(p));
      if (fresh.length === 0) return;
      const retention = retentionConfigs(this.ctx.config.KAFKA_PARTNER_RESPONSES_RETENTION_MS);
      const created = await this.bus.createTopics(fresh.flatMap((p) => [partnerReferralsTopic(p), { topic: partnerResponsesTopic(p), configs: retention }]));
      if (created.length > 0) this.ctx.logger.info({ topics: created }, 'partner topics created');
      for (const p of fresh) this.partners.add(p);
      if (!this.stopped) await this.inbound?.refresh(this.responseTopics());
    });
    this.topicWork = run.catch(() => undefined);
    return run;
  }

  // ── Outbound ────────────────────────────────────────────────────────────────

  private async publish(batch: readonly RecordedEvent[]): Promise<void> {
    // a partner that registers or joins gets its topics (the directory topic is consumed here too)
    const joining = batch.filter((e) => e.type === 'PartnerRegistered' || e.type === 'PartnerJoinedAgreement').map((e) => e.subject.slice('partner-'.length));
    if (joining.length > 0) await this.createTopics(joining);
    const outgoing: Outgoing[] = [];
    for (const e of batch) {
      if (!isPartnerReferralEvent(e)) continue;
      const f = await this.factsOf(e);
      // a referral seen before the partner's registration (replay, or a lagging directory): topics first
      if (!this.partners.has(f.partnerId)) await this.createTopics([f.partnerId]);
      outgoing.push(this.outgoing(e, f));
    }
    await this.bus.publish(outgoing);
  }

  private outgoing(e: RecordedEvent & { type: PartnerReferralEvent }, f: ReferralFacts): Outgoing {
    const message = partnerReferralMessage(e, f);
    return {
      topic: partnerReferralsTopic(f.partnerId),
      message: {
        key: f.referralId,
        value: JSON.stringify(message),
        // binary-mode CloudEvent, as on the internal topics, without the internal envelope (actor, hash chain)
        headers: {
          ce_specversion: '1.0',
          ce_id: message.messageId,
          ce_type: message.event,
          ce_source: SOURCE,
          ce_subject: `referral-${f.referralId}`,
          ce_time: message.at,
          'content-type': 'application/json',
          ce_dataschema: dataSchemaUri('PartnerReferralMessage', 1),
          ce_partitionkey: f.referralId,
          ce_correlationid: e.correlationId,
          // the partner's system may continue the trace (CloudEvents distributed tracing)
          ...(e.traceparent ? { ce_traceparent: e.traceparent } : {}),
        },
      },
    };
  }

  /** The unchanging facts of the referral an event belongs to: from the event itself, a cache, or the stream's first event. */
  private async factsOf(e: RecordedEvent): Promise<ReferralFacts> {
    const referralId = e.subject.slice('referral-'.length);
    let f = e.type === 'ReferredToPartner' ? referralFacts(e.data) : this.facts.get(referralId);
    if (!f) {
      // the store has it: the relay published this event after it was stored
      const [first] = (await this.ctx.store.readStream(referralStream(referralId), { maxCount: 1 })).map(liftRecorded);
      if (first?.type !== 'ReferredToPartner') throw new NotFoundError('referral', referralId);
      f = referralFacts(first.data);
    }
    this.facts.delete(referralId);
    this.facts.set(referralId, f);
    if (this.facts.size > FACTS_CACHE) this.facts.delete(this.facts.keys().next().value!);
    return f;
  }

  // ── Inbound ─────────────────────────────────────────────────────────────────

  /** Applies one answer; throws a domain error (a dead letter with its reason) when it cannot be. */
  private async apply(a: InboundAnswer): Promise<void> {
    const events = (await this.ctx.store.readStream(referralStream(a.referralId))).map(liftRecorded);
    const first = events[0];
    if (first?.type !== 'ReferredToPartner') throw new NotFoundError('referral', a.referralId);
    // checked before the duplicate test: another partner's answer is refused, never "already applied"
    if (first.data.partnerId !== a.partnerId) throw new NotYourReferral();
    const earlier = events.find((e) => e.causationId === a.responseId);
    if (earlier) {
      // the same answer again (redelivery, a partner's retry): done already
      if (earlier.type === EVENT_OF[a.answer.action]) {
        this.ctx.logger.debug({ responseId: a.responseId, referralId: a.referralId, origin: a.origin }, 'partner answer already applied');
        return;
      }
      throw new ConflictError('response_id_reused', `responseId ${a.responseId} already answered this referral with ${earlier.type}`, { responseId: a.responseId });
    }
    const ec: EventContext = {
      source: SOURCE,
      actor: { id: a.respondedBy, role: 'partner', partnerId: a.partnerId },
      correlationId: a.responseId,
      causationId: a.responseId,
      time: this.ctx.clock.now().toISOString(),
    };
    await this.referrals.answer(a.partnerId, a.referralId, a.answer, ec);
  }
}
