import { createHash } from 'node:crypto';
import { CancelReason, DeclineReason, LIFE_DOMAINS, Outcome, TASK_STATUS_AFTER, type ReferralStatus } from '@onestop/events';
import type { ReferralRecord } from '../referral-view.js';

// OneStop's facts as FHIR R4 resources, shaped after the HL7 SDOH Clinical
// Care IG's referral management (a Task per referral whose focus is the
// ServiceRequest). Pure functions: no I/O, no clock. Nothing here ever carries
// a name, a birth date, a fiscal code or free text about a person: the Patient
// is its pseudonymous identifier, and notes, reasons and goal descriptions stay
// encrypted in the log (contact details go through the audited native route).

export type Resource = { resourceType: string; id?: string } & Record<string, unknown>;

/** Where OneStop's own FHIR definitions live (canonical URLs: identifiers, not addresses to fetch). */
export const FHIR_CANONICAL_BASE = 'https://onestop.example/fhir';
/** The identifier system of a person's pseudonymous id. */
export const PERSON_IDENTIFIER_SYSTEM = `${FHIR_CANONICAL_BASE}/sid/person`;
/** The identifier system of a partner organisation's id in the directory. */
export const PARTNER_IDENTIFIER_SYSTEM = `${FHIR_CANONICAL_BASE}/sid/partner`;
/** The identifier system of a partner's service. */
export const SERVICE_IDENTIFIER_SYSTEM = `${FHIR_CANONICAL_BASE}/sid/service`;
/** The extension that carries a service's capacity (its definition: capacityExtensionDefinition). */
export const CAPACITY_EXTENSION_URL = `${FHIR_CANONICAL_BASE}/StructureDefinition/service-capacity`;
/** The SubscriptionTopic a partner subscribes to: its Tasks changed. */
export const TASK_TOPIC_URL = `${FHIR_CANONICAL_BASE}/SubscriptionTopic/partner-task-changed`;

// ── Code systems (generated from the event catalog's vocabularies) ───────────
interface CodeSystemSpec {
  id: string;
  title: string;
  description: string;
  codes: ReadonlyArray<{ code: string; display: string }>;
}
const label = (code: string) => code.replace(/[_-]/g, ' ');
const spec = (id: string, title: string, description: string, codes: readonly string[]): CodeSystemSpec => ({
  id,
  title,
  description,
  codes: codes.map((code) => ({ code, display: label(code) })),
});

export const CODE_SYSTEMS = {
  lifeDomain: spec('life-domain', 'OneStop life domains', 'The seven life domains of the multidimensional assessment (DESIGN §4).', LIFE_DOMAINS),
  statusReason: spec(
    'referral-status-reason',
    'Why a referral was declined or cancelled',
    'Coded reasons only: no free text about a person enters a Task. `consent_withdrawn` and `personal_data_erased` tell the partner to stop processing the person’s data.',
    [...new Set([...DeclineReason.options, ...CancelReason.options])],
  ),
  outcome: spec('service-outcome', 'What came of a referral', 'The outcome a partner records when it completes a service.', Outcome.options),
  taskOutput: spec('task-output-type', 'Kinds of Task output', 'What a completed referral Task reports.', ['outcome']),
} as const;

/** The CodeSystem resource of one of OneStop's vocabularies (served and given to the validator). */
export function codeSystemResource(cs: CodeSystemSpec): Resource {
  return {
    resourceType: 'CodeSystem',
    id: cs.id,
    url: codeSystemUrl(cs),
    name: cs.id.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase()),
    title: cs.title,
    status: 'active',
    description: cs.description,
    caseSensitive: true,
    content: 'complete',
    count: cs.codes.length,
    concept: cs.codes.map((c) => ({ code: c.code, display: c.display })),
  };
}
export const codeSystemUrl = (cs: CodeSystemSpec) => `${FHIR_CANONICAL_BASE}/CodeSystem/${cs.id}`;
const coding = (cs: CodeSystemSpec, code: string) => ({ system: codeSystemUrl(cs), code, display: label(code) });

/**
 * The definition of the capacity extension: how many people a service can
 * take at once (places), as a non-negative integer on a HealthcareService.
 */
