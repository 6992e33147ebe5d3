import type { StreamCategory } from './catalog.js';

/** Kafka topics of DESIGN §5. */
export const TOPICS = {
  intake: 'onestop.intake.v1',
  assessment: 'onestop.assessment.v1',
  referral: 'onestop.referral.v1',
  directory: 'onestop.directory.v1',
  /** read-audit events (CaseHistoryRead); not in DESIGN §5's table, see README */
  audit: 'onestop.audit.v1',
  /** taking charge (DESIGN §10): case, plan, meetings, case notes; key personId, free text encrypted */
  casework: 'onestop.casework.v1',
  dlq: 'onestop.dlq.v1',
} as const;

// reservation streams (fiscalcode, case, places) and the clock policies (clockpolicy, keyed by
// programme, read from the store by the watcher and the auditors) have no topic: they stay in the store
const topicByCategory: Partial<Record<StreamCategory, string>> = {
  person: TOPICS.intake,
  assessment: TOPICS.assessment,
  referral: TOPICS.referral,
  partner: TOPICS.directory,
  audit: TOPICS.audit,
  care: TOPICS.casework,
  plan: TOPICS.casework,
  meetings: TOPICS.casework,
  casenotes: TOPICS.casework,
  // the deadline watcher's findings, keyed by the person like the rest of the casework
  deadlines: TOPICS.casework,
};

/** The internal topic of a stream category, or undefined for categories that stay in the store. */
export function topicForCategory(category: string): string | undefined {
  return (topicByCategory as Record<string, string | undefined>)[category];
}

/** The internal topic for a stream, or undefined for streams that stay in the store. */
export function topicForStream(streamId: string): string | undefined {
  return topicForCategory(streamId.slice(0, streamId.indexOf('-')));
}

/** What one partner may see: its referrals, id-only. */
export const partnerReferralsTopic = (partnerId: string): string =>
  `onestop.partner.${partnerId}.referrals.v1`;
/** That partner's answers (accept/decline/start/complete). */
export const partnerResponsesTopic = (partnerId: string): string =>
  `onestop.partner.${partnerId}.responses.v1`;

/** The category part of a stream id: `person-…` → `person`. */
export function streamCategory(streamId: string): string {
  const i = streamId.indexOf('-');
  return i < 0 ? streamId : streamId.slice(0, i);
}
