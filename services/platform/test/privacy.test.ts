import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Encrypted, RawRecordedEvent } from '@onestop/events';
import { eventually } from '@onestop/testkit';
import { openPlatform, OTHER, OWN, TEAM, type Platform } from './platform.js';
import { dumpDatabase, findValues, keyringPages } from './privacy-scan.js';

// GDPR across every service, over HTTP on PostgreSQL (DESIGN §6):
// - purpose binding: every disclosure to a partner names the consent that
//   allowed it; a withdrawal blocks the next disclosure at once and reaches
//   the partner as the reason of the cancelled referral;
// - subject access: one export holds everything about the person, decrypted;
// - erasure: the person's key is destroyed; every API, the dashboards' read
//   model, the auditors' replay, the export and a replay of the log show the
//   data as erased, no stored event changes, and every hash chain still verifies;
// - and then no personal value entered is left anywhere: not in a log line
//   (every service at level trace), a dead letter, a pg_dump of every schema,
//   or a page of the keyring table (pageinspect) — the erased key included.
//   (privacy-kafka.test.ts runs the same scan over the production topology,
//   Kafka's raw segment files included.)

let p: Platform;
let personId = '';
let assessmentId = '';
let ownReferral = '';
let otherReferral = '';
let consentEventId = '';
let documentId = '';
let erasedKey: Buffer | undefined;
const logLines: string[] = [];

// whole values: a fragment as short as '0573' turns up by chance in hex hashes and ids
const SECRETS = ['Mario', 'Rossi', 'RSSMRA85T10A562S', '0573 123456', '0573123456', 'mario.rossi@example.org', 'Via Roma', 'sfratto', 'alloggio', 'debiti', 'lista d’attesa', 'morosità', 'colloquio riservato', 'nota riservata', 'impegno riservato', 'chiusura riservata', 'certificato riservato', 'Rossi-ISEE'];

beforeAll(async () => {
  p = await openPlatform('privacy', { env: { LOG_LEVEL: 'trace' }, logLines });
  await p.cases.network();
});

afterAll(async () => {
  await p?.close();
});

/** Every Encrypted value inside an event payload. */
function ciphertexts(v: unknown): Encrypted[] {
  if (!v || typeof v !== 'object') return [];
  if ((v as Encrypted).alg === 'A256GCM') return [v as Encrypted];
  return Object.values(v).flatMap(ciphertexts);
}