const CAPACITY_ELEMENTS = [
  {
    id: 'Extension',
    path: 'Extension',
    short: 'Places of the service',
    definition: 'How many people the service can take at once.',
    min: 0,
    max: '1',
    base: { path: 'Extension', min: 0, max: '*' },
  },
  { id: 'Extension.id', path: 'Extension.id', short: 'Unique id for inter-element referencing', definition: 'Unique id for the element within a resource.', min: 0, max: '1', base: { path: 'Element.id', min: 0, max: '1' }, type: [{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type', valueUrl: 'string' }], code: 'http://hl7.org/fhirpath/System.String' }] },
  { id: 'Extension.extension', path: 'Extension.extension', short: 'No nested extensions', definition: 'A capacity has no nested extensions.', min: 0, max: '0', base: { path: 'Element.extension', min: 0, max: '*' }, type: [{ code: 'Extension' }] },
  { id: 'Extension.url', path: 'Extension.url', short: 'identifies the meaning of the extension', definition: 'Source of the definition for the extension code.', min: 1, max: '1', base: { path: 'Extension.url', min: 1, max: '1' }, type: [{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type', valueUrl: 'uri' }], code: 'http://hl7.org/fhirpath/System.String' }], fixedUri: CAPACITY_EXTENSION_URL },
  { id: 'Extension.value[x]', path: 'Extension.value[x]', short: 'Places', definition: 'The number of places: a non-negative integer.', min: 1, max: '1', base: { path: 'Extension.value[x]', min: 0, max: '1' }, type: [{ code: 'unsignedInt' }] },
];

export const capacityExtensionDefinition: Resource = {
  resourceType: 'StructureDefinition',
  id: 'service-capacity',
  url: CAPACITY_EXTENSION_URL,
  name: 'ServiceCapacity',
  title: 'Service capacity',
  status: 'active',
  description:
    'How many people a partner’s service can take at once: its places. A referral takes a place when the partner accepts it and gives it back when the service completes or the referral is cancelled. Set by the network’s administrator or the partner itself (PUT /partners/{partnerId}/services/{serviceId}/capacity).',
  fhirVersion: '4.0.1',
  kind: 'complex-type',
  abstract: false,
  context: [{ type: 'element', expression: 'HealthcareService' }],
  type: 'Extension',
  baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
  derivation: 'constraint',
  differential: { element: CAPACITY_ELEMENTS.map(({ base: _b, ...e }) => e).filter((e) => e.path !== 'Extension.id') },
  // the snapshot too: a validator without the R4 core package at hand cannot generate it
  snapshot: { element: CAPACITY_ELEMENTS },
};

// ── What the facade maps from ────────────────────────────────────────────────
/** A referral as the facade shows it: the referral view's record (or the same folded from its stream), with its Task.status. */
export type TaskFacts = Omit<ReferralRecord, 'status'> & { status: ReferralStatus };

export interface PartnerFacts {
  partnerId: string;
  name: string;
  sector: string;
  services: ReadonlyArray<{ serviceId: string; name: string; domain: string; capacity: number }>;
}

export interface GoalFacts {
  goalId: string;
  personId: string;
  assessmentId: string;
  domain: string;
  targetDate: string;
  recordedAt: string;
}

export interface ConsentFacts {
  consentEventId: string;
  personId: string;
  /** null while it has not ended */
  endedBy: 'consent_withdrawn' | 'personal_data_erased' | null;
}

const meta = (updatedAt: string, version?: number) => ({ ...(version !== undefined ? { versionId: String(version) } : {}), lastUpdated: updatedAt });

// ── Resources ────────────────────────────────────────────────────────────────
/** The pseudonymous Patient: an identifier, nothing else. */
export function patientResource(personId: string): Resource {
  return { resourceType: 'Patient', id: personId, identifier: [{ system: PERSON_IDENTIFIER_SYSTEM, value: personId }] };
}

/** A HealthcareService id within FHIR's 64 characters: `<partner>.<service>`, or a digest of it when longer. */
export function healthcareServiceId(partnerId: string, serviceId: string): string {
  const plain = `${partnerId}.${serviceId}`;
  return plain.length <= 64 ? plain : `hs-${createHash('sha256').update(plain).digest('hex').slice(0, 40)}`;
}

export function organizationResource(p: PartnerFacts): Resource {
  return {
    resourceType: 'Organization',
    id: p.partnerId,
    identifier: [{ system: PARTNER_IDENTIFIER_SYSTEM, value: p.partnerId }],
    active: true,
    type: [
      p.sector === 'public'
        ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'govt', display: 'Government' }], text: 'public service' }
        : { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'cg', display: 'Community Group' }], text: 'Third-Sector organisation' },
    ],
    name: p.name,
  };
}

export function healthcareServiceResource(p: PartnerFacts, s: PartnerFacts['services'][number]): Resource {
  return {
    resourceType: 'HealthcareService',
    id: healthcareServiceId(p.partnerId, s.serviceId),
    extension: [{ url: CAPACITY_EXTENSION_URL, valueUnsignedInt: s.capacity }],
    identifier: [{ system: SERVICE_IDENTIFIER_SYSTEM, value: `${p.partnerId}/${s.serviceId}` }],
    active: true,
    providedBy: { reference: `Organization/${p.partnerId}` },
    category: [{ coding: [coding(CODE_SYSTEMS.lifeDomain, s.domain)] }],
    name: s.name,
  };
}

/** Task.status ← referral status: the vocabulary of packages/events is already FHIR's. */
export function taskResource(t: TaskFacts): Resource {
  const output =
    t.status === 'completed' && t.outcome
      ? [{ type: { coding: [coding(CODE_SYSTEMS.taskOutput, 'outcome')] }, valueCodeableConcept: { coding: [coding(CODE_SYSTEMS.outcome, t.outcome)] } }]
      : undefined;
  return {
    resourceType: 'Task',
    id: t.referralId,
    meta: meta(t.updatedAt, t.version),
    identifier: [{ system: `${FHIR_CANONICAL_BASE}/sid/referral`, value: t.referralId }],
    basedOn: [{ reference: `ServiceRequest/${t.referralId}` }],
    status: t.status,
    ...(t.statusReason ? { statusReason: { coding: [coding(CODE_SYSTEMS.statusReason, t.statusReason)] } } : {}),
    ...(t.overdue && t.status === 'requested' ? { businessStatus: { text: 'overdue: no answer by the response deadline' } } : {}),
    ...(t.status === 'on-hold' ? { businessStatus: { text: t.placeAvailableAt ? 'waitlisted: a place of the service is free' : 'waitlisted: no free place' } } : {}),
    intent: 'order',
    priority: t.priority ?? 'routine',
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill', display: 'Fulfill the focal request' }] },
    focus: { reference: `ServiceRequest/${t.referralId}` },
    for: { reference: `Patient/${t.personId}` },
    ...(t.referredAt ? { authoredOn: t.referredAt } : {}),
    lastModified: t.updatedAt,
    owner: { reference: `Organization/${t.partnerId}` },
    // waitlisted: fulfilment is sought from the date the partner expects a place (the response deadline was met by the answer)
    ...(t.status === 'on-hold' && t.expectedDate
      ? { restriction: { period: { start: t.expectedDate } } }
      : t.respondBy
        ? { restriction: { period: { end: t.respondBy } } }
        : {}),
    ...(output ? { output } : {}),
  };
}

/** ServiceRequest.status from the referral's: open → active, answered no or withdrawn → revoked. */
const SERVICE_REQUEST_STATUS: Record<ReferralStatus, string> = {
  requested: 'active',
  'on-hold': 'on-hold',
  accepted: 'active',
  'in-progress': 'active',
  completed: 'completed',
  rejected: 'revoked',
  cancelled: 'revoked',
};

export function serviceRequestResource(t: TaskFacts, goalIds: readonly string[], serviceName?: string): Resource {
  const supportingInfo = [
    ...(t.consentEventId ? [{ reference: `Consent/${t.consentEventId}`, display: 'referral-sharing consent' }] : []),
    ...goalIds.map((g) => ({ reference: `Goal/${g}` })),
  ];
  return {
    resourceType: 'ServiceRequest',
    id: t.referralId,
    meta: meta(t.updatedAt, t.version),
    status: SERVICE_REQUEST_STATUS[t.status],
    intent: 'order',
    ...(t.domain ? { category: [{ coding: [coding(CODE_SYSTEMS.lifeDomain, t.domain)] }] } : {}),
    priority: t.priority ?? 'routine',
    code: { coding: [{ system: SERVICE_IDENTIFIER_SYSTEM, code: `${t.partnerId}/${t.serviceId}`, ...(serviceName ? { display: serviceName } : {}) }] },
    subject: { reference: `Patient/${t.personId}` },
    ...(t.referredAt ? { authoredOn: t.referredAt } : {}),
    performer: [{ reference: `HealthcareService/${healthcareServiceId(t.partnerId, t.serviceId)}` }, { reference: `Organization/${t.partnerId}` }],
    ...(supportingInfo.length ? { supportingInfo } : {}),
  };
}

/** The referral-sharing consent a referral was made under: active until withdrawn or the data erased. */
export function consentResource(c: ConsentFacts): Resource {
  return {
    resourceType: 'Consent',
    id: c.consentEventId,
    status: c.endedBy ? 'inactive' : 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${c.personId}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN', display: 'opt-in' }] },
    provision: {
      type: 'permit',
      action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'disclose', display: 'Disclose' }] }],
      purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PUBHLTH', display: 'public health' }],
    },
  };
}

export function goalResource(g: GoalFacts): Resource {
  return {
    resourceType: 'Goal',
    id: g.goalId,
    lifecycleStatus: 'active',
    category: [{ coding: [coding(CODE_SYSTEMS.lifeDomain, g.domain)] }],
    // the team's own words stay encrypted in the log: the Goal names its domain only
    description: { coding: [coding(CODE_SYSTEMS.lifeDomain, g.domain)], text: `goal in the ${label(g.domain)} domain` },
    subject: { reference: `Patient/${g.personId}` },
    target: [{ dueDate: g.targetDate }],
    statusDate: g.recordedAt.slice(0, 10),
    expressedBy: { display: 'multidisciplinary assessment team' },
  };
}

/** An OperationOutcome with one issue; `diagnostics` never echoes input. */
export function operationOutcome(severity: 'error' | 'fatal' | 'warning' | 'information', code: string, text: string, expression?: string[]): Resource {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, details: { text }, ...(expression?.length ? { expression } : {}) }],
  };
}

/** The referral events that change a Task, as a table for the README and CapabilityStatement. */
export const TASK_STATUS_TABLE = Object.entries(TASK_STATUS_AFTER).map(([event, status]) => ({ event, status }));
