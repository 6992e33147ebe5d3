import { z } from 'zod';
import {
  ConsentScope,
  LifeDomain,
  NeedLevel,
  ReferralStatus,
  TeamRole,
  liftRecorded,
  taskStatusAfter,
  type Encrypted,
  type RecordedEvent,
} from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';
import { ReceiptSchema, type PersonKeyring } from '@onestop/kit';
import { ContactDetails, PersonalData } from './domain/personal-data.js';

// The subject-access export (GDPR Art. 15): everything OneStop holds about a
// person, decrypted, read from the event store, the source of truth. After
// erasure the same export shows every personal field as erased, while the
// events themselves (and so their hash chains) stay exactly as they were.

/** What an encrypted text shows once the person's key is destroyed. */
export const ERASED = '[erased]';

const Text = z.string().describe(`the decrypted text, or "${ERASED}" once the personal data is erased`);
const Actor = { by: z.string(), role: z.string(), partnerId: z.string().nullable() };

export const SubjectAccessExport = z.object({
  personId: z.string(),
  exportedAt: z.string(),
  status: z.enum(['registered', 'erased']),
  registration: z.object({
    accessPoint: z.string(),
    municipality: z.string(),
    birthYear: z.number(),
    registeredAt: z.string(),
    registeredBy: z.string(),
  }),
  personalData: PersonalData.nullable().describe('the current personal data; null once erased'),
  contactHistory: z.array(
    z.object({ eventId: z.string(), at: z.string(), updatedBy: z.string(), details: ContactDetails.nullable().describe('null once erased') }),
  ),
  consents: z.array(
    z.object({
      eventId: z.string(),
      at: z.string(),
      action: z.enum(['given', 'withdrawn']),
      scope: ConsentScope,
      legalBasis: z.string(),
      recordedBy: z.string(),
    }),
  ),
  assessments: z.array(
    z.object({
      assessmentId: z.string(),
      status: z.enum(['open', 'completed', 'cancelled']),
      team: z.array(z.object({ memberId: z.string(), role: TeamRole })),
      startedAt: z.string(),
      startedBy: z.string(),
      evaluations: z
        .array(
          z.object({
            domain: LifeDomain,
            needLevel: NeedLevel,
            notes: Text.nullable().describe(`null when there were none, "${ERASED}" once erased`),
            evaluatedBy: z.string(),
            at: z.string(),
          }),
        )
        .describe('every evaluation, in order (a domain evaluated again appears twice)'),
      needProfile: z.record(z.string(), NeedLevel).nullable(),
      priorityDomains: z.array(LifeDomain).nullable(),
      goals: z.array(z.object({ goalId: z.string(), domain: LifeDomain, description: Text, targetDate: z.string() })),
      completedAt: z.string().nullable(),
      cancelledAt: z.string().nullable(),
      cancellationReason: z.string().nullable(),
    }),
  ),
  referrals: z.array(
    z.object({
      referralId: z.string(),
      assessmentId: z.string(),
      partnerId: z.string(),
      serviceId: z.string(),
      domain: LifeDomain,
      priority: z.string(),
      status: ReferralStatus,
      overdue: z.boolean(),
      reason: Text,
      referredAt: z.string(),
      referredBy: z.string(),
      respondBy: z.string(),
      consentEventId: z.string().describe('the ConsentGiven event that allowed sharing the referral with the partner'),
      history: z.array(
        z.object({
          eventId: z.string(),
          type: z.string(),
          at: z.string(),
          ...Actor,
          details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
        }),
      ),
    }),
  ),
  disclosures: z
    .array(
      z.object({
        eventId: z.string(),
        at: z.string(),
        purpose: z.string(),
        readBy: z.string(),
        role: z.string(),
        partnerId: z.string().nullable(),
        consentEventId: z.string().nullable(),
        referralId: z.string().nullable(),
        assessmentId: z.string().nullable(),
      }),
    )
    .describe('every recorded read of the case and every disclosure of contact details to a partner'),
  casework: z
    .array(z.object({ eventId: z.string(), type: z.string(), at: z.string(), ...Actor, details: z.record(z.string(), z.unknown()) }))
    .describe(
      'taking charge (docs/casework.md), in order: the case, the personal plan and its versions, meetings and case notes, ' +
        `with their free texts (closure note, goals, commitments, progress notes, minutes, notes) decrypted, "${ERASED}" once erased`,
    ),
  erasure: z.object({ eventId: z.string(), at: z.string(), requestedBy: z.string(), reason: z.string() }).nullable(),
  streams: z.array(z.object({ streamId: z.string(), events: z.number() })).describe('the streams these facts come from'),
  receipts: z
    .array(ReceiptSchema)
    .optional()
    .describe("one per event of the person's case, in global order: proof that each is in the verifiable log (pending until a checkpoint covers it)"),
});
export type SubjectAccessExport = z.infer<typeof SubjectAccessExport>;

