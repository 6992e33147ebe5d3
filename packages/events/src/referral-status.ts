import { z } from 'zod';

// The referral's status vocabulary, once for the whole platform: the FHIR
// Task.status of each state (DESIGN §4, Referral) and which event leads to it.

/** FHIR Task.status of a referral. */
// `on-hold` is a waitlisted referral: answered (no response clock runs), still
// open (it keeps the person's slot for the service), holding no place.
export const ReferralStatus = z.enum(['requested', 'on-hold', 'accepted', 'rejected', 'in-progress', 'completed', 'cancelled']);
export type ReferralStatus = z.infer<typeof ReferralStatus>;

/** The statuses in which a referral is open: it holds the person's slot for its service, and may hold a place. */
export const OPEN_REFERRAL_STATUSES = ['requested', 'on-hold', 'accepted', 'in-progress'] as const satisfies readonly ReferralStatus[];
/** The statuses in which a referral holds one of its service's places. */
export const PLACE_HOLDING_STATUSES = ['accepted', 'in-progress'] as const satisfies readonly ReferralStatus[];

/**
 * The referral events that change Task.status. ReferralOverdue does not (the
 * referral stays requested), nor do ReferralPlaceAvailable (a waitlisted one
 * stays on-hold until its partner accepts) and ReferralReplaced (it stays rejected).
 */
export const TASK_STATUS_AFTER = {
  ReferredToPartner: 'requested',
  ReferralWaitlisted: 'on-hold',
  ReferralAccepted: 'accepted',
  ReferralDeclined: 'rejected',
  ServiceStarted: 'in-progress',
  ServiceCompleted: 'completed',
  ReferralCancelled: 'cancelled',
} as const satisfies Record<string, ReferralStatus>;
export type StatusChangingReferralEvent = keyof typeof TASK_STATUS_AFTER;

/** Task.status after a referral event, or undefined for an event that leaves it as it was. */
export function taskStatusAfter(eventType: string): ReferralStatus | undefined {
  return (TASK_STATUS_AFTER as Record<string, ReferralStatus | undefined>)[eventType];
}

export const isOpenReferralStatus = (s: string): boolean => (OPEN_REFERRAL_STATUSES as readonly string[]).includes(s);

/** SQL list of the open statuses, for `status IN …` (generated from the vocabulary above). */
export const OPEN_REFERRAL_STATUSES_SQL = `(${OPEN_REFERRAL_STATUSES.map((s) => `'${s}'`).join(', ')})`;
/** SQL list of the place-holding statuses. */
export const PLACE_HOLDING_STATUSES_SQL = `(${PLACE_HOLDING_STATUSES.map((s) => `'${s}'`).join(', ')})`;
