import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlatform, OWN, securityTable, TEAM, type Platform, type Who } from './platform.js';

// Every route that answers with decrypted personal data records the read
// (DESIGN §6; issue 12): who read (the token's subject and role), what (the
// person, the assessment or referral) and why (the purpose), in the person's
// audit stream, before the answer goes out. The routes are the table
// `read-audit` of SECURITY.md; this test
// - calls every GET route the app mounts, with every role that may call it, on
//   a case full of distinctive personal values, and fails if a route answers
//   with one of them without being in the table;
// - for every row, checks that one call adds exactly one CaseHistoryRead with
//   the row's purpose, by the caller.

let p: Platform;
const ids: Record<string, string> = {};
const PERSONAL = ['Ginevra', 'Lanfranchi', 'LNFGVR80A41G713O', '1980-01-01', '333 7654321', 'ginevra.l@example.org', 'Via del Duca 9', 'gravidanza', 'badante cercasi'];

const ROWS = securityTable('read-audit')
  .slice(1)
  .map(([method, route, purpose, who]) => ({ method: method!, route: route!, purpose: purpose!, who: who! as Who }));

/** The bodies of the rows that are POSTs: a search that finds the case's person (by name and birth date, never in the URL). */
const BODIES: Record<string, unknown> = { 'POST /persons/search': { familyName: 'lanfr', givenName: 'ginev', birthDate: '1980-01-01' } };
const urlOf = (route: string) => route.replace(/\{([A-Za-z0-9_]+)\}/g, (_, n: string) => ids[n] ?? 'x');
const reads = async () => (await p.infra.store.readStream(`audit-${ids.personId}`)).filter((e) => e.type === 'CaseHistoryRead');

beforeAll(async () => {
  p = await openPlatform('readaudit');
  await p.cases.network();
  const { personId } = await p.ok('operator', 'POST', '/persons', {
    accessPoint: 'pistoia-centro',
    municipality: 'Pistoia',
    givenName: 'Ginevra',
    familyName: 'Lanfranchi',
    birthDate: '1980-01-01',
    fiscalCode: 'LNFGVR80A41G713O',
    phone: '+39 333 7654321',
    email: 'ginevra.l@example.org',
    address: 'Via del Duca 9, Pistoia',
  });
  ids.personId = personId;
  for (const scope of ['assessment', 'referral_sharing']) await p.ok('operator', 'POST', `/persons/${personId}/consents`, { scope, legalBasis: 'explicit_consent' });
  await p.settled();
  const { assessmentId } = await p.ok('team', 'POST', '/assessments', { personId, team: TEAM });
  ids.assessmentId = assessmentId;
  const levels = { economic: 1, employment: 0, education: 0, housing: 3, social_network: 2, health_care: 1, training: 0 };
  for (const [domain, needLevel] of Object.entries(levels)) {
    await p.ok('team', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel, ...(domain === 'health_care' ? { notes: 'gravidanza al settimo mese' } : {}) });
  }
  const completed = await p.ok('team', 'POST', `/assessments/${assessmentId}/completion`, { goals: [{ domain: 'housing', description: 'badante cercasi per la madre', targetDate: '2030-01-01' }] });
  await p.settled();
  const { referralId } = await p.ok('team', 'POST', '/referrals', { personId, assessmentId, partnerId: OWN.partnerId, serviceId: OWN.serviceId, reason: 'badante cercasi' });
  // taking charge: a closed and reopened case, a plan, a held meeting and a shared note, each with personal text
  const member = { memberId: 'sw-1', role: 'social_worker' };
  await p.ok('team', 'POST', `/persons/${personId}/case`, { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: member });
  await p.ok('team', 'POST', `/persons/${personId}/case/closure`, { reason: 'other', note: 'gravidanza: segue il consultorio' });
  await p.ok('team', 'POST', `/persons/${personId}/case/reopening`, {});
  const owner = { kind: 'partner', partnerId: OWN.partnerId, serviceId: OWN.serviceId };
  await p.ok('team', 'POST', `/persons/${personId}/plan`, {
    assessmentId,
    owners: completed.goals.map((g: { goalId: string }) => ({ goalId: g.goalId, owner })),
    personCommitments: ['badante cercasi insieme al patronato'],
    serviceCommitments: [],
    reviewDate: '2030-01-01',
  });
  const { id: meetingId } = await p.ok('team', 'POST', `/persons/${personId}/meetings`, { kind: 'first_meeting', at: '2026-11-25T09:00:00Z', modality: 'in_person' });
  await p.ok('team', 'POST', `/persons/${personId}/meetings/${meetingId}/held`, { heldAt: '2026-11-25T09:00:00Z', personAttended: true, attendees: [member], minutes: 'gravidanza al settimo mese' });
  await p.ok('team', 'POST', `/persons/${personId}/notes`, { text: 'badante cercasi, chiamare al mattino', visibility: 'shared', referralId });
  // a document whose bytes and name are personal: its download is a read
  const document = await p.call('team', 'POST', `/persons/${personId}/documents`, Buffer.from('%PDF-1.7\nGinevra Lanfranchi, gravidanza al settimo mese\n%%EOF\n'), {
    'content-type': 'application/pdf',
    'x-file-name': 'Lanfranchi-certificato.pdf',
  });
  expect(document.statusCode, document.body).toBe(201);
  ids.documentId = document.json().documentId;
  ids.referralId = referralId;
  ids.partnerId = OWN.partnerId;
  ids.serviceId = OWN.serviceId;
  await p.settled();
});

