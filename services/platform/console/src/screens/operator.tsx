import { useEffect, useState } from 'preact/hooks';
import { validateFiscalCode } from '../../../../intake/src/domain/fiscal-code';
import type { DuplicateReason } from '../../../../intake/src/domain/likely-duplicates';
import { api, Problem } from '../api';
import { label, t } from '../i18n';
import { go } from '../nav';
import type { Session } from '../session';
import { Field, formatDate, Loading, ProblemAlert, Section, Submit, useLive, useSubmit, value } from '../ui';
import { fullName, LEGAL_BASES, recentPeople, type PersonView } from './common';
import { duplicateDraft } from './registration';
import { PersonTeamPanel } from './team';

// The operator at the access point: find a person, register one (with live
// fiscal-code checks and likely duplicates beside the form), record and
// withdraw consents with their legal basis, update contact details.

const ACCESS_POINTS = ['pistoia-centro-melos', 'pistoia-nord', 'quarrata'] as const;

/** A person the search found: what `POST /persons/search` shows of each. */
export interface PersonMatch {
  personId: string;
  givenName: string;
  familyName: string;
  birthDate: string;
  accessPoint: string;
  municipality: string;
  registeredAt: string;
}

/** The answer of `POST /persons/search`. */
export interface SearchResult {
  persons: PersonMatch[];
  more: boolean;
}

/** `POST /persons/search` by fiscal code: the code is checked here first, then travels in the body (never in a URL, where request logs and proxies would keep it). */
export function searchByFiscalCode(fiscalCode: string): Promise<SearchResult> {
  const fc = validateFiscalCode(fiscalCode);
  if (!fc.ok) return Promise.reject(new Problem(400, 'validation_failed', fc.message, [{ path: 'fiscalCode', message: fc.message }]));
  return api<SearchResult>('POST', '/persons/search', { fiscalCode: fc.code });
}

/** Find a person among everyone registered: by fiscal code, or by the beginnings of the names' words and/or the birth date (the API's blind indexes). */
export function Persons({ session }: { session: Session }) {
  const [fiscalCode, setFiscalCode] = useState('');
  const [q, setQ] = useState({ familyName: '', givenName: '', birthDate: '' });
  const [codeMissed, setCodeMissed] = useState(false);
  const [found, setFound] = useState<SearchResult>();
  const recent = useLive((a) => recentPeople(15, a), []);
  const byCode = useSubmit(
    () => {
      setCodeMissed(false);
      return searchByFiscalCode(fiscalCode);
    },
    (r) => (r.persons[0] ? go(`person/${r.persons[0].personId}`) : setCodeMissed(true)),
  );
  const byName = useSubmit(
    () => {
      const body: Record<string, string> = {};
      for (const k of ['familyName', 'givenName', 'birthDate'] as const) if (q[k].trim()) body[k] = q[k].trim();
      return api<SearchResult>('POST', '/persons/search', body);
    },
    setFound,
  );
  const set = (k: keyof typeof q) => (e: Event) => setQ({ ...q, [k]: value(e) });
  return (
    <>
      <h1 class="h2 mb-4">{t('findPerson')}</h1>
      <div class="row">
        <div class="col-lg-6">
          <Section title={t('byFiscalCode')} id="by-code">
            <form class="os-form" onSubmit={byCode.submit} autocomplete="off">
              <Field label={t('fiscalCode')} name="fiscalCode" problem={byCode.problem}>
                {(a) => <input {...a} value={fiscalCode} onInput={(e) => setFiscalCode(value(e).toUpperCase())} maxLength={16} spellcheck={false} />}
              </Field>
              <ProblemAlert problem={byCode.problem} fields={['fiscalCode']} />
              <Submit busy={byCode.busy} label={t('search')} />
            </form>
            {codeMissed && (
              <p role="status" class="mt-3">
                {t('noMatches')}
              </p>
            )}
          </Section>
        </div>
        <div class="col-lg-6">
          <Section title={t('byNameBirth')} id="by-name">
            <form class="os-form" autocomplete="off" onSubmit={byName.submit} aria-describedby="name-hint">
              <p id="name-hint" class="small">
                {t('searchNameHint')}
              </p>
              <Field label={t('familyName')} name="familyName" problem={byName.problem}>
                {(a) => <input {...a} value={q.familyName} onInput={set('familyName')} spellcheck={false} />}
              </Field>
              <Field label={t('givenName')} name="givenName" problem={byName.problem}>
                {(a) => <input {...a} value={q.givenName} onInput={set('givenName')} spellcheck={false} />}
              </Field>
              <Field label={t('birthDate')} name="birthDate" problem={byName.problem}>
                {(a) => <input {...a} type="date" value={q.birthDate} onInput={set('birthDate')} />}
              </Field>
              <ProblemAlert problem={byName.problem} fields={['familyName', 'givenName', 'birthDate']} />
              <Submit busy={byName.busy} label={t('search')} />
            </form>
            {found && (
              <div role="status" class="mt-3" data-testid="matches">
                {found.persons.length === 0 ? <p>{t('noMatches')}</p> : <PeopleTable rows={found.persons.map(matchRow)} />}
                {found.more && <p class="alert alert-info">{t('moreMatches')}</p>}
              </div>
            )}
          </Section>
        </div>
      </div>
      <Section title={t('recentRegistrations')} id="recent">
        {recent.data ? <PeopleTable rows={recent.data.map(recentRow)} /> : <Loading error={recent.error} />}
      </Section>
      {session.user.role === 'operator' && (
        <p>
          <a class="btn btn-outline-primary" href="#/register">
            {t('navRegister')}
          </a>
        </p>
      )}
    </>
  );
}

