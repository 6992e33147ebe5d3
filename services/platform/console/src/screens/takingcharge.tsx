import { useState } from 'preact/hooks';
import { api, Problem } from '../api';
import { label, tc } from '../i18n';
import type { Session } from '../session';
import { Field, formatDate, Loading, ProblemAlert, Section, Submit, useLive, useSubmit, value, withAfter } from '../ui';
import { fullName, person, TEAM_ROLES, type Assessment, type Referral } from './common';

// Presa in carico (docs/casework.md): for the team, on one person, the case
// (open, transfer, close with a coded reason, reopen), the personal plan agreed
// from the completed assessment (owners, commitments, review date, progress of
// a goal, the plan as of a date), the meetings (schedule, reschedule, held,
// missed), the case notes and the documents. Every read follows the server's
// changes (useLive); every submit carries its Idempotency-Key (useSubmit).

type Member = { memberId: string; role: string };
type Owner = { kind: 'team'; memberId: string; role: string } | { kind: 'partner'; partnerId: string; serviceId?: string };
interface CareCase {
  status: 'open' | 'closed';
  programme: string;
  activationDate: string;
  accessPoint: string;
  caseManager: Member | null;
  history: Array<{ type: string; at: string; by: string; reason: string | null }>;
}
interface Plan {
  version: number;
  assessmentId: string;
  reviewDate: string;
  agreedAt: string;
  changedAt: string;
  goals: Array<{ goalId: string; domain: string; description: string | null; targetDate: string; owner: Owner; progress: string | null; progressNote: string | null }>;
  personCommitments: Array<string | null>;
  serviceCommitments: Array<{ owner: Owner; text: string | null }>;
}
interface Meeting {
  meetingId: string;
  kind: string;
  at: string;
  modality: string;
  place: string | null;
  status: 'scheduled' | 'held' | 'missed';
  heldAt: string | null;
  personAttended: boolean | null;
  attendees: Member[];
  minutes?: string | null;
  justified: boolean | null;
  missedReason: string | null;
  missedNote?: string | null;
}
interface Note {
  noteId: string;
  visibility: 'team' | 'shared';
  partnerId: string | null;
  writtenBy: string;
  writtenAt: string;
  text: string | null;
}
interface Doc {
  documentId: string;
  contentType: string;
  size: number;
  addedAt: string;
}

type Written = { position?: number };
/** null for a 404 (nothing yet), the answer otherwise. */
const orNone = async <T,>(p: Promise<T>): Promise<T | null> => {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Problem && e.status === 404) return null;
    throw e;
  }
};
const ownerText = (o: Owner) => (o.kind === 'team' ? `${o.memberId} (${label('teamRole', o.role)})` : `${o.partnerId}${o.serviceId ? ` — ${o.serviceId}` : ''}`);
const today = () => new Date().toISOString().slice(0, 10);
/** a datetime-local value as an instant with its offset */
const instant = (local: string) => (local ? new Date(local).toISOString() : '');
const lines = (s: string) =>
  s
    .split('\n')
    .map((x) => x.trim())
    .filter(Boolean);

/** The person's team: the signed-in member first, then the members of their latest assessment. */
function useTeam(personId: string, session: Session): Member[] {
  const me: Member = { memberId: session.user.sub, role: session.user.teamRole ?? 'social_worker' };
  const team = useLive(async () => {
    const list = (await api<{ assessments: Array<{ assessmentId: string }> }>('GET', `/persons/${personId}/assessments`)).assessments;
    const last = list.at(-1);
    return last ? (await api<Assessment>('GET', `/assessments/${last.assessmentId}`)).team : [];
  }, [personId]);
  return [me, ...(team.data ?? []).filter((m) => m.memberId !== me.memberId)];
}

function MemberOptions({ members }: { members: Member[] }) {
  return (
    <>
      {members.map((m) => (
        <option key={m.memberId} value={m.memberId}>
          {m.memberId} ({label('teamRole', m.role)})
        </option>
      ))}
    </>
  );
}

function Options({ kind, codes }: { kind: string; codes: readonly string[] }) {
  return (
    <>
      {codes.map((c) => (
        <option key={c} value={c}>
          {label(kind, c)}
        </option>
      ))}
    </>
  );
}

