import { PLACE_HOLDING_STATUSES, type EventContext } from '@onestop/events';
import { AssessmentAlreadyOpen, caseDecider, caseStream, ReferralAlreadyOpen } from '@onestop/case';
import { fold, transact, type ServiceContext } from '@onestop/kit';
import { partnerDecider, partnerStream } from './domain/partner.js';
import { placesDecider, placesStream } from './domain/places.js';
import { referralDecider, isOpen, type ReferralEvent, type ReferralState } from './domain/referral.js';

// Stores written before the reservation streams (DESIGN §9) existed hold open
// assessments, open referrals and taken places that no case or places stream
// knows of: without them, a second open assessment or an overbooked service
// would pass. This backfill reads the log once and records what is open in
// the person's case and the service's places, through the same deciders and
// the same expected revisions as every command — so it is safe beside live
// commands and on any number of processes — and then marks itself done.

const DONE = 'migration:reservations-v1';

interface Open {
  assessments: Map<string, string>; // assessmentId → personId, open ones
  referrals: Map<string, ReferralState>;
}

/** Reads the whole log (once per store) and records in case and places streams what legacy events left open. */
export async function backfillReservations(ctx: ServiceContext): Promise<{ cases: number; places: number; skipped: string[] } | undefined> {
  const { store } = ctx;
  if ((await store.loadCheckpoint(DONE)) !== undefined) return undefined;
  const open: Open = { assessments: new Map(), referrals: new Map() };
  const referralEvents = new Map<string, ReferralEvent[]>();
  let last = 0;
  for (let after = 0; ; ) {
    const page = await store.readAll({ after, maxCount: 2_000 });
    if (page.length === 0) break;
    for (const e of page) {
      if (e.type === 'AssessmentStarted') open.assessments.set(e.subject.slice('assessment-'.length), (e.data as { personId: string }).personId);
      else if (e.type === 'AssessmentCompleted' || e.type === 'AssessmentCancelled') open.assessments.delete(e.subject.slice('assessment-'.length));
      else if (e.subject.startsWith('referral-')) {
        const list = referralEvents.get(e.subject) ?? [];
        list.push({ type: e.type, data: e.data } as ReferralEvent);
        referralEvents.set(e.subject, list);
      }
    }
    after = last = page.at(-1)!.globalPosition;
  }
  for (const [stream, events] of referralEvents) {
    const state = fold(referralDecider, events);
    if (isOpen(state)) open.referrals.set(stream.slice('referral-'.length), state);
  }
  const ec: EventContext = {
    source: '/onestop/referral',
    actor: { id: 'reservations-backfill', role: 'system' },
    correlationId: DONE,
    causationId: null,
    time: ctx.clock.now().toISOString(),
  };
  const skipped: string[] = [];
  const persons = new Set([...open.assessments.values(), ...[...open.referrals.values()].map((r) => r.personId!)]);
  let cases = 0;
  for (const personId of persons) {
    const { appended } = await transact(store, ec, async (uow) => {
      const kase = await uow.load(caseStream(personId), caseDecider, { partitionKey: personId });
      for (const [assessmentId, p] of open.assessments) {
        if (p !== personId) continue;
        try {
          kase.decide({ type: 'OpenAssessment', assessmentId });
        } catch (e) {
          if (!(e instanceof AssessmentAlreadyOpen)) throw e;
          skipped.push(`assessment ${assessmentId}: another assessment of the person is open already`);
        }
      }
      for (const [referralId, r] of open.referrals) {
        if (r.personId !== personId) continue;
        try {
          kase.decide({ type: 'OpenReferral', referralId, partnerId: r.partnerId!, serviceId: r.serviceId! });
        } catch (e) {
          if (!(e instanceof ReferralAlreadyOpen)) throw e;
          skipped.push(`referral ${referralId}: another referral of the person to this service is open already`);
        }
      }
    });
    cases += appended.length;
  }
  const holding = new Map<string, Array<[string, ReferralState]>>();
  for (const [referralId, r] of open.referrals) {
    if (!(PLACE_HOLDING_STATUSES as readonly string[]).includes(r.status)) continue;
    const key = placesStream(r.partnerId!, r.serviceId!);
    holding.set(key, [...(holding.get(key) ?? []), [referralId, r]]);
  }
  let places = 0;
  for (const [, referrals] of holding) {
    const [, first] = referrals[0]!;
    const { appended } = await transact(store, ec, async (uow) => {
      const partner = await uow.load(partnerStream(first.partnerId!), partnerDecider, { partitionKey: first.partnerId! });
      const p = await uow.load(placesStream(first.partnerId!, first.serviceId!), placesDecider, { partitionKey: first.partnerId! });
      const capacity = partner.state.services[first.serviceId!]?.capacity ?? 0;
      // places already taken stay taken, even beyond today's capacity (an overbooking from before):
      // the backfill records what happened, it refuses nothing
      for (const [referralId] of referrals) p.decide({ type: 'TakePlace', referralId, capacity: Math.max(capacity, p.state.taken.length + 1) });
    });
    places += appended.length;
  }
  await store.saveCheckpoint(DONE, Math.max(last, 1));
  if (cases + places + skipped.length > 0) ctx.logger.warn({ cases, places, skipped }, 'reservation streams backfilled from events recorded before they existed');
  return { cases, places, skipped };
}