describe('GDPR across every service', () => {
  it('binds each disclosure to its consent; a withdrawal blocks the next one at once and reaches the partner', async () => {
    ({ personId } = await p.ok('operator', 'POST', '/persons', {
      accessPoint: 'pistoia-centro',
      municipality: 'Pistoia',
      givenName: 'Mario',
      familyName: 'Rossi',
      birthDate: '1985-12-10',
      fiscalCode: 'RSSMRA85T10A562S',
      phone: '+39 0573 123456',
      email: 'mario.rossi@example.org',
      address: 'Via Roma 1, Pistoia',
    }));
    for (const scope of ['assessment', 'referral_sharing']) await p.ok('operator', 'POST', `/persons/${personId}/consents`, { scope, legalBasis: 'explicit_consent' });
    consentEventId = (await p.ok('operator', 'GET', `/persons/${personId}`)).consents.referral_sharing.eventId;
    await p.settled();

    ({ assessmentId } = await p.ok('team', 'POST', '/assessments', { personId, team: TEAM }));
    const levels = { economic: 2, employment: 0, education: 0, housing: 4, social_network: 1, health_care: 0, training: 0 };
    for (const [domain, needLevel] of Object.entries(levels)) {
      await p.ok('team', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel, ...(domain === 'housing' ? { notes: 'sfratto esecutivo a gennaio' } : {}) });
    }
    const completed = await p.ok('team', 'POST', `/assessments/${assessmentId}/completion`, { goals: [{ domain: 'housing', description: 'trovare un alloggio stabile', targetDate: '2030-06-30' }] });
    await p.settled();

    ({ referralId: ownReferral } = await p.ok('team', 'POST', '/referrals', { personId, assessmentId, partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'sfratto esecutivo' }));
    ({ referralId: otherReferral } = await p.ok('team', 'POST', '/referrals', { personId, assessmentId, partnerId: OTHER.partnerId, serviceId: OTHER.serviceId, reason: 'debiti e morosità' }));
    for (const id of [ownReferral, otherReferral]) {
      const [referred] = await p.infra.store.readStream(`referral-${id}`);
      expect(referred, 'the outbound referral records the consent that allows it').toMatchObject({ data: { consentEventId } });
    }
    await p.ok('partnerOwn', 'POST', `/referrals/${ownReferral}/acceptance`, {});
    await p.ok('partnerOther', 'POST', `/referrals/${otherReferral}/decline`, { reason: 'no_capacity', note: 'lista d’attesa piena' });
    await p.settled();

    // the addressed partner of an open referral reads the contact details; the disclosure names consent and referral
    const read = await p.ok('partnerOwn', 'GET', `/persons/${personId}/contact-details`);
    expect(read).toMatchObject({ givenName: 'Mario', phone: '+39 0573 123456', consentEventId, referralId: ownReferral });
    const [disclosure] = (await p.infra.store.readStream(`audit-${personId}`)).filter((e) => (e.data as { purpose?: string }).purpose === 'contact_details');
    expect(disclosure).toMatchObject({ id: read.disclosureId, data: { consentEventId, referralId: ownReferral, readBy: 'coeso-desk' } });
    // a partner whose referral is closed (declined) reads nothing
    expect((await p.call('partnerOther', 'GET', `/persons/${personId}/contact-details`)).statusCode).toBe(403);

    // taking charge (docs/casework.md): every free text goes encrypted with the person's key
    const member = { memberId: 'sw-1', role: 'social_worker' };
    await p.ok('team', 'POST', `/persons/${personId}/case`, { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: member });
    await p.ok('team', 'POST', `/persons/${personId}/plan`, {
      assessmentId,
      owners: completed.goals.map((g: { goalId: string }) => ({ goalId: g.goalId, owner: { kind: 'partner', partnerId: OWN.partnerId } })),
      personCommitments: ['impegno riservato: cercare casa'],
      serviceCommitments: [],
      reviewDate: '2030-01-01',
    });
    const { id: meetingId } = await p.ok('team', 'POST', `/persons/${personId}/meetings`, { kind: 'first_meeting', at: '2026-11-25T09:00:00Z', modality: 'in_person' });
    await p.ok('team', 'POST', `/persons/${personId}/meetings/${meetingId}/held`, { heldAt: '2026-11-25T09:00:00Z', personAttended: true, attendees: [member], minutes: 'colloquio riservato sulla salute' });
    await p.ok('team', 'POST', `/persons/${personId}/notes`, { text: 'nota riservata per il consorzio', visibility: 'shared', referralId: ownReferral });
    expect((await p.ok('partnerOwn', 'GET', `/persons/${personId}/notes`)).notes).toMatchObject([{ text: 'nota riservata per il consorzio' }]);
    // a closure with a note (then reopened) and a document, whose bytes and name are personal
    await p.ok('team', 'POST', `/persons/${personId}/case/closure`, { reason: 'other', note: 'chiusura riservata: trasloco' });
    await p.ok('team', 'POST', `/persons/${personId}/case/reopening`, {});
    const uploaded = await p.call('team', 'POST', `/persons/${personId}/documents`, Buffer.from('%PDF-1.7\ncertificato riservato di Mario Rossi\n%%EOF\n'), {
      'content-type': 'application/pdf',
      'x-file-name': 'Rossi-ISEE.pdf',
    });
    expect(uploaded.statusCode, uploaded.body).toBe(201);
    documentId = uploaded.json().documentId;
    const downloaded = await p.call('team', 'GET', `/documents/${documentId}`);
    expect(downloaded.statusCode).toBe(200);
    expect(downloaded.rawPayload.toString()).toContain('certificato riservato');

    // withdrawal: the very next read is refused, before any bus delivery
    await p.ok('operator', 'POST', `/persons/${personId}/consents/referral_sharing/withdrawal`);
    const refused = await p.call('partnerOwn', 'GET', `/persons/${personId}/contact-details`);
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ code: 'referral_consent_missing' });
    // and the partner sees why its referral ended
    await eventually(async () => {
      const inbox = (await p.ok('partnerOwn', 'GET', `/partners/${OWN.partnerId}/referrals`)) as Array<{ referralId: string }>;
      expect(inbox.find((r) => r.referralId === ownReferral)).toMatchObject({ status: 'cancelled', statusReason: 'consent_withdrawn' });
    });
    expect(await p.ok('partnerOwn', 'GET', `/referrals/${ownReferral}`)).toMatchObject({ status: 'cancelled', statusReason: 'consent_withdrawn' });
    // no new referral without the consent
    await p.settled();
    const again = await p.call('team', 'POST', '/referrals', { personId, assessmentId, partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'sfratto' });
    expect(again.json()).toMatchObject({ status: 422, code: 'referral_consent_missing' });
  });

  it('exports everything held about the person, decrypted, to an admin, and records the export', async () => {
    const res = await p.call('admin', 'GET', `/persons/${personId}/export`);
    expect(res.statusCode, res.body).toBe(200);
    const out = res.json();
    expect(out).toMatchObject({
      personId,
      status: 'registered',
      personalData: { givenName: 'Mario', familyName: 'Rossi', fiscalCode: 'RSSMRA85T10A562S', email: 'mario.rossi@example.org', address: 'Via Roma 1, Pistoia' },
      erasure: null,
    });
    expect(out.consents.map((c: { action: string; scope: string }) => `${c.action} ${c.scope}`)).toEqual(['given assessment', 'given referral_sharing', 'withdrawn referral_sharing']);
    expect(out.consents[1].eventId).toBe(consentEventId);
    const [assessment] = out.assessments;
    expect(assessment).toMatchObject({ assessmentId, status: 'completed', priorityDomains: ['housing'], goals: [{ domain: 'housing', description: 'trovare un alloggio stabile' }] });
    expect(assessment.evaluations.find((e: { domain: string }) => e.domain === 'housing')).toMatchObject({ needLevel: 4, notes: 'sfratto esecutivo a gennaio', evaluatedBy: 'sw-1' });
    const referrals = Object.fromEntries(out.referrals.map((r: { referralId: string }) => [r.referralId, r]));
    expect(referrals[ownReferral]).toMatchObject({ partnerId: OWN.partnerId, status: 'cancelled', reason: 'sfratto esecutivo', consentEventId });
    expect(referrals[ownReferral].history.at(-1)).toMatchObject({ type: 'ReferralCancelled', role: 'system', details: { reason: 'consent_withdrawn' } });
    expect(referrals[otherReferral]).toMatchObject({ partnerId: OTHER.partnerId, status: 'rejected', reason: 'debiti e morosità' });
    expect(referrals[otherReferral].history.at(-1)).toMatchObject({ type: 'ReferralDeclined', partnerId: OTHER.partnerId, details: { reason: 'no_capacity', note: 'lista d’attesa piena' } });
    expect(out.disclosures.filter((d: { purpose: string }) => d.purpose === 'contact_details')).toEqual([expect.objectContaining({ purpose: 'contact_details', readBy: 'coeso-desk', partnerId: OWN.partnerId, consentEventId, referralId: ownReferral })]);
    const texts = JSON.stringify(out.casework);
    for (const t of ['impegno riservato: cercare casa', 'colloquio riservato sulla salute', 'nota riservata per il consorzio']) expect(texts).toContain(t);
    const audit = await p.infra.store.readStream(`audit-${personId}`);
    expect(audit.at(-1)).toMatchObject({ type: 'CaseHistoryRead', data: { purpose: 'subject_access', readBy: 'admin-1' }, actor: { role: 'admin' } });
    // the operator who received the request does not get the export itself
    expect((await p.call('operator', 'GET', `/persons/${personId}/export`)).statusCode).toBe(403);
  });

  it('erasure: every API, read model, replay and the export show the data as erased; no event changes and every chain verifies', async () => {
    const streams: string[] = (await p.ok('admin', 'GET', `/persons/${personId}/export`)).streams.map((s: { streamId: string }) => s.streamId);
    expect(streams).toEqual(expect.arrayContaining([`person-${personId}`, `assessment-${assessmentId}`, `referral-${ownReferral}`, `referral-${otherReferral}`, `audit-${personId}`]));
    const before = new Map<string, RawRecordedEvent[]>();
    for (const s of streams) before.set(s, await p.infra.store.readStream(s));

    const [key] = await p.infra.db.query<{ wrapped_key: Uint8Array }>('SELECT wrapped_key FROM keyring.person_keys WHERE person_id = $1', [personId]);
    erasedKey = Buffer.from(key!.wrapped_key);
    await p.ok('admin', 'POST', `/persons/${personId}/erasure`, { reason: 'data_subject_request' });
    expect(await p.infra.keyring.isErased(personId)).toBe(true);

    // the APIs
    expect(await p.ok('operator', 'GET', `/persons/${personId}`)).toMatchObject({ status: 'erased', personalData: null });
    expect(await p.ok('operator', 'POST', '/persons/search', { fiscalCode: 'RSSMRA85T10A562S' })).toEqual({ persons: [], more: false });
    const assessment = await p.ok('team', 'GET', `/assessments/${assessmentId}`);
    expect(assessment.evaluations.find((e: { domain: string }) => e.domain === 'housing')).toMatchObject({ needLevel: 4, notes: null });
    expect(assessment.goals).toEqual([expect.objectContaining({ domain: 'housing', description: null })]);
    expect((await p.call('partnerOwn', 'GET', `/persons/${personId}/contact-details`)).statusCode).toBeOneOf([403, 422]);
    // the casework routes (docs/casework.md): the closure note, plan texts, minutes and notes read as null
    const careCase = await p.ok('team', 'GET', `/persons/${personId}/case`);
    expect(careCase.history.find((h: { type: string }) => h.type === 'CaseClosed')).toMatchObject({ reason: 'other', note: null });
    const plan = await p.ok('team', 'GET', `/persons/${personId}/plan`);
    expect(plan.goals).toEqual([expect.objectContaining({ description: null })]);
    expect(plan.personCommitments).toEqual([null]);
    const meetings = await p.ok('team', 'GET', `/persons/${personId}/meetings`);
    expect(meetings.meetings).toEqual([expect.objectContaining({ minutes: null })]);
    const notes = await p.ok('team', 'GET', `/persons/${personId}/notes`);
    expect(notes.notes).toEqual([expect.objectContaining({ text: null })]);
    // documents: once the assessment service hears of the erasure, the rows are gone (the key is already shredded)
    await p.settled();
    expect((await p.call('team', 'GET', `/documents/${documentId}`)).statusCode).toBe(404);
    expect(await p.ok('team', 'GET', `/persons/${personId}/documents`)).toEqual([]);

    // the read model of the dashboards and the auditors' trail (history as stored, as-of replay)
    await eventually(async () => expect(await p.ok('operator', 'GET', `/api/cases/${personId}`)).toMatchObject({ person: { status: 'erased' } }));
    const asOf = await p.ok('auditor', 'GET', `/audit/cases/${personId}/as-of?at=2100-01-01T00:00:00Z`);
    expect(asOf.person).toMatchObject({ status: 'erased' });
    const history = await p.ok('auditor', 'GET', `/audit/cases/${personId}/history`);

    // the export
    const out = await p.ok('admin', 'GET', `/persons/${personId}/export`);
    expect(out).toMatchObject({ status: 'erased', personalData: null, erasure: { requestedBy: 'admin-1', reason: 'data_subject_request' } });
    expect(out.assessments[0].goals[0].description).toBe('[erased]');
    expect(out.assessments[0].evaluations.find((e: { domain: string }) => e.domain === 'housing').notes).toBe('[erased]');
    expect(out.referrals.map((r: { reason: string }) => r.reason)).toEqual(['[erased]', '[erased]']);
    const served = JSON.stringify([out, assessment, await p.ok('operator', 'GET', `/persons/${personId}`), asOf, history, careCase, plan, meetings, notes]);
    for (const secret of SECRETS) expect(served, secret).not.toContain(secret);

    // a replay of the log: every ciphertext of the person stays unreadable
    const after = new Map<string, RawRecordedEvent[]>();
    for (const s of streams) after.set(s, await p.infra.store.readStream(s));
    const encrypted = [...after.values()].flat().flatMap((e) => ciphertexts(e.data));
    expect(encrypted.length).toBeGreaterThan(5);
    for (const enc of encrypted) expect(await p.infra.keyring.tryDecrypt(enc)).toBeUndefined();
    for (const secret of SECRETS) expect(JSON.stringify([...after.values()]), secret).not.toContain(secret);

    // nothing stored changed (erasure only appended), and every chain verifies
    for (const s of streams) {
      expect(after.get(s)!.slice(0, before.get(s)!.length), s).toEqual(before.get(s));
      expect(await p.infra.store.verifyStream(s), s).toMatchObject({ ok: true, events: after.get(s)!.length });
    }
    expect(after.get(`person-${personId}`)!.at(-1)).toMatchObject({ type: 'PersonalDataErased' });
  });

  it('after the erasure, no personal value is in a log line, a dead letter, a dump of every schema, or a keyring page', async () => {
    expect(erasedKey).toBeDefined();
    await p.settled();
    // every log line of every service, at level trace
    expect(logLines.length, 'the services logged at trace').toBeGreaterThan(20);
    expect(logLines.filter((l) => l.includes('request completed')).length).toBeGreaterThan(20);
    const dump = dumpDatabase(p.db.url);
    expect(dump).toContain('keyring.person_keys');
    // every page of the keyring table, after the erasure's maintenance step
    const pages = await keyringPages((sql, params) => p.infra.db.query(sql, params));
    expect(pages.length).toBeGreaterThan(0);
    const hits = findValues(
      [
        ['logs', logLines.join('')],
        ['bus.dead_letters', JSON.stringify(await p.infra.db.query('SELECT * FROM bus.dead_letters'))],
        ['pg_dump', dump],
        ...pages.map((page, i) => [`keyring page ${i}`, page] as [string, Buffer]),
      ],
      SECRETS,
    );
    expect(hits).toEqual([]);
    expect(dump).not.toContain(erasedKey!.toString('hex'));
    for (const [i, page] of pages.entries()) expect(page.includes(erasedKey!), `keyring page ${i}`).toBe(false);
  });
});
