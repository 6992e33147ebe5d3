import { z } from 'zod';
import {
  Encrypted,
  IsoDate,
  IsoDateTime,
  LifeDomain,
  Name,
  NeedLevel,
  Slug,
  TeamRole,
  Uuid,
} from './primitives.js';

// The v1 event catalog of DESIGN §4, one zod schema per event type.
// Free text about a person (notes, goals, reasons) is personal data: it is
// carried encrypted with the person's key, like the PII itself.

// ── Intake: stream person-<personId> ───────────────────────────────────────
export const ConsentScope = z.enum(['assessment', 'referral_sharing']);
export type ConsentScope = z.infer<typeof ConsentScope>;
/** GDPR Art. 6 / Art. 9 ground recorded with every consent. */
export const LegalBasis = z.enum([
  'explicit_consent',
  'public_interest',
  'legal_obligation',
  'vital_interests',
  'social_protection_law',
]);

export const PersonRegistered = z.object({
  personId: Uuid,
  accessPoint: Slug,
  registeredBy: z.string().min(1).max(200),
  /** given/family name, birth date, fiscal code?, phone?, email?, address? */
  pii: Encrypted,
  municipality: Name,
  birthYear: z.number().int().min(1900).max(2100),
  /** present when the operator recorded a real exception to the fiscal code's checks (names or place code) */
  fiscalCodeOverride: z
    .object({
      reason: z.enum(['name_changed', 'transliteration', 'assigned_by_agency', 'other']),
      checks: z.array(z.enum(['names', 'place'])).min(1),
    })
    .optional(),
});
export const ConsentGiven = z.object({
  scope: ConsentScope,
  legalBasis: LegalBasis,
  recordedBy: z.string().min(1).max(200),
});
export const ConsentWithdrawn = z.object({
  scope: ConsentScope,
  legalBasis: LegalBasis,
  recordedBy: z.string().min(1).max(200),
  /**
   * the ConsentGiven event this withdrawal ends: what was done under that
   * consent stops, what a later consent covers does not (absent in events
   * recorded before it was added: the latest ConsentGiven of the scope before it)
   */
  consentEventId: Uuid.optional(),
});
export const ContactDetailsUpdated = z.object({
  pii: Encrypted,
  updatedBy: z.string().min(1).max(200),
});
export const PersonalDataErased = z.object({
  requestedBy: z.string().min(1).max(200),
  reason: z.enum(['data_subject_request', 'retention_expired', 'unlawful_processing', 'other']),
});

// ── Assessment: stream assessment-<assessmentId> ────────────────────────────
export const TeamMember = z.object({ memberId: z.string().min(1).max(200), role: TeamRole });
export const Goal = z.object({
  goalId: Uuid,
  domain: LifeDomain,
  description: Encrypted,
  targetDate: IsoDate,
});

export const AssessmentStarted = z.object({
  assessmentId: Uuid,
  personId: Uuid,
  team: z.array(TeamMember).min(1).max(20),
  /** the ConsentGiven (assessment) event the assessment rests on; absent in events recorded before it was added */
  consentEventId: Uuid.optional(),
});
export const DomainEvaluated = z.object({
  domain: LifeDomain,
  needLevel: NeedLevel,
  notes: Encrypted.optional(),
  evaluatedBy: z.string().min(1).max(200),
});
export const AssessmentCompleted = z.object({
  needProfile: z.record(LifeDomain, NeedLevel),
  priorityDomains: z.array(LifeDomain).max(7),
  goals: z.array(Goal).max(50),
});
/** Why an assessment stopped: codes, not free text, so no personal text enters the log. */
export const AssessmentCancelReason = z.enum([
  'team_decision',
  'person_request',
  'person_moved_away',
  'started_in_error',
  'consent_withdrawn',
  'personal_data_erased',
]);
export const AssessmentCancelled = z.object({ reason: AssessmentCancelReason });