/** A row of a list of people: who (null once erased), and where and when registered. */
interface PersonRow {
  personId: string;
  name: string | undefined;
  birthDate: string | undefined;
  accessPoint: string | undefined;
  registeredAt: string | undefined;
}

const matchRow = (m: PersonMatch): PersonRow => ({ personId: m.personId, name: `${m.givenName} ${m.familyName}`, birthDate: m.birthDate, accessPoint: m.accessPoint, registeredAt: m.registeredAt });

const recentRow = ({ overview, person }: { overview: { personId: string; person: { accessPoint: string; registeredAt: string } | null }; person: PersonView | undefined }): PersonRow => ({
  personId: overview.personId,
  name: fullName(person) ?? undefined,
  birthDate: person?.personalData?.birthDate,
  accessPoint: overview.person?.accessPoint,
  registeredAt: overview.person?.registeredAt,
});

function PeopleTable({ rows }: { rows: PersonRow[] }) {
  return (
    <table class="table table-sm os-table">
      <thead>
        <tr>
          <th scope="col">{t('name')}</th>
          <th scope="col">{t('birthDate')}</th>
          <th scope="col">{t('accessPoint')}</th>
          <th scope="col">{t('registeredAt')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.personId}>
            <td>
              <a href={`#/person/${r.personId}`}>{r.name ?? t('erasedPerson')}</a>
            </td>
            <td>{formatDate(r.birthDate)}</td>
            <td>{r.accessPoint ?? '—'}</td>
            <td>{formatDate(r.registeredAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface Registration {
  givenName: string;
  familyName: string;
  birthDate: string;
  fiscalCode: string;
  accessPoint: string;
  municipality: string;
  phone: string;
  email: string;
  address: string;
}

/** A likely duplicate as `POST /persons/likely-duplicates` lists it: who (an id) and why, never a name. */
export interface LikelyDuplicate {
  personId: string;
  reasons: DuplicateReason[];
  accessPoint: string;
  registeredOn: string;
}

/** How long typing must pause before the draft is checked: one request per pause, not one per key. */
const DUPLICATE_CHECK_DELAY_MS = 400;

type DuplicateCheck = { state: 'idle' } | { state: 'checking' } | { state: 'done'; matches: LikelyDuplicate[]; more: boolean } | { state: 'failed'; problem: Problem };

/** The server's likely duplicates of the draft, asked once typing pauses; a newer draft cancels the older question. */
function useLikelyDuplicates(draft: Record<string, string> | undefined): DuplicateCheck {
  const key = draft ? JSON.stringify(draft) : '';
  const [check, setCheck] = useState<{ key: string; result: DuplicateCheck }>({ key: '', result: { state: 'idle' } });
  useEffect(() => {
    if (!key) return;
    const aborted = new AbortController();
    const timer = setTimeout(() => {
      api<{ matches: LikelyDuplicate[]; more: boolean }>('POST', '/persons/likely-duplicates', JSON.parse(key), { signal: aborted.signal })
        .then((r) => setCheck({ key, result: { state: 'done', ...r } }))
        .catch((e: unknown) => {
          if (!aborted.signal.aborted) setCheck({ key, result: { state: 'failed', problem: e instanceof Problem ? e : new Problem(0, 'unknown', String(e)) } });
        });
    }, DUPLICATE_CHECK_DELAY_MS);
    return () => {
      clearTimeout(timer);
      aborted.abort();
    };
  }, [key]);
  if (!key) return { state: 'idle' };
  // an answer to an earlier draft is not shown as if it were this one's
  return check.key === key ? check.result : { state: 'checking' };
}

/** Register a person; the fiscal code is checked as it is typed, and likely duplicates among everyone registered show beside the form. */
export function Register() {
  const [f, setF] = useState<Registration>({ givenName: '', familyName: '', birthDate: '', fiscalCode: '', accessPoint: ACCESS_POINTS[0], municipality: 'Pistoia', phone: '', email: '', address: '' });
  const [done, setDone] = useState<{ personId: string; likelyDuplicates: string[] }>();
  const set = (k: keyof Registration) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const fc = f.fiscalCode.trim() ? validateFiscalCode(f.fiscalCode) : undefined;
  const fcMessage = fc && !fc.ok ? t(`fc_${fc.error}` as Parameters<typeof t>[0]) : undefined;
  const fcBirthMismatch =
    fc?.ok && f.birthDate && (Number(f.birthDate.slice(5, 7)) !== fc.birth.month || Number(f.birthDate.slice(8, 10)) !== fc.birth.day || Number(f.birthDate.slice(2, 4)) !== fc.birth.year2);
  const duplicates = useLikelyDuplicates(duplicateDraft(f, fc?.ok ? fc.code : undefined));
  const { submit, busy, problem } = useSubmit(
    (key) => {
      const body: Record<string, string> = { accessPoint: f.accessPoint, municipality: f.municipality.trim(), givenName: f.givenName.trim(), familyName: f.familyName.trim(), birthDate: f.birthDate };
      for (const k of ['fiscalCode', 'phone', 'email', 'address'] as const) if (f[k].trim()) body[k] = f[k].trim();
      return api<{ personId: string; position: number; likelyDuplicates: string[] }>('POST', '/persons', body, { idempotencyKey: key });
    },
    (r) => setDone(r),
  );
  const fields = ['givenName', 'familyName', 'birthDate', 'fiscalCode', 'accessPoint', 'municipality', 'phone', 'email', 'address'];
  if (done) {
    return (
      <>
        <h1 class="h2">{t('registered')}</h1>
        <div class="alert alert-success" role="status">
          {t('registeredText')}
        </div>
        {done.likelyDuplicates.length > 0 && (
          <div class="alert alert-warning">
            <p>{t('likelyDuplicatesAfter')}</p>
            <ul>
              {done.likelyDuplicates.map((id) => (
                <li key={id}>
                  <a href={`#/person/${id}`}>{t('openPerson')}</a>
                </li>
              ))}
            </ul>
          </div>
        )}
        <a class="btn btn-primary" href={`#/person/${done.personId}`} data-testid="open-registered">
          {t('continueConsents')}
        </a>
      </>
    );
  }
  return (
    <>
      <h1 class="h2 mb-4">{t('registerPerson')}</h1>
      <div class="row">
        <form class="os-form col-lg-7" onSubmit={submit} noValidate aria-describedby="required-note">
          <p id="required-note">{t('requiredNote')}</p>
          <div class="row">
            <div class="col-md-6">
              <Field label={`${t('givenName')} *`} name="givenName" problem={problem}>
                {(a) => <input {...a} required value={f.givenName} onInput={set('givenName')} autocomplete="off" />}
              </Field>
            </div>
            <div class="col-md-6">
              <Field label={`${t('familyName')} *`} name="familyName" problem={problem}>
                {(a) => <input {...a} required value={f.familyName} onInput={set('familyName')} autocomplete="off" />}
              </Field>
            </div>
          </div>
          <Field label={`${t('birthDate')} *`} name="birthDate" problem={problem}>
            {(a) => <input {...a} type="date" required value={f.birthDate} onInput={set('birthDate')} />}
          </Field>
          <Field label={t('fiscalCodeOptional')} name="fiscalCode" problem={problem} hint={t('fiscalCodeHint')} error={fcMessage ?? (fcBirthMismatch ? t('fcBirthMismatch') : undefined)}>
            {(a) => <input {...a} value={f.fiscalCode} onInput={(e) => setF({ ...f, fiscalCode: value(e).toUpperCase() })} maxLength={16} spellcheck={false} autocomplete="off" />}
          </Field>
          {fc?.ok && (
            <p class="text-success fw-semibold" role="status">
              {t('fcValid')}
            </p>
          )}
          <div class="row">
            <div class="col-md-6">
              <Field label={`${t('accessPoint')} *`} name="accessPoint" problem={problem}>
                {(a) => (
                  <select {...a} class="form-select" value={f.accessPoint} onChange={set('accessPoint')}>
                    {ACCESS_POINTS.map((p) => (
                      <option key={p} value={p}>
                        {p}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            </div>
            <div class="col-md-6">
              <Field label={`${t('municipality')} *`} name="municipality" problem={problem}>
                {(a) => <input {...a} required value={f.municipality} onInput={set('municipality')} />}
              </Field>
            </div>
          </div>
          <Field label={t('phone')} name="phone" problem={problem}>
            {(a) => <input {...a} type="tel" value={f.phone} onInput={set('phone')} autocomplete="off" />}
          </Field>
          <Field label={t('email')} name="email" problem={problem}>
            {(a) => <input {...a} type="email" value={f.email} onInput={set('email')} autocomplete="off" />}
          </Field>
          <Field label={t('address')} name="address" problem={problem}>
            {(a) => <input {...a} value={f.address} onInput={set('address')} autocomplete="off" />}
          </Field>
          <ProblemAlert problem={problem} fields={fields} />
          <Submit busy={busy} label={t('register')} />
        </form>
        <aside class="col-lg-5" aria-labelledby="dup-title">
          <div class="card-wrapper">
            <div class="card card-bg">
              <div class="card-body" aria-live="polite" data-testid="duplicates" data-state={duplicates.state}>
                <h2 class="h5" id="dup-title">
                  {t('likelyDuplicates')}
                </h2>
                <DuplicatesList check={duplicates} />
                <p class="small mb-0 mt-2" id="duplicates-read-note">
                  {t('duplicatesNote')}
                </p>
              </div>
            </div>
          </div>
        </aside>
      </div>
    </>
  );
}

/** The likely duplicates of the draft: ids and reasons only, until the operator shows one. */
function DuplicatesList({ check }: { check: DuplicateCheck }) {
  if (check.state === 'idle') return <p class="mb-0">{t('duplicatesIdle')}</p>;
  if (check.state === 'checking') return <p class="mb-0">{t('duplicatesChecking')}</p>;
  if (check.state === 'failed') return <ProblemAlert problem={check.problem} />;
  if (check.matches.length === 0) return <p class="mb-0">{t('noDuplicates')}</p>;
  return (
    <>
      <ul class="list-unstyled mb-0">
        {check.matches.map((m) => (
          <DuplicateItem key={m.personId} match={m} />
        ))}
      </ul>
      {check.more && <p class="small mt-2 mb-0">{t('moreDuplicates')}</p>}
    </>
  );
}

/**
 * One likely duplicate: why, and where and when registered. Its name only on
 * an explicit "Show", which is the person's ordinary read (GET /persons/{id},
 * recorded with purpose `case_view`): one click, one recorded read.
 */
function DuplicateItem({ match }: { match: LikelyDuplicate }) {
  const [shown, setShown] = useState<PersonView>();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  const show = async () => {
    // no second read while the first is on its way
    if (busy) return;
    setBusy(true);
    setProblem(undefined);
    try {
      setShown(await api<PersonView>('GET', `/persons/${match.personId}`));
    } catch (e) {
      setProblem(e instanceof Problem ? e : new Problem(0, 'unknown', String(e)));
    } finally {
      setBusy(false);
    }
  };
  const pd = shown?.personalData;
  return (
    <li class="mb-3" data-testid="duplicate" data-person={match.personId}>
      <p class="mb-1 fw-semibold">{match.reasons.map((r) => label('duplicateReason', r)).join('; ')}</p>
      <p class="mb-1 small">
        {t('registeredAtOn').replace('{accessPoint}', match.accessPoint).replace('{date}', formatDate(match.registeredOn))}
      </p>
      {shown ? (
        <p class="mb-0" data-testid="duplicate-person">
          {pd ? `${pd.givenName} ${pd.familyName} · ${formatDate(pd.birthDate)}${pd.fiscalCode ? ` · ${pd.fiscalCode}` : ''}` : t('erasedPerson')}{' '}
          <a href={`#/person/${match.personId}`}>{t('openPerson')}</a>
        </p>
      ) : (
        <button type="button" class="btn btn-outline-primary btn-sm" onClick={show} disabled={busy} aria-describedby="duplicates-read-note">
          {t('showDuplicate')}
        </button>
      )}
      <ProblemAlert problem={problem} />
    </li>
  );
}

/** One person: data, consents with their legal basis, contact details; for the team, assessments and referrals. */
export function PersonPage({ id, session }: { id: string; session: Session }) {
  const [pos, setPos] = useState<number>();
  const p = useLive(() => api<PersonView>('GET', `/persons/${id}`), [id, pos]);
  if (!p.data) return <Loading error={p.error} />;
  const person = p.data;
  const pd = person.personalData;
  const wrote = (position?: number) => setPos(position ?? Date.now());
  return (
    <>
      <h1 class="h2">{pd ? `${pd.givenName} ${pd.familyName}` : t('erasedPerson')}</h1>
      <dl class="row">
        <dt class="col-sm-3">{t('birthDate')}</dt>
        <dd class="col-sm-9">{formatDate(pd?.birthDate)}</dd>
        <dt class="col-sm-3">{t('fiscalCode')}</dt>
        <dd class="col-sm-9">{pd?.fiscalCode ?? t('none')}</dd>
        <dt class="col-sm-3">{t('accessPoint')}</dt>
        <dd class="col-sm-9">
          {person.accessPoint} · {person.municipality}
        </dd>
        <dt class="col-sm-3">{t('registeredAt')}</dt>
        <dd class="col-sm-9">{formatDate(person.registeredAt, true)}</dd>
      </dl>
      {person.status === 'registered' && (
        <div class="row">
          <div class="col-lg-6">
            <Consents person={person} onWrite={wrote} />
          </div>
          <div class="col-lg-6">{session.user.role !== 'team' && <ContactDetails person={person} onWrite={wrote} />}</div>
        </div>
      )}
      {session.user.role === 'team' && <PersonTeamPanel personId={id} session={session} consents={person.consents} />}
    </>
  );
}

function Consents({ person, onWrite }: { person: PersonView; onWrite: (position?: number) => void }) {
  const [scope, setScope] = useState<'assessment' | 'referral_sharing'>('assessment');
  const [basis, setBasis] = useState<string>('explicit_consent');
  const give = useSubmit(
    (key) => api<{ position?: number }>('POST', `/persons/${person.personId}/consents`, { scope, legalBasis: basis }, { idempotencyKey: key }),
    (r) => onWrite(r.position),
  );
  const [withdrawing, setWithdrawing] = useState<string>();
  const withdraw = useSubmit(
    (key) => api<{ position?: number }>('POST', `/persons/${person.personId}/consents/${withdrawing}/withdrawal`, undefined, { idempotencyKey: key }),
    (r) => {
      setWithdrawing(undefined);
      onWrite(r.position);
    },
  );
  return (
    <Section title={t('consents')} id="consents">
      <ul class="list-unstyled" data-testid="consents">
        {(['assessment', 'referral_sharing'] as const).map((s) => (
          <li key={s} class="mb-2">
            <strong>{label('scope', s)}</strong>: {person.consents[s].active ? t('consentActive') : t('consentMissing')}{' '}
            {person.consents[s].active && withdrawing !== s && (
              <button type="button" class="btn btn-sm btn-outline-danger ms-2" onClick={() => setWithdrawing(s)}>
                {t('withdraw')}
              </button>
            )}
            {withdrawing === s && (
              <form class="d-inline" onSubmit={withdraw.submit}>
                <span class="ms-2">{t('confirmWithdraw')}</span>
                <button type="submit" class="btn btn-sm btn-danger ms-2" disabled={withdraw.busy}>
                  {t('confirm')}
                </button>
                <button type="button" class="btn btn-sm btn-link" onClick={() => setWithdrawing(undefined)}>
                  {t('cancel')}
                </button>
              </form>
            )}
          </li>
        ))}
      </ul>
      <ProblemAlert problem={withdraw.problem} />
      <form class="os-form" onSubmit={give.submit}>
        <Field label={t('consentScope')} name="scope" problem={give.problem}>
          {(a) => (
            <select {...a} class="form-select" value={scope} onChange={(e) => setScope(value(e) as typeof scope)}>
              <option value="assessment">{label('scope', 'assessment')}</option>
              <option value="referral_sharing">{label('scope', 'referral_sharing')}</option>
            </select>
          )}
        </Field>
        <Field label={t('legalBasis')} name="legalBasis" problem={give.problem}>
          {(a) => (
            <select {...a} class="form-select" value={basis} onChange={(e) => setBasis(value(e))}>
              {LEGAL_BASES.map((b) => (
                <option key={b} value={b}>
                  {label('legalBasis', b)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <ProblemAlert problem={give.problem} fields={['scope', 'legalBasis']} />
        <Submit busy={give.busy} label={t('recordConsent')} />
      </form>
    </Section>
  );
}

function ContactDetails({ person, onWrite }: { person: PersonView; onWrite: (position?: number) => void }) {
  const pd = person.personalData!;
  const [c, setC] = useState({ phone: pd.phone ?? '', email: pd.email ?? '', address: pd.address ?? '' });
  const [saved, setSaved] = useState(false);
  const { submit, busy, problem } = useSubmit(
    (key) => {
      const body: Record<string, string> = {};
      for (const k of ['phone', 'email', 'address'] as const) if (c[k].trim()) body[k] = c[k].trim();
      return api<{ position?: number }>('PUT', `/persons/${person.personId}/contact-details`, body, { idempotencyKey: key });
    },
    (r) => {
      setSaved(true);
      onWrite(r.position);
    },
  );
  const set = (k: keyof typeof c) => (e: Event) => {
    setSaved(false);
    setC({ ...c, [k]: (e.currentTarget as HTMLInputElement).value });
  };
  return (
    <Section title={t('contactDetails')} id="contacts">
      <form class="os-form" onSubmit={submit}>
        <Field label={t('phone')} name="phone" problem={problem}>
          {(a) => <input {...a} type="tel" value={c.phone} onInput={set('phone')} autocomplete="off" />}
        </Field>
        <Field label={t('email')} name="email" problem={problem}>
          {(a) => <input {...a} type="email" value={c.email} onInput={set('email')} autocomplete="off" />}
        </Field>
        <Field label={t('address')} name="address" problem={problem}>
          {(a) => <input {...a} value={c.address} onInput={set('address')} autocomplete="off" />}
        </Field>
        <ProblemAlert problem={problem} fields={['phone', 'email', 'address']} />
        {saved && (
          <p class="text-success" role="status">
            {t('saved')}
          </p>
        )}
        <Submit busy={busy} label={t('save')} />
      </form>
    </Section>
  );
}

