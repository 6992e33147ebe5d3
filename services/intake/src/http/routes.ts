import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ConsentScope,
  ForbiddenError,
  IsoDate,
  LegalBasis,
  Name,
  NotFoundError,
  RuleViolation,
  Slug,
  Uuid,
  ValidationError,
} from '@onestop/events';
import {
  blindIndex,
  eventContextOf,
  handleCommand,
  loadAggregate,
  newId,
  principalOf,
  recordCaseHistoryRead,
  transact,
  type ServiceContext,
} from '@onestop/kit';
import { receiptFor } from '@onestop/eventstore';
import { fiscalCodeDecider, fiscalCodeStream } from '../domain/fiscal-code-reservation.js';
import { decodeOmocode, validateFiscalCode } from '../domain/fiscal-code.js';
import { DUPLICATE_REASONS, rankDuplicates, type DuplicateHit } from '../domain/likely-duplicates.js';
import { personDecider, personStream, PersonDataErased, type PersonCommand, type PersonState } from '../domain/person.js';
import { ContactDetails, PersonalData } from '../domain/personal-data.js';
import type { PartnerReferrals } from '../partner-referrals.js';
import type { PersonIndex } from '../person-index.js';
import { queryTerms } from '../domain/person-search.js';
import { currentPersonalData, eventsOfPerson, SubjectAccessExport, subjectAccessExport } from '../subject-access.js';

const SOURCE = '/onestop/intake';
const PersonParams = z.object({ personId: Uuid });
const Consent = z.object({ active: z.boolean(), eventId: z.string().nullable() });
const PersonView = z.object({
  personId: z.string(),
  status: z.enum(['registered', 'erased']),
  accessPoint: z.string(),
  municipality: z.string(),
  birthYear: z.number(),
  registeredAt: z.string(),
  personalData: PersonalData.nullable().describe('null once the personal data has been erased'),
  consents: z.object({ assessment: Consent, referral_sharing: Consent }),
});
const Registered = z.object({
  personId: z.string(),
  position: z.number().describe('global position of PersonRegistered: pass it as `after` to the reads of other services to see this person'),
  likelyDuplicates: z.array(z.string()).describe('people with the same normalised names and birth date (reported, not refused)'),
});
const Recorded = z.object({ personId: z.string(), recorded: z.boolean(), revision: z.number(), position: z.number().optional() });
const ContactDisclosure = z.object({
  personId: z.string(),
  givenName: z.string(),
  familyName: z.string(),
  phone: z.string().optional(),
  email: z.string().optional(),
  address: z.string().optional(),
  referralId: z.string().describe('the open referral of the calling partner that this disclosure serves'),
  consentEventId: z.string().describe('the ConsentGiven (referral_sharing) event that allows it'),
  disclosureId: z.string().describe('the CaseHistoryRead event that records this disclosure'),
});

/** The most people one search shows: beyond that the operator narrows it, rather than browsing everyone's identity. */
export const SEARCH_LIMIT = 20;
const SearchBody = z
  .object({
    fiscalCode: z.string().trim().min(16).max(32).optional(),
    familyName: z.string().trim().min(1).max(100).optional().describe('words that begin the words of the surname'),
    givenName: z.string().trim().min(1).max(100).optional().describe('words that begin the words of the given name'),
    birthDate: IsoDate.optional(),
  })
  .strict()
  .refine((b) => (b.fiscalCode !== undefined) !== (b.familyName !== undefined || b.givenName !== undefined || b.birthDate !== undefined), {
    message: 'either a fiscal code alone, or a name and/or a birth date',
  })
  .meta({ examples: [{ familyName: 'ross', givenName: 'mariag', birthDate: '1985-12-10' }] });
const PersonMatch = z.object({
  personId: z.string(),
  givenName: z.string(),
  familyName: z.string(),
  birthDate: z.string(),
  accessPoint: z.string(),
  municipality: z.string(),
  registeredAt: z.string(),
});
const SearchResult = z.object({
  persons: z.array(PersonMatch).describe('newest registration first'),
  more: z.boolean().describe('more people match than are shown: narrow the search'),
});