// ── Directory: stream partner-<partnerId> ───────────────────────────────────
export const Sector = z.enum(['public', 'third_sector']);
export const PartnerService = z.object({
  serviceId: Slug,
  name: Name,
  domain: LifeDomain,
  capacity: z.number().int().min(0).max(100_000),
});
export const PartnerRegistered = z.object({
  partnerId: Slug,
  name: Name,
  sector: Sector,
  services: z.array(PartnerService).min(1).max(100),
});
export const PartnerJoinedAgreement = z.object({
  agreementId: Slug,
  responseDays: z.number().int().min(1).max(90),
});
export const PartnerLeftAgreement = z.object({ agreementId: Slug });
export const ServiceCapacityChanged = z.object({
  serviceId: Slug,
  capacity: z.number().int().min(0).max(100_000),
});

// ── Referral: stream referral-<referralId> ──────────────────────────────────
/** FHIR Task.priority */
export const ReferralPriority = z.enum(['routine', 'urgent', 'asap']);
export const DeclineReason = z.enum(['no_capacity', 'not_eligible', 'unable_to_contact', 'other']);
export const Outcome = z.enum(['achieved', 'partially_achieved', 'not_achieved', 'dropped_out']);
export const CancelReason = z.enum([
  'team_decision',
  'person_request',
  'consent_withdrawn',
  'personal_data_erased',
  'partner_left_agreement',
]);

export const ReferredToPartner = z.object({
  referralId: Uuid,
  personId: Uuid,
  assessmentId: Uuid,
  partnerId: Slug,
  serviceId: Slug,
  domain: LifeDomain,
  reason: Encrypted,
  priority: ReferralPriority,
  respondBy: IsoDateTime,
  referredBy: z.string().min(1).max(200),
  /** the ConsentGiven event that allows this disclosure (purpose binding) */
  consentEventId: Uuid,
  /** a re-referral: the declined referral this one replaces (ReferralReplaced on that one, in the same append) */
  replacesReferralId: Uuid.optional(),
});
export const ReferralAccepted = z.object({ expectedStart: IsoDate.optional() });
export const ReferralDeclined = z.object({ reason: DeclineReason, note: Encrypted.optional() });
export const ServiceStarted = z.object({});
export const ServiceCompleted = z.object({ outcome: Outcome });
export const ReferralCancelled = z.object({ reason: CancelReason });
export const ReferralOverdue = z.object({ dueAt: IsoDateTime });

// ── Taking charge (presa in carico, DESIGN §10) ─────────────────────────────
// Four streams per person, each with its own decider: care-<personId> (the
// case: opening, case manager, transfers, closure, reopening),
// plan-<personId> (the personal plan and its versions), meetings-<personId>
// and casenotes-<personId>. A command that needs another stream's facts
// (a meeting or a plan needs an open case; a shared note needs an open
// referral) reads that stream in the same unit of work, whose revision
// guards it (docs/casework.md says why these are not on case-<personId>).
// Every free text is encrypted with the person's key; codes and dates stay in
// clear so that clocks and dashboards need no key.

/** Programmes a case is taken in charge under; each has its clock policy (`adi`: Assegno di Inclusione). */
export const KNOWN_PROGRAMMES = ['adi', 'generic'] as const;
/** An owner of a goal or of a service's commitment: a team member, or a partner's service. */
export const PlanOwner = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('team'), memberId: z.string().min(1).max(200), role: TeamRole }),
  z.object({ kind: z.literal('partner'), partnerId: Slug, serviceId: Slug.optional() }),
]);
export const CaseCloseReason = z.enum(['goals_achieved', 'moved_away', 'dropped_out', 'deceased', 'other']);
export const CaseTransferReason = z.enum(['workload', 'competence', 'staff_left', 'person_request', 'conflict_of_interest', 'other']);

// stream care-<personId>
export const CaseOpened = z.object({
  personId: Uuid,
  /** the programme whose clock policy applies (a code, e.g. `adi`, `generic`) */
  programme: Slug,
  /** the date of the digital activation pact: the statutory clocks start from it */
  activationDate: IsoDate,
  accessPoint: Slug,
  openedBy: z.string().min(1).max(200),
});
/** The first case manager of the case, or of a reopened case. */
export const CaseManagerAssigned = z.object({ caseManager: TeamMember, assignedBy: z.string().min(1).max(200) });
export const CaseTransferred = z.object({
  from: z.string().min(1).max(200),
  to: TeamMember,
  reason: CaseTransferReason,
  transferredBy: z.string().min(1).max(200),
});
export const CaseClosed = z.object({
  reason: CaseCloseReason,
  /** required for `other`: why, encrypted with the person's key */
  note: Encrypted.optional(),
  closedBy: z.string().min(1).max(200),
});
export const CaseReopened = z.object({
  reopenedBy: z.string().min(1).max(200),
  /** a new activation pact restarts the clocks; absent: the clocks continue from the case's activation date */
  activationDate: IsoDate.optional(),
});

