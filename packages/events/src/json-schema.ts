import { z } from 'zod';
import { catalogV1, EVENT_TYPES } from './catalog.js';
import { EnvelopeSchema } from './envelope.js';
import { partnerReferralsTopic, partnerResponsesTopic, topicForCategory } from './topics.js';

/** JSON Schema documents (draft 2020-12) for the envelope and every event payload, by file name. */
export function exportJsonSchemas(): Record<string, unknown> {
  const files: Record<string, unknown> = {
    'envelope.schema.json': {
      $id: 'https://onestop.example/schemas/envelope.schema.json',
      ...z.toJSONSchema(EnvelopeSchema, { io: 'input', unrepresentable: 'any' }),
    },
  };
  for (const type of EVENT_TYPES) {
    const { version, schema } = catalogV1[type];
    const name = `${type}.v${version}.schema.json`;
    files[name] = {
      $id: `https://onestop.example/schemas/${name}`,
      title: type,
      'x-schemaVersion': version,
      ...z.toJSONSchema(schema, { io: 'input' }),
    };
  }
  return files;
}

/** An AsyncAPI 3.0 document describing the internal topics and their messages. */
export function exportAsyncApi(): unknown {
  const messages: Record<string, unknown> = {};
  const channels: Record<string, { address: string; messages: Record<string, unknown> }> = {};
  for (const type of EVENT_TYPES) {
    const { version, stream } = catalogV1[type];
    messages[type] = {
      name: type,
      contentType: 'application/json',
      headers: { $ref: `#/components/schemas/CloudEventsHeaders` },
      payload: { $ref: `./${type}.v${version}.schema.json` },
    };
    const address = topicForCategory(stream);
    // reservation streams stay in the store: their events are in no channel
    if (!address) continue;
    channels[address] ??= { address, messages: {} };
    channels[address].messages[type] = { $ref: `#/components/messages/${type}` };
  }
  channels['partnerReferrals'] = {
    address: partnerReferralsTopic('{partnerId}'),
    messages: { PartnerReferral: { $ref: '#/components/messages/PartnerReferral' } },
  };
  channels['partnerResponses'] = {
    address: partnerResponsesTopic('{partnerId}'),
    messages: { PartnerResponse: { $ref: '#/components/messages/PartnerResponse' } },
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'OneStop events',
      version: '1.0.0',
      description:
        'Internal domain events and partner topics (DESIGN §5). No plain personal data. Partners that speak HL7 FHIR get the same referrals as FHIR R4 Tasks at /fhir, with rest-hook Subscriptions; the README’s FHIR section maps these events to Task states.',
      // relative to this file in the repository (packages/events/schemas/asyncapi.json)
      externalDocs: { description: 'README, section FHIR: OneStop events → FHIR Task states', url: '../../../README.md#fhir' },
    },
    channels,
    components: {
      messages: {
        ...messages,
        PartnerReferral: { name: 'PartnerReferral', contentType: 'application/json' },
        PartnerResponse: { name: 'PartnerResponse', contentType: 'application/json' },
      },
      schemas: {
        CloudEventsHeaders: {
          type: 'object',
          properties: Object.fromEntries(
            ['ce_id', 'ce_type', 'ce_source', 'ce_specversion', 'ce_subject', 'ce_time'].map((h) => [
              h,
              { type: 'string' },
            ]),
          ),
        },
      },
    },
  };
}
