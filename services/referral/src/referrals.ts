import { randomUUID } from 'node:crypto';
import { NotFoundError, type EventContext, type OneStopEvent } from '@onestop/events';
import { handleCommand, loadAggregate, type CaseFactsView, type CommandResult, type DomainEvent, type ServiceContext } from '@onestop/kit';
import { partnerDecider, partnerStream, type PartnerCommand } from './domain/partner.js';
import {
  referralDecider,
  referralStream,
  type CancelReferral,
  type ReferralCommand,
  type ReferralEvent,
} from './domain/referral.js';
import type { ReferralView, ViewEvent } from './referral-view.js';

/** A partner's answer to a referral, the same over HTTP and Kafka. */
export type PartnerAnswer =
  | { action: 'accept'; expectedStart?: string }
  | { action: 'decline'; reason: 'no_capacity' | 'not_eligible' | 'unable_to_contact' | 'other'; note?: string }
  | { action: 'start' }
  | { action: 'complete'; outcome: 'achieved' | 'partially_achieved' | 'not_achieved' | 'dropped_out' };

export interface NewReferral {
  personId: string;
  assessmentId: string;
  partnerId: string;
  serviceId: string;
  reason: string;
  priority: 'routine' | 'urgent' | 'asap';
}

/** Serialises work per key inside this process (acceptances of one service). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const withPositions = <E extends DomainEvent>(r: CommandResult<E>): ViewEvent[] =>
  r.events.map((e, i) => ({ ...e, streamPosition: r.revision - r.events.length + 1 + i }) as unknown as ViewEvent);

/**
 * The referral service's use cases: directory changes, referring, partner
 * answers, cancellations and the SLA watcher. Routes and consumers call these;
 * the rules live in the deciders.
 */
export class Referrals {
  private readonly acceptances = new KeyedMutex();

  constructor(
    private readonly ctx: ServiceContext,
    readonly view: ReferralView,
    readonly facts: CaseFactsView,
  ) {}

  async changeDirectory(partnerId: string, command: PartnerCommand, ec: EventContext) {
    const r = await handleCommand(this.ctx.store, partnerStream(partnerId), partnerDecider, command, { partitionKey: partnerId, ctx: ec });
    await this.view.apply(withPositions(r));
    return r;
  }

  async partner(partnerId: string) {
    const { state } = await loadAggregate(this.ctx.store, partnerStream(partnerId), partnerDecider);
    if (!state.partnerId) throw new NotFoundError('partner', partnerId);
    return state;
  }

  /** Records a referral after checking every precondition of DESIGN §4. */
  async refer(input: NewReferral, ec: EventContext): Promise<{ referralId: string; respondBy: string; position: number }> {
    const referralId = randomUUID();
    const [person, assessment, partnerAgg] = await Promise.all([
      this.facts.person(input.personId),
      this.facts.assessment(input.assessmentId),
      loadAggregate(this.ctx.store, partnerStream(input.partnerId), partnerDecider),
    ]);
    const existing = await this.view.claim({ referralId, ...input });
    try {
      // an unknown or erased person has no key; the decider refuses such a referral before the reason is used
      const reason =
        person && !person.erased
          ? await this.ctx.keyring.encrypt(input.personId, input.reason)
          : { alg: 'A256GCM' as const, kid: input.personId, iv: '', ct: '', tag: '' };
      const r = await this.run(referralId, input.personId, {
        type: 'Refer',
        referralId,
        ...input,
        reason,
        referredBy: ec.actor.id,
        at: new Date(ec.time),
        facts: {
          consent: person?.referralSharingConsent,
          personErased: person?.erased ?? false,
          assessment: assessment ? { personId: assessment.personId, status: assessment.status, needProfile: assessment.needProfile } : undefined,
          partner: partnerAgg.state,
          agreementId: this.ctx.config.ONESTOP_AGREEMENT_ID,
          occupied: await this.view.occupied(input.partnerId, input.serviceId),
          ...(existing ? { openReferralForSameService: existing } : {}),
        },
      }, ec, true);
      const e = r.events[0] as OneStopEvent<'ReferredToPartner'>;
      return { referralId, respondBy: e.data.respondBy, position: r.globalPositions[0]! };
    } catch (err) {
      if (!existing) await this.view.releaseClaim(referralId);
      throw err;
    }
  }