afterAll(async () => {
  await p?.close();
});

describe('read audit', () => {
  it('SECURITY.md lists every route that answers with decrypted personal data', async () => {
    const listed = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    const WHO_OF_ROLE: Record<string, Who[]> = { operator: ['operator'], team: ['team'], partner: ['partnerOwn'], auditor: ['auditor'], admin: ['admin'] };
    const answering: string[] = [];
    for (const route of p.app.routeTable.filter((r) => r.method === 'GET' && r.roles)) {
      const documented = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      for (const who of route.roles!.flatMap((role) => WHO_OF_ROLE[role] ?? [])) {
        // the console's change stream stays open unless told to answer at once
        const res = await p.call(who, 'GET', `${urlOf(documented)}${documented === '/api/changes' ? '?timeout=0' : ''}`);
        if (PERSONAL.some((v) => res.body.includes(v))) answering.push(`${route.method} ${documented}`);
      }
    }
    expect(answering.length, 'the case is readable somewhere').toBeGreaterThan(0);
    expect([...new Set(answering)].filter((r) => !listed.has(r)), 'routes that answer with personal data but are not in the read-audit table').toEqual([]);
  });

  it.each(ROWS.map((r) => [`${r.method} ${r.route}`, r] as const))('%s records who read what and why', async (_name, row) => {
    const before = await reads();
    const url = `${urlOf(row.route)}${row.route.endsWith('/as-of') ? '?at=2100-01-01T00:00:00Z' : ''}`;
    const res = await p.call(row.who, row.method, url, BODIES[`${row.method} ${row.route}`]);
    expect(res.statusCode, res.body).toBe(200);
    const after = await reads();
    const added = after.slice(before.length);
    expect(added, 'exactly one read recorded').toHaveLength(1);
    const subject = JSON.parse(Buffer.from(p.tokens[row.who].split('.')[1]!, 'base64url').toString()).sub as string;
    expect(added[0]).toMatchObject({ data: { personId: ids.personId, purpose: row.purpose, readBy: subject }, actor: { id: subject } });
    if (row.purpose === 'assessment_view') expect(added[0]!.data).toMatchObject({ assessmentId: ids.assessmentId });
    if (row.purpose === 'contact_details') expect(added[0]!.data).toMatchObject({ referralId: ids.referralId });
    if (row.purpose === 'document_download') {
      expect(added[0]!.data).toMatchObject({ documentId: ids.documentId });
      expect(res.rawPayload.toString()).toContain('gravidanza al settimo mese');
    }
  });

  it('does not announce a recorded read as a change: a screen that reads again on every change would read for ever', async () => {
    const announced = async () => {
      const res = await p.call('team', 'GET', '/api/changes?timeout=0');
      return Number(/"position":(\d+)/.exec(res.body)?.[1] ?? 0);
    };
    await p.settled();
    const before = await reads();
    await p.ok('team', 'GET', `/persons/${ids.personId}`);
    const read = (await reads()).slice(before.length);
    expect(read, 'the read is recorded').toHaveLength(1);
    // once the projections have applied the read's record, the feed still stands before it
    await p.settled();
    expect(await announced()).toBeLessThan(read[0]!.globalPosition);
    // a change of what the screens show is announced
    const change = await p.ok('team', 'POST', `/persons/${ids.personId}/notes`, { text: 'richiamare lunedì', visibility: 'team' });
    await p.settled();
    expect(await announced()).toBeGreaterThanOrEqual(change.position);
  });

  it('records nothing when nothing is decrypted: an operator reads an assessment without its notes', async () => {
    const before = await reads();
    const res = await p.ok('operator', 'GET', `/assessments/${ids.assessmentId}`);
    expect(JSON.stringify(res)).not.toContain('gravidanza');
    expect(await reads()).toHaveLength(before.length);
  });
});