/** The whole taking-charge screen of one person. */
export function TakingCharge({ personId, session }: { personId: string; session: Session }) {
  const [pos, setPos] = useState<number>();
  const wrote = (r: Written) => setPos(r.position ?? Date.now());
  const name = useLive(async () => fullName(await person(personId)), [personId]);
  const care = useLive((a) => orNone(api<CareCase>('GET', withAfter(`/persons/${personId}/case`, a))), [personId, pos]);
  const open = care.data?.status === 'open';
  return (
    <>
      <p>
        <a href={`#/person/${personId}`}>← {tc('back')}</a>
      </p>
      <h1 class="h2 mb-3">
        {tc('nav')}
        {name.data ? ` — ${name.data}` : ''}
      </h1>
      <Section title={tc('caseTitle')} id="care-case">
        {care.data === undefined ? <Loading error={care.error} /> : care.data === null ? <OpenCase personId={personId} session={session} onWrite={wrote} /> : <CaseCard personId={personId} c={care.data} onWrite={wrote} />}
      </Section>
      {care.data && (
        <>
          <PlanSection personId={personId} session={session} open={open} pos={pos} onWrite={wrote} />
          <MeetingsSection personId={personId} session={session} open={open} pos={pos} onWrite={wrote} />
          <NotesSection personId={personId} open={open} pos={pos} onWrite={wrote} />
        </>
      )}
      <DocumentsSection personId={personId} session={session} pos={pos} onWrite={wrote} />
    </>
  );
}

function OpenCase({ personId, session, onWrite }: { personId: string; session: Session; onWrite: (r: Written) => void }) {
  const [programme, setProgramme] = useState('adi');
  const [activationDate, setActivationDate] = useState(today());
  const [accessPoint, setAccessPoint] = useState('');
  useLive(async () => {
    const p = await person(personId);
    if (p && !accessPoint) setAccessPoint(p.accessPoint);
    return p;
  }, [personId]);
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<Written>(
        'POST',
        `/persons/${personId}/case`,
        { programme, activationDate, accessPoint: accessPoint.trim(), caseManager: { memberId: session.user.sub, role: session.user.teamRole } },
        { idempotencyKey: key },
      ),
    onWrite,
  );
  return (
    <form class="os-form border rounded p-3" onSubmit={submit}>
      <p>{tc('noCase')}</p>
      <Field label={tc('programme')} name="programme" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={programme} onChange={(e) => setProgramme(value(e))}>
            <Options kind="programme" codes={['adi', 'generic']} />
          </select>
        )}
      </Field>
      <Field label={tc('activationDate')} name="activationDate" problem={problem}>
        {(a) => <input {...a} type="date" value={activationDate} onInput={(e) => setActivationDate(value(e))} />}
      </Field>
      <Field label={tc('accessPoint')} name="accessPoint" problem={problem}>
        {(a) => <input {...a} value={accessPoint} onInput={(e) => setAccessPoint(value(e))} autocomplete="off" />}
      </Field>
      <p>
        {tc('caseManager')}: {session.user.name ?? session.user.sub}
      </p>
      <ProblemAlert problem={problem} fields={['programme', 'activationDate', 'accessPoint']} />
      <Submit busy={busy} label={tc('openCase')} />
    </form>
  );
}

function CaseCard({ personId, c, onWrite }: { personId: string; c: CareCase; onWrite: (r: Written) => void }) {
  return (
    <>
      <dl class="row" data-testid="care-case" data-status={c.status}>
        <dt class="col-sm-4">{tc('status')}</dt>
        <dd class="col-sm-8">{label('caseStatus', c.status)}</dd>
        <dt class="col-sm-4">{tc('programme')}</dt>
        <dd class="col-sm-8">{label('programme', c.programme)}</dd>
        <dt class="col-sm-4">{tc('activationDate')}</dt>
        <dd class="col-sm-8">{formatDate(c.activationDate)}</dd>
        <dt class="col-sm-4">{tc('accessPoint')}</dt>
        <dd class="col-sm-8">{c.accessPoint}</dd>
        <dt class="col-sm-4">{tc('caseManager')}</dt>
        <dd class="col-sm-8">{c.caseManager ? `${c.caseManager.memberId} (${label('teamRole', c.caseManager.role)})` : '—'}</dd>
      </dl>
      <div class="row">
        {c.status === 'open' ? (
          <>
            <div class="col-lg-6">
              <TransferCase personId={personId} onWrite={onWrite} />
            </div>
            <div class="col-lg-6">
              <CloseCase personId={personId} onWrite={onWrite} />
            </div>
          </>
        ) : (
          <div class="col-lg-6">
            <ReopenCase personId={personId} onWrite={onWrite} />
          </div>
        )}
      </div>
    </>
  );
}