// stream plan-<personId>: every event makes a new version of the plan (1, 2, …)
export const PlanGoal = z.object({
  /** the assessment goal's id when the goal comes from the assessment */
  goalId: Uuid,
  domain: LifeDomain,
  description: Encrypted,
  targetDate: IsoDate,
  owner: PlanOwner,
});
export const ServiceCommitment = z.object({ owner: PlanOwner, text: Encrypted });
const PlanContent = {
  /** the completed assessment the plan is built from */
  assessmentId: Uuid,
  version: z.number().int().min(1),
  goals: z.array(PlanGoal).min(1).max(50),
  personCommitments: z.array(Encrypted).max(30),
  serviceCommitments: z.array(ServiceCommitment).max(30),
  reviewDate: IsoDate,
};
/** The plan agreed with the person (patto): version 1, or the first version built from a newer assessment. */
export const PlanAgreed = z.object({ personId: Uuid, ...PlanContent, agreedBy: z.string().min(1).max(200) });
/** The whole plan as revised: its new version replaces the previous one's content. */
export const PlanRevised = z.object({
  ...PlanContent,
  reason: z.enum(['review', 'new_needs', 'goal_change', 'owner_change', 'other']),
  revisedBy: z.string().min(1).max(200),
});
export const GoalProgress = z.enum(['achieved', 'partially_achieved', 'not_achieved', 'dropped']);
export const GoalProgressRecorded = z.object({
  version: z.number().int().min(1),
  goalId: Uuid,
  progress: GoalProgress,
  note: Encrypted.optional(),
  recordedBy: z.string().min(1).max(200),
});

// stream meetings-<personId>
export const MeetingKind = z.enum(['first_meeting', 'review', 'other']);
export const MeetingModality = z.enum(['in_person', 'phone', 'video', 'home_visit']);
export const MeetingScheduled = z.object({
  meetingId: Uuid,
  kind: MeetingKind,
  at: IsoDateTime,
  modality: MeetingModality,
  /** an office or access point code; never an address (a home visit's address is the person's contact details) */
  place: Slug.optional(),
  scheduledBy: z.string().min(1).max(200),
});
export const MeetingRescheduled = z.object({
  meetingId: Uuid,
  at: IsoDateTime,
  modality: MeetingModality,
  place: Slug.optional(),
  reason: z.enum(['person_request', 'team_request', 'other']),
  rescheduledBy: z.string().min(1).max(200),
});
export const MeetingHeld = z.object({
  meetingId: Uuid,
  kind: MeetingKind,
  /** when it took place (the event's time is when it was recorded) */
  heldAt: IsoDateTime,
  personAttended: z.boolean(),
  attendees: z.array(TeamMember).max(30),
  partnerIds: z.array(Slug).max(30),
  minutes: Encrypted.optional(),
  recordedBy: z.string().min(1).max(200),
});
export const MeetingMissed = z.object({
  meetingId: Uuid,
  kind: MeetingKind,
  justified: z.boolean(),
  reason: z.enum(['illness', 'work', 'family_care', 'transport', 'not_reached', 'no_show', 'other']),
  note: Encrypted.optional(),
  recordedBy: z.string().min(1).max(200),
});

// stream casenotes-<personId>
/**
 * A case note. `team`: the team only. `shared`: also the partner of the named
 * referral, which was open when the note was written; the partner reads it
 * only while that referral stays open.
 */
export const CaseNoteWritten = z.object({
  noteId: Uuid,
  text: Encrypted,
  visibility: z.enum(['team', 'shared']),
  referralId: Uuid.optional(),
  partnerId: Slug.optional(),
  writtenBy: z.string().min(1).max(200),
});

