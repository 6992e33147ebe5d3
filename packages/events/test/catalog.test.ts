import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  EVENT_TYPES,
  topicForStream,
  EventCatalog,
  canonicalJson,
  exportAsyncApi,
  exportJsonSchemas,
  parseEvent,
} from '../src/index.js';
import { envelopeOf, examples } from './examples.js';

describe('catalog v1', () => {
  it('covers every event of DESIGN §4, the read audit and the reservations of DESIGN §9', () => {
    expect([...EVENT_TYPES].sort()).toEqual(
      [
        'PersonRegistered', 'ConsentGiven', 'ConsentWithdrawn', 'ContactDetailsUpdated', 'PersonalDataErased',
        'AssessmentStarted', 'DomainEvaluated', 'AssessmentCompleted', 'AssessmentCancelled',
        'PartnerRegistered', 'PartnerJoinedAgreement', 'PartnerLeftAgreement', 'ServiceCapacityChanged',
        'ReferredToPartner', 'ReferralAccepted', 'ReferralDeclined', 'ServiceStarted', 'ServiceCompleted',
        'ReferralCancelled', 'ReferralOverdue', 'CaseHistoryRead',
        'FiscalCodeReserved', 'FiscalCodeReleased', 'CaseAssessmentOpened', 'CaseAssessmentClosed',
        'CaseReferralOpened', 'CaseReferralClosed', 'PlaceTaken', 'PlaceReleased',
        'SubscriptionRequested', 'SubscriptionActivated', 'SubscriptionErrored', 'SubscriptionEnded',
        'TokenRevoked', 'SubjectTokensRevoked',
        'CaseOpened', 'CaseManagerAssigned', 'CaseTransferred', 'CaseClosed', 'CaseReopened',
        'PlanAgreed', 'PlanRevised', 'GoalProgressRecorded',
        'MeetingScheduled', 'MeetingRescheduled', 'MeetingHeld', 'MeetingMissed', 'CaseNoteWritten',
        'ClockPolicyPublished', 'DeadlineApproaching', 'DeadlineMissed', 'DeadlineMet',
        // waitlist and re-referral (issue 14, part 6)
        'ReferralWaitlisted', 'ReferralPlaceAvailable', 'ReferralReplaced', 'WaitlistJoined', 'WaitlistLeft', 'PlaceOffered',
        // documents (issue 14, part 5)
        'DocumentAdded',
      ].sort(),
    );
  });

  it.each(EVENT_TYPES)('parses a valid %s', (type) => {
    const r = parseEvent(envelopeOf(type));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.event.type).toBe(type);
      expect(r.event.data).toEqual(examples[type]);
    }
  });
});

describe('reservation streams', () => {
  it('stay in the store: no topic carries them', () => {
    for (const stream of ['revocation-tokens', 'fiscalcode-ab12', 'case-00000000-0000-4000-8000-000000000001', 'places-consorzio-coeso.casa']) {
      expect(topicForStream(stream)).toBeUndefined();
    }
    expect(topicForStream('referral-00000000-0000-4000-8000-000000000003')).toBe('onestop.referral.v1');
  });
});

describe('taking-charge streams', () => {
  it('go to the casework topic, keyed by the person', () => {
    for (const category of ['care', 'plan', 'meetings', 'casenotes']) {
      expect(topicForStream(`${category}-00000000-0000-4000-8000-000000000001`)).toBe('onestop.casework.v1');
    }
  });
  it("the deadline watcher's findings too; the clock policies stay in the store", () => {
    expect(topicForStream('deadlines-00000000-0000-4000-8000-000000000001')).toBe('onestop.casework.v1');
    expect(topicForStream('clockpolicy-adi')).toBeUndefined();
  });
});

describe('parseEvent errors', () => {
  it('names every invalid field of the envelope and the payload at once', () => {
    const raw = {
      ...envelopeOf('PersonRegistered', {
        ...examples.PersonRegistered,
        personId: 'not-a-uuid',
        birthYear: 1800,
        pii: { ...examples.PersonRegistered.pii, alg: 'ROT13' },
      }),
      id: 'x',
      time: 'yesterday',
    };
    const r = parseEvent(raw);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.error.issues.map((i) => i.path).sort();
    expect(paths).toEqual(['data.birthYear', 'data.personId', 'data.pii.alg', 'id', 'time']);
    expect(r.error.code).toBe('validation_failed');
  });

  it('refuses an unknown type and a future schema version', () => {
    const unknown = parseEvent({ ...envelopeOf('ConsentGiven'), type: 'PersonTeleported' });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.issues[0]).toMatchObject({ path: 'type' });
    const future = parseEvent({ ...envelopeOf('ConsentGiven'), schemaVersion: 9 });
    expect(future.ok).toBe(false);
    if (!future.ok) expect(future.error.issues[0]).toMatchObject({ path: 'schemaVersion' });
  });

  it('refuses things that are not objects', () => {
    for (const raw of [null, 42, 'event', [], undefined]) {
      const r = parseEvent(raw);
      expect(r.ok).toBe(false);
    }
  });
});

describe('upcasters', () => {
  // v1 had a single `fullName`; v2 splits it. Stored v1 events are lifted on read.
  const catalog = new EventCatalog({
    Greeted: {
      version: 2,
      stream: 'test',
      schema: z.object({ givenName: z.string(), familyName: z.string() }),
    },
  }).registerUpcaster('Greeted', 1, (d) => {
    const [givenName = '', ...rest] = String((d as { fullName: string }).fullName).split(' ');
    return { givenName, familyName: rest.join(' ') };
  });

  const stored = (schemaVersion: number, data: unknown) => ({
    ...envelopeOf('ConsentGiven'),
    type: 'Greeted',
    schemaVersion,
    data,
  });

  it('lifts a v1 payload to v2 before validating', () => {
    const r = catalog.parse(stored(1, { fullName: 'Anna Maria Rossi' }));
    expect(r).toMatchObject({ ok: true, event: { schemaVersion: 2, data: { givenName: 'Anna', familyName: 'Maria Rossi' } } });
  });

  it('takes a v2 payload as it is', () => {
    const r = catalog.parse(stored(2, { givenName: 'Anna', familyName: 'Rossi' }));
    expect(r).toMatchObject({ ok: true, event: { data: { givenName: 'Anna', familyName: 'Rossi' } } });
  });

  it('reports a missing upcaster step', () => {
    const bare = new EventCatalog({ Greeted: { version: 2, stream: 'test', schema: z.object({}) } });
    const r = bare.parse(stored(1, {}));
    expect(r.ok).toBe(false);
  });
});

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":"é","z":1}]},"b":1}',
    );
  });
  it('refuses values JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
  });
});

describe('exported schemas', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');

  it('the committed JSON Schema and AsyncAPI files match the zod catalog (run `npm run -w @onestop/events generate` when this fails)', () => {
    const expected = { ...exportJsonSchemas(), 'asyncapi.json': exportAsyncApi() };
    const committed = readdirSync(dir).sort();
    expect(committed).toEqual(Object.keys(expected).sort());
    for (const [name, doc] of Object.entries(expected)) {
      expect(JSON.parse(readFileSync(join(dir, name), 'utf8')), name).toEqual(JSON.parse(JSON.stringify(doc)));
    }
  });
});