function TransferCase({ personId, onWrite }: { personId: string; onWrite: (r: Written) => void }) {
  const [memberId, setMemberId] = useState('');
  const [role, setRole] = useState<string>('social_worker');
  const [reason, setReason] = useState('workload');
  const { submit, busy, problem } = useSubmit((key) => api<Written>('POST', `/persons/${personId}/case/transfer`, { to: { memberId: memberId.trim(), role }, reason }, { idempotencyKey: key }), onWrite);
  return (
    <form class="os-form border rounded p-3 mb-3" onSubmit={submit}>
      <h3 class="h5">{tc('transfer')}</h3>
      <Field label={tc('memberId')} name="memberId" problem={problem}>
        {(a) => <input {...a} value={memberId} onInput={(e) => setMemberId(value(e))} autocomplete="off" />}
      </Field>
      <Field label={tc('memberRole')} name="role" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={role} onChange={(e) => setRole(value(e))}>
            <Options kind="teamRole" codes={TEAM_ROLES} />
          </select>
        )}
      </Field>
      <Field label={tc('reason')} name="reason" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
            <Options kind="transferReason" codes={['workload', 'competence', 'staff_left', 'person_request', 'conflict_of_interest', 'other']} />
          </select>
        )}
      </Field>
      <ProblemAlert problem={problem} fields={['memberId', 'role', 'reason']} />
      <Submit busy={busy} label={tc('transfer')} variant="outline-primary" />
    </form>
  );
}