// ── Statutory clocks (DESIGN §10, README "Statutory clocks") ───────────────
// A programme's clock policy is data, published as events on
// clockpolicy-<programme>: a version applies to the deadlines anchored on or
// after its validFrom, and because publication is an event, an as-of replay
// knows which versions were known on any date (a later correction cannot
// rewrite what the watcher knew then). The watcher's findings go to
// deadlines-<personId>, one stream per person whose revision makes each
// finding exactly-once across replicas. Codes and dates only: no personal data.
export const DeadlineKind = z.enum(['first_meeting', 'review', 'plan_review']);
export type DeadlineKind = z.infer<typeof DeadlineKind>;
const Days = z.number().int().min(1).max(3650);
/** The clocks of one version of a programme's policy; an absent clock does not run for that programme. */
export const ClockRules = z.object({
  /** the first meeting with the person, counted from the activation date */
  firstMeeting: z.object({ withinDays: Days, recommendedDays: Days.optional() }).optional(),
  /** a review meeting every `everyDays` after a held first meeting or review */
  review: z.object({ everyDays: Days }).optional(),
  /** the plan's own review date is a deadline */
  planReview: z.boolean(),
});
export const ClockPolicyPublished = z.object({
  programme: Slug,
  version: z.number().int().min(1),
  /** deadlines anchored on or after this date follow this version */
  validFrom: IsoDate,
  /** the norm it transcribes, e.g. "DL 48/2023 art. 4; DM 72/2024" */
  source: z.string().trim().min(1).max(300),
  rules: ClockRules,
  publishedBy: z.string().min(1).max(200),
});
const DeadlineFacts = {
  /** stable within the person's deadlines, e.g. `first_meeting@2026-01-10`, `review@<meetingId>`, `plan_review@v2` */
  deadlineId: z.string().min(1).max(120),
  kind: DeadlineKind,
  programme: Slug,
  /** the clock policy version that set it (0: the plan's own review date, no policy) */
  policyVersion: z.number().int().min(0),
  /** the day the clock runs from (the activation date, the held meeting's day, the plan's day) */
  anchorDate: IsoDate,
  dueDate: IsoDate,
  /** the earlier date the policy recommends (ADI first meeting: 60 days) */
  recommendedDate: IsoDate.optional(),
  /** the case manager when it was found, for the team's work lists */
  caseManager: z.string().min(1).max(200).optional(),
  accessPoint: Slug.optional(),
};
export const DeadlineApproaching = z.object({ ...DeadlineFacts, daysLeft: z.number().int().min(0) });
export const DeadlineMissed = z.object({ ...DeadlineFacts });
export const DeadlineMet = z.object({
  ...DeadlineFacts,
  /** when the meeting was held or the plan reviewed */
  metAt: IsoDateTime,
  onTime: z.boolean(),
});

// ── Reservations (DESIGN §9) ────────────────────────────────────────────────
// Streams that guard an invariant spanning several aggregates, appended to in
// the same atomic append as the event they guard. They stay in the store: no
// topic carries them, no consumer needs them.

// stream fiscalcode-<blind index of the fiscal code>: one person per fiscal code
export const FiscalCodeReserved = z.object({ personId: Uuid });
export const FiscalCodeReleased = z.object({ personId: Uuid, reason: z.enum(['personal_data_erased']) });

// stream case-<personId>: one open assessment per person, one open referral per person and service
export const CaseAssessmentOpened = z.object({ assessmentId: Uuid });
export const CaseAssessmentClosed = z.object({ assessmentId: Uuid, status: z.enum(['completed', 'cancelled']) });
export const CaseReferralOpened = z.object({ referralId: Uuid, partnerId: Slug, serviceId: Slug });
export const CaseReferralClosed = z.object({ referralId: Uuid, status: z.enum(['rejected', 'completed', 'cancelled']) });

// stream places-<partnerId>.<serviceId>: a service's places (slugs have no dot, so the name is unambiguous)
export const PlaceTaken = z.object({ referralId: Uuid, capacity: z.number().int().min(0).max(100_000) });
export const PlaceReleased = z.object({ referralId: Uuid, status: z.enum(['completed', 'cancelled']) });

