import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '@onestop/kit';
import { openPlatform, OWN, type Platform } from './platform.js';

// Taking charge over HTTP, on PostgreSQL with every service mounted
// (docs/casework.md): the case, the plan as of a date, meetings, and case
// notes that a partner reads only while its referral is open.

let p: Platform;
let clock: ManualClock;
const DAY = 86_400_000;
const sw1 = { memberId: 'sw-1', role: 'social_worker' };
/** An instant `days` from the platform's (manual) clock, which the tests move forward. */
const inDays = (days: number) => new Date(clock.now().getTime() + days * DAY).toISOString();
/** A calendar day `days` from the clock. */
const day = (days: number) => inDays(days).slice(0, 10);

beforeAll(async () => {
  p = await openPlatform('casework');
  clock = p.infra.clock as ManualClock;
  await p.cases.network();
}, 60_000);

afterAll(async () => {
  await p?.close();
});

/** A person with a completed assessment and an open ADI case, as the bus has told every service. */
async function takenInCharge() {
  const c = await p.cases.case();
  await p.settled();
  const opened = await p.ok('team', 'POST', `/persons/${c.personId}/case`, { programme: 'adi', activationDate: day(-6), accessPoint: 'pistoia-centro', caseManager: sw1 });
  expect(opened).toMatchObject({ recorded: true });
  return c;
}

/** The read-audit events of a person, by purpose. */
async function readsOf(personId: string, purpose: string) {
  return (await p.infra.store.readStream(`audit-${personId}`)).filter((e) => (e.data as { purpose: string }).purpose === purpose);
}

describe('the case', () => {
  it('opens once: a repeat records nothing, other data is refused and names what stands', async () => {
    const c = await p.cases.case();
    await p.settled();
    const body = { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: sw1 };
    const first = await p.ok('team', 'POST', `/persons/${c.personId}/case`, body);
    expect(first).toMatchObject({ personId: c.personId, recorded: true, revision: 1 });
    expect(first.position).toBeGreaterThan(0);
    expect(await p.ok('team', 'POST', `/persons/${c.personId}/case`, body)).toMatchObject({ recorded: false, revision: 1 });
    const other = await p.call('team', 'POST', `/persons/${c.personId}/case`, { ...body, programme: 'generic' });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ code: 'done_otherwise', stands: { programme: 'adi' } });
  });

  it('refuses an activation date after today, and a person nobody registered', async () => {
    const c = await p.cases.case();
    await p.settled();
    const late = await p.call('team', 'POST', `/persons/${c.personId}/case`, { programme: 'adi', activationDate: day(2), accessPoint: 'pistoia-centro', caseManager: sw1 });
    expect(late.statusCode).toBe(422);
    expect(late.json().code).toBe('activation_in_future');
    const nobody = await p.call('team', 'POST', '/persons/3b0f0e3c-0000-4000-8000-000000000000/case', { programme: 'adi', activationDate: '2026-11-20', accessPoint: 'pistoia-centro', caseManager: sw1 });
    expect(nobody.statusCode).toBe(404);
  });

  it('is transferred, closed for `other` with an encrypted note read only by the team (and audited), and reopened', async () => {
    const { personId } = await takenInCharge();
    await p.ok('team', 'POST', `/persons/${personId}/case/transfer`, { to: { memberId: 'ed-2', role: 'educator' }, reason: 'competence' });
    const noNote = await p.call('team', 'POST', `/persons/${personId}/case/closure`, { reason: 'other' });
    expect(noNote.json().code).toBe('note_required');
    await p.ok('team', 'POST', `/persons/${personId}/case/closure`, { reason: 'other', note: 'trasferita presso parenti fuori regione' });
    const stored = JSON.stringify(await p.infra.store.readStream(`care-${personId}`));
    expect(stored).not.toContain('parenti');

    const team = await p.ok('team', 'GET', `/persons/${personId}/case`);
    expect(team).toMatchObject({ status: 'closed', programme: 'adi', caseManager: { memberId: 'ed-2', role: 'educator' } });
    expect(team.history.map((s: { type: string }) => s.type)).toEqual(['CaseOpened', 'CaseManagerAssigned', 'CaseTransferred', 'CaseClosed']);
    expect(team.history[3]).toMatchObject({ reason: 'other', note: 'trasferita presso parenti fuori regione' });
    expect(await readsOf(personId, 'care_case')).toHaveLength(1);
    const auditor = await p.ok('auditor', 'GET', `/persons/${personId}/case`);
    expect(auditor.history[3]).toMatchObject({ reason: 'other', note: null });
    expect(await readsOf(personId, 'care_case')).toHaveLength(1);

    const meeting = await p.call('team', 'POST', `/persons/${personId}/meetings`, { kind: 'review', at: '2026-12-01T09:00:00Z', modality: 'phone' });
    expect(meeting.statusCode).toBe(409);
    expect(meeting.json().code).toBe('case_not_open');
    await p.ok('team', 'POST', `/persons/${personId}/case/reopening`, { activationDate: day(-1) });
    expect(await p.ok('team', 'GET', `/persons/${personId}/case`)).toMatchObject({ status: 'open', activationDate: day(-1), caseManager: { memberId: 'ed-2' } });
  });
});

