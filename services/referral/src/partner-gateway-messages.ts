import { z } from 'zod';
import {
  CancelReason,
  DeclineReason,
  IsoDate,
  IsoDateTime,
  LifeDomain,
  Outcome,
  ReferralPriority,
  ReferralStatus,
  ShortText,
  Slug,
  taskStatusAfter,
  Uuid,
  type EventData,
  type RecordedEvent,
} from '@onestop/events';
import type { ReceivedMessage } from '@onestop/bus';
import type { PartnerAnswer } from './referrals.js';

// The two partner topics of DESIGN §5, as data: what the gateway publishes on
// `onestop.partner.<partnerId>.referrals.v1` and what it accepts on
// `onestop.partner.<partnerId>.responses.v1`. Both are id-only: no name, no
// contact detail, no free text of the team, no ciphertext.

// ── Outbound: onestop.partner.<partnerId>.referrals.v1 (key = referralId) ──────

export const PARTNER_REFERRAL_EVENTS = [
  'ReferredToPartner',
  'ReferralAccepted',
  'ReferralDeclined',
  'ServiceStarted',
  'ServiceCompleted',
  'ReferralCancelled',
  'ReferralOverdue',
  'ReferralWaitlisted',
  'ReferralPlaceAvailable',
] as const;
export type PartnerReferralEvent = (typeof PARTNER_REFERRAL_EVENTS)[number];

/**
 * FHIR Task.status after each event (the vocabulary of packages/events): an
 * overdue referral is still requested; one told a place is available is still
 * on-hold until its partner accepts.
 */
export const taskStatusOfPartnerEvent = (e: PartnerReferralEvent): ReferralStatus => (e === 'ReferralPlaceAvailable' ? 'on-hold' : (taskStatusAfter(e) ?? 'requested'));

/**
 * One message of a partner's referrals topic (value, JSON). `messageId` is the
 * id of the internal event it reports: a redelivered message has the same one,
 * so partners drop what they have seen. Strict: nothing else may appear.
 */
export const PartnerReferralMessage = z.strictObject({
  messageId: Uuid,
  referralId: Uuid,
  partnerId: Slug,
  event: z.enum(PARTNER_REFERRAL_EVENTS),
  /** FHIR Task.status after the event */
  status: ReferralStatus,
  /** pseudonymous: contact details only through the audited HTTP API */
  personId: Uuid,
  serviceId: Slug,
  domain: LifeDomain,
  priority: ReferralPriority,
  respondBy: IsoDateTime,
  /** when the event happened */
  at: IsoDateTime,
  /** the ConsentGiven event that allows sharing this referral (purpose binding) */
  consentEventId: Uuid,
  /** ReferralAccepted */
  expectedStart: IsoDate.optional(),
  /** ReferralDeclined / ReferralCancelled: the coded reason (never the decline note) */
  statusReason: z.union([DeclineReason, CancelReason]).optional(),
  /** ServiceCompleted */
  outcome: Outcome.optional(),
  /** ReferralOverdue */
  dueAt: IsoDateTime.optional(),
  /** ReferralWaitlisted: when the partner expects a place */
  expectedDate: IsoDate.optional(),
  /** ReferralPlaceAvailable: why a place is free (a code) */
  placeCause: z.enum(['place_released', 'capacity_raised']).optional(),
});
export type PartnerReferralMessage = z.infer<typeof PartnerReferralMessage>;

/** What never changes of a referral: its ReferredToPartner, minus the encrypted reason and the team member. */
export interface ReferralFacts {
  referralId: string;
  partnerId: string;
  personId: string;
  serviceId: string;
  domain: EventData<'ReferredToPartner'>['domain'];
  priority: EventData<'ReferredToPartner'>['priority'];
  respondBy: string;
  consentEventId: string;
}

export function referralFacts(d: EventData<'ReferredToPartner'>): ReferralFacts {
  return {
    referralId: d.referralId,
    partnerId: d.partnerId,
    personId: d.personId,
    serviceId: d.serviceId,
    domain: d.domain,
    priority: d.priority,
    respondBy: d.respondBy,
    consentEventId: d.consentEventId,
  };
}

export const isPartnerReferralEvent = (e: RecordedEvent): e is RecordedEvent & { type: PartnerReferralEvent } =>
  (PARTNER_REFERRAL_EVENTS as readonly string[]).includes(e.type);

/** The message a referral event becomes on the addressed partner's topic. Fields are picked one by one: nothing else leaks. */
export function partnerReferralMessage(e: RecordedEvent & { type: PartnerReferralEvent }, f: ReferralFacts): PartnerReferralMessage {
  const m: PartnerReferralMessage = {
    messageId: e.id,
    referralId: f.referralId,
    partnerId: f.partnerId,
    event: e.type,
    status: taskStatusOfPartnerEvent(e.type),
    personId: f.personId,
    serviceId: f.serviceId,
    domain: f.domain,
    priority: f.priority,
    respondBy: f.respondBy,
    at: e.time,
    consentEventId: f.consentEventId,
  };
  switch (e.type) {
    case 'ReferralAccepted':
      if (e.data.expectedStart) m.expectedStart = e.data.expectedStart;
      break;
    case 'ReferralDeclined':
    case 'ReferralCancelled':
      m.statusReason = e.data.reason;
      break;
    case 'ServiceCompleted':
      m.outcome = e.data.outcome;
      break;
    case 'ReferralOverdue':
      m.dueAt = e.data.dueAt;
      break;
    case 'ReferralWaitlisted':
      m.expectedDate = e.data.expectedDate;
      break;
    case 'ReferralPlaceAvailable':
      m.placeCause = e.data.cause;
      break;
    default:
      break;
  }
  return m;
}