// ── Waitlist and re-referral (issue 14, part 6) ─────────────────────────────
// stream referral-<referralId>
/** The partner has no free place: the referral waits (Task on-hold), holding no place, until about `expectedDate`. */
export const ReferralWaitlisted = z.object({ expectedDate: IsoDate });
/**
 * A place of the referral's service was freed while it waited first in line:
 * its partner and team are told (it stays on-hold until the partner accepts).
 * Appended in the same atomic append as the freeing, so once per freed place.
 */
export const ReferralPlaceAvailable = z.object({ cause: z.enum(['place_released', 'capacity_raised']) });
/** This declined referral was re-referred: `replacedBy` is the new one (to another partner or service). */
export const ReferralReplaced = z.object({ replacedBy: Uuid, partnerId: Slug, serviceId: Slug });
// stream places-<partnerId>.<serviceId>: the service's waitlist, in the order referrals joined it
export const WaitlistJoined = z.object({ referralId: Uuid, expectedDate: IsoDate });
export const WaitlistLeft = z.object({ referralId: Uuid, status: z.enum(['rejected', 'cancelled']) });
/** A freed place offered to the first waitlisted referral not offered one yet (`freedBy`: the referral that released it). */
export const PlaceOffered = z.object({ referralId: Uuid, cause: z.enum(['place_released', 'capacity_raised']), freedBy: Uuid.optional() });

// ── FHIR Subscriptions: stream subscription-<subscriptionId> ────────────────
// A partner's rest-hook subscription to its Tasks (R4 Subscriptions Backport).
// The stream is the subscription: its status and errors come from these events,
// and its deliveries read the log from `startPosition`. No topic carries them.
export const SubscriptionRequested = z.object({
  subscriptionId: Uuid,
  partnerId: Slug,
  topic: z.url().max(500),
  /** the partner's rest-hook endpoint (http(s), no credentials in it) */
  endpoint: z.url().max(2000),
  /** seconds between heartbeats while nothing else is sent (0: none) */
  heartbeatSeconds: z.number().int().min(0).max(86_400),
  /** notifications cover what the log records after this global position */
  startPosition: z.number().int().min(0),
  requestedBy: z.string().min(1).max(200),
});
/** The endpoint answered (the handshake, or a delivery after errors). */
export const SubscriptionActivated = z.object({ eventNumber: z.number().int().min(0) });
/** A delivery failed; it is retried with backoff. `error` is a short technical cause (a status code, a network error code), never payload. */
export const SubscriptionErrored = z.object({ eventNumber: z.number().int().min(0), error: z.string().min(1).max(200) });
export const SubscriptionEnded = z.object({ endedBy: z.string().min(1).max(200) });

// ── Documents (issue 14, part 5): stream document-<documentId> ──────────────
// A file attached to a person's case. Its bytes are encrypted with the
// person's key and kept in the documents table, never in the log; the log
// records that it was added. The digest is of the ciphertext: a digest of the
// plaintext would let anyone holding a copy of a file confirm that this person
// has it (and would outlive the key shredding of an erasure); the ciphertext's
// proves the stored blob intact and says nothing about the content.
export const DocumentContentType = z.enum([
  'application/pdf',
  'image/png',
  'image/jpeg',
  'text/plain',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
]);
export const DocumentAdded = z.object({
  documentId: Uuid,
  personId: Uuid,
  contentType: DocumentContentType,
  /** bytes of the plaintext */
  size: z.number().int().min(1).max(100 * 1024 * 1024),
  /** SHA-256 (hex) of the stored ciphertext */
  ciphertextSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** the file name can be personal ("certificato_invalidita_Rossi.pdf"): encrypted with the person's key */
  fileName: Encrypted,
  addedBy: z.string().min(1).max(200),
});

// ── Audit: stream audit-<personId> ──────────────────────────────────────────
/**
 * Every read of a case history, and every answer that carries decrypted
 * personal data, is itself recorded (DESIGN §6): who (`readBy`, the actor),
 * what (the person, and the assessment or referral) and why (`purpose`).
 * `case_view`: the decrypted identity (GET /persons/{id}); `assessment_view`:
 * an assessment's decrypted notes and goals (GET /assessments/{id});
 * `search`: a person's names and birth date shown among the matches of a
 * search (POST /persons/search); `care_case`, `care_plan`, `meeting_minutes`,
 * `case_notes`: the decrypted free text of the taking-charge routes
 * (docs/casework.md).
 */