function CloseCase({ personId, onWrite }: { personId: string; onWrite: (r: Written) => void }) {
  const [reason, setReason] = useState('goals_achieved');
  const [note, setNote] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/case/closure`, { reason, ...(note.trim() ? { note: note.trim() } : {}) }, { idempotencyKey: key }),
    onWrite,
  );
  return (
    <form class="os-form border rounded p-3 mb-3" onSubmit={submit}>
      <h3 class="h5">{tc('close')}</h3>
      <Field label={tc('reason')} name="reason" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
            <Options kind="closeReason" codes={['goals_achieved', 'moved_away', 'dropped_out', 'deceased', 'other']} />
          </select>
        )}
      </Field>
      {/* the API's `note_required` (reason `other` without a note) belongs to the note */}
      <Field label={tc('closeNote')} name="note" problem={problem} error={problem?.code === 'note_required' ? tc('noteRequired') : undefined} hint={tc('closeNoteHint')}>
        {(a) => <textarea {...a} rows={2} value={note} onInput={(e) => setNote(value(e))} />}
      </Field>
      <ProblemAlert problem={problem?.code === 'note_required' ? undefined : problem} fields={['reason', 'note']} />
      <Submit busy={busy} label={tc('close')} variant="outline-danger" />
    </form>
  );
}

function ReopenCase({ personId, onWrite }: { personId: string; onWrite: (r: Written) => void }) {
  const [activationDate, setActivationDate] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/case/reopening`, activationDate ? { activationDate } : {}, { idempotencyKey: key }),
    onWrite,
  );
  return (
    <form class="os-form border rounded p-3 mb-3" onSubmit={submit}>
      <h3 class="h5">{tc('reopen')}</h3>
      <Field label={tc('newActivation')} name="activationDate" problem={problem}>
        {(a) => <input {...a} type="date" value={activationDate} onInput={(e) => setActivationDate(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['activationDate']} />
      <Submit busy={busy} label={tc('reopen')} />
    </form>
  );
}

// ── Plan ─────────────────────────────────────────────────────────────────────

function PlanSection({ personId, session, open, pos, onWrite }: { personId: string; session: Session; open: boolean; pos: number | undefined; onWrite: (r: Written) => void }) {
  const [asOf, setAsOf] = useState('');
  const [shown, setShown] = useState('');
  const plan = useLive((a) => orNone(api<Plan>('GET', withAfter(`/persons/${personId}/plan${shown ? `?asOf=${shown}` : ''}`, a))), [personId, pos, shown]);
  return (
    <Section title={tc('planTitle')} id="care-plan">
      <form
        class="d-flex gap-2 align-items-end mb-3"
        onSubmit={(e) => {
          e.preventDefault();
          setShown(asOf);
        }}
      >
        <div>
          <label for="plan-as-of">{tc('asOf')}</label>
          <input id="plan-as-of" class="form-control" type="date" value={asOf} onInput={(e) => setAsOf(value(e))} />
        </div>
        <button type="submit" class="btn btn-outline-primary">
          {tc('show')}
        </button>
        {shown && (
          <button type="button" class="btn btn-link" onClick={() => (setAsOf(''), setShown(''))}>
            {tc('now')}
          </button>
        )}
      </form>
      {plan.data === undefined ? (
        <Loading error={plan.error} />
      ) : plan.data === null ? (
        <>
          <p>{tc('noPlan')}</p>
          {open && !shown && <AgreePlan personId={personId} session={session} onWrite={onWrite} />}
        </>
      ) : (
        <PlanView personId={personId} plan={plan.data} editable={open && !shown} onWrite={onWrite} />
      )}
    </Section>
  );
}

function PlanView({ personId, plan, editable, onWrite }: { personId: string; plan: Plan; editable: boolean; onWrite: (r: Written) => void }) {
  return (
    <div data-testid="care-plan" data-version={plan.version}>
      <p>
        {tc('version')} {plan.version} · {tc('reviewDate')}: {formatDate(plan.reviewDate)}
      </p>
      <table class="table os-table">
        <thead>
          <tr>
            <th scope="col">{tc('goal')}</th>
            <th scope="col">{tc('owner')}</th>
            <th scope="col">{tc('progress')}</th>
          </tr>
        </thead>
        <tbody>
          {plan.goals.map((g) => (
            <tr key={g.goalId}>
              <th scope="row">
                {label('domain', g.domain)}: {g.description ?? '—'} ({formatDate(g.targetDate)})
              </th>
              <td>{ownerText(g.owner)}</td>
              <td>
                {g.progress ? label('progress', g.progress) : '—'}
                {g.progressNote && ` — ${g.progressNote}`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editable && plan.goals.length > 0 && <GoalProgress personId={personId} goals={plan.goals} onWrite={onWrite} />}
      <h3 class="h6">{tc('commitmentsPerson')}</h3>
      <ul>
        {plan.personCommitments.map((c, i) => (
          <li key={i}>{c ?? '—'}</li>
        ))}
      </ul>
      <h3 class="h6">{tc('commitmentsServices')}</h3>
      <ul>
        {plan.serviceCommitments.map((c, i) => (
          <li key={i}>
            {c.text ?? '—'} ({ownerText(c.owner)})
          </li>
        ))}
      </ul>
    </div>
  );
}

function GoalProgress({ personId, goals, onWrite }: { personId: string; goals: Plan['goals']; onWrite: (r: Written) => void }) {
  const [goalId, setGoalId] = useState(goals[0]!.goalId);
  const [progress, setProgress] = useState('partially_achieved');
  const [note, setNote] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/plan/goals/${goalId}/progress`, { progress, ...(note.trim() ? { note: note.trim() } : {}) }, { idempotencyKey: key }),
    (r) => (setNote(''), onWrite(r)),
  );
  return (
    <form class="os-form border rounded p-3 mb-3" onSubmit={submit}>
      <h3 class="h5">{tc('recordProgress')}</h3>
      <Field label={tc('goal')} name="goalId" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={goalId} onChange={(e) => setGoalId(value(e))}>
            {goals.map((g) => (
              <option key={g.goalId} value={g.goalId}>
                {label('domain', g.domain)}: {g.description ?? '—'}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label={tc('progress')} name="progress" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={progress} onChange={(e) => setProgress(value(e))}>
            <Options kind="progress" codes={['achieved', 'partially_achieved', 'not_achieved', 'dropped']} />
          </select>
        )}
      </Field>
      <Field label={tc('note')} name="note" problem={problem}>
        {(a) => <input {...a} value={note} onInput={(e) => setNote(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['goalId', 'progress', 'note']} />
      <Submit busy={busy} label={tc('recordProgress')} variant="outline-primary" />
    </form>
  );
}

function AgreePlan({ personId, session, onWrite }: { personId: string; session: Session; onWrite: (r: Written) => void }) {
  const assessment = useLive(async (a) => {
    const list = (await api<{ assessments: Array<{ assessmentId: string; status: string }> }>('GET', withAfter(`/persons/${personId}/assessments`, a))).assessments;
    const done = list.filter((x) => x.status === 'completed').at(-1);
    return done ? api<Assessment>('GET', `/assessments/${done.assessmentId}`) : null;
  }, [personId]);
  const members = useTeam(personId, session);
  const [owners, setOwners] = useState<Record<string, string>>({});
  const [serviceOwner, setServiceOwner] = useState(session.user.sub);
  const [personCommitments, setPersonCommitments] = useState('');
  const [serviceCommitments, setServiceCommitments] = useState('');
  const [reviewDate, setReviewDate] = useState('');
  const owner = (memberId: string): Owner => {
    const m = members.find((x) => x.memberId === memberId) ?? members[0]!;
    return { kind: 'team', memberId: m.memberId, role: m.role };
  };
  const x = assessment.data;
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<Written>(
        'POST',
        `/persons/${personId}/plan`,
        {
          assessmentId: x!.assessmentId,
          owners: x!.goals.map((g) => ({ goalId: g.goalId, owner: owner(owners[g.goalId] ?? session.user.sub) })),
          personCommitments: lines(personCommitments),
          serviceCommitments: lines(serviceCommitments).map((text) => ({ owner: owner(serviceOwner), text })),
          reviewDate,
        },
        { idempotencyKey: key },
      ),
    onWrite,
  );
  if (x === undefined) return <Loading error={assessment.error} />;
  if (x === null) return <p class="alert alert-info">{tc('needsCompleted')}</p>;
  return (
    <form class="os-form border rounded p-3" onSubmit={submit}>
      <h3 class="h5">{tc('agreePlan')}</h3>
      {x.goals.map((g, i) => (
        <fieldset key={g.goalId} class="os-domain">
          <legend>
            {tc('goal')} — {label('domain', g.domain)}: {g.description ?? '—'} ({formatDate(g.targetDate)})
          </legend>
          <Field label={`${tc('owner')} — ${label('domain', g.domain)}`} name={`owners.${i}.owner`} problem={problem}>
            {(a) => (
              <select {...a} class="form-select" value={owners[g.goalId] ?? session.user.sub} onChange={(e) => setOwners({ ...owners, [g.goalId]: value(e) })}>
                <MemberOptions members={members} />
              </select>
            )}
          </Field>
        </fieldset>
      ))}
      <Field label={tc('personCommitments')} name="personCommitments" problem={problem}>
        {(a) => <textarea {...a} rows={3} value={personCommitments} onInput={(e) => setPersonCommitments(value(e))} />}
      </Field>
      <Field label={tc('serviceCommitments')} name="serviceCommitments" problem={problem}>
        {(a) => <textarea {...a} rows={3} value={serviceCommitments} onInput={(e) => setServiceCommitments(value(e))} />}
      </Field>
      <Field label={tc('serviceOwner')} name="serviceOwner" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={serviceOwner} onChange={(e) => setServiceOwner(value(e))}>
            <MemberOptions members={members} />
          </select>
        )}
      </Field>
      <Field label={tc('reviewDate')} name="reviewDate" problem={problem}>
        {(a) => <input {...a} type="date" value={reviewDate} onInput={(e) => setReviewDate(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['personCommitments', 'serviceCommitments', 'reviewDate', ...x.goals.map((_, i) => `owners.${i}.owner`)]} />
      <Submit busy={busy} label={tc('agreePlan')} />
    </form>
  );
}

// ── Meetings ─────────────────────────────────────────────────────────────────

function MeetingsSection({ personId, session, open, pos, onWrite }: { personId: string; session: Session; open: boolean; pos: number | undefined; onWrite: (r: Written) => void }) {
  const list = useLive((a) => api<{ meetings: Meeting[] }>('GET', withAfter(`/persons/${personId}/meetings`, a)), [personId, pos]);
  return (
    <Section title={tc('meetingsTitle')} id="care-meetings">
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.meetings.length === 0 ? (
        <p>{tc('noMeetings')}</p>
      ) : (
        <ul class="list-unstyled" data-testid="care-meetings">
          {list.data.meetings.map((m) => (
            <li key={m.meetingId} class="border rounded p-3 mb-2" data-meeting={m.meetingId} data-status={m.status}>
              <strong>
                {label('meetingKind', m.kind)} — {formatDate(m.at, true)}
              </strong>{' '}
              · {label('modality', m.modality)}
              {m.place ? ` · ${m.place}` : ''} · {label('meetingStatus', m.status)}
              {m.status === 'held' && (
                <p class="mb-0">
                  {tc('heldAt')} {formatDate(m.heldAt, true)} · {tc('attendees')}: {m.attendees.map((x) => x.memberId).join(', ') || '—'} · {tc('personAttended')}: {m.personAttended ? '✓' : '✗'}
                  {m.minutes ? ` · ${tc('minutes')}: ${m.minutes}` : ''}
                </p>
              )}
              {m.status === 'missed' && (
                <p class="mb-0">
                  {m.missedReason ? label('missedReason', m.missedReason) : '—'} · {tc('justified')}: {m.justified ? '✓' : '✗'}
                  {m.missedNote ? ` · ${m.missedNote}` : ''}
                </p>
              )}
              {open && m.status === 'scheduled' && <MeetingActions personId={personId} m={m} session={session} onWrite={onWrite} />}
            </li>
          ))}
        </ul>
      )}
      {open && <ScheduleMeeting personId={personId} onWrite={onWrite} />}
    </Section>
  );
}

function ScheduleMeeting({ personId, onWrite }: { personId: string; onWrite: (r: Written) => void }) {
  const [kind, setKind] = useState('first_meeting');
  const [at, setAt] = useState('');
  const [modality, setModality] = useState('in_person');
  const [place, setPlace] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/meetings`, { kind, at: instant(at), modality, ...(place.trim() ? { place: place.trim() } : {}) }, { idempotencyKey: key }),
    (r) => (setAt(''), onWrite(r)),
  );
  return (
    <form class="os-form border rounded p-3" onSubmit={submit}>
      <h3 class="h5">{tc('schedule')}</h3>
      <Field label={tc('kind')} name="kind" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={kind} onChange={(e) => setKind(value(e))}>
            <Options kind="meetingKind" codes={['first_meeting', 'review', 'other']} />
          </select>
        )}
      </Field>
      <Field label={tc('when')} name="at" problem={problem}>
        {(a) => <input {...a} type="datetime-local" value={at} onInput={(e) => setAt(value(e))} />}
      </Field>
      <Field label={tc('modality')} name="modality" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={modality} onChange={(e) => setModality(value(e))}>
            <Options kind="modality" codes={['in_person', 'phone', 'video', 'home_visit']} />
          </select>
        )}
      </Field>
      <Field label={tc('place')} name="place" problem={problem}>
        {(a) => <input {...a} value={place} onInput={(e) => setPlace(value(e))} autocomplete="off" />}
      </Field>
      <ProblemAlert problem={problem} fields={['kind', 'at', 'modality', 'place']} />
      <Submit busy={busy} label={tc('schedule')} />
    </form>
  );
}