describe('the personal plan', () => {
  it('is agreed, revised and progressed as versions; `asOf` answers what it said on a date', async () => {
    clock.set('2026-11-26T09:00:00Z'); // the dates below are read from here
    const { personId, assessmentId } = await takenInCharge();
    const eo = { kind: 'team', memberId: 'eo-1', role: 'employment_operator' };
    const coeso = { kind: 'partner', partnerId: OWN.partnerId, serviceId: OWN.serviceId };
    const agreed = await p.ok('team', 'POST', `/persons/${personId}/plan`, {
      assessmentId,
      owners: [],
      goals: [{ domain: 'housing', description: 'domanda ERP entro marzo', targetDate: '2027-03-31', owner: coeso }],
      personCommitments: ['presentarsi ai colloqui'],
      serviceCommitments: [{ owner: eo, text: 'proporre un tirocinio' }],
      reviewDate: '2027-02-20',
    });
    expect(agreed).toMatchObject({ recorded: true });
    const v1 = await p.ok('team', 'GET', `/persons/${personId}/plan`);
    expect(v1).toMatchObject({ version: 1, assessmentId, reviewDate: '2027-02-20', personCommitments: ['presentarsi ai colloqui'] });
    const goalId = v1.goals[0].goalId as string;
    expect(v1.goals[0]).toMatchObject({ domain: 'housing', description: 'domanda ERP entro marzo', owner: coeso, progress: null });

    clock.advance(30 * DAY); // 2026-12-26
    await p.ok('team', 'POST', `/persons/${personId}/plan/revisions`, {
      goals: [
        { goalId, domain: 'housing', targetDate: '2027-05-31', owner: coeso },
        { domain: 'employment', description: 'tirocinio presso Il Seme', targetDate: '2027-06-30', owner: eo },
      ],
      personCommitments: ['presentarsi ai colloqui', 'iscriversi al centro per l’impiego'],
      serviceCommitments: [],
      reviewDate: '2027-03-30',
      reason: 'new_needs',
    });
    clock.advance(10 * DAY); // 2027-01-05
    await p.ok('team', 'POST', `/persons/${personId}/plan/goals/${goalId}/progress`, { progress: 'partially_achieved', note: 'domanda presentata' });
    expect(await p.ok('team', 'POST', `/persons/${personId}/plan/goals/${goalId}/progress`, { progress: 'partially_achieved' })).toMatchObject({ recorded: false });

    const now = await p.ok('team', 'GET', `/persons/${personId}/plan`);
    expect(now).toMatchObject({ version: 3, reviewDate: '2027-03-30' });
    expect(now.goals).toHaveLength(2);
    expect(now.goals[0]).toMatchObject({ goalId, description: 'domanda ERP entro marzo', targetDate: '2027-05-31', progress: 'partially_achieved', progressNote: 'domanda presentata' });

    // what the plan said on 2026-12-01 (a date: the end of that day in Italy), and just before the progress
    const then = await p.ok('team', 'GET', `/persons/${personId}/plan?asOf=2026-12-01`);
    expect(then).toMatchObject({ version: 1, reviewDate: '2027-02-20' });
    expect(then.goals).toHaveLength(1);
    const before = await p.ok('auditor', 'GET', `/persons/${personId}/plan?asOf=${encodeURIComponent('2027-01-04T23:59:59+01:00')}`);
    expect(before).toMatchObject({ version: 2 });
    expect(before.goals[0]).toMatchObject({ progress: null, description: null });
    expect((await p.call('team', 'GET', `/persons/${personId}/plan?asOf=2026-11-01`)).statusCode).toBe(404);
    // the auditors' as-of replay of the whole case folds the same deciders
    const replay = await p.ok('auditor', 'GET', `/audit/cases/${personId}/as-of?at=${encodeURIComponent('2026-12-01T00:00:00Z')}`);
    expect(replay.care).toMatchObject({ status: 'open', programme: 'adi', caseManager: sw1 });
    expect(replay.plan).toMatchObject({ status: 'agreed', version: 1, reviewDate: '2027-02-20' });
    expect(JSON.stringify(replay)).not.toContain('domanda ERP');
    // three reads with text by the team, none by the auditor
    expect(await readsOf(personId, 'care_plan')).toHaveLength(3);
    expect(JSON.stringify(await p.infra.store.readStream(`plan-${personId}`))).not.toContain('tirocinio');
  });

  it('refuses to build a plan from another person’s assessment', async () => {
    const { personId } = await takenInCharge();
    const other = await p.cases.case();
    const res = await p.call('team', 'POST', `/persons/${personId}/plan`, {
      assessmentId: other.assessmentId,
      owners: [],
      goals: [{ domain: 'housing', description: 'x', targetDate: '2027-03-31', owner: { kind: 'partner', partnerId: OWN.partnerId } }],
      personCommitments: [],
      serviceCommitments: [],
      reviewDate: '2027-02-20',
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('assessment_not_completed');
  });
});

describe('meetings', () => {
  it('are scheduled, rescheduled, held with encrypted minutes, or missed once due', async () => {
    const { personId } = await takenInCharge();
    const first = await p.call('team', 'POST', `/persons/${personId}/meetings`, { kind: 'first_meeting', at: inDays(2), modality: 'in_person', place: 'pistoia-centro' });
    expect(first.statusCode, first.body).toBe(201);
    const m1 = first.json().id as string;
    const second = await p.call('team', 'POST', `/persons/${personId}/meetings`, { kind: 'first_meeting', at: inDays(3), modality: 'phone' });
    expect(second.json()).toMatchObject({ code: 'first_meeting_pending' });
    await p.ok('team', 'POST', `/persons/${personId}/meetings/${m1}/rescheduling`, { at: inDays(4), modality: 'video', reason: 'person_request' });
    const early = await p.call('team', 'POST', `/persons/${personId}/meetings/${m1}/missed`, { justified: false, reason: 'no_show' });
    expect(early.json().code).toBe('meeting_not_due');

    clock.advance(5 * DAY);
    const held = { heldAt: inDays(-1), personAttended: true, attendees: [sw1], partnerIds: [OWN.partnerId], minutes: 'concordato il patto; la persona cerca casa a Quarrata' };
    expect(await p.ok('team', 'POST', `/persons/${personId}/meetings/${m1}/held`, held)).toMatchObject({ recorded: true });
    expect(await p.ok('team', 'POST', `/persons/${personId}/meetings/${m1}/held`, held)).toMatchObject({ recorded: false });
    const otherwise = await p.call('team', 'POST', `/persons/${personId}/meetings/${m1}/held`, { ...held, personAttended: false });
    expect(otherwise.statusCode).toBe(409);

    const review = (await p.ok('team', 'POST', `/persons/${personId}/meetings`, { kind: 'review', at: inDays(-0.5), modality: 'home_visit' })).id as string;
    await p.ok('team', 'POST', `/persons/${personId}/meetings/${review}/missed`, { justified: true, reason: 'illness', note: 'influenza, certificato' });

    const team = await p.ok('team', 'GET', `/persons/${personId}/meetings`);
    expect(team.meetings).toMatchObject([
      { meetingId: m1, kind: 'first_meeting', status: 'held', rescheduled: 1, modality: 'video', personAttended: true, minutes: held.minutes },
      { meetingId: review, kind: 'review', status: 'missed', justified: true, missedReason: 'illness', missedNote: 'influenza, certificato' },
    ]);
    const operator = await p.ok('operator', 'GET', `/persons/${personId}/meetings`);
    expect(operator.meetings[0]).toMatchObject({ status: 'held', minutes: null });
    expect(operator.meetings[1]).toMatchObject({ missedNote: null });
    expect(await readsOf(personId, 'meeting_minutes')).toHaveLength(1);
    expect(JSON.stringify(await p.infra.store.readStream(`meetings-${personId}`))).not.toContain('Quarrata');
  });
});

describe('case notes', () => {
  it('a partner reads only the notes shared with it, and only while its referral is open', async () => {
    const c = await takenInCharge();
    const referralId = await p.cases.referral(c);
    const { personId } = c;
    await p.ok('team', 'POST', `/persons/${personId}/notes`, { text: 'nota solo per l’équipe', visibility: 'team' });
    const shared = await p.call('team', 'POST', `/persons/${personId}/notes`, { text: 'preferisce essere chiamata al mattino', visibility: 'shared', referralId });
    expect(shared.statusCode, shared.body).toBe(201);
    expect(shared.json().position).toBeGreaterThan(0);
    const noReferral = await p.call('team', 'POST', `/persons/${personId}/notes`, { text: 'x', visibility: 'shared' });
    expect(noReferral.json().code).toBe('referral_required');

    const team = await p.ok('team', 'GET', `/persons/${personId}/notes`);
    expect(team.notes.map((n: { text: string }) => n.text)).toEqual(['nota solo per l’équipe', 'preferisce essere chiamata al mattino']);
    const own = await p.ok('partnerOwn', 'GET', `/persons/${personId}/notes`);
    expect(own.notes).toMatchObject([{ visibility: 'shared', referralId, partnerId: OWN.partnerId, text: 'preferisce essere chiamata al mattino' }]);
    expect((await p.call('partnerOther', 'GET', `/persons/${personId}/notes`)).statusCode).toBe(404);
    const auditor = await p.ok('auditor', 'GET', `/persons/${personId}/notes`);
    expect(auditor.notes.map((n: { text: string | null }) => n.text)).toEqual([null, null]);
    const reads = await readsOf(personId, 'case_notes');
    expect(reads.map((e) => [e.actor.id, (e.data as { referralId?: string }).referralId])).toEqual([
      ['sw-1', undefined],
      ['coeso-desk', referralId],
    ]);

    // the referral ends: so does the partner's access, and no new note is shared through it
    await p.ok('team', 'POST', `/referrals/${referralId}/cancellation`, { reason: 'team_decision' });
    expect((await p.call('partnerOwn', 'GET', `/persons/${personId}/notes`)).statusCode).toBe(404);
    const late = await p.call('team', 'POST', `/persons/${personId}/notes`, { text: 'troppo tardi', visibility: 'shared', referralId });
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('referral_not_open');
  });

  /** How the partner's referral ends, other than by the team's cancellation above. */
  const ENDINGS: [string, (referralId: string, personId: string) => Promise<unknown>][] = [
    ['declined', (id) => p.ok('partnerOwn', 'POST', `/referrals/${id}/decline`, { reason: 'no_capacity' })],
    [
      'completed',
      async (id, personId) => {
        await p.ok('partnerOwn', 'POST', `/referrals/${id}/acceptance`, {});
        await p.ok('partnerOwn', 'POST', `/referrals/${id}/start`, {});
        // still open while in progress: the shared note reads
        expect((await p.ok('partnerOwn', 'GET', `/persons/${personId}/notes`)).notes).toHaveLength(1);
        return p.ok('partnerOwn', 'POST', `/referrals/${id}/completion`, { outcome: 'achieved' });
      },
    ],
  ];

  it.each(ENDINGS)('a partner’s access to a note shared with it ends when its referral is %s', async (ending, end) => {
    const c = await takenInCharge();
    const referralId = await p.cases.referral(c);
    const { personId } = c;
    await p.ok('team', 'POST', `/persons/${personId}/notes`, { text: 'chiamare dopo le 17', visibility: 'shared', referralId });
    expect((await p.ok('partnerOwn', 'GET', `/persons/${personId}/notes`)).notes).toMatchObject([{ referralId, text: 'chiamare dopo le 17' }]);

    await end(referralId, personId);
    const after = await p.call('partnerOwn', 'GET', `/persons/${personId}/notes`);
    expect(after.statusCode, after.body).toBe(404);
    expect(after.body).not.toContain('chiamare dopo le 17');
    // the team still reads it; no new note is shared through the ended referral
    expect((await p.ok('team', 'GET', `/persons/${personId}/notes`)).notes.map((n: { text: string }) => n.text)).toEqual(['chiamare dopo le 17']);
    const late = await p.call('team', 'POST', `/persons/${personId}/notes`, { text: 'troppo tardi', visibility: 'shared', referralId });
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('referral_not_open');
    // every partner read rests on the referral, and none after it ended
    expect((await readsOf(personId, 'case_notes')).filter((e) => e.actor.id === 'coeso-desk').map((e) => (e.data as { referralId?: string }).referralId)).toEqual(
      ending === 'completed' ? [referralId, referralId] : [referralId],
    );
  });
});

describe('erasure and subject access', () => {
  it('the export holds the casework events; after erasure minutes, notes and plan texts read as null and nothing new is written', async () => {
    const { personId, assessmentId } = await takenInCharge();
    await p.ok('team', 'POST', `/persons/${personId}/plan`, {
      assessmentId,
      owners: [],
      goals: [{ domain: 'housing', description: 'casa', targetDate: '2027-03-31', owner: { kind: 'partner', partnerId: OWN.partnerId } }],
      personCommitments: ['impegno'],
      serviceCommitments: [],
      reviewDate: day(60),
    });
    const m = (await p.ok('team', 'POST', `/persons/${personId}/meetings`, { kind: 'first_meeting', at: inDays(-1), modality: 'in_person' })).id as string;
    await p.ok('team', 'POST', `/persons/${personId}/meetings/${m}/held`, { heldAt: inDays(-1), personAttended: true, attendees: [sw1], minutes: 'verbale' });
    await p.ok('team', 'POST', `/persons/${personId}/notes`, { text: 'nota', visibility: 'team' });

    const exported = await p.ok('admin', 'GET', `/persons/${personId}/export`);
    expect(exported.casework.map((e: { type: string }) => e.type)).toEqual(['CaseOpened', 'CaseManagerAssigned', 'PlanAgreed', 'MeetingScheduled', 'MeetingHeld', 'CaseNoteWritten']);
    expect(exported.casework[4].details.minutes).toBe('verbale');
    expect(exported.casework[2].details.goals[0].description).toBe('casa');

    await p.ok('admin', 'POST', `/persons/${personId}/erasure`, { reason: 'data_subject_request' });
    expect((await p.ok('team', 'GET', `/persons/${personId}/notes`)).notes[0].text).toBeNull();
    expect((await p.ok('team', 'GET', `/persons/${personId}/meetings`)).meetings[0].minutes).toBeNull();
    const plan = await p.ok('team', 'GET', `/persons/${personId}/plan`);
    expect(plan.goals[0].description).toBeNull();
    expect(plan.personCommitments).toEqual([null]);
    const refused = await p.call('team', 'POST', `/persons/${personId}/notes`, { text: 'dopo', visibility: 'team' });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe('personal_data_erased');
    const after = await p.ok('admin', 'GET', `/persons/${personId}/export`);
    expect(after.casework[4].details.minutes).toBe('[erased]');
    expect(after.casework[5].details.text).toBe('[erased]');
  });
});
