import { CAPACITY_EXTENSION_URL, TASK_TOPIC_URL, type Resource } from './resources.js';

// The CapabilityStatement at /fhir/metadata: what the facade does, and only that.

const read = { code: 'read' };
const search = { code: 'search-type' };
const param = (name: string, type: string, documentation: string) => ({ name, type, documentation });

/** The facade's CapabilityStatement (R4), for a server reached at `baseUrl`. */
export function capabilityStatement(baseUrl: string): Resource {
  return {
    resourceType: 'CapabilityStatement',
    id: 'onestop',
    url: `${baseUrl}/metadata`,
    name: 'OneStopReferralFacade',
    title: 'OneStop referrals as FHIR R4 (SDOH Clinical Care referral management)',
    status: 'active',
    date: '2026-12-06',
    publisher: 'OneStop',
    description:
      'Referrals of a One Stop Shop to the partners of its network agreement: a Task per referral (SDOH Clinical Care referral management), its ServiceRequest, the referral-sharing Consent, the pseudonymous Patient (an identifier only), the partners (Organization) and their services (HealthcareService, capacity as an extension), and the goals of the assessment. Partners answer by changing their Tasks (PUT or JSON Patch) and are notified by rest-hook Subscriptions (R4 Subscriptions Backport, id-only).',
    kind: 'instance',
    implementation: { description: 'OneStop referral service, /fhir', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Every request needs a bearer token (OneStop roles); a partner sees and changes only its own Tasks. Errors are OperationOutcomes.',
        security: {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth', display: 'OAuth' }], text: 'Bearer JWT' }],
        },
        resource: [
          {
            type: 'Task',
            documentation:
              'One per referral. A partner moves its Task to accepted, rejected (statusReason required), on-hold (waitlisted: no free place; Task.restriction.period.start required, the date a place is expected), in-progress or completed (output of type outcome required); the transition table of the referral is enforced. A waitlisted Task holds no place; when a place of its service is freed and it is first in line, its businessStatus says so (and a Subscription notification follows). A re-referral of a declined referral is a new Task.',
            interaction: [read, search, { code: 'update' }, { code: 'patch' }],
            versioning: 'versioned',
            updateCreate: false,
            conditionalUpdate: false,
            searchInclude: ['Task:focus', 'Task:patient', 'Task:for', 'Task:owner'],
            searchParam: [
              param('owner', 'reference', 'the partner Organization (a partner may name only itself)'),
              param('status', 'token', 'Task.status, comma-separated for any of several'),
              param('patient', 'reference', 'the pseudonymous Patient'),
              param('_lastUpdated', 'date', 'gt, ge, lt, le or eq a date or instant; may be repeated'),
              param('_count', 'number', 'page size, 1 to 100 (default 20); further pages by the Bundle’s next link'),
            ],
          },
          { type: 'ServiceRequest', documentation: 'The referral itself (id = the Task’s).', interaction: [read] },
          { type: 'Patient', documentation: 'Pseudonymous: an identifier only, never a name, birth date or fiscal code.', interaction: [read] },
          { type: 'Consent', documentation: 'The referral-sharing consent a referral was made under.', interaction: [read] },
          { type: 'Goal', documentation: 'The goals of the completed assessment (domain and target date; the description stays encrypted).', interaction: [read, search], searchParam: [param('patient', 'reference', 'required')] },
          { type: 'Organization', documentation: 'The partners of the network agreement.', interaction: [read, search] },
          {
            type: 'HealthcareService',
            documentation: `A partner’s service; its places in the extension ${CAPACITY_EXTENSION_URL}.`,
            interaction: [read, search],
            searchParam: [param('organization', 'reference', 'the partner')],
          },
          {
            type: 'Subscription',
            documentation: `rest-hook, id-only notifications on the topic ${TASK_TOPIC_URL} (R4 Subscriptions Backport), filtered to the partner's own Tasks; heartbeats; at-least-once, each notification numbered.`,
            interaction: [read, search, { code: 'create' }, { code: 'delete' }],
            operation: [{ name: 'status', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status' }],
          },
          { type: 'CodeSystem', documentation: 'OneStop’s own vocabularies (domains, reasons, outcomes).', interaction: [read] },
          { type: 'StructureDefinition', documentation: 'The capacity extension’s definition.', interaction: [read] },
        ],
      },
    ],
  };
}