  /** Applies a partner's answer through the referral decider (HTTP and Kafka alike). */
  async answer(partnerId: string, referralId: string, answer: PartnerAnswer, ec: EventContext) {
    const { state } = await loadAggregate(this.ctx.store, referralStream(referralId), referralDecider);
    if (state.status === 'none') throw new NotFoundError('referral', referralId);
    switch (answer.action) {
      case 'accept':
        // acceptance takes a place: serialised per service so two answers cannot take the last one
        return this.acceptances.run(`${state.partnerId}/${state.serviceId}`, async () => {
          const partner = await this.partner(state.partnerId!);
          const capacity = partner.services[state.serviceId!]?.capacity ?? 0;
          const occupied = await this.view.occupied(state.partnerId!, state.serviceId!);
          return this.run(referralId, state.personId!, { type: 'Accept', partnerId, capacity, occupied, ...(answer.expectedStart ? { expectedStart: answer.expectedStart } : {}) }, ec);
        });
      case 'decline': {
        // the partner's note may mention the person: it is stored encrypted with the person's key
        const note = answer.note ? await this.ctx.keyring.encrypt(state.personId!, answer.note) : undefined;
        return this.run(referralId, state.personId!, { type: 'Decline', partnerId, reason: answer.reason, ...(note ? { note } : {}) }, ec);
      }
      case 'start':
        return this.run(referralId, state.personId!, { type: 'StartService', partnerId }, ec);
      case 'complete':
        return this.run(referralId, state.personId!, { type: 'CompleteService', partnerId, outcome: answer.outcome }, ec);
    }
  }

  async cancel(referralId: string, reason: CancelReferral['reason'], automatic: boolean, ec: EventContext) {
    const { state } = await loadAggregate(this.ctx.store, referralStream(referralId), referralDecider);
    if (state.status === 'none') throw new NotFoundError('referral', referralId);
    return this.run(referralId, state.personId!, { type: 'CancelReferral', reason, automatic }, ec);
  }

  /** Cancels every open referral of a person (consent withdrawn, data erased). */
  async cancelOpenReferralsOf(personId: string, reason: 'consent_withdrawn' | 'personal_data_erased', causationId: string, correlationId: string) {
    for (const referralId of await this.view.openOfPerson(personId)) {
      await this.cancel(referralId, reason, true, this.systemContext(causationId, correlationId));
    }
  }

  /** The SLA watcher's pass: each late referral gets exactly one ReferralOverdue. */
  async markOverdue(now: Date): Promise<number> {
    let marked = 0;
    for (const referralId of await this.view.dueBefore(now)) {
      const { state } = await loadAggregate(this.ctx.store, referralStream(referralId), referralDecider);
      if (state.status === 'none') continue;
      const r = await this.run(referralId, state.personId!, { type: 'MarkOverdue', now }, this.systemContext(`sla-${now.toISOString()}`, `sla-watcher`));
      marked += r.events.length;
    }
    return marked;
  }

  private systemContext(causationId: string, correlationId: string): EventContext {
    return { source: '/onestop/referral', actor: { id: 'sla-watcher', role: 'system' }, correlationId, causationId, time: this.ctx.clock.now().toISOString() };
  }

  private async run(referralId: string, personId: string, command: ReferralCommand, ec: EventContext, newStream = false) {
    const r = await handleCommand<ReferralCommand, ReferralEvent, unknown>(
      this.ctx.store,
      referralStream(referralId),
      referralDecider as never,
      command,
      { partitionKey: personId, ctx: ec, newStream },
    );
    await this.view.apply(withPositions(r));
    return r;
  }
}
