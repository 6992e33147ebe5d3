import { useState } from 'preact/hooks';
import { api, Problem } from '../api';
import { label, t } from '../i18n';
import { go } from '../nav';
import type { Session } from '../session';
import { Field, Loading, ProblemAlert, Section, Submit, useLive, useSubmit, value, withAfter } from '../ui';
import { DOMAINS, forgetPerson, type Partner } from './common';
import { Persons, searchByFiscalCode } from './operator';

// The administrator: partners, agreements and capacity; a person's
// subject-access export and erasure, each behind a confirmation step.

export function AdminPartners() {
  const [pos, setPos] = useState<number>();
  const list = useLive((a) => api<Partner[]>('GET', withAfter('/partners', pos ?? a)), [pos]);
  const wrote = (p?: number) => setPos(p ?? Date.now());
  return (
    <>
      <h1 class="h2 mb-3">{t('navPartners')}</h1>
      {!list.data ? (
        <Loading error={list.error} />
      ) : (
        list.data.map((p) => (
          <section class="card card-bg mb-3" key={p.partnerId} aria-labelledby={`p-${p.partnerId}`}>
            <div class="card-body">
              <h2 class="h5" id={`p-${p.partnerId}`}>
                {p.name} <span class="badge bg-secondary">{label('sector', p.sector)}</span>
              </h2>
              <p>
                {t('agreements')}: {Object.entries(p.agreements).map(([id, a]) => `${id} (${a.responseDays} ${t('days')})`).join(', ') || t('none')}
              </p>
              <table class="table table-sm os-table">
                <thead>
                  <tr>
                    <th scope="col">{t('service')}</th>
                    <th scope="col">{t('domain')}</th>
                    <th scope="col">{t('occupied')}</th>
                    <th scope="col">{t('capacity')}</th>
                  </tr>
                </thead>
                <tbody>
                  {p.services.map((s) => (
                    <tr key={s.serviceId}>
                      <td>{s.name}</td>
                      <td>{label('domain', s.domain)}</td>
                      <td>{s.occupied}</td>
                      <td>
                        <Capacity partnerId={p.partnerId} serviceId={s.serviceId} capacity={s.capacity} name={s.name} onWrite={wrote} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {Object.keys(p.agreements).length === 0 && <JoinAgreement partnerId={p.partnerId} onWrite={wrote} />}
            </div>
          </section>
        ))
      )}
      <NewPartner onWrite={wrote} />
    </>
  );
}

function Capacity({ partnerId, serviceId, capacity, name, onWrite }: { partnerId: string; serviceId: string; capacity: number; name: string; onWrite: (p?: number) => void }) {
  const [c, setC] = useState(String(capacity));
  const { submit, busy, problem } = useSubmit(
    (key) => api<{ position?: number }>('PUT', `/partners/${partnerId}/services/${serviceId}/capacity`, { capacity: Number(c) }, { idempotencyKey: key }),
    (r) => onWrite(r.position),
  );
  return (
    <form class="d-flex gap-2" onSubmit={submit}>
      <label class="visually-hidden" for={`cap-${partnerId}-${serviceId}`}>
        {t('capacity')} — {name}
      </label>
      <input id={`cap-${partnerId}-${serviceId}`} class="form-control form-control-sm" style={{ width: '6rem' }} type="number" min={0} value={c} onInput={(e) => setC(value(e))} />
      <button type="submit" class="btn btn-sm btn-outline-primary" disabled={busy}>
        {t('save')}
      </button>
      {problem && <span class="text-danger small">{problem.field('capacity') ?? problem.detail}</span>}
    </form>
  );
}

function JoinAgreement({ partnerId, onWrite }: { partnerId: string; onWrite: (p?: number) => void }) {
  const [days, setDays] = useState('5');
  const { submit, busy, problem } = useSubmit((key) => api<{ position?: number }>('POST', `/partners/${partnerId}/agreements`, { responseDays: Number(days) }, { idempotencyKey: key }), (r) => onWrite(r.position));
  return (
    <form class="os-form" onSubmit={submit}>
      <Field label={t('responseDays')} name="responseDays" problem={problem}>
        {(a) => <input {...a} type="number" min={1} max={90} value={days} onInput={(e) => setDays(value(e))} />}
      </Field>
      <ProblemAlert problem={problem} fields={['responseDays']} />
      <Submit busy={busy} label={t('joinAgreement')} />
    </form>
  );
}

function NewPartner({ onWrite }: { onWrite: (p?: number) => void }) {
  const [f, setF] = useState({ partnerId: '', name: '', sector: 'third_sector', serviceId: '', serviceName: '', domain: 'housing', capacity: '5' });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const { submit, busy, problem } = useSubmit(
    (key) =>
      api<{ position?: number }>(
        'POST',
        '/partners',
        { partnerId: f.partnerId.trim(), name: f.name.trim(), sector: f.sector, services: [{ serviceId: f.serviceId.trim(), name: f.serviceName.trim(), domain: f.domain, capacity: Number(f.capacity) }] },
        { idempotencyKey: key },
      ),
    (r) => onWrite(r.position),
  );
  return (
    <Section title={t('newPartner')} id="new-partner">
      <form class="os-form" onSubmit={submit}>
        <div class="row">
          <div class="col-md-6">
            <Field label={t('partnerId')} name="partnerId" problem={problem} hint={t('slugHint')}>
              {(a) => <input {...a} value={f.partnerId} onInput={set('partnerId')} />}
            </Field>
          </div>
          <div class="col-md-6">
            <Field label={t('partnerName')} name="name" problem={problem}>
              {(a) => <input {...a} value={f.name} onInput={set('name')} />}
            </Field>
          </div>
        </div>
        <Field label={t('sector')} name="sector" problem={problem}>
          {(a) => (
            <select {...a} class="form-select" value={f.sector} onChange={set('sector')}>
              <option value="public">{label('sector', 'public')}</option>
              <option value="third_sector">{label('sector', 'third_sector')}</option>
            </select>
          )}
        </Field>
        <div class="row">
          <div class="col-md-3">
            <Field label={t('serviceId')} name="serviceId" problem={problem}>
              {(a) => <input {...a} value={f.serviceId} onInput={set('serviceId')} />}
            </Field>
          </div>
          <div class="col-md-4">
            <Field label={t('service')} name="services.0.name" problem={problem}>
              {(a) => <input {...a} value={f.serviceName} onInput={set('serviceName')} />}
            </Field>
          </div>
          <div class="col-md-3">
            <Field label={t('domain')} name="domain" problem={problem}>
              {(a) => (
                <select {...a} class="form-select" value={f.domain} onChange={set('domain')}>
                  {DOMAINS.map((d) => (
                    <option key={d} value={d}>
                      {label('domain', d)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <div class="col-md-2">
            <Field label={t('capacity')} name="capacity" problem={problem}>
              {(a) => <input {...a} type="number" min={0} value={f.capacity} onInput={set('capacity')} />}
            </Field>
          </div>
        </div>
        <ProblemAlert problem={problem} fields={['partnerId', 'name', 'sector', 'serviceId', 'services.0.name', 'domain', 'capacity']} />
        <Submit busy={busy} label={t('registerPartner')} />
      </form>
    </Section>
  );
}

/** Find a person, then export or erase behind a confirmation step. */
export function AdminPersons({ session }: { session: Session }) {
  const [personId, setPersonId] = useState('');
  const [fiscalCode, setFiscalCode] = useState('');
  const find = useSubmit(
    async () => {
      const [found] = (await searchByFiscalCode(fiscalCode)).persons;
      if (!found) throw new Problem(404, 'not_found', t('noMatches'), [{ path: 'fiscalCode', message: t('noMatches') }]);
      return found;
    },
    (r) => setPersonId(r.personId),
  );
  return (
    <>
      {personId ? (
        <PersonRights personId={personId} onDone={() => setPersonId('')} />
      ) : (
        <>
          <form class="os-form mb-4" onSubmit={find.submit}>
            <h1 class="h2">{t('rightsTitle')}</h1>
            <Field label={t('fiscalCode')} name="fiscalCode" problem={find.problem}>
              {(a) => <input {...a} value={fiscalCode} onInput={(e) => setFiscalCode(value(e).toUpperCase())} maxLength={16} />}
            </Field>
            <ProblemAlert problem={find.problem} fields={['fiscalCode']} />
            <Submit busy={find.busy} label={t('search')} />
          </form>
          <p>{t('rightsPick')}</p>
          <PickFromList onPick={setPersonId} session={session} />
        </>
      )}
    </>
  );
}

function PickFromList({ onPick, session }: { onPick: (id: string) => void; session: Session }) {
  // the admin's list of people is the operator's search screen; a click there opens the rights panel
  const onClick = (e: MouseEvent) => {
    const a = (e.target as HTMLElement).closest('a[href^="#/person/"]');
    if (!a) return;
    e.preventDefault();
    onPick(a.getAttribute('href')!.slice('#/person/'.length));
  };
  return (
    <div onClickCapture={onClick}>
      <Persons session={session} />
    </div>
  );
}

function PersonRights({ personId, onDone }: { personId: string; onDone: () => void }) {
  const [step, setStep] = useState<'idle' | 'export' | 'erase'>('idle');
  const [reason, setReason] = useState('data_subject_request');
  const [exported, setExported] = useState<string>();
  const [erased, setErased] = useState(false);
  const exp = useSubmit(
    () => api<unknown>('GET', `/persons/${personId}/export`),
    (data) => {
      setExported(URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' })));
      setStep('idle');
    },
  );
  const erase = useSubmit(
    (key) => api('POST', `/persons/${personId}/erasure`, { reason }, { idempotencyKey: key }),
    () => {
      forgetPerson(personId);
      setErased(true);
      setStep('idle');
    },
  );
  return (
    <>
      <h1 class="h2">{t('rightsTitle')}</h1>
      <p>
        {t('case')} <code>{personId}</code> · <a href={`#/person/${personId}`} onClick={(e) => (e.preventDefault(), go(`person/${personId}`))}>{t('openPerson')}</a>
      </p>
      <Section title={t('exportTitle')} id="export">
        {step === 'export' ? (
          <form onSubmit={exp.submit} class="alert alert-warning">
            <p>{t('exportConfirm')}</p>
            <Submit busy={exp.busy} label={t('confirmExport')} />{' '}
            <button type="button" class="btn btn-link" onClick={() => setStep('idle')}>
              {t('cancel')}
            </button>
          </form>
        ) : (
          <button type="button" class="btn btn-outline-primary" onClick={() => setStep('export')}>
            {t('exportStart')}
          </button>
        )}
        <ProblemAlert problem={exp.problem} />
        {exported && (
          <p class="mt-2">
            <a class="btn btn-primary" href={exported} download={`onestop-export-${personId}.json`}>
              {t('downloadExport')}
            </a>
          </p>
        )}
      </Section>
      <Section title={t('erasureTitle')} id="erasure">
        {erased ? (
          <p class="alert alert-success" role="status">
            {t('erased')}
          </p>
        ) : step === 'erase' ? (
          <form onSubmit={erase.submit} class="os-form alert alert-danger">
            <p>{t('erasureConfirm')}</p>
            <Field label={t('reason')} name="reason" problem={erase.problem}>
              {(a) => (
                <select {...a} class="form-select" value={reason} onChange={(e) => setReason(value(e))}>
                  {['data_subject_request', 'retention_expired', 'unlawful_processing', 'other'].map((r) => (
                    <option key={r} value={r}>
                      {label('reason', r)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Submit busy={erase.busy} label={t('confirmErasure')} variant="danger" />{' '}
            <button type="button" class="btn btn-link" onClick={() => setStep('idle')}>
              {t('cancel')}
            </button>
          </form>
        ) : (
          <button type="button" class="btn btn-outline-danger" onClick={() => setStep('erase')}>
            {t('erasureStart')}
          </button>
        )}
        <ProblemAlert problem={erase.problem} />
      </Section>
      <button type="button" class="btn btn-link" onClick={onDone}>
        ← {t('back')}
      </button>
    </>
  );
}
