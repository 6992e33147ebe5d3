import { ConflictError, NotFoundError, PLACE_HOLDING_STATUSES, type EventContext, type OneStopEvent, type RecordedEvent } from '@onestop/events';
import { caseDecider, caseStream } from '@onestop/case';
import { handleCommand, loadAggregate, newId, transact, type Appended, type CaseFactsView, type ServiceContext, type UnitOfWork } from '@onestop/kit';
import { partnerDecider, partnerStream, type PartnerCommand } from './domain/partner.js';
import { placesDecider, placesStream, type PlacesEvent, type PlacesState } from './domain/places.js';
import { referralDecider, referralStream, type CancelReferral, type ReferralState } from './domain/referral.js';
import type { ReferralView } from './referral-view.js';

/** A partner's answer to a referral, the same over HTTP and Kafka. */
export type PartnerAnswer =
  | { action: 'accept'; expectedStart?: string }
  | { action: 'decline'; reason: 'no_capacity' | 'not_eligible' | 'unable_to_contact' | 'other'; note?: string }
  | { action: 'waitlist'; expectedDate: string }
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

/** What a command on a referral did: its events, its stream's revision and their global positions. */
export interface ReferralResult {
  events: OneStopEvent[];
  revision: number;
  globalPositions: number[];
  state: ReferralState;
}

/** The components that act on their own, named as the actors of what they record. */
export const AUTOMATIC_ACTORS = {
  consentWatch: 'referral-consent-watch',
  slaWatcher: 'referral-sla-watcher',
} as const;

const holdsPlace = (s: ReferralState) => (PLACE_HOLDING_STATUSES as readonly string[]).includes(s.status);

/**
 * The referral service's use cases: directory changes, referring, partner
 * answers, cancellations and the SLA watcher. Routes and consumers call these;
 * the rules live in the deciders, and every invariant that spans streams is
 * guarded by a stream's expected revision in one atomic append (transact).
 */
export class Referrals {
  constructor(
    private readonly ctx: ServiceContext,
    readonly view: ReferralView,
    readonly facts: CaseFactsView,
  ) {}

  async changeDirectory(partnerId: string, command: PartnerCommand, ec: EventContext) {
    if (command.type !== 'ChangeServiceCapacity') {
      return handleCommand(this.ctx.store, partnerStream(partnerId), partnerDecider, command, { partitionKey: partnerId, ctx: ec });
    }
    // raising a capacity frees places: the service's waitlist hears of them in the same append
    const stream = partnerStream(partnerId);
    const { result: partner, appended } = await transact(this.ctx.store, ec, async (uow) => {
      const p = await uow.load(stream, partnerDecider, { partitionKey: partnerId });
      const previous = p.state.services[command.serviceId]?.capacity;
      if (p.decide(command).length === 0 || previous === undefined) return p;
      const places = await uow.load(placesStream(partnerId, command.serviceId), placesDecider, { partitionKey: partnerId });
      await this.tellOffered(uow, places.decide({ type: 'CapacityChanged', previous, capacity: command.capacity }));
      return p;
    });
    const a = appended.find((x) => x.streamId === stream);
    return { events: a?.events ?? [], revision: a ? a.revision : partner.revision, globalPositions: a?.globalPositions ?? [], state: partner.state };
  }

  async partner(partnerId: string) {
    const { state } = await loadAggregate(this.ctx.store, partnerStream(partnerId), partnerDecider);
    if (!state.partnerId) throw new NotFoundError('partner', partnerId);
    return state;
  }

  /** Places taken of each service of a partner, from their places streams (exact, not a view). */
  async occupied(partnerId: string, serviceIds: readonly string[]): Promise<Map<string, number>> {
    const counts = await Promise.all(
      serviceIds.map(async (sid) => [sid, (await loadAggregate(this.ctx.store, placesStream(partnerId, sid), placesDecider)).state.taken.length] as const),
    );
    return new Map(counts);
  }