/** The most likely duplicates one answer lists: the strongest ones; each opened is a recorded read. */
export const DUPLICATES_LIMIT = 10;
// the draft as typed, and only what duplicates are found by: contact details stay in the form
const DraftRegistration = PersonalData.pick({ givenName: true, familyName: true, birthDate: true })
  .partial()
  .extend({ fiscalCode: z.string().trim().min(16).max(32).optional() })
  .strict()
  .refine((b) => b.fiscalCode !== undefined || (b.birthDate !== undefined && (b.givenName !== undefined || b.familyName !== undefined)), {
    message: 'a fiscal code, or a birth date with a given or family name',
  })
  .meta({ examples: [{ givenName: 'Mariagrazia', familyName: 'Rossellini', birthDate: '1985-12-10', fiscalCode: 'RSSMGR85T50G713B' }] });
const LikelyDuplicate = z.object({
  personId: z.string(),
  reasons: z
    .array(z.enum(DUPLICATE_REASONS))
    .describe(
      'strongest first: `fiscal_code` (the same code: a registration would be refused), `name_and_birth_date` (same normalised names, either order, ' +
        'and birth date), `name_and_close_birth_date` (same names, a birth date one typing slip away, day and month swapped, or 1 January of the ' +
        'same year), `family_name_and_birth_date` and `given_name_and_birth_date` (same birth date, and the words of that name begin the same)',
    ),
  accessPoint: z.string().describe('where the person was registered'),
  registeredOn: z.string().describe('the day of the registration, YYYY-MM-DD'),
});
const LikelyDuplicates = z.object({
  matches: z.array(LikelyDuplicate).describe('strongest reason first; no name, birth date or fiscal code: open one with `GET /persons/{personId}` (a recorded read)'),
  more: z.boolean().describe('more people match than are listed'),
});