type Assessment = SubjectAccessExport['assessments'][number];
type Referral = SubjectAccessExport['referrals'][number];


/**
 * Every event of the streams keyed by the person (person, assessment, referral
 * and audit streams all carry the personId as partition key), in global order.
 * The global log only says which streams those are; the events come from the
 * streams themselves, which are read whole (the log's gap-safe reading may hold
 * back the newest events for a moment).
 *
 * Cost: one pass over the whole global log, in pages, per export — O(all
 * events), not O(the person's events). Fine for requests that arrive a few
 * times a month; when the log grows large, the projections' index of a case's
 * streams (or a store-side index on the partition key) should replace it.
 */
export async function eventsOfPerson(store: EventStore, personId: string): Promise<RecordedEvent[]> {
  // the store's case index: never a scan of the global log, never a read model
  return (await store.readCase(personId)).map(liftRecorded);
}

/** The person's current personal data (registration merged with later contact details), or null once erased. */
export async function currentPersonalData(keyring: PersonKeyring, events: readonly RecordedEvent[]): Promise<PersonalData | null> {
  let personalData: PersonalData | null = null;
  for (const e of events) {
    if (e.type === 'PersonRegistered') personalData = (await keyring.tryDecrypt<PersonalData>(e.data.pii)) ?? null;
    if (e.type === 'ContactDetailsUpdated' && personalData) {
      const details = await keyring.tryDecrypt<ContactDetails>(e.data.pii);
      if (!details) return null;
      Object.assign(personalData, details);
    }
  }
  return personalData;
}

const isEncrypted = (v: unknown): v is Encrypted => typeof v === 'object' && v !== null && (v as { alg?: unknown }).alg === 'A256GCM' && 'ct' in v;

/** A payload with every encrypted value in it replaced by its text. */
async function decrypted(v: unknown, text: (enc: Encrypted) => Promise<string>): Promise<unknown> {
  if (isEncrypted(v)) return text(v);
  if (Array.isArray(v)) return Promise.all(v.map((x) => decrypted(x, text)));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await decrypted(x, text);
    return out;
  }
  return v;
}

