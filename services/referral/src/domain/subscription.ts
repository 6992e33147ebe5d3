import { ConflictError, NotFoundError, RuleViolation } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';

// A partner's FHIR Subscription (stream subscription-<subscriptionId>), R4
// Subscriptions Backport, rest-hook. The stream is the subscription: no side
// table holds its state, its status or a lease on its delivery.
//
//   (none) ──request──► requested ──delivered──► active ──failed──► error
//                           │                      ▲                  │
//                           └──failed──► error ────┴────delivered─────┘
//   any but ended ──end──► off
//
// Rules: only the partner that owns a subscription (or an admin) ends it; a
// status change is recorded once per change (a failure while in error, or a
// delivery while active, records nothing), so replicas that deliver the same
// notification do not fill the stream.

export type SubscriptionEvent = DomainEvent<'SubscriptionRequested' | 'SubscriptionActivated' | 'SubscriptionErrored' | 'SubscriptionEnded'>;

/** FHIR R4 Subscription.status. */
export type SubscriptionStatus = 'none' | 'requested' | 'active' | 'error' | 'off';

export interface SubscriptionState {
  status: SubscriptionStatus;
  subscriptionId: string | null;
  partnerId: string | null;
  topic: string | null;
  endpoint: string | null;
  heartbeatSeconds: number;
  startPosition: number;
  /** the last error and the notification it happened on */
  error: { message: string; eventNumber: number } | null;
}

export const initialSubscriptionState: SubscriptionState = {
  status: 'none',
  subscriptionId: null,
  partnerId: null,
  topic: null,
  endpoint: null,
  heartbeatSeconds: 0,
  startPosition: 0,
  error: null,
};

export interface RequestSubscription {
  type: 'RequestSubscription';
  subscriptionId: string;
  partnerId: string;
  topic: string;
  endpoint: string;
  heartbeatSeconds: number;
  startPosition: number;
  requestedBy: string;
}
export interface RecordDelivery {
  type: 'RecordDelivery';
  eventNumber: number;
}
export interface RecordFailure {
  type: 'RecordFailure';
  eventNumber: number;
  error: string;
}
export interface EndSubscription {
  type: 'EndSubscription';
  /** the partner asking, or undefined for an admin */
  partnerId: string | undefined;
  endedBy: string;
}
export type SubscriptionCommand = RequestSubscription | RecordDelivery | RecordFailure | EndSubscription;

export const subscriptionStream = (subscriptionId: string) => `subscription-${subscriptionId}`;

function request(c: RequestSubscription, s: SubscriptionState): SubscriptionEvent[] {
  if (s.status !== 'none') throw new ConflictError('subscription_exists', 'this subscription already exists');
  const { type: _t, ...data } = c;
  return [{ type: 'SubscriptionRequested', data }];
}

function delivered(c: RecordDelivery, s: SubscriptionState): SubscriptionEvent[] {
  // a delivery while active, or to an ended subscription, changes nothing
  if (s.status !== 'requested' && s.status !== 'error') return [];
  return [{ type: 'SubscriptionActivated', data: { eventNumber: c.eventNumber } }];
}

function failed(c: RecordFailure, s: SubscriptionState): SubscriptionEvent[] {
  if (s.status !== 'requested' && s.status !== 'active') return [];
  return [{ type: 'SubscriptionErrored', data: { eventNumber: c.eventNumber, error: c.error } }];
}

function end(c: EndSubscription, s: SubscriptionState): SubscriptionEvent[] {
  if (s.status === 'none') throw new NotFoundError('Subscription', 'the given id');
  // another partner must not learn that the subscription exists
  if (c.partnerId !== undefined && c.partnerId !== s.partnerId) throw new NotFoundError('Subscription', 'the given id');
  if (s.status === 'off') throw new RuleViolation('subscription_ended', 'the subscription has already ended');
  return [{ type: 'SubscriptionEnded', data: { endedBy: c.endedBy } }];
}

export function decideSubscription(c: SubscriptionCommand, s: SubscriptionState): SubscriptionEvent[] {
  switch (c.type) {
    case 'RequestSubscription':
      return request(c, s);
    case 'RecordDelivery':
      return delivered(c, s);
    case 'RecordFailure':
      return failed(c, s);
    case 'EndSubscription':
      return end(c, s);
    default: {
      const never: never = c;
      throw new Error(`unknown command ${(never as { type: string }).type}`);
    }
  }
}

export function evolveSubscription(s: SubscriptionState, e: SubscriptionEvent): SubscriptionState {
  switch (e.type) {
    case 'SubscriptionRequested':
      return { ...s, status: 'requested', ...e.data };
    case 'SubscriptionActivated':
      return { ...s, status: 'active' };
    case 'SubscriptionErrored':
      return { ...s, status: 'error', error: { message: e.data.error, eventNumber: e.data.eventNumber } };
    case 'SubscriptionEnded':
      return { ...s, status: 'off' };
    default:
      return s;
  }
}

export const subscriptionDecider: Decider<SubscriptionCommand, SubscriptionEvent, SubscriptionState> = {
  initialState: initialSubscriptionState,
  evolve: evolveSubscription,
  decide: decideSubscription,
};
