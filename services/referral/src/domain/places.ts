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

export type PlacesEvent = DomainEvent<'PlaceTaken' | 'PlaceReleased'>;

export interface PlacesState {
  /** referrals holding a place, in the order they took it */
  taken: string[];
  /** referrals whose place was freed */
  freed: string[];
}

export const initialPlacesState: PlacesState = { taken: [], freed: [] };

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
export type PlacesCommand = TakePlace | ReleasePlace;

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

function release(c: ReleasePlace, s: PlacesState): PlacesEvent[] {
  if (!s.taken.includes(c.referralId) && s.freed.includes(c.referralId)) return [];
  return [{ type: 'PlaceReleased', data: { referralId: c.referralId, status: c.status } }];
}

export function decide(c: PlacesCommand, s: PlacesState): PlacesEvent[] {
  switch (c.type) {
    case 'TakePlace':
      return take(c, s);
    case 'ReleasePlace':
      return release(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: PlacesState, e: PlacesEvent): PlacesState {
  switch (e.type) {
    case 'PlaceTaken':
      return { ...s, taken: [...s.taken, e.data.referralId] };
    case 'PlaceReleased':
      return { taken: s.taken.filter((r) => r !== e.data.referralId), freed: [...s.freed, e.data.referralId] };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const placesDecider: Decider<PlacesCommand, PlacesEvent, PlacesState> = { initialState: initialPlacesState, evolve, decide };
/** Slugs have no dot, so partner and service cannot be confused (`a-b` + `c` vs `a` + `b-c`). */
export const placesStream = (partnerId: string, serviceId: string): string => `places-${partnerId}.${serviceId}`;