function MeetingActions({ personId, m, session, onWrite }: { personId: string; m: Meeting; session: Session; onWrite: (r: Written) => void }) {
  const [action, setAction] = useState<'' | 'hold' | 'miss' | 'reschedule'>('');
  const done = (r: Written) => (setAction(''), onWrite(r));
  return (
    <div class="mt-2">
      <div class="d-flex gap-2" role="group">
        {(['hold', 'reschedule', 'miss'] as const).map((x) => (
          <button key={x} type="button" class="btn btn-sm btn-outline-primary" aria-pressed={action === x} onClick={() => setAction(action === x ? '' : x)}>
            {tc(x)}
          </button>
        ))}
      </div>
      {action === 'hold' && <HoldMeeting personId={personId} m={m} session={session} onWrite={done} />}
      {action === 'reschedule' && <RescheduleMeeting personId={personId} m={m} onWrite={done} />}
      {action === 'miss' && <MissMeeting personId={personId} m={m} onWrite={done} />}
    </div>
  );
}

function HoldMeeting({ personId, m, session, onWrite }: { personId: string; m: Meeting; session: Session; onWrite: (r: Written) => void }) {
  const [heldAt, setHeldAt] = useState('');
  const [personAttended, setPersonAttended] = useState(true);
  const members = useTeam(personId, session);
  const [present, setPresent] = useState<Record<string, boolean>>({ [session.user.sub]: true });
  const [minutes, setMinutes] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<Written>(
        'POST',
        `/persons/${personId}/meetings/${m.meetingId}/held`,
        {
          heldAt: heldAt ? instant(heldAt) : new Date().toISOString(),
          personAttended,
          attendees: members.filter((x) => present[x.memberId]),
          ...(minutes.trim() ? { minutes: minutes.trim() } : {}),
        },
        { idempotencyKey: key },
      ),
    onWrite,
  );
  return (
    <form class="os-form mt-2" onSubmit={submit}>
      <Field label={tc('heldAt')} name="heldAt" problem={problem} hint={tc('heldAtHint')}>
        {(a) => <input {...a} type="datetime-local" value={heldAt} onInput={(e) => setHeldAt(value(e))} />}
      </Field>
      <div class="form-check mb-3">
        <input id={`attended-${m.meetingId}`} type="checkbox" class="form-check-input" checked={personAttended} onChange={(e) => setPersonAttended(e.currentTarget.checked)} />
        <label for={`attended-${m.meetingId}`} class="form-check-label">
          {tc('personAttended')}
        </label>
      </div>
      <fieldset class="mb-3">
        <legend class="h6">{tc('attendees')}</legend>
        {members.map((x) => (
          <div class="form-check" key={x.memberId}>
            <input
              id={`present-${m.meetingId}-${x.memberId}`}
              type="checkbox"
              class="form-check-input"
              checked={present[x.memberId] ?? false}
              onChange={(e) => setPresent({ ...present, [x.memberId]: e.currentTarget.checked })}
            />
            <label for={`present-${m.meetingId}-${x.memberId}`} class="form-check-label">
              {x.memberId} ({label('teamRole', x.role)})
            </label>
          </div>
        ))}
        {problem?.field('attendees') && <div class="invalid-feedback d-block">{problem.field('attendees')}</div>}
      </fieldset>
      <Field label={tc('minutes')} name="minutes" problem={problem}>
        {(a) => <textarea {...a} rows={3} value={minutes} onInput={(e) => setMinutes(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['heldAt', 'attendees', 'minutes']} />
      <Submit busy={busy} label={tc('holdSubmit')} />
    </form>
  );
}

function RescheduleMeeting({ personId, m, onWrite }: { personId: string; m: Meeting; onWrite: (r: Written) => void }) {
  const [at, setAt] = useState('');
  const [modality, setModality] = useState(m.modality);
  const [reason, setReason] = useState('person_request');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/meetings/${m.meetingId}/rescheduling`, { at: instant(at), modality, ...(m.place ? { place: m.place } : {}), reason }, { idempotencyKey: key }),
    onWrite,
  );
  return (
    <form class="os-form mt-2" onSubmit={submit}>
      <Field label={tc('when')} name="at" problem={problem}>
        {(a) => <input {...a} type="datetime-local" value={at} onInput={(e) => setAt(value(e))} />}
      </Field>
      <Field label={tc('modality')} name="modality" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={modality} onChange={(e) => setModality(value(e))}>
            <Options kind="modality" codes={['in_person', 'phone', 'video', 'home_visit']} />
          </select>
        )}
      </Field>
      <Field label={tc('reason')} name="reason" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
            <Options kind="rescheduleReason" codes={['person_request', 'team_request', 'other']} />
          </select>
        )}
      </Field>
      <ProblemAlert problem={problem} fields={['at', 'modality', 'reason']} />
      <Submit busy={busy} label={tc('rescheduleSubmit')} />
    </form>
  );
}

function MissMeeting({ personId, m, onWrite }: { personId: string; m: Meeting; onWrite: (r: Written) => void }) {
  const [justified, setJustified] = useState(false);
  const [reason, setReason] = useState('no_show');
  const [note, setNote] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) => api<Written>('POST', `/persons/${personId}/meetings/${m.meetingId}/missed`, { justified, reason, ...(note.trim() ? { note: note.trim() } : {}) }, { idempotencyKey: key }),
    onWrite,
  );
  return (
    <form class="os-form mt-2" onSubmit={submit}>
      <div class="form-check mb-3">
        <input id={`justified-${m.meetingId}`} type="checkbox" class="form-check-input" checked={justified} onChange={(e) => setJustified(e.currentTarget.checked)} />
        <label for={`justified-${m.meetingId}`} class="form-check-label">
          {tc('justified')}
        </label>
      </div>
      <Field label={tc('reason')} name="reason" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
            <Options kind="missedReason" codes={['illness', 'work', 'family_care', 'transport', 'not_reached', 'no_show', 'other']} />
          </select>
        )}
      </Field>
      <Field label={tc('note')} name="note" problem={problem}>
        {(a) => <input {...a} value={note} onInput={(e) => setNote(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['reason', 'note']} />
      <Submit busy={busy} label={tc('missSubmit')} variant="outline-danger" />
    </form>
  );
}

// ── Notes ────────────────────────────────────────────────────────────────────

function NotesSection({ personId, open, pos, onWrite }: { personId: string; open: boolean; pos: number | undefined; onWrite: (r: Written) => void }) {
  const list = useLive((a) => api<{ notes: Note[] }>('GET', withAfter(`/persons/${personId}/notes`, a)), [personId, pos]);
  const referrals = useLive((a) => api<Referral[]>('GET', withAfter(`/persons/${personId}/referrals`, a)), [personId]);
  const openReferrals = (referrals.data ?? []).filter((r) => ['requested', 'accepted', 'in-progress'].includes(r.status));
  const [text, setText] = useState('');
  const [visibility, setVisibility] = useState('team');
  const [referralId, setReferralId] = useState('');
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<Written>(
        'POST',
        `/persons/${personId}/notes`,
        { text: text.trim(), visibility, ...(visibility === 'shared' ? { referralId: referralId || openReferrals[0]?.referralId } : {}) },
        { idempotencyKey: key },
      ),
    (r) => (setText(''), onWrite(r)),
  );
  return (
    <Section title={tc('notesTitle')} id="care-notes">
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.notes.length === 0 ? (
        <p>{tc('noNotes')}</p>
      ) : (
        <ul class="list-unstyled" data-testid="care-notes">
          {list.data.notes.map((n) => (
            <li key={n.noteId} class="border-start border-3 ps-3 mb-3">
              <small class="text-secondary">
                {formatDate(n.writtenAt, true)} · {tc('by')} {n.writtenBy} · {label('visibility', n.visibility)}
                {n.partnerId ? ` (${n.partnerId})` : ''}
              </small>
              <p class="mb-0">{n.text ?? '—'}</p>
            </li>
          ))}
        </ul>
      )}
      {open && (
        <form class="os-form border rounded p-3" onSubmit={submit}>
          <Field label={tc('text')} name="text" problem={problem}>
            {(a) => <textarea {...a} rows={3} value={text} onInput={(e) => setText(value(e))} />}
          </Field>
          <Field label={tc('visibility')} name="visibility" problem={problem}>
            {(a) => (
              <select {...a} class="form-select" value={visibility} onChange={(e) => setVisibility(value(e))}>
                <Options kind="visibility" codes={openReferrals.length ? ['team', 'shared'] : ['team']} />
              </select>
            )}
          </Field>
          {visibility === 'shared' && (
            <Field label={tc('referral')} name="referralId" problem={problem}>
              {(a) => (
                <select {...a} class="form-select" value={referralId || openReferrals[0]?.referralId} onChange={(e) => setReferralId(value(e))}>
                  {openReferrals.map((r) => (
                    <option key={r.referralId} value={r.referralId}>
                      {r.partnerId} — {r.serviceId} ({label('status', r.status)})
                    </option>
                  ))}
                </select>
              )}
            </Field>
          )}
          <ProblemAlert problem={problem} fields={['text', 'visibility', 'referralId']} />
          <Submit busy={busy} label={tc('writeNote')} />
        </form>
      )}
    </Section>
  );
}

// ── Documents ────────────────────────────────────────────────────────────────

/** the file's bytes as the body, its type in Content-Type, its name percent-encoded in X-File-Name (documents-routes.ts) */
async function upload(personId: string, file: File, key: string, token: string): Promise<Written> {
  const res = await fetch(`/persons/${personId}/documents`, {
    method: 'POST',
    headers: {
      ...bearer(token),
      'content-type': file.type || 'application/octet-stream',
      'x-file-name': encodeURIComponent(file.name),
      'idempotency-key': key,
      accept: 'application/json',
    },
    body: file,
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const code = typeof json['type'] === 'string' ? String(json['type']).split('/').pop()! : `http_${res.status}`;
    throw new Problem(res.status, code, String(json['detail'] ?? res.statusText), [], { ...json, field: 'file' });
  }
  return json as Written;
}

/** the session's bearer token, for the two calls that are not JSON (upload, download) */
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function download(doc: Doc, token: string): Promise<void> {
  const res = await fetch(`/documents/${doc.documentId}`, { headers: bearer(token) });
  if (!res.ok) throw new Problem(res.status, `http_${res.status}`, res.statusText);
  const name = /filename\*=UTF-8''([^;]+)/i.exec(res.headers.get('content-disposition') ?? '')?.[1];
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name ? decodeURIComponent(name) : doc.documentId;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function DocumentsSection({ personId, session, pos, onWrite }: { personId: string; session: Session; pos: number | undefined; onWrite: (r: Written) => void }) {
  const list = useLive((a) => api<Doc[]>('GET', withAfter(`/persons/${personId}/documents`, a)), [personId, pos]);
  const [file, setFile] = useState<File>();
  const [uploads, setUploads] = useState(0);
  const [failed, setFailed] = useState<Problem>();
  const { submit, busy, problem } = useSubmit(
    (key) => (file ? upload(personId, file, key, session.token) : Promise.reject(new Problem(422, 'validation', tc('file'), [{ path: 'file', message: tc('file') }]))),
    (r) => (setFile(undefined), setUploads((n) => n + 1), onWrite(r)),
  );
  return (
    <Section title={tc('documentsTitle')} id="care-documents">
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.length === 0 ? (
        <p>{tc('noDocuments')}</p>
      ) : (
        <table class="table os-table" data-testid="care-documents">
          <thead>
            <tr>
              <th scope="col">{tc('addedAt')}</th>
              <th scope="col">{tc('type')}</th>
              <th scope="col">{tc('size')}</th>
              <th scope="col">{tc('download')}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((d) => (
              <tr key={d.documentId}>
                <th scope="row">{formatDate(d.addedAt, true)}</th>
                <td>{d.contentType}</td>
                <td>{Math.ceil(d.size / 1024)} KB</td>
                <td>
                  <button type="button" class="btn btn-sm btn-outline-primary" onClick={() => download(d, session.token).catch((e: unknown) => setFailed(e instanceof Problem ? e : undefined))}>
                    {tc('download')}
                    <span class="visually-hidden"> {formatDate(d.addedAt, true)}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ProblemAlert problem={failed} />
      <form class="os-form border rounded p-3" onSubmit={submit}>
        <Field label={tc('file')} name="file" problem={problem}>
          {(a) => <input {...a} key={uploads} type="file" accept="application/pdf,image/png,image/jpeg" onChange={(e) => setFile(e.currentTarget.files?.[0])} />}
        </Field>
        <ProblemAlert problem={problem} fields={['file']} />
        <Submit busy={busy} label={tc('upload')} />
      </form>
    </Section>
  );
}
