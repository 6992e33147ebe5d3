import { RuleViolation } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';

// A service's places (stream places-<partnerId>.<serviceId>), DESIGN §9. The
// referral service appends here in the same atomic append as the referral
// event that takes or frees a place, so the stream's expected revision — not a
// lock, not a view — is what keeps two acceptances from taking the last place,
// whatever the number of processes:
// - accepting a referral takes one place: refused when every place is taken;
// - completing or cancelling a referral that holds a place frees it;
// - capacity is the partner's, read in the same command from its stream.
//   Lowering it below the places taken frees none (they end as their referrals
//   do): it refuses new acceptances until enough have ended.
// Taking a place a referral already holds, or took and freed before, changes
// nothing: a retried command finds its own work. Freeing the place of a
// referral these places never recorded (accepted before places streams
// existed) records it all the same, so the one-time backfill of older stores
// can never take it afterwards.
//
// The service's waitlist lives here too (issue 14, part 6), so that freeing a
// place and telling the first waitlisted referral are one decision on one
// stream: a waitlisted referral joins the line holding no place; each freed
// place (a place released, or capacity raised above the places taken) is
// offered to the first referral in line not offered one yet (PlaceOffered), in
// the same atomic append as the freeing. Two processes freeing places at once
// conflict on this stream's revision and the loser retries on the new state,
// so each freed place is offered exactly once; a redelivered command frees
// nothing the second time (the referral's own stream says it is closed), so it
// offers nothing either. An offer does not reserve the place: the partner
// decides which referral takes it (normally the one told).

export type PlacesEvent = DomainEvent<'PlaceTaken' | 'PlaceReleased' | 'WaitlistJoined' | 'WaitlistLeft' | 'PlaceOffered'>;

export interface PlacesState {
  /** referrals holding a place, in the order they took it */
  taken: string[];
  /** referrals whose place was freed */
  freed: string[];
  /** waitlisted referrals, in the order they joined the line */
  waitlist: string[];
  /** waitlisted referrals already offered a freed place */
  offered: string[];
}

export const initialPlacesState: PlacesState = { taken: [], freed: [], waitlist: [], offered: [] };

export interface TakePlace {
  type: 'TakePlace';
  referralId: string;
  /** the service's capacity now, from the partner's stream */
  capacity: number;
}
export interface ReleasePlace {
  type: 'ReleasePlace';
  referralId: string;
  status: 'completed' | 'cancelled';
}
export interface JoinWaitlist {
  type: 'JoinWaitlist';
  referralId: string;
  expectedDate: string;
}
export interface LeaveWaitlist {
  type: 'LeaveWaitlist';
  referralId: string;
  status: 'rejected' | 'cancelled';
}
/** The service's capacity changed (from the partner's stream): places it frees go to the line. */
export interface CapacityChanged {
  type: 'CapacityChanged';
  previous: number;
  capacity: number;
}
export type PlacesCommand = TakePlace | ReleasePlace | JoinWaitlist | LeaveWaitlist | CapacityChanged;

export class NoFreePlace extends RuleViolation {
  constructor(capacity: number, occupied: number) {
    super('no_free_capacity', 'the service has no free capacity: decline with reason no_capacity', { capacity, occupied });
  }
}

function take(c: TakePlace, s: PlacesState): PlacesEvent[] {
  if (s.taken.includes(c.referralId) || s.freed.includes(c.referralId)) return [];
  if (s.taken.length >= c.capacity) throw new NoFreePlace(c.capacity, s.taken.length);
  return [{ type: 'PlaceTaken', data: { referralId: c.referralId, capacity: c.capacity } }];
}

/** The next `n` referrals in line not offered a place yet. */
function offers(s: PlacesState, n: number, cause: 'place_released' | 'capacity_raised', freedBy?: string): PlacesEvent[] {
  return s.waitlist
    .filter((r) => !s.offered.includes(r))
    .slice(0, Math.max(0, n))
    .map((referralId) => ({ type: 'PlaceOffered', data: { referralId, cause, ...(freedBy ? { freedBy } : {}) } }));
}

function release(c: ReleasePlace, s: PlacesState): PlacesEvent[] {
  if (!s.taken.includes(c.referralId) && s.freed.includes(c.referralId)) return [];
  const released: PlacesEvent = { type: 'PlaceReleased', data: { referralId: c.referralId, status: c.status } };
  // a place held by a referral these places never recorded frees no place they counted
  return [released, ...(s.taken.includes(c.referralId) ? offers(s, 1, 'place_released', c.referralId) : [])];
}

function join(c: JoinWaitlist, s: PlacesState): PlacesEvent[] {
  if (s.waitlist.includes(c.referralId)) return [];
  return [{ type: 'WaitlistJoined', data: { referralId: c.referralId, expectedDate: c.expectedDate } }];
}

function leave(c: LeaveWaitlist, s: PlacesState): PlacesEvent[] {
  if (!s.waitlist.includes(c.referralId)) return [];
  return [{ type: 'WaitlistLeft', data: { referralId: c.referralId, status: c.status } }];
}

function capacityChanged(c: CapacityChanged, s: PlacesState): PlacesEvent[] {
  // only the places the new capacity frees beyond what was free before
  const freeBefore = Math.max(0, c.previous - s.taken.length);
  const freeNow = Math.max(0, c.capacity - s.taken.length);
  return offers(s, freeNow - freeBefore, 'capacity_raised');
}

export function decide(c: PlacesCommand, s: PlacesState): PlacesEvent[] {
  switch (c.type) {
    case 'TakePlace':
      return take(c, s);
    case 'ReleasePlace':
      return release(c, s);
    case 'JoinWaitlist':
      return join(c, s);
    case 'LeaveWaitlist':
      return leave(c, s);
    case 'CapacityChanged':
      return capacityChanged(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: PlacesState, e: PlacesEvent): PlacesState {
  switch (e.type) {
    case 'PlaceTaken': {
      // a waitlisted referral that takes a place leaves the line
      const left = (r: string) => r !== e.data.referralId;
      return { ...s, taken: [...s.taken, e.data.referralId], waitlist: s.waitlist.filter(left), offered: s.offered.filter(left) };
    }
    case 'PlaceReleased':
      return { ...s, taken: s.taken.filter((r) => r !== e.data.referralId), freed: [...s.freed, e.data.referralId] };
    case 'WaitlistJoined':
      return { ...s, waitlist: [...s.waitlist, e.data.referralId] };
    case 'WaitlistLeft': {
      const left = (r: string) => r !== e.data.referralId;
      return { ...s, waitlist: s.waitlist.filter(left), offered: s.offered.filter(left) };
    }
    case 'PlaceOffered':
      return { ...s, offered: [...s.offered, e.data.referralId] };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const placesDecider: Decider<PlacesCommand, PlacesEvent, PlacesState> = { initialState: initialPlacesState, evolve, decide };
/** Slugs have no dot, so partner and service cannot be confused (`a-b` + `c` vs `a` + `b-c`). */
export const placesStream = (partnerId: string, serviceId: string): string => `places-${partnerId}.${serviceId}`;