export const intakeRoutes = (index: PersonIndex, referrals: PartnerReferrals): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const { store, keyring, clock } = ctx;
    const fiscalDigest = (code: string) => blindIndex(ctx.indexKey, decodeOmocode(code));
    /** the registered person a fiscal code belongs to, from its reservation stream (the store, not a view) */
    const holderOf = async (digest: string): Promise<string | undefined> => {
      const { state } = await loadAggregate(store, fiscalCodeStream(digest), fiscalCodeDecider);
      if (!state.holder) return undefined;
      const holder = await loadAggregate(store, personStream(state.holder), personDecider);
      return holder.state.status === 'registered' ? state.holder : undefined;
    };

    /** What a search shows of the people it found, each decrypted from its own events and recorded as a read. */
    const shown = async (personIds: readonly string[], req: Parameters<typeof eventContextOf>[0]): Promise<Array<z.infer<typeof PersonMatch>>> => {
      const persons: Array<z.infer<typeof PersonMatch>> = [];
      for (const personId of personIds) {
        const { events, state } = await loadAggregate(store, personStream(personId), personDecider);
        const reg = events[0];
        // the index may lag an erasure by a moment: the person's own stream has the last word
        const pd = state.status === 'registered' ? await currentPersonalData(keyring, events) : null;
        if (!pd || reg?.type !== 'PersonRegistered') continue;
        // no record, no answer: every person shown is a recorded read
        await recordCaseHistoryRead(store, { personId, purpose: 'search', readBy: principalOf(req).sub }, eventContextOf(req, SOURCE, clock.now()));
        const { givenName, familyName, birthDate } = pd;
        persons.push({ personId, givenName, familyName, birthDate, accessPoint: reg.data.accessPoint, municipality: reg.data.municipality, registeredAt: reg.time });
      }
      return persons;
    };

    const run = (personId: string, command: PersonCommand, req: Parameters<typeof eventContextOf>[0], newStream = false) =>
      handleCommand(store, personStream(personId), personDecider, command, {
        partitionKey: personId,
        ctx: eventContextOf(req, SOURCE, clock.now()),
        newStream,
      });
    const recorded = (personId: string, res: { events: unknown[]; revision: number; globalPositions: number[] }) => ({
      personId,
      recorded: res.events.length > 0,
      revision: res.revision,
      ...(res.globalPositions.length ? { position: res.globalPositions.at(-1)! } : {}),
    });

    r.post(
      '/persons',
      {
        config: { roles: ['operator', 'admin'], idempotent: true },
        schema: {
          tags: ['persons'],
          summary: 'Register a person once, at an access point',
          body: PersonalData.extend({
            accessPoint: Slug,
            municipality: Name,
            fiscalCodeOverride: z
              .object({ reason: z.enum(['name_changed', 'transliteration', 'assigned_by_agency', 'other']) })
              .strict()
              .optional()
              .describe("a real exception to the fiscal code's name or place checks (a changed surname, a transliteration, a code the Agenzia delle Entrate assigned); recorded in PersonRegistered"),
          }).strict()
            .meta({
              examples: [
                {
                  givenName: 'Mariagrazia',
                  familyName: 'Rossellini',
                  birthDate: '1985-12-10',
                  fiscalCode: 'RSSMGR85T50G713B',
                  phone: '+39 0573 918273',
                  email: 'mariagrazia.rossellini@example.org',
                  address: 'Via dei Vetturini 27, Pistoia',
                  accessPoint: 'pistoia-centro',
                  municipality: 'Pistoia',
                },
              ],
            }),
          response: { 201: Registered },
        },
      },
      async (req, reply) => {
        const { accessPoint, municipality, fiscalCodeOverride, ...personal } = req.body;
        const personId = newId();
        const actor = principalOf(req);
        const fc = personal.fiscalCode !== undefined ? validateFiscalCode(personal.fiscalCode) : undefined;
        const pii = { ...personal, ...(fc?.ok ? { fiscalCode: fc.code } : {}) };
        const digest = fc?.ok ? fiscalDigest(fc.code) : undefined;
        await keyring.createKey(personId);
        const encrypted = await keyring.encrypt(personId, pii);
        // the person and the fiscal code's reservation in one atomic append: the reservation
        // stream's revision refuses the second of two simultaneous registrations
        const now = clock.now();
        const { appended } = await transact(store, eventContextOf(req, SOURCE, now), async (uow) => {
          const person = await uow.load(personStream(personId), personDecider, { partitionKey: personId, newStream: true });
          person.decide({
            type: 'RegisterPerson',
            personId,
            accessPoint,
            municipality,
            registeredBy: actor.sub,
            birthDate: personal.birthDate,
            givenName: personal.givenName,
            familyName: personal.familyName,
            today: now.toISOString().slice(0, 10),
            ...(fiscalCodeOverride ? { fiscalCodeOverride } : {}),
            ...(personal.fiscalCode !== undefined ? { fiscalCode: personal.fiscalCode } : {}),
            pii: encrypted,
          });
          if (!digest) return;
          const reservation = await uow.load(fiscalCodeStream(digest), fiscalCodeDecider, { partitionKey: personId });
          const holder = reservation.state.holder;
          const holderErased = holder !== null && holder !== personId && (await loadAggregate(store, personStream(holder), personDecider)).state.status === 'erased';
          reservation.decide({ type: 'ReserveFiscalCode', personId, holderErased });
        });
        const position = appended.find((a) => a.streamId === personStream(personId))!.globalPositions[0]!;
        // reported, never refused: the index is a view of earlier registrations
        const likelyDuplicates = await index.likelyDuplicates(personId, index.digestOf(personal));
        return reply.code(201).header('location', `/persons/${personId}`).send({ personId, position, likelyDuplicates });
      },
    );

    r.get(
      '/persons/:personId',
      {
        config: { roles: ['operator', 'team', 'admin'] },
        schema: { tags: ['persons'], summary: 'A person, with decrypted personal data', params: PersonParams, response: { 200: PersonView } },
      },
      async (req) => {
        const { personId } = req.params;
        const { events, state } = await loadAggregate(store, personStream(personId), personDecider);
        if (state.status === 'unknown') throw new NotFoundError('person', personId);
        const reg = events[0]!;
        if (reg.type !== 'PersonRegistered') throw new NotFoundError('person', personId);
        const personalData = state.status === 'registered' ? await currentPersonalData(keyring, events) : null;
        // no record, no answer: decrypted identity is shown only once its read is in the person's audit stream
        if (personalData) await recordCaseHistoryRead(store, { personId, purpose: 'case_view', readBy: principalOf(req).sub }, eventContextOf(req, SOURCE, clock.now()));
        return {
          personId,
          status: state.status,
          accessPoint: reg.data.accessPoint,
          municipality: reg.data.municipality,
          birthYear: reg.data.birthYear,
          registeredAt: reg.time,
          personalData,
          consents: state.consents,
        };
      },
    );

    // What is searched for travels in the body, never in the URL: a URL ends up
    // in proxy and access logs, browser histories and Referer headers, out of
    // reach of erasure. (The former `GET /persons?fiscalCode=` is gone.)
    r.post(
      '/persons/search',
      {
        config: { roles: ['operator', 'admin'] },
        schema: {
          tags: ['persons'],
          summary: 'Find people by fiscal code, or by name prefixes and/or birth date (blind indexes)',
          description:
            'Either `fiscalCode` alone (an exact match, any spelling of the code), or any of `familyName`, `givenName` and `birthDate`: ' +
            'every word given must begin a word of that name (case and accents do not matter) and the birth date must be equal. ' +
            `At most ${SEARCH_LIMIT} people, newest registration first; \`more\` says there are others (narrow the search). ` +
            'The index holds only keyed digests, never a name; each person shown is decrypted from its own events and the read is recorded ' +
            '(`CaseHistoryRead`, purpose `search`). The search by name is served from a view fed by the event bus: a registration is found within milliseconds of it.',
          body: SearchBody,
          response: { 200: SearchResult },
        },
      },
      async (req) => {
        const { fiscalCode, ...byName } = req.body;
        let found: string[];
        if (fiscalCode !== undefined) {
          const fc = validateFiscalCode(fiscalCode);
          if (!fc.ok) throw new ValidationError('invalid body', [{ path: 'body.fiscalCode', message: 'not a valid fiscal code' }]);
          const holder = await holderOf(fiscalDigest(fc.code));
          found = holder ? [holder] : [];
        } else {
          const terms = queryTerms(byName);
          if (terms.length === 0) throw new ValidationError('invalid body', [{ path: 'body', message: 'a name with letters a–z or a birth date to search by' }]);
          found = await index.find(index.digests(terms), SEARCH_LIMIT + 1);
        }
        return { persons: await shown(found.slice(0, SEARCH_LIMIT), req), more: found.length > SEARCH_LIMIT };
      },
    );

    // Beside the registration form, as the operator types. Names the people and
    // why, never who they are: nothing is decrypted, so nothing is a read to
    // record. The operator opens one on purpose, with GET /persons/{personId},
    // which records it (purpose `case_view`).
    r.post(
      '/persons/likely-duplicates',
      {
        config: { roles: ['operator'] },
        schema: {
          tags: ['persons'],
          summary: 'Likely duplicates of a registration being typed, over the whole register (ids and reasons, no personal data)',
          description:
            'The draft travels in the body, never in the URL: `fiscalCode`, or `birthDate` with `givenName` and/or `familyName`. ' +
            'The fiscal code is looked up in its reservation stream (any omocodia spelling); names and birth dates in the blind indexes, ' +
            'which hold only keyed digests (views fed by the event bus: a registration is found within milliseconds of it). ' +
            `At most ${DUPLICATES_LIMIT} people, with the reasons they were found for, where and when they were registered; ` +
            'no name, birth date or fiscal code, so nothing is decrypted and no read is recorded. Names alone, without a birth date, find nothing: ' +
            'across a whole register they find namesakes. For the operator at the access point only (the registration desk); ' +
            'the per-token rate limit of every route applies (the console asks at most once per pause in typing).',
          body: DraftRegistration,
          response: { 200: LikelyDuplicates },
        },
      },
      async (req) => {
        const { fiscalCode, birthDate, givenName, familyName } = req.body;
        const hits: DuplicateHit[] = [];
        if (fiscalCode !== undefined) {
          const fc = validateFiscalCode(fiscalCode);
          if (!fc.ok) throw new ValidationError('invalid body', [{ path: 'body.fiscalCode', message: 'not a valid fiscal code' }]);
          const holder = await holderOf(fiscalDigest(fc.code));
          if (holder) hits.push({ personId: holder, reason: 'fiscal_code' });
        }
        if (birthDate !== undefined) hits.push(...(await index.likelyDuplicatesOf({ givenName, familyName, birthDate }, DUPLICATES_LIMIT + 1)));
        const ranked = rankDuplicates(hits, DUPLICATES_LIMIT);
        const matches: Array<z.infer<typeof LikelyDuplicate>> = [];
        for (const m of ranked.matches) {
          // the person's own stream has the last word (an index may lag an erasure); read, not decrypted
          const { events, state } = await loadAggregate(store, personStream(m.personId), personDecider);
          const reg = events[0];
          if (state.status !== 'registered' || reg?.type !== 'PersonRegistered') continue;
          matches.push({ ...m, accessPoint: reg.data.accessPoint, registeredOn: reg.time.slice(0, 10) });
        }
        return { matches, more: ranked.more };
      },
    );

    r.post(
      '/persons/:personId/consents',
      {
        config: { roles: ['operator', 'team', 'admin'], idempotent: true },
        schema: {
          tags: ['consents'],
          summary: 'Record a consent (giving one that is active changes nothing)',
          params: PersonParams,
          body: z.object({ scope: ConsentScope, legalBasis: LegalBasis }).strict(),
          response: { 200: Recorded, 201: Recorded },
        },
      },
      async (req, reply) => {
        const { personId } = req.params;
        const res = await run(personId, { type: 'GiveConsent', ...req.body, recordedBy: principalOf(req).sub }, req);
        return reply.code(res.events.length ? 201 : 200).send(recorded(personId, res));
      },
    );

    r.post(
      '/persons/:personId/consents/:scope/withdrawal',
      {
        config: { roles: ['operator', 'team', 'admin'], idempotent: true },
        schema: {
          tags: ['consents'],
          summary: 'Withdraw a consent; withdrawing referral_sharing cancels open referrals',
          params: PersonParams.extend({ scope: ConsentScope }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId, scope } = req.params;
        return recorded(personId, await run(personId, { type: 'WithdrawConsent', scope, recordedBy: principalOf(req).sub }, req));
      },
    );

    r.put(
      '/persons/:personId/contact-details',
      {
        config: { roles: ['operator', 'admin'], idempotent: true },
        schema: {
          tags: ['persons'],
          summary: 'Update phone, e-mail or address',
          params: PersonParams,
          body: ContactDetails.strict()
            .refine((c) => Object.values(c).some((v) => v !== undefined), 'at least one contact detail')
            .meta({ examples: [{ phone: '+39 333 1234567', address: 'Via Cavour 12, Pistoia' }] }),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const { state } = await loadAggregate(store, personStream(personId), personDecider);
        assertWritable(state, personId);
        const pii = await keyring.encrypt(personId, req.body);
        return recorded(personId, await run(personId, { type: 'UpdateContactDetails', pii, updatedBy: principalOf(req).sub }, req));
      },
    );

    r.get(
      '/persons/:personId/contact-details',
      {
        config: { roles: ['partner'] },
        // a HEAD would record a disclosure that sends nothing
        exposeHeadRoute: false,
        schema: {
          tags: ['persons'],
          summary: 'Contact details, for the partner of an open referral (an audited disclosure)',
          description:
            'Only for a partner with an open referral (requested, accepted, in-progress) of the person, while the ' +
            '`referral_sharing` consent the referral was shared under is still in force. Every disclosure is recorded as `CaseHistoryRead` (purpose ' +
            '`contact_details`, with the consent and the referral that allow it) before the answer is sent.',
          params: PersonParams,
          response: { 200: ContactDisclosure },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const partner = principalOf(req);
        // first the relation: a partner without one learns nothing, not even whether the person exists
        const open = await referrals.openReferrals(personId, partner.partnerId!);
        if (open.length === 0) throw new ForbiddenError('a partner reads contact details only of people it has an open referral for', 'no_open_referral');
        // then intake's own aggregate, not a view: a withdrawal or an erasure blocks the very next read
        const { events, state } = await loadAggregate(store, personStream(personId), personDecider);
        if (state.status === 'unknown') throw new NotFoundError('person', personId);
        if (state.status === 'erased') throw new PersonDataErased();
        const consent = state.consents.referral_sharing;
        // purpose binding: the consent a referral was shared under must still be the one in force;
        // once withdrawn, a consent given again later covers new referrals, not the old ones
        const referral = consent.active ? open.find((o) => o.consentEventId === consent.eventId) : undefined;
        if (!referral) {
          throw new RuleViolation('referral_consent_missing', 'the consent under which the referral was shared is no longer in force', {
            scope: 'referral_sharing',
          });
        }
        const { referralId } = referral;
        const personal = await currentPersonalData(keyring, events);
        if (!personal) throw new PersonDataErased();
        const read = await recordCaseHistoryRead(
          store,
          { personId, purpose: 'contact_details', readBy: partner.sub, consentEventId: referral.consentEventId, referralId },
          eventContextOf(req, SOURCE, clock.now()),
        );
        const { givenName, familyName, phone, email, address } = personal;
        return { personId, givenName, familyName, phone, email, address, referralId, consentEventId: referral.consentEventId, disclosureId: read.eventId };
      },
    );

    r.get(
      '/persons/:personId/export',
      {
        config: { roles: ['admin'] },
        exposeHeadRoute: false,
        schema: {
          tags: ['persons'],
          summary: 'Subject-access export (GDPR Art. 15): everything held about the person, decrypted',
          description:
            'Personal data and contact history, consents, assessments (levels, notes, goals), referrals (status, partner, ' +
            'reason, answers) and every recorded read or disclosure. After erasure every personal field shows as erased. ' +
            'The export itself is recorded as `CaseHistoryRead` (purpose `subject_access`).',
          params: PersonParams,
          response: { 200: SubjectAccessExport },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const events = await eventsOfPerson(store, personId);
        const out = await subjectAccessExport(keyring, personId, events, clock.now());
        if (!out) throw new NotFoundError('person', personId);
        await recordCaseHistoryRead(store, { personId, purpose: 'subject_access', readBy: principalOf(req).sub }, eventContextOf(req, SOURCE, clock.now()));
        // each event's receipt in the verifiable log (one after the other: O(log n) reads each)
        const receipts = [];
        for (const e of events) receipts.push(await receiptFor(store.log, e.id, e.globalPosition));
        return { ...out, receipts };
      },
    );

    r.post(
      '/persons/:personId/erasure',
      {
        config: { roles: ['admin'], idempotent: true },
        schema: {
          tags: ['persons'],
          summary: 'Erase the personal data (GDPR Art. 17): the person’s key is destroyed, the log stays intact',
          params: PersonParams,
          body: z.object({ reason: z.enum(['data_subject_request', 'retention_expired', 'unlawful_processing', 'other']) }).strict(),
          response: { 200: Recorded },
        },
      },
      async (req) => {
        const { personId } = req.params;
        const ec = eventContextOf(req, SOURCE, clock.now());
        // the fiscal code is known only from the personal data, so it is read before the key goes
        const { events, revision } = await loadAggregate(store, personStream(personId), personDecider);
        const fiscalCode = (await currentPersonalData(keyring, events))?.fiscalCode;
        // a repeat (erased already) records nothing and answers with the stream's revision
        let res = { events: [] as unknown[], revision, globalPositions: [] as number[] };
        try {
          // the erasure and the release of the fiscal code's reservation in one atomic append
          const { appended } = await transact(store, ec, async (uow) => {
            const person = await uow.load(personStream(personId), personDecider, { partitionKey: personId });
            person.decide({ type: 'ErasePersonalData', requestedBy: principalOf(req).sub, reason: req.body.reason });
            if (!fiscalCode) return person;
            const reservation = await uow.load(fiscalCodeStream(fiscalDigest(fiscalCode)), fiscalCodeDecider, { partitionKey: personId });
            reservation.decide({ type: 'ReleaseFiscalCode', personId });
            return person;
          });
          const own = appended.find((a) => a.streamId === personStream(personId));
          if (own) res = { events: own.events, revision: own.revision, globalPositions: own.globalPositions };
        } catch (e) {
          // already erased: finish what a crashed erasure may have left undone
          if (!(e instanceof PersonDataErased)) throw e;
        }
        await keyring.erase(personId);
        return recorded(personId, res);
      },
    );
  };

function assertWritable(state: PersonState, personId: string): void {
  if (state.status === 'unknown') throw new NotFoundError('person', personId);
  if (state.status === 'erased') throw new PersonDataErased();
}