// ── Inbound: onestop.partner.<partnerId>.responses.v1 (key = referralId) ──────

/** NUL and unpaired surrogates: no store can keep them (the HTTP edge refuses them too). */
// eslint-disable-next-line no-control-regex -- NUL is what it looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Who answered at the partner: an id (it becomes the event's actor), not a name or an e-mail address. */
const RespondedBy = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'an id of letters, digits and . _ : - (at most 128)');
const common = {
  /** the partner's id of this answer: a redelivered answer is applied once */
  responseId: Uuid,
  referralId: Uuid,
  respondedBy: RespondedBy,
};

/**
 * A partner's answer (value, JSON). Strict: each action has exactly its own
 * fields, and the ones it needs are required.
 */
export const PartnerResponse = z.discriminatedUnion('action', [
  z.strictObject({ ...common, action: z.literal('accept'), expectedStart: IsoDate.optional() }),
  z.strictObject({
    ...common,
    action: z.literal('decline'),
    reason: DeclineReason,
    /** stored encrypted with the person's key */
    note: ShortText.refine((s) => !UNSTORABLE.test(s), 'NUL characters and unpaired UTF-16 surrogates are not allowed').optional(),
  }),
  z.strictObject({ ...common, action: z.literal('waitlist'), expectedDate: IsoDate }),
  z.strictObject({ ...common, action: z.literal('start') }),
  z.strictObject({ ...common, action: z.literal('complete'), outcome: Outcome }),
]);
export type PartnerResponse = z.infer<typeof PartnerResponse>;

/** An answer ready for the decider: who sent it is the topic's partner, never a field of the message. */
export interface InboundAnswer {
  partnerId: string;
  responseId: string;
  referralId: string;
  respondedBy: string;
  answer: PartnerAnswer;
  /** where it was read: for logs */
  origin: string;
}

/** Largest answer accepted (bytes); the biggest valid one is well under 2 KiB. */
export const MAX_RESPONSE_BYTES = 16 * 1024;

const RESPONSES_TOPIC = /^onestop\.partner\.([a-z0-9][a-z0-9-]*[a-z0-9])\.responses\.v1$/;

/** The partner whose responses topic this is, if it is one. */
export function partnerOfResponsesTopic(topic: string): string | undefined {
  const id = RESPONSES_TOPIC.exec(topic)?.[1];
  return id && Slug.safeParse(id).success ? id : undefined;
}

const describe = (issues: readonly z.core.$ZodIssue[]) =>
  issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(value)'}: ${i.message}`)
    .join('; ')
    .slice(0, 1500);

/** Validates one message of a responses topic: the reason it is refused, or the answer. */
export function parsePartnerResponse(m: ReceivedMessage): { ok: true; value: InboundAnswer } | { ok: false; reason: string } {
  const partnerId = partnerOfResponsesTopic(m.topic);
  if (!partnerId) return { ok: false, reason: `invalid: ${m.topic.slice(0, 200)} is not a partner responses topic` };
  if (m.value == null) return { ok: false, reason: 'invalid: no value' };
  if (m.value.length > MAX_RESPONSE_BYTES) return { ok: false, reason: `invalid: value of ${m.value.length} bytes (at most ${MAX_RESPONSE_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(m.value));
  } catch (e) {
    return { ok: false, reason: e instanceof SyntaxError ? 'invalid: value is not JSON' : 'invalid: value is not UTF-8' };
  }
  const r = PartnerResponse.safeParse(json);
  if (!r.success) return { ok: false, reason: `invalid: ${describe(r.error.issues)}` };
  const v = r.data;
  // the key decides the partition, so answers of one referral keep their order only under its id
  if (m.key !== null && m.key !== v.referralId) return { ok: false, reason: 'invalid: the key is not the referralId' };
  let answer: PartnerAnswer;
  switch (v.action) {
    case 'accept':
      answer = { action: 'accept', ...(v.expectedStart ? { expectedStart: v.expectedStart } : {}) };
      break;
    case 'decline':
      answer = { action: 'decline', reason: v.reason, ...(v.note ? { note: v.note } : {}) };
      break;
    case 'waitlist':
      answer = { action: 'waitlist', expectedDate: v.expectedDate };
      break;
    case 'start':
      answer = { action: 'start' };
      break;
    case 'complete':
      answer = { action: 'complete', outcome: v.outcome };
      break;
  }
  return {
    ok: true,
    value: { partnerId, responseId: v.responseId, referralId: v.referralId, respondedBy: v.respondedBy, answer, origin: `${m.topic}/${m.partition}@${m.offset}` },
  };
}
