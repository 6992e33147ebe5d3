import { useState } from 'preact/hooks';
import { api } from '../api';
import { label, t } from '../i18n';
import type { Session } from '../session';
import { Field, formatDate, Loading, ProblemAlert, Submit, useLive, useSubmit, value, withAfter } from '../ui';
import { DECLINE_REASONS, OUTCOMES, type Partner, type Referral } from './common';

// A partner without a system of its own: its inbox (new, overdue, accepted, in
// progress), the answers (accept with an expected start, decline with a
// reason, start, complete with an outcome), and the person's contact details
// only on an explicit click that names the consent it rests on: the API
// records that disclosure before it answers.

const FILTERS: Record<string, { query: string; label: Parameters<typeof t>[0] }> = {
  new: { query: 'status=requested', label: 'filterNew' },
  overdue: { query: 'status=requested&overdue=true', label: 'filterOverdue' },
  accepted: { query: 'status=accepted', label: 'filterAccepted' },
  'in-progress': { query: 'status=in-progress', label: 'filterInProgress' },
  all: { query: '', label: 'filterAll' },
};

export function Inbox({ session, filter = 'new' }: { session: Session; filter?: string | undefined }) {
  const partnerId = session.user.partnerId!;
  const f = FILTERS[filter] ?? FILTERS['new']!;
  const [pos, setPos] = useState<number>();
  const list = useLive((a) => api<Referral[]>('GET', withAfter(`/partners/${partnerId}/referrals${f.query ? `?${f.query}` : ''}`, pos ?? a)), [partnerId, filter, pos]);
  const me = useLive(() => api<Partner>('GET', `/partners/${partnerId}`), [partnerId, pos]);
  const service = (id: string) => me.data?.services.find((s) => s.serviceId === id);
  return (
    <>
      <h1 class="h2">
        {t('navInbox')} — {me.data?.name ?? partnerId}
      </h1>
      <nav aria-label={t('filters')}>
        <ul class="nav nav-tabs mb-3">
          {Object.entries(FILTERS).map(([key, x]) => (
            <li class="nav-item" key={key}>
              <a class={`nav-link${key === filter ? ' active' : ''}`} href={`#/inbox/${key}`} aria-current={key === filter ? 'page' : undefined}>
                {t(x.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {me.data && (
        <p data-testid="places">
          {me.data.services.map((s) => `${s.name}: ${t('freePlaces')} ${s.free}/${s.capacity}`).join(' · ')}
        </p>
      )}
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.length === 0 ? (
        <p role="status">{t('inboxEmpty')}</p>
      ) : (
        <ul class="list-unstyled" data-testid="inbox">
          {list.data.map((r) => (
            <li key={r.referralId} class="card card-bg mb-3" data-referral={r.referralId} data-status={r.status}>
              <div class="card-body">
                <h2 class="h5">
                  {service(r.serviceId)?.name ?? r.serviceId} · {r.domain ? label('domain', r.domain) : ''} · {label('status', r.status)}
                  {r.overdue && r.status === 'requested' && <span class="badge bg-danger ms-2">{t('overdue')}</span>}
                  {r.priority === 'urgent' && <span class="badge bg-warning text-dark ms-2">{label('priority', 'urgent')}</span>}
                </h2>
                <p class="mb-2">
                  {t('referredAt')}: {formatDate(r.referredAt)} · {t('respondBy')}: {formatDate(r.respondBy)} · {t('reference')}: <code>{r.referralId.slice(0, 8)}</code>
                </p>
                <Answers referral={r} onWrite={(p) => setPos(p ?? Date.now())} />
                {['requested', 'accepted', 'in-progress'].includes(r.status) && <Contacts personId={r.personId} />}
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Answers({ referral, onWrite }: { referral: Referral; onWrite: (p?: number) => void }) {
  const id = referral.referralId;
  const [mode, setMode] = useState<'accept' | 'decline' | 'complete'>();
  const [expectedStart, setExpectedStart] = useState('');
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  const [outcome, setOutcome] = useState('');
  const done = (r: { position?: number }) => {
    setMode(undefined);
    onWrite(r.position);
  };
  const accept = useSubmit((key) => api<{ position?: number }>('POST', `/referrals/${id}/acceptance`, expectedStart ? { expectedStart } : {}, { idempotencyKey: key }), done);
  const decline = useSubmit((key) => api<{ position?: number }>('POST', `/referrals/${id}/decline`, { reason, ...(note.trim() ? { note: note.trim() } : {}) }, { idempotencyKey: key }), done);
  const start = useSubmit((key) => api<{ position?: number }>('POST', `/referrals/${id}/start`, {}, { idempotencyKey: key }), done);
  const complete = useSubmit((key) => api<{ position?: number }>('POST', `/referrals/${id}/completion`, { outcome }, { idempotencyKey: key }), done);
  const s = referral.status;
  return (
    <div class="mb-2">
      <div class="d-flex gap-2 flex-wrap">
        {s === 'requested' && (
          <>
            <button type="button" class="btn btn-primary btn-sm" onClick={() => setMode('accept')}>
              {t('accept')}
            </button>
            <button type="button" class="btn btn-outline-danger btn-sm" onClick={() => setMode('decline')}>
              {t('decline')}
            </button>
          </>
        )}
        {s === 'accepted' && (
          <form onSubmit={start.submit}>
            <Submit busy={start.busy} label={t('startService')} />
          </form>
        )}
        {s === 'in-progress' && (
          <button type="button" class="btn btn-primary btn-sm" onClick={() => setMode('complete')}>
            {t('completeService')}
          </button>
        )}
      </div>
      <ProblemAlert problem={start.problem} />
      {mode === 'accept' && (
        <form class="os-form mt-3" onSubmit={accept.submit}>
          <Field label={t('expectedStart')} name="expectedStart" problem={accept.problem}>
            {(a) => <input {...a} type="date" value={expectedStart} onInput={(e) => setExpectedStart(value(e))} />}
          </Field>
          <ProblemAlert problem={accept.problem} fields={['expectedStart']} />
          <Submit busy={accept.busy} label={t('confirmAccept')} />
        </form>
      )}
      {mode === 'decline' && (
        <form class="os-form mt-3" onSubmit={decline.submit}>
          <Field label={t('declineReason')} name="reason" problem={decline.problem}>
            {(a) => (
              <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
                <option value="">{t('choose')}</option>
                {DECLINE_REASONS.map((x) => (
                  <option key={x} value={x}>
                    {label('reason', x)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('note')} name="note" problem={decline.problem}>
            {(a) => <input {...a} value={note} onInput={(e) => setNote(value(e))} />}
          </Field>
          <ProblemAlert problem={decline.problem} fields={['reason', 'note']} />
          <Submit busy={decline.busy} label={t('confirmDecline')} variant="danger" />
        </form>
      )}
      {mode === 'complete' && (
        <form class="os-form mt-3" onSubmit={complete.submit}>
          <Field label={t('outcome')} name="outcome" problem={complete.problem}>
            {(a) => (
              <select {...a} class="form-select" value={outcome} onChange={(e) => setOutcome(value(e))}>
                <option value="">{t('choose')}</option>
                {OUTCOMES.map((x) => (
                  <option key={x} value={x}>
                    {label('outcome', x)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <ProblemAlert problem={complete.problem} fields={['outcome']} />
          <Submit busy={complete.busy} label={t('confirmComplete')} />
        </form>
      )}
    </div>
  );
}

interface Disclosure {
  givenName: string;
  familyName: string;
  phone?: string;
  email?: string;
  address?: string;
  consentEventId: string;
  disclosureId: string;
}

function Contacts({ personId }: { personId: string }) {
  const [shown, setShown] = useState<Disclosure>();
  const { submit, busy, problem } = useSubmit(() => api<Disclosure>('GET', `/persons/${personId}/contact-details`), setShown);
  if (shown) {
    return (
      <div class="alert alert-info mt-2" data-testid="contacts">
        <p class="mb-1">
          <strong>
            {shown.givenName} {shown.familyName}
          </strong>
          {shown.phone && ` · ${shown.phone}`}
          {shown.email && ` · ${shown.email}`}
          {shown.address && ` · ${shown.address}`}
        </p>
        <p class="small mb-0">
          {t('disclosureRecorded')} <code>{shown.consentEventId.slice(0, 8)}</code>
        </p>
      </div>
    );
  }
  return (
    <form onSubmit={submit} class="mt-2">
      <button type="submit" class="btn btn-outline-primary btn-sm" disabled={busy}>
        {t('showContacts')}
      </button>
      <ProblemAlert problem={problem} />
    </form>
  );
}