/** Builds the export from the person's events; undefined when the person was never registered. */
export async function subjectAccessExport(
  keyring: PersonKeyring,
  personId: string,
  events: readonly RecordedEvent[],
  now: Date,
): Promise<SubjectAccessExport | undefined> {
  const registered = events.find((e) => e.type === 'PersonRegistered' && e.subject === `person-${personId}`);
  if (registered?.type !== 'PersonRegistered') return undefined;
  const text = async (enc: Encrypted) => (await keyring.tryDecrypt<string>(enc)) ?? ERASED;
  const actor = (e: RecordedEvent) => ({ by: e.actor.id, role: e.actor.role, partnerId: e.actor.partnerId ?? null });
  const idOf = (e: RecordedEvent) => e.subject.slice(e.subject.indexOf('-') + 1);

  const out: SubjectAccessExport = {
    personId,
    exportedAt: now.toISOString(),
    status: 'registered',
    registration: {
      accessPoint: registered.data.accessPoint,
      municipality: registered.data.municipality,
      birthYear: registered.data.birthYear,
      registeredAt: registered.time,
      registeredBy: registered.data.registeredBy,
    },
    personalData: await currentPersonalData(keyring, events),
    contactHistory: [],
    consents: [],
    assessments: [],
    referrals: [],
    disclosures: [],
    casework: [],
    erasure: null,
    streams: [],
  };
  const assessments = new Map<string, Assessment>();
  const referrals = new Map<string, Referral>();
  const streams = new Map<string, number>();

  for (const e of events) {
    streams.set(e.subject, (streams.get(e.subject) ?? 0) + 1);
    const assessment = assessments.get(idOf(e));
    const referral = referrals.get(idOf(e));
    switch (e.type) {
      case 'PersonRegistered':
        break;
      case 'ContactDetailsUpdated':
        out.contactHistory.push({
          eventId: e.id,
          at: e.time,
          updatedBy: e.data.updatedBy,
          details: (await keyring.tryDecrypt<ContactDetails>(e.data.pii)) ?? null,
        });
        break;
      case 'ConsentGiven':
      case 'ConsentWithdrawn':
        out.consents.push({
          eventId: e.id,
          at: e.time,
          action: e.type === 'ConsentGiven' ? 'given' : 'withdrawn',
          scope: e.data.scope,
          legalBasis: e.data.legalBasis,
          recordedBy: e.data.recordedBy,
        });
        break;
      case 'PersonalDataErased':
        out.status = 'erased';
        out.erasure = { eventId: e.id, at: e.time, requestedBy: e.data.requestedBy, reason: e.data.reason };
        break;
      case 'AssessmentStarted':
        assessments.set(e.data.assessmentId, {
          assessmentId: e.data.assessmentId,
          status: 'open',
          team: e.data.team,
          startedAt: e.time,
          startedBy: e.actor.id,
          evaluations: [],
          needProfile: null,
          priorityDomains: null,
          goals: [],
          completedAt: null,
          cancelledAt: null,
          cancellationReason: null,
        });
        break;
      case 'DomainEvaluated':
        assessment?.evaluations.push({
          domain: e.data.domain,
          needLevel: e.data.needLevel,
          notes: e.data.notes ? await text(e.data.notes) : null,
          evaluatedBy: e.data.evaluatedBy,
          at: e.time,
        });
        break;
      case 'AssessmentCompleted':
        if (!assessment) break;
        assessment.status = 'completed';
        assessment.completedAt = e.time;
        assessment.needProfile = e.data.needProfile;
        assessment.priorityDomains = e.data.priorityDomains;
        for (const g of e.data.goals) {
          assessment.goals.push({ goalId: g.goalId, domain: g.domain, description: await text(g.description), targetDate: g.targetDate });
        }
        break;
      case 'AssessmentCancelled':
        if (!assessment) break;
        assessment.status = 'cancelled';
        assessment.cancelledAt = e.time;
        assessment.cancellationReason = e.data.reason;
        break;
      case 'ReferredToPartner':
        referrals.set(e.data.referralId, {
          referralId: e.data.referralId,
          assessmentId: e.data.assessmentId,
          partnerId: e.data.partnerId,
          serviceId: e.data.serviceId,
          domain: e.data.domain,
          priority: e.data.priority,
          status: 'requested',
          overdue: false,
          reason: await text(e.data.reason),
          referredAt: e.time,
          referredBy: e.data.referredBy,
          respondBy: e.data.respondBy,
          consentEventId: e.data.consentEventId,
          history: [{ eventId: e.id, type: e.type, at: e.time, ...actor(e), details: {} }],
        });
        break;
      case 'ReferralAccepted':
      case 'ReferralDeclined':
      case 'ServiceStarted':
      case 'ServiceCompleted':
      case 'ReferralCancelled':
      case 'ReferralOverdue': {
        if (!referral) break;
        const details: Record<string, string | number | boolean | null> = {};
        for (const [k, v] of Object.entries(e.data)) {
          // the decline note is the only free text among the answers: encrypted, decrypted here
          if (k === 'note') details.note = await text(v as Encrypted);
          else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') details[k] = v;
        }
        referral.history.push({ eventId: e.id, type: e.type, at: e.time, ...actor(e), details });
        const status = taskStatusAfter(e.type);
        if (status) referral.status = status;
        if (e.type === 'ReferralOverdue') referral.overdue = true;
        break;
      }
      case 'CaseOpened':
      case 'CaseManagerAssigned':
      case 'CaseTransferred':
      case 'CaseClosed':
      case 'CaseReopened':
      case 'PlanAgreed':
      case 'PlanRevised':
      case 'GoalProgressRecorded':
      case 'MeetingScheduled':
      case 'MeetingRescheduled':
      case 'MeetingHeld':
      case 'MeetingMissed':
      case 'CaseNoteWritten':
        out.casework.push({ eventId: e.id, type: e.type, at: e.time, ...actor(e), details: (await decrypted(e.data, text)) as Record<string, unknown> });
        break;
      case 'CaseHistoryRead':
        out.disclosures.push({
          eventId: e.id,
          at: e.time,
          purpose: e.data.purpose,
          readBy: e.data.readBy,
          role: e.actor.role,
          partnerId: e.actor.partnerId ?? null,
          consentEventId: e.data.consentEventId ?? null,
          referralId: e.data.referralId ?? null,
          assessmentId: e.data.assessmentId ?? null,
        });
        break;
      default:
        break;
    }
  }
  if (out.status === 'erased') out.personalData = null;
  out.assessments = [...assessments.values()];
  out.referrals = [...referrals.values()];
  out.streams = [...streams].map(([streamId, n]) => ({ streamId, events: n })).sort((a, b) => a.streamId.localeCompare(b.streamId));
  return out;
}