export const CaseHistoryRead = z.object({
  personId: Uuid,
  purpose: z.enum([
    'audit', 'as_of_replay', 'export', 'subject_access', 'contact_details', 'case_view', 'assessment_view', 'search',
    'care_case', 'care_plan', 'meeting_minutes', 'case_notes', 'document_download',
  ]),
  readBy: z.string().min(1).max(200),
  /** for disclosures to a partner: the consent that allowed it */
  consentEventId: Uuid.optional(),
  referralId: Uuid.optional(),
  /** for `assessment_view`: the assessment read */
  assessmentId: Uuid.optional(),
  /** for `document_download`: the document downloaded */
  documentId: Uuid.optional(),
});

// ── Authentication: stream revocation-tokens ────────────────────────────────
// Bearer tokens an admin revoked before they expire (a stolen token, a lost
// device, someone who left). Every process of every service reads this stream
// and refuses what it names (packages/kit/src/token-revocation.ts); no topic
// carries it. No personal data: a token id, a staff member's subject, instants.
export const RevocationReason = z.enum(['token_compromised', 'device_lost', 'staff_left', 'role_changed', 'other']);
/** One token, by its `jti`. */
export const TokenRevoked = z.object({
  jti: z.string().min(1).max(200),
  /** when the entry stops mattering: the token's own expiry, or the longest a token may live from the revocation (absent: never) */
  until: IsoDateTime.optional(),
  reason: RevocationReason,
  revokedBy: z.string().min(1).max(200),
});
/** Every token of a subject issued before an instant (to the second: a token of that same second is refused too). */
export const SubjectTokensRevoked = z.object({
  sub: z.string().min(1).max(200),
  issuedBefore: IsoDateTime,
  /** `issuedBefore` plus the longest a token may live (absent: never) */
  until: IsoDateTime.optional(),
  reason: RevocationReason,
  revokedBy: z.string().min(1).max(200),
});