  /** Records a referral after checking every precondition of DESIGN §4; the person's case takes the service's slot. */
  async refer(input: NewReferral, ec: EventContext, replacesReferralId?: string): Promise<{ referralId: string; respondBy: string; position: number }> {
    // derived from the Idempotency-Key when there is one: a retried request refers the same referral
    const referralId = newId();
    const [person, assessment] = await Promise.all([this.facts.person(input.personId), this.facts.assessment(input.assessmentId)]);
    // an unknown or erased person has no key; the decider refuses such a referral before the reason is used
    const reason =
      person && !person.erased
        ? await this.ctx.keyring.encrypt(input.personId, input.reason)
        : { alg: 'A256GCM' as const, kid: input.personId, iv: '', ct: '', tag: '' };
    const { appended } = await transact(this.ctx.store, ec, async (uow) => {
      const partner = await uow.load(partnerStream(input.partnerId), partnerDecider, { partitionKey: input.partnerId });
      const places = await uow.load(placesStream(input.partnerId, input.serviceId), placesDecider, { partitionKey: input.partnerId });
      const referral = await uow.load(referralStream(referralId), referralDecider, { partitionKey: input.personId, newStream: true });
      referral.decide({
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
          partner: partner.state,
          agreementId: this.ctx.config.ONESTOP_AGREEMENT_ID,
          occupied: places.state.taken.length,
        },
        ...(replacesReferralId ? { replacesReferralId } : {}),
      });
      if (replacesReferralId) {
        // the declined referral records its replacement in the same append: re-referred once, whatever the races
        const old = await loadReferral(uow, replacesReferralId);
        if (old.state.personId !== input.personId) throw new NotFoundError('referral', replacesReferralId);
        // a concurrent re-referral got there first (this request's check ran before it): this one records nothing
        if (old.decide({ type: 'Replace', referralId, partnerId: input.partnerId, serviceId: input.serviceId }).length === 0) {
          throw new ConflictError('referral_already_replaced', 'the referral was re-referred meanwhile', { replacedBy: old.state.replacedBy?.referralId });
        }
      }
      const kase = await uow.load(caseStream(input.personId), caseDecider, { partitionKey: input.personId });
      kase.decide({ type: 'OpenReferral', referralId, partnerId: input.partnerId, serviceId: input.serviceId });
    });
    const own = appended.find((a) => a.streamId === referralStream(referralId))!;
    const e = own.events[0] as OneStopEvent<'ReferredToPartner'>;
    // the last referral event of the append (the view follows those): a read `after` it sees the referral and, for a re-referral, the replaced one's link too
    return { referralId, respondBy: e.data.respondBy, position: Math.max(...appended.filter((a) => a.streamId.startsWith('referral-')).flatMap((a) => a.globalPositions)) };
  }

  /**
   * Re-refers a declined referral to another partner or service: a new
   * referral (every check of `refer`) that carries `replacesReferralId`, and
   * ReferralReplaced on the declined one. The same re-referral again records
   * nothing and names the referral made the first time; another one is
   * refused (409 done_otherwise), as is re-referring one that was not declined.
   */
  async reRefer(
    replacesReferralId: string,
    input: Omit<NewReferral, 'personId' | 'assessmentId'>,
    ec: EventContext,
  ): Promise<{ referralId: string; recorded: boolean; respondBy?: string; position?: number }> {
    const { state } = await loadAggregate(this.ctx.store, referralStream(replacesReferralId), referralDecider);
    if (state.status === 'none') throw new NotFoundError('referral', replacesReferralId);
    // a repeat (or one done otherwise) is decided on the stream before anything is encrypted or checked
    if (referralDecider.decide({ type: 'Replace', referralId: replacesReferralId, partnerId: input.partnerId, serviceId: input.serviceId }, state).length === 0) {
      return { referralId: state.replacedBy!.referralId, recorded: false };
    }
    const res = await this.refer({ ...input, personId: state.personId!, assessmentId: state.assessmentId! }, ec, replacesReferralId);
    return { ...res, recorded: true };
  }

  /** Applies a partner's answer through the referral decider (HTTP and Kafka alike). */
  async answer(partnerId: string, referralId: string, answer: PartnerAnswer, ec: EventContext): Promise<ReferralResult> {
    return this.onReferral(referralId, ec, async (referral, uow) => {
      const s = referral.state;
      switch (answer.action) {
        case 'accept': {
          // a repeat of a finished answer records nothing, here as on the referral stream
          if (referral.decide({ type: 'Accept', partnerId, ...(answer.expectedStart ? { expectedStart: answer.expectedStart } : {}) }).length === 0) return;
          // acceptance takes a place: the places stream's revision decides who gets the last one
          const partner = await uow.load(partnerStream(s.partnerId!), partnerDecider, { partitionKey: s.partnerId! });
          const places = await uow.load(placesStream(s.partnerId!, s.serviceId!), placesDecider, { partitionKey: s.partnerId! });
          places.decide({ type: 'TakePlace', referralId, capacity: partner.state.services[s.serviceId!]?.capacity ?? 0 });
          return;
        }
        case 'decline': {
          // the partner's note may mention the person: it is stored encrypted with the person's key
          const note = answer.note ? await this.ctx.keyring.encrypt(s.personId!, answer.note) : undefined;
          if (referral.decide({ type: 'Decline', partnerId, reason: answer.reason, ...(note ? { note } : {}) }).length === 0) return;
          await this.leaveWaitlist(uow, s, 'rejected');
          await this.closeInCase(uow, referral.state, 'rejected');
          return;
        }
        case 'waitlist': {
          if (referral.decide({ type: 'Waitlist', partnerId, expectedDate: answer.expectedDate }).length === 0) return;
          // the line is the places stream's: its order is the order of these appends
          const places = await uow.load(placesStream(s.partnerId!, s.serviceId!), placesDecider, { partitionKey: s.partnerId! });
          places.decide({ type: 'JoinWaitlist', referralId, expectedDate: answer.expectedDate });
          return;
        }
        case 'start':
          referral.decide({ type: 'StartService', partnerId });
          return;
        case 'complete':
          if (referral.decide({ type: 'CompleteService', partnerId, outcome: answer.outcome }).length === 0) return;
          await this.releasePlace(uow, s, 'completed');
          await this.closeInCase(uow, referral.state, 'completed');
          return;
      }
    });
  }

  /** Cancels a referral (the team, or automatically); an automatic one is a no-op on a closed referral. */
  cancel(referralId: string, reason: CancelReferral['reason'], automatic: boolean, ec: EventContext, endedConsent?: string): Promise<ReferralResult> {
    return this.onReferral(referralId, ec, async (referral, uow) => {
      const before = referral.state;
      if (referral.decide({ type: 'CancelReferral', reason, automatic, ...(endedConsent ? { endedConsent } : {}) }).length === 0) return;
      await this.releasePlace(uow, before, 'cancelled');
      await this.leaveWaitlist(uow, before, 'cancelled');
      await this.closeInCase(uow, referral.state, 'cancelled');
    });
  }

  /**
   * What a withdrawal of referral_sharing or an erasure means for the person's
   * open referrals, decided from the event itself: a withdrawal cancels the
   * referrals made under the consent it ends (`endedConsent`), so a withdrawal
   * delivered again, late or from the start of the log never touches a
   * referral made under a consent given after it. The open referrals come from
   * the person's case stream, not from a view.
   */
  async cancelOpenReferralsOf(cause: RecordedEvent, endedConsent: string | undefined): Promise<number> {
    const personId = cause.partitionKey;
    const { state } = await loadAggregate(this.ctx.store, caseStream(personId), caseDecider);
    const erased = cause.type === 'PersonalDataErased';
    let cancelled = 0;
    for (const referralId of Object.keys(state.openReferrals)) {
      // a withdrawal of an unknown consent (none found before it) ends nothing
      if (!erased && !endedConsent) continue;
      const r = await this.cancel(referralId, erased ? 'personal_data_erased' : 'consent_withdrawn', true, this.systemContext(AUTOMATIC_ACTORS.consentWatch, cause.id, cause.correlationId, cause.traceparent), erased ? undefined : endedConsent);
      cancelled += r.events.length;
    }
    return cancelled;
  }

  /** Cancels a referral recorded after the consent it was made under had ended (it raced the withdrawal). */
  async cancelLateReferral(referred: RecordedEvent<'ReferredToPartner'>, ended: 'consent_withdrawn' | 'personal_data_erased'): Promise<number> {
    const ec = this.systemContext(AUTOMATIC_ACTORS.consentWatch, referred.id, referred.correlationId, referred.traceparent);
    const r =
      ended === 'personal_data_erased'
        ? await this.cancel(referred.data.referralId, ended, true, ec)
        : await this.cancel(referred.data.referralId, ended, true, ec, referred.data.consentEventId);
    return r.events.length;
  }

  /** The SLA watcher's pass: each late referral gets exactly one ReferralOverdue, whatever the number of watchers. */
  async markOverdue(now: Date): Promise<number> {
    let marked = 0;
    for (const referralId of await this.view.dueBefore(now)) {
      const { state } = await loadAggregate(this.ctx.store, referralStream(referralId), referralDecider);
      if (state.status === 'none') continue;
      const r = await handleCommand(this.ctx.store, referralStream(referralId), referralDecider, { type: 'MarkOverdue', now }, {
        partitionKey: state.personId!,
        ctx: this.systemContext(AUTOMATIC_ACTORS.slaWatcher, `sla-${now.toISOString()}`, AUTOMATIC_ACTORS.slaWatcher),
      });
      marked += r.events.length;
    }
    return marked;
  }

  /** The context of what the referral service does on its own; a reaction to an event continues that event's trace. */
  private systemContext(component: string, causationId: string, correlationId: string, traceparent?: string): EventContext {
    return {
      source: '/onestop/referral',
      actor: { id: component, role: 'system' },
      correlationId,
      causationId,
      time: this.ctx.clock.now().toISOString(),
      ...(traceparent ? { traceparent } : {}),
    };
  }

  /** Runs `work` on a referral's stream (and whatever other streams it loads), in one atomic append. */
  private async onReferral(
    referralId: string,
    ec: EventContext,
    work: (referral: Awaited<ReturnType<typeof loadReferral>>, uow: UnitOfWork) => Promise<void>,
  ): Promise<ReferralResult> {
    const stream = referralStream(referralId);
    const { result: referral, appended } = await transact(this.ctx.store, ec, async (uow) => {
      const r = await loadReferral(uow, referralId);
      if (r.state.status === 'none') throw new NotFoundError('referral', referralId);
      await work(r, uow);
      return r;
    });
    return resultOf(stream, referral.state, referral.revision, appended);
  }

  private async releasePlace(uow: UnitOfWork, before: ReferralState, status: 'completed' | 'cancelled'): Promise<void> {
    if (!holdsPlace(before)) return;
    const places = await uow.load(placesStream(before.partnerId!, before.serviceId!), placesDecider, { partitionKey: before.partnerId! });
    await this.tellOffered(uow, places.decide({ type: 'ReleasePlace', referralId: before.referralId!, status }));
  }

  private async leaveWaitlist(uow: UnitOfWork, before: ReferralState, status: 'rejected' | 'cancelled'): Promise<void> {
    if (before.status !== 'on-hold') return;
    const places = await uow.load(placesStream(before.partnerId!, before.serviceId!), placesDecider, { partitionKey: before.partnerId! });
    places.decide({ type: 'LeaveWaitlist', referralId: before.referralId!, status });
  }

  /**
   * Each place the places decider offered (PlaceOffered) is told on the
   * waitlisted referral's own stream, in the same atomic append: its partner
   * (inbox, FHIR Task) and its team (referral view) see ReferralPlaceAvailable.
   */
  private async tellOffered(uow: UnitOfWork, decided: readonly PlacesEvent[]): Promise<void> {
    for (const e of decided) {
      if (e.type !== 'PlaceOffered') continue;
      const waiting = await loadReferral(uow, e.data.referralId);
      waiting.decide({ type: 'TellPlaceAvailable', cause: e.data.cause });
    }
  }

  /** A service's places and waitlist, read from its stream (exact). */
  async places(partnerId: string, serviceId: string): Promise<PlacesState> {
    return (await loadAggregate(this.ctx.store, placesStream(partnerId, serviceId), placesDecider)).state;
  }

  private async closeInCase(uow: UnitOfWork, s: ReferralState, status: 'rejected' | 'completed' | 'cancelled'): Promise<void> {
    const kase = await uow.load(caseStream(s.personId!), caseDecider, { partitionKey: s.personId! });
    kase.decide({ type: 'CloseReferral', referralId: s.referralId!, status });
  }
}

const loadReferral = (uow: UnitOfWork, referralId: string) =>
  uow.load(referralStream(referralId), referralDecider, { partitionKey: (s: ReferralState) => s.personId ?? referralId });

function resultOf(streamId: string, state: ReferralState, readRevision: number, appended: Appended[]): ReferralResult {
  const a = appended.find((x) => x.streamId === streamId);
  return { events: a?.events ?? [], revision: a ? a.revision : readRevision, globalPositions: a?.globalPositions ?? [], state };
}
