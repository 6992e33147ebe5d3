import { useState } from 'preact/hooks';
import { api } from '../api';
import { label, levelMeaning, t, tc } from '../i18n';
import { go } from '../nav';
import type { Session } from '../session';
import { DeadlinesThisWeek } from './casework';
import { Field, formatDate, Loading, ProblemAlert, Section, Submit, useLive, useSubmit, value, withAfter } from '../ui';
import { DOMAINS, fullName, person, TEAM_ROLES, type Assessment, type CaseOverview, type Partner, type Referral } from './common';

// The multidisciplinary team: my caseload, an assessment started with a team,
// the seven domains evaluated 0–4 with notes, goals for the priority domains,
// completion, referral to a partner that offers the domain (free places and
// response days shown), and the referrals followed and cancelled.

interface CaseRow {
  overview: CaseOverview;
  name: string | null;
  mine: boolean;
  assessments: Array<{ assessmentId: string; status: string; team: Array<{ memberId: string }> }>;
}

/** My caseload: the people whose assessment team I am on (and, on request, every recent case). */
export function Caseload({ session }: { session: Session }) {
  const [all, setAll] = useState(false);
  const rows = useLive(async (a) => {
    const cases = await api<CaseOverview[]>('GET', withAfter('/api/cases?limit=50', a));
    return Promise.all(
      cases.map(async (overview): Promise<CaseRow> => {
        const [detail, p] = await Promise.all([
          api<CaseOverview & { assessmentList: CaseRow['assessments'] }>('GET', `/api/cases/${overview.personId}`),
          person(overview.personId),
        ]);
        const mine = detail.assessmentList.some((x) => x.team.some((m) => m.memberId === session.user.sub));
        return { overview, name: fullName(p), mine, assessments: detail.assessmentList };
      }),
    );
  }, []);
  const shown = (rows.data ?? []).filter((r) => all || r.mine);
  return (
    <>
      <h1 class="h2 mb-3">{t('navCaseload')}</h1>
      <DeadlinesThisWeek {...(all ? {} : { only: session.user.sub })} />
      <div class="form-check mb-3">
        <input id="show-all" type="checkbox" class="form-check-input" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} />
        <label for="show-all" class="form-check-label">
          {t('showAllCases')}
        </label>
      </div>
      {!rows.data ? (
        <Loading error={rows.error} />
      ) : shown.length === 0 ? (
        <p>{t('noCases')}</p>
      ) : (
        <table class="table os-table" data-testid="caseload">
          <thead>
            <tr>
              <th scope="col">{t('name')}</th>
              <th scope="col">{t('consents')}</th>
              <th scope="col">{t('assessments')}</th>
              <th scope="col">{t('openReferrals')}</th>
              <th scope="col">{t('overdue')}</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.overview.personId}>
                <td>
                  <a href={`#/person/${r.overview.personId}`}>{r.name ?? t('erasedPerson')}</a>
                </td>
                <td>
                  {r.overview.person?.consents.assessment ? '✓' : '✗'} {label('scope', 'assessment')} · {r.overview.person?.consents.referral_sharing ? '✓' : '✗'} {label('scope', 'referral_sharing')}
                </td>
                <td>
                  {r.overview.assessmentsCompleted}/{r.overview.assessments}
                </td>
                <td>{r.overview.openReferrals}</td>
                <td>{r.overview.overdueReferrals > 0 ? <strong class="text-danger">{r.overview.overdueReferrals}</strong> : 0}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** On a person's page, for the team: their assessments, starting one, their referrals. */
export function PersonTeamPanel({ personId, session, consents }: { personId: string; session: Session; consents: { assessment: { active: boolean } } }) {
  const [pos, setPos] = useState<number>();
  const list = useLive(
    async (a) =>
      (await api<{ assessments: Array<{ assessmentId: string; status: string; startedAt: string; priorityDomains: string[] | null }> }>('GET', withAfter(`/persons/${personId}/assessments`, pos ?? a)))
        .assessments,
    [personId, pos],
  );
  const open = list.data?.find((x) => x.status === 'open');
  return (
    <>
      <p>
        <a class="btn btn-primary" href={`#/care/${personId}`} data-testid="open-care">
          {tc('openLink')}
        </a>
      </p>
      <Section title={t('assessments')} id="assessments">
        {!list.data ? (
          <Loading error={list.error} />
        ) : list.data.length === 0 ? (
          <p>{t('noAssessments')}</p>
        ) : (
          <ul>
            {list.data.map((x) => (
              <li key={x.assessmentId}>
                <a href={`#/assessment/${x.assessmentId}`}>
                  {t('assessmentOf')} {formatDate(x.startedAt)} — {label('assessmentStatus', x.status)}
                </a>
              </li>
            ))}
          </ul>
        )}
        {list.data && !open && consents.assessment.active && <StartAssessment personId={personId} session={session} onStarted={(p, id) => (setPos(p), go(`assessment/${id}`))} />}
        {!consents.assessment.active && <p class="alert alert-info">{t('needsAssessmentConsent')}</p>}
      </Section>
      <PersonReferrals personId={personId} />
    </>
  );
}

function StartAssessment({ personId, session, onStarted }: { personId: string; session: Session; onStarted: (position: number, id: string) => void }) {
  const [colleague, setColleague] = useState('');
  const [role, setRole] = useState<string>(TEAM_ROLES.find((r) => r !== session.user.teamRole) ?? 'social_worker');
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<{ assessmentId: string; position: number }>(
        'POST',
        '/assessments',
        { personId, team: [{ memberId: session.user.sub, role: session.user.teamRole }, { memberId: colleague.trim(), role }] },
        { idempotencyKey: key },
      ),
    (r) => onStarted(r.position, r.assessmentId),
  );
  return (
    <form class="os-form border rounded p-3" onSubmit={submit}>
      <h3 class="h5">{t('startAssessment')}</h3>
      <p>
        {t('teamYou')}: {session.user.name ?? session.user.sub} ({label('teamRole', session.user.teamRole ?? '')})
      </p>
      <Field label={t('colleagueId')} name="memberId" problem={problem} hint={t('colleagueHint')}>
        {(a) => <input {...a} value={colleague} onInput={(e) => setColleague(value(e))} autocomplete="off" />}
      </Field>
      <Field label={t('colleagueRole')} name="role" problem={problem}>
        {(a) => (
          <select {...a} class="form-select" value={role} onChange={(e) => setRole(value(e))}>
            {TEAM_ROLES.map((r) => (
              <option key={r} value={r}>
                {label('teamRole', r)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ProblemAlert problem={problem} fields={['memberId', 'role']} />
      <Submit busy={busy} label={t('startAssessment')} />
    </form>
  );
}

/** The seven domains, goals for the priority ones, completion; then referral. */
export function AssessmentPage({ id, session }: { id: string; session: Session }) {
  const [pos, setPos] = useState<number>();
  const a = useLive(() => api<Assessment>('GET', `/assessments/${id}`), [id, pos]);
  const wrote = (p?: number) => setPos(p ?? Date.now());
  if (!a.data) return <Loading error={a.error} />;
  const x = a.data;
  const levels = Object.fromEntries(x.evaluations.map((e) => [e.domain, e.needLevel]));
  const priority = DOMAINS.filter((d) => (levels[d] ?? 0) >= 3);
  return (
    <>
      <p>
        <a href={`#/person/${x.personId}`}>← {t('backToPerson')}</a>
      </p>
      <h1 class="h2">
        {t('assessment')} — {label('assessmentStatus', x.status)}
      </h1>
      <p>
        {t('team')}: {x.team.map((m) => `${m.memberId} (${label('teamRole', m.role)})`).join(', ')}
      </p>
      {x.status === 'open' && (
        <>
          <Section title={t('domains')} id="domains">
            {DOMAINS.map((d) => (
              <DomainForm key={d} assessmentId={id} domain={d} current={x.evaluations.find((e) => e.domain === d)} onWrite={wrote} />
            ))}
          </Section>
          <Completion assessmentId={id} priority={priority} evaluated={x.evaluations.length} onWrite={wrote} />
        </>
      )}
      {x.status === 'completed' && (
        <>
          <Section title={t('needProfile')} id="profile">
            <ul data-testid="need-profile">
              {DOMAINS.map((d) => (
                <li key={d}>
                  {label('domain', d)}: <span class="os-level">{x.needProfile?.[d] ?? 0}</span> — {levelMeaning(x.needProfile?.[d] ?? 0)}
                </li>
              ))}
            </ul>
            <h3 class="h5">{t('goals')}</h3>
            <ul>
              {x.goals.map((g) => (
                <li key={g.goalId}>
                  {label('domain', g.domain)}: {g.description ?? '—'} ({t('by')} {formatDate(g.targetDate)})
                </li>
              ))}
            </ul>
          </Section>
          <ReferForm assessment={x} session={session} />
        </>
      )}
    </>
  );
}

function DomainForm({ assessmentId, domain, current, onWrite }: { assessmentId: string; domain: string; current: Assessment['evaluations'][number] | undefined; onWrite: (p?: number) => void }) {
  const [level, setLevel] = useState<number | undefined>(current?.needLevel);
  const [notes, setNotes] = useState(current?.notes ?? '');
  const { submit, busy, problem } = useSubmit(
    (key) => api<{ position?: number }>('PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel: level, ...(notes.trim() ? { notes: notes.trim() } : {}) }, { idempotencyKey: key }),
    (r) => onWrite(r.position),
  );
  const name = `level-${domain}`;
  return (
    <form class="os-form os-domain" onSubmit={submit} data-domain={domain}>
      <fieldset>
        <legend>
          {label('domain', domain)}
          {current && (
            <span class="badge bg-success ms-2">
              {t('evaluated')}: {current.needLevel}
            </span>
          )}
        </legend>
        <div role="radiogroup" aria-label={`${t('needLevel')} — ${label('domain', domain)}`}>
          {[0, 1, 2, 3, 4].map((l) => (
            <div class="form-check" key={l}>
              <input class="form-check-input" type="radio" id={`${name}-${l}`} name={name} value={l} checked={level === l} onChange={() => setLevel(l)} />
              <label class="form-check-label" for={`${name}-${l}`}>
                <strong>{l}</strong> — {levelMeaning(l)}
              </label>
            </div>
          ))}
        </div>
        <Field label={t('notes')} name="notes" problem={problem}>
          {(a) => <textarea {...a} rows={2} value={notes} onInput={(e) => setNotes(value(e))} />}
        </Field>
        <ProblemAlert problem={problem} fields={['notes']} />
        <Submit busy={busy} label={`${t('saveDomain')}: ${label('domain', domain)}`} variant="outline-primary" />
      </fieldset>
    </form>
  );
}

function Completion({ assessmentId, priority, evaluated, onWrite }: { assessmentId: string; priority: string[]; evaluated: number; onWrite: (p?: number) => void }) {
  const [goals, setGoals] = useState<Record<string, { description: string; targetDate: string }>>({});
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<{ position?: number }>(
        'POST',
        `/assessments/${assessmentId}/completion`,
        { goals: priority.map((d) => ({ domain: d, description: goals[d]?.description.trim() ?? '', targetDate: goals[d]?.targetDate ?? '' })) },
        { idempotencyKey: key },
      ),
    (r) => onWrite(r.position),
  );
  const set = (d: string, k: 'description' | 'targetDate', v: string) => setGoals({ ...goals, [d]: { description: '', targetDate: '', ...goals[d], [k]: v } });
  return (
    <Section title={t('goalsAndCompletion')} id="completion">
      <p>
        {t('evaluatedCount')}: {evaluated}/7
      </p>
      <form class="os-form" onSubmit={submit}>
        {priority.length === 0 && <p>{t('noPriority')}</p>}
        {priority.map((d, i) => (
          <fieldset key={d} class="os-domain">
            <legend>
              {t('goalFor')} {label('domain', d)}
            </legend>
            <Field label={t('goalDescription')} name={`goals.${i}.description`} problem={problem}>
              {(a) => <input {...a} value={goals[d]?.description ?? ''} onInput={(e) => set(d, 'description', value(e))} />}
            </Field>
            <Field label={t('targetDate')} name={`goals.${i}.targetDate`} problem={problem}>
              {(a) => <input {...a} type="date" value={goals[d]?.targetDate ?? ''} onInput={(e) => set(d, 'targetDate', value(e))} />}
            </Field>
          </fieldset>
        ))}
        <ProblemAlert problem={problem} fields={priority.flatMap((_, i) => [`goals.${i}.description`, `goals.${i}.targetDate`])} />
        <Submit busy={busy} label={t('completeAssessment')} />
      </form>
    </Section>
  );
}

function ReferForm({ assessment, session: _session }: { assessment: Assessment; session: Session }) {
  const domains = DOMAINS.filter((d) => (assessment.needProfile?.[d] ?? 0) >= 1);
  const [domain, setDomain] = useState<string>(assessment.priorityDomains?.[0] ?? domains[0] ?? '');
  const [choice, setChoice] = useState('');
  const [reason, setReason] = useState('');
  const [priority, setPriority] = useState('routine');
  const [done, setDone] = useState<{ referralId: string; respondBy: string }>();
  const partners = useLive((a) => api<Partner[]>('GET', withAfter('/partners', a)), []);
  const offers = (partners.data ?? []).flatMap((p) =>
    p.services.filter((s) => s.domain === domain && Object.keys(p.agreements).length > 0).map((s) => ({ p, s, days: Math.min(...Object.values(p.agreements).map((x) => x.responseDays)) })),
  );
  const { submit, busy, problem } = useSubmit(
    (key) => {
      const [partnerId, serviceId] = choice.split('/');
      return api<{ referralId: string; respondBy: string }>('POST', '/referrals', { personId: assessment.personId, assessmentId: assessment.assessmentId, partnerId, serviceId, reason: reason.trim(), priority }, { idempotencyKey: key });
    },
    (r) => {
      setDone(r);
      setChoice('');
      setReason('');
    },
  );
  return (
    <Section title={t('referToPartner')} id="refer">
      {done && (
        <p class="alert alert-success" role="status">
          {t('referred')} {formatDate(done.respondBy)}
        </p>
      )}
      <form class="os-form" onSubmit={submit}>
        <Field label={t('domain')} name="domain" problem={problem}>
          {(a) => (
            <select {...a} class="form-select" value={domain} onChange={(e) => (setDomain(value(e)), setChoice(''))}>
              {domains.map((d) => (
                <option key={d} value={d}>
                  {label('domain', d)} ({t('needLevel')} {assessment.needProfile?.[d]})
                </option>
              ))}
            </select>
          )}
        </Field>
        <fieldset class="mb-3">
          <legend class="h6">{t('partnerService')}</legend>
          {offers.length === 0 && <p>{t('noOffers')}</p>}
          {offers.map(({ p, s, days }) => (
            <div class="form-check" key={`${p.partnerId}/${s.serviceId}`}>
              <input
                class="form-check-input"
                type="radio"
                name="offer"
                id={`offer-${p.partnerId}-${s.serviceId}`}
                value={`${p.partnerId}/${s.serviceId}`}
                checked={choice === `${p.partnerId}/${s.serviceId}`}
                disabled={s.free === 0}
                onChange={() => setChoice(`${p.partnerId}/${s.serviceId}`)}
              />
              <label class="form-check-label" for={`offer-${p.partnerId}-${s.serviceId}`}>
                {p.name} — {s.name} · {t('freePlaces')}: {s.free}/{s.capacity} · {t('responseDays')}: {days}
              </label>
            </div>
          ))}
          {problem?.field('partnerId') && <div class="invalid-feedback d-block">{problem.field('partnerId')}</div>}
        </fieldset>
        <Field label={t('reason')} name="reason" problem={problem}>
          {(a) => <input {...a} value={reason} onInput={(e) => setReason(value(e))} />}
        </Field>
        <Field label={t('priority')} name="priority" problem={problem}>
          {(a) => (
            <select {...a} class="form-select" value={priority} onChange={(e) => setPriority(value(e))}>
              <option value="routine">{label('priority', 'routine')}</option>
              <option value="urgent">{label('priority', 'urgent')}</option>
            </select>
          )}
        </Field>
        <ProblemAlert problem={problem} fields={['reason', 'priority']} />
        <Submit busy={busy} label={t('refer')} />
      </form>
    </Section>
  );
}

/** A person's referrals: status, deadline, cancel. */
export function PersonReferrals({ personId }: { personId: string }) {
  const list = useLive((a) => api<Referral[]>('GET', withAfter(`/persons/${personId}/referrals`, a)), [personId]);
  const partners = useLive(() => api<Partner[]>('GET', '/partners'), []);
  return (
    <Section title={t('referrals')} id="referrals">
      {!list.data ? <Loading error={list.error} /> : <ReferralTable rows={list.data} partners={partners.data ?? []} cancellable />}
    </Section>
  );
}

export function ReferralTable({ rows, partners, cancellable, names }: { rows: Referral[]; partners: Partner[]; cancellable?: boolean; names?: Record<string, string | null> }) {
  const partnerName = (id: string) => partners.find((p) => p.partnerId === id)?.name ?? id;
  const serviceName = (pid: string, sid: string) => partners.find((p) => p.partnerId === pid)?.services.find((s) => s.serviceId === sid)?.name ?? sid;
  if (rows.length === 0) return <p>{t('noReferrals')}</p>;
  return (
    <table class="table os-table" data-testid="referrals">
      <thead>
        <tr>
          {names && <th scope="col">{t('name')}</th>}
          <th scope="col">{t('partnerService')}</th>
          <th scope="col">{t('domain')}</th>
          <th scope="col">{t('status')}</th>
          <th scope="col">{t('respondBy')}</th>
          {cancellable && <th scope="col">{t('actions')}</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.referralId} data-status={r.status}>
            {names && (
              <td>
                <a href={`#/person/${r.personId}`}>{names[r.personId] ?? t('erasedPerson')}</a>
              </td>
            )}
            <td>
              {partnerName(r.partnerId)} — {serviceName(r.partnerId, r.serviceId)}
            </td>
            <td>{r.domain ? label('domain', r.domain) : '—'}</td>
            <td>
              {label('status', r.status)}
              {r.statusReason && ` (${label('reason', r.statusReason)})`}
              {r.overdue && r.status === 'requested' && <span class="badge bg-danger ms-2">{t('overdue')}</span>}
            </td>
            <td>{formatDate(r.respondBy)}</td>
            {cancellable && <td>{['requested', 'accepted', 'in-progress'].includes(r.status) && <CancelReferral referralId={r.referralId} />}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function CancelReferral({ referralId }: { referralId: string }) {
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('team_decision');
  const { submit, busy, problem } = useSubmit((key) => api('POST', `/referrals/${referralId}/cancellation`, { reason }, { idempotencyKey: key }), () => setAsking(false));
  if (!asking)
    return (
      <button type="button" class="btn btn-sm btn-outline-danger" onClick={() => setAsking(true)}>
        {t('cancelReferral')}
      </button>
    );
  return (
    <form onSubmit={submit} class="d-flex gap-2 align-items-center">
      <label class="visually-hidden" for={`cancel-${referralId}`}>
        {t('reason')}
      </label>
      <select id={`cancel-${referralId}`} class="form-select form-select-sm" value={reason} onChange={(e) => setReason(value(e))}>
        <option value="team_decision">{label('reason', 'team_decision')}</option>
        <option value="person_request">{label('reason', 'person_request')}</option>
      </select>
      <button type="submit" class="btn btn-sm btn-danger" disabled={busy}>
        {t('confirm')}
      </button>
      <ProblemAlert problem={problem} />
    </form>
  );
}

/** Every referral the team follows: status and deadline, the late ones first. */
export function Referrals({ session: _session }: { session: Session }) {
  const list = useLive((a) => api<Referral[]>('GET', withAfter('/api/referrals?limit=100', a)), []);
  const partners = useLive(() => api<Partner[]>('GET', '/partners'), []);
  const [names, setNames] = useState<Record<string, string | null>>({});
  const rows = [...(list.data ?? [])].sort((x, y) => Number(y.overdue && y.status === 'requested') - Number(x.overdue && x.status === 'requested'));
  const missing = rows.map((r) => r.personId).filter((id) => !(id in names));
  if (missing.length) {
    void Promise.all([...new Set(missing)].map(async (id) => [id, fullName(await person(id))] as const)).then((pairs) => setNames((n) => ({ ...n, ...Object.fromEntries(pairs) })));
  }
  return (
    <>
      <h1 class="h2 mb-3">{t('navReferrals')}</h1>
      {!list.data ? <Loading error={list.error} /> : <ReferralTable rows={rows} partners={partners.data ?? []} cancellable names={names} />}
    </>
  );
}

export type { Referral };