/** Every event type of catalog v1 with its schema and current schema version. */
export const catalogV1 = {
  PersonRegistered: { version: 1, schema: PersonRegistered, stream: 'person' },
  ConsentGiven: { version: 1, schema: ConsentGiven, stream: 'person' },
  ConsentWithdrawn: { version: 1, schema: ConsentWithdrawn, stream: 'person' },
  ContactDetailsUpdated: { version: 1, schema: ContactDetailsUpdated, stream: 'person' },
  PersonalDataErased: { version: 1, schema: PersonalDataErased, stream: 'person' },
  AssessmentStarted: { version: 1, schema: AssessmentStarted, stream: 'assessment' },
  DomainEvaluated: { version: 1, schema: DomainEvaluated, stream: 'assessment' },
  AssessmentCompleted: { version: 1, schema: AssessmentCompleted, stream: 'assessment' },
  AssessmentCancelled: { version: 1, schema: AssessmentCancelled, stream: 'assessment' },
  PartnerRegistered: { version: 1, schema: PartnerRegistered, stream: 'partner' },
  PartnerJoinedAgreement: { version: 1, schema: PartnerJoinedAgreement, stream: 'partner' },
  PartnerLeftAgreement: { version: 1, schema: PartnerLeftAgreement, stream: 'partner' },
  ServiceCapacityChanged: { version: 1, schema: ServiceCapacityChanged, stream: 'partner' },
  ReferredToPartner: { version: 1, schema: ReferredToPartner, stream: 'referral' },
  ReferralAccepted: { version: 1, schema: ReferralAccepted, stream: 'referral' },
  ReferralDeclined: { version: 1, schema: ReferralDeclined, stream: 'referral' },
  ServiceStarted: { version: 1, schema: ServiceStarted, stream: 'referral' },
  ServiceCompleted: { version: 1, schema: ServiceCompleted, stream: 'referral' },
  ReferralCancelled: { version: 1, schema: ReferralCancelled, stream: 'referral' },
  ReferralOverdue: { version: 1, schema: ReferralOverdue, stream: 'referral' },
  CaseOpened: { version: 1, schema: CaseOpened, stream: 'care' },
  CaseManagerAssigned: { version: 1, schema: CaseManagerAssigned, stream: 'care' },
  CaseTransferred: { version: 1, schema: CaseTransferred, stream: 'care' },
  CaseClosed: { version: 1, schema: CaseClosed, stream: 'care' },
  CaseReopened: { version: 1, schema: CaseReopened, stream: 'care' },
  PlanAgreed: { version: 1, schema: PlanAgreed, stream: 'plan' },
  PlanRevised: { version: 1, schema: PlanRevised, stream: 'plan' },
  GoalProgressRecorded: { version: 1, schema: GoalProgressRecorded, stream: 'plan' },
  MeetingScheduled: { version: 1, schema: MeetingScheduled, stream: 'meetings' },
  MeetingRescheduled: { version: 1, schema: MeetingRescheduled, stream: 'meetings' },
  MeetingHeld: { version: 1, schema: MeetingHeld, stream: 'meetings' },
  MeetingMissed: { version: 1, schema: MeetingMissed, stream: 'meetings' },
  CaseNoteWritten: { version: 1, schema: CaseNoteWritten, stream: 'casenotes' },
  CaseHistoryRead: { version: 1, schema: CaseHistoryRead, stream: 'audit' },
  DocumentAdded: { version: 1, schema: DocumentAdded, stream: 'document' },
  FiscalCodeReserved: { version: 1, schema: FiscalCodeReserved, stream: 'fiscalcode' },
  FiscalCodeReleased: { version: 1, schema: FiscalCodeReleased, stream: 'fiscalcode' },
  CaseAssessmentOpened: { version: 1, schema: CaseAssessmentOpened, stream: 'case' },
  CaseAssessmentClosed: { version: 1, schema: CaseAssessmentClosed, stream: 'case' },
  CaseReferralOpened: { version: 1, schema: CaseReferralOpened, stream: 'case' },
  CaseReferralClosed: { version: 1, schema: CaseReferralClosed, stream: 'case' },
  PlaceTaken: { version: 1, schema: PlaceTaken, stream: 'places' },
  PlaceReleased: { version: 1, schema: PlaceReleased, stream: 'places' },
  ReferralWaitlisted: { version: 1, schema: ReferralWaitlisted, stream: 'referral' },
  ReferralPlaceAvailable: { version: 1, schema: ReferralPlaceAvailable, stream: 'referral' },
  ReferralReplaced: { version: 1, schema: ReferralReplaced, stream: 'referral' },
  WaitlistJoined: { version: 1, schema: WaitlistJoined, stream: 'places' },
  WaitlistLeft: { version: 1, schema: WaitlistLeft, stream: 'places' },
  PlaceOffered: { version: 1, schema: PlaceOffered, stream: 'places' },
  SubscriptionRequested: { version: 1, schema: SubscriptionRequested, stream: 'subscription' },
  SubscriptionActivated: { version: 1, schema: SubscriptionActivated, stream: 'subscription' },
  SubscriptionErrored: { version: 1, schema: SubscriptionErrored, stream: 'subscription' },
  SubscriptionEnded: { version: 1, schema: SubscriptionEnded, stream: 'subscription' },
  TokenRevoked: { version: 1, schema: TokenRevoked, stream: 'revocation' },
  SubjectTokensRevoked: { version: 1, schema: SubjectTokensRevoked, stream: 'revocation' },
  ClockPolicyPublished: { version: 1, schema: ClockPolicyPublished, stream: 'clockpolicy' },
  DeadlineApproaching: { version: 1, schema: DeadlineApproaching, stream: 'deadlines' },
  DeadlineMissed: { version: 1, schema: DeadlineMissed, stream: 'deadlines' },
  DeadlineMet: { version: 1, schema: DeadlineMet, stream: 'deadlines' },
} as const;

export type CatalogV1 = typeof catalogV1;
export type EventType = keyof CatalogV1;
export type EventData<T extends EventType> = z.infer<CatalogV1[T]['schema']>;
export const EVENT_TYPES = Object.keys(catalogV1) as EventType[];
export type StreamCategory = CatalogV1[EventType]['stream'];
