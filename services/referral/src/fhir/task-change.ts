import { DeclineReason, IsoDate, Outcome, type ReferralStatus } from '@onestop/events';
import { CODE_SYSTEMS, codeSystemUrl, type Resource } from './resources.js';
import type { PartnerAnswer } from '../referrals.js';

// What a partner's new version of a Task asks for, as one of the answers the
// referral use case knows (the same as over HTTP and Kafka). Pure: it reads
// the Task as it is and the Task as the partner sends it, and either names the
// answer, says there is nothing to do, or refuses with a FhirRefusal. Whether
// the answer may be given now (the transition table, who the partner is,
// places) is the referral decider's call, not this file's.

/** FHIR R4 Task.status codes (http://hl7.org/fhir/task-status). */
export const FHIR_TASK_STATUSES = [
  'draft',
  'requested',
  'received',
  'accepted',
  'rejected',
  'ready',
  'cancelled',
  'in-progress',
  'on-hold',
  'failed',
  'completed',
  'entered-in-error',
] as const;

/** A refusal of a FHIR request, with the HTTP status and the OperationOutcome issue code. */
export class FhirRefusal extends Error {
  constructor(
    readonly status: number,
    readonly issueCode: string,
    message: string,
    readonly expression?: string[],
  ) {
    super(message);
  }
}

const invalid = (message: string, expression?: string) => new FhirRefusal(400, 'invalid', message, expression ? [expression] : undefined);
const rule = (message: string, expression?: string) => new FhirRefusal(422, 'business-rule', message, expression ? [expression] : undefined);

/** The elements of a Task that OneStop owns and a partner may not change. */
const FIXED = ['intent', 'focus', 'for', 'owner', 'basedOn', 'code'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The one code of `system` in a CodeableConcept, if any. */
function codeOf(concept: unknown, system: string): string | undefined {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return undefined;
  const c = concept.coding.find((x): x is { code: string } => isObject(x) && x.system === system && typeof x.code === 'string');
  return c?.code;
}

/**
 * The answer a partner's PUT (or patched Task) asks for; null when it changes
 * nothing OneStop records (the same status, one a partner does not set). Throws FhirRefusal for what no
 * answer can mean.
 */
export function answerOf(current: Resource, next: unknown, id: string): PartnerAnswer | null {
  if (!isObject(next)) throw invalid('the body must be a FHIR resource (a JSON object)');
  if (next.resourceType !== 'Task') throw invalid('the resource must be a Task', 'resourceType');
  if (next.id !== id) throw invalid('the Task’s id must be the id of the URL', 'Task.id');
  if (typeof next.status !== 'string' || !(FHIR_TASK_STATUSES as readonly string[]).includes(next.status)) {
    throw invalid(`Task.status must be one of ${FHIR_TASK_STATUSES.join(', ')}`, 'Task.status');
  }
  for (const element of FIXED) {
    if (!same(next[element], current[element])) throw rule(`Task.${element} is set by OneStop and cannot be changed`, `Task.${element}`);
  }
  const status = next.status as (typeof FHIR_TASK_STATUSES)[number];
  // the same status a partner sets is its answer again: the decider tells a plain repeat
  // (nothing recorded, 200) from one with another outcome or reason (409 done_otherwise)
  if (status === current.status && !(PARTNER_SETTABLE as readonly string[]).includes(status)) return null;
  switch (status) {
    case 'accepted': {
      const start = isObject(next.executionPeriod) ? next.executionPeriod.start : undefined;
      if (start !== undefined && (typeof start !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(start))) throw invalid('Task.executionPeriod.start must be a date', 'Task.executionPeriod.start');
      return { action: 'accept', ...(typeof start === 'string' ? { expectedStart: start.slice(0, 10) } : {}) };
    }
    case 'rejected': {
      const reason = codeOf(next.statusReason, codeSystemUrl(CODE_SYSTEMS.statusReason));
      const parsed = DeclineReason.safeParse(reason);
      if (!parsed.success) {
        throw rule(`a rejection needs Task.statusReason with a code of ${codeSystemUrl(CODE_SYSTEMS.statusReason)}: ${DeclineReason.options.join(', ')}`, 'Task.statusReason');
      }
      const text = isObject(next.statusReason) ? next.statusReason.text : undefined;
      if (text !== undefined && (typeof text !== 'string' || text.trim().length === 0 || text.length > 500)) {
        throw invalid('Task.statusReason.text must be 1 to 500 characters', 'Task.statusReason.text');
      }
      return { action: 'decline', reason: parsed.data, ...(typeof text === 'string' ? { note: text.trim() } : {}) };
    }
    case 'in-progress':
      return { action: 'start' };
    case 'completed': {
      const outputs = Array.isArray(next.output) ? next.output : [];
      const outcomes = outputs
        .filter((o) => isObject(o) && codeOf(o.type, codeSystemUrl(CODE_SYSTEMS.taskOutput)) === 'outcome')
        .map((o) => codeOf((o as Record<string, unknown>).valueCodeableConcept, codeSystemUrl(CODE_SYSTEMS.outcome)));
      const parsed = Outcome.safeParse(outcomes.length === 1 ? outcomes[0] : undefined);
      if (!parsed.success) {
        throw rule(`completing needs one Task.output of type outcome with a code of ${codeSystemUrl(CODE_SYSTEMS.outcome)}: ${Outcome.options.join(', ')}`, 'Task.output');
      }
      return { action: 'complete', outcome: parsed.data };
    }
    case 'on-hold': {
      // waitlisted: the date a place is expected is when fulfilment is sought from (Task.restriction.period.start)
      const period = isObject(next.restriction) && isObject(next.restriction.period) ? next.restriction.period : undefined;
      const start = period?.start;
      if (start === undefined) {
        throw rule('putting a Task on hold (waitlisted) needs Task.restriction.period.start: the date a place is expected', 'Task.restriction.period.start');
      }
      // a date, or a dateTime whose date part is kept
      const expectedDate = typeof start === 'string' ? IsoDate.safeParse(start.slice(0, 10)) : undefined;
      if (!expectedDate?.success || !/^\d{4}-\d{2}-\d{2}(T|$)/.test(start as string)) throw invalid('Task.restriction.period.start must be a date', 'Task.restriction.period.start');
      return { action: 'waitlist', expectedDate: expectedDate.data };
    }
    case 'cancelled':
      throw new FhirRefusal(403, 'forbidden', 'only the referring team cancels a referral', ['Task.status']);
    default:
      throw rule(`a partner may set Task.status to ${PARTNER_SETTABLE.join(', ')}, not ${status}`, 'Task.status');
  }
}

/** The statuses a partner may move a Task to, for the CapabilityStatement and docs. */
export const PARTNER_SETTABLE: readonly ReferralStatus[] = ['on-hold', 'accepted', 'rejected', 'in-progress', 'completed'];
