import { useState } from 'preact/hooks';
import { api } from '../api';
import { label, t } from '../i18n';
import { Field, formatDate, Loading, ProblemAlert, Section, Submit, useLive, useSubmit, value } from '../ui';
import type { CaseOverview } from './common';

// The auditor: a case's timeline (its streams in global order), the state as
// of a chosen instant, the verification of its hash chains and of the whole
// store, and the signed digest downloaded and checked in the browser with the
// published key (Ed25519 in WebCrypto). Every case read is recorded by the API.

export function AuditHome() {
  const cases = useLive((a) => api<CaseOverview[]>('GET', `/api/cases?limit=100${a ? `&after=${a}` : ''}`), []);
  return (
    <>
      <h1 class="h2 mb-3">{t('navAudit')}</h1>
      <div class="row">
        <div class="col-lg-7">
          <Section title={t('cases')} id="cases">
            {!cases.data ? (
              <Loading error={cases.error} />
            ) : (
              <table class="table os-table">
                <thead>
                  <tr>
                    <th scope="col">{t('case')}</th>
                    <th scope="col">{t('accessPoint')}</th>
                    <th scope="col">{t('birthYear')}</th>
                    <th scope="col">{t('registeredAt')}</th>
                  </tr>
                </thead>
                <tbody>
                  {cases.data.map((c) => (
                    <tr key={c.personId}>
                      <td>
                        <a href={`#/audit/${c.personId}`}>
                          <code>{c.personId.slice(0, 8)}</code>
                        </a>
                      </td>
                      <td>{c.person?.accessPoint ?? '—'}</td>
                      <td>{c.person?.birthYear ?? '—'}</td>
                      <td>{formatDate(c.person?.registeredAt, true)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
        </div>
        <div class="col-lg-5">
          <StoreVerification />
          <DigestCheck />
        </div>
      </div>
    </>
  );
}

interface HistoryEvent {
  type: string;
  subject: string;
  time: string;
  globalPosition: number;
  actor?: { id: string; role: string };
}

export function AuditCase({ personId }: { personId: string }) {
  const history = useLive(() => api<{ events: HistoryEvent[] }>('GET', `/audit/cases/${personId}/history`), [personId]);
  const [at, setAt] = useState('');
  const [state, setState] = useState<unknown>();
  const asOf = useSubmit(() => api('GET', `/audit/cases/${personId}/as-of?at=${encodeURIComponent(new Date(at).toISOString())}`), setState);
  const [verified, setVerified] = useState<{ ok: boolean; streams?: unknown[] }>();
  const verify = useSubmit(() => api<{ ok: boolean; streams?: unknown[] }>('GET', `/audit/cases/${personId}/verification`), setVerified);
  return (
    <>
      <p>
        <a href="#/audit">← {t('navAudit')}</a>
      </p>
      <h1 class="h2">
        {t('case')} <code>{personId.slice(0, 8)}</code>
      </h1>
      <div class="row">
        <div class="col-lg-6">
          <Section title={t('timeline')} id="timeline">
            {!history.data ? (
              <Loading error={history.error} />
            ) : (
              <ol class="os-timeline ps-0" data-testid="timeline">
                {history.data.events.map((e) => (
                  <li key={e.globalPosition} data-time={e.time}>
                    <strong>{label('event', e.type)}</strong>
                    <br />
                    <span class="small">
                      {formatDate(e.time, true)} · {e.actor ? `${e.actor.id} (${e.actor.role})` : ''} · #{e.globalPosition}
                    </span>
                  </li>
                ))}
              </ol>
            )}
          </Section>
        </div>
        <div class="col-lg-6">
          <Section title={t('asOf')} id="as-of">
            <form class="os-form" onSubmit={asOf.submit}>
              <Field label={t('instant')} name="at" problem={asOf.problem} hint={t('instantHint')}>
                {(a) => <input {...a} type="datetime-local" step={0.001} value={at} onInput={(e) => setAt(value(e))} />}
              </Field>
              <ProblemAlert problem={asOf.problem} fields={['at']} />
              <Submit busy={asOf.busy} label={t('showAsOf')} />
            </form>
            {state !== undefined && <AsOfView state={state} />}
          </Section>
          <Section title={t('verification')} id="verify">
            <form onSubmit={verify.submit}>
              <Submit busy={verify.busy} label={t('verifyChains')} />
            </form>
            <ProblemAlert problem={verify.problem} />
            {verified && (
              <p class={verified.ok ? 'alert alert-success mt-2' : 'alert alert-danger mt-2'} role="status" data-testid="chain">
                {verified.ok ? t('chainOk') : t('chainBroken')}
              </p>
            )}
          </Section>
        </div>
      </div>
    </>
  );
}

/** The as-of state: the summary an auditor reads first, and the full answer below it. */
function AsOfView({ state }: { state: unknown }) {
  const s = state as { eventsReplayed?: number; referrals?: Array<{ referralId: string; state: { status: string; partnerId: string | null } }>; assessments?: Array<{ state: { status: string } }> };
  return (
    <div class="mt-3" data-testid="as-of">
      <p>
        {t('eventsReplayed')}: {s.eventsReplayed ?? 0}
      </p>
      <ul>
        {(s.assessments ?? []).map((a, i) => (
          <li key={`a${i}`}>
            {t('assessment')}: {label('assessmentStatus', a.state.status)}
          </li>
        ))}
        {(s.referrals ?? []).map((r) => (
          <li key={r.referralId} data-status={r.state.status}>
            {t('referral')} → {r.state.partnerId}: {label('status', r.state.status)}
          </li>
        ))}
      </ul>
      <details>
        <summary>{t('fullState')}</summary>
        <pre class="small">{JSON.stringify(state, null, 2)}</pre>
      </details>
    </div>
  );
}

function StoreVerification() {
  const [r, setR] = useState<{ ok: boolean; streams?: number; verifiedStreams?: number }>();
  const v = useSubmit(() => api<{ ok: boolean; streams?: number }>('GET', '/audit/verification?limit=1000'), setR);
  return (
    <Section title={t('storeVerification')} id="store-verify">
      <form onSubmit={v.submit}>
        <Submit busy={v.busy} label={t('verifyStore')} />
      </form>
      <ProblemAlert problem={v.problem} />
      {r && (
        <p class={r.ok ? 'alert alert-success mt-2' : 'alert alert-danger mt-2'} role="status" data-testid="store-chain">
          {r.ok ? t('chainOk') : t('chainBroken')}
        </p>
      )}
    </Section>
  );
}

interface Digest {
  position: number;
  streams: number;
  headsSha256: string;
  signedAt: string;
  keyId: string;
  signature: string;
}

/** The canonical JSON the digest's signature covers (keys sorted, as packages/events' canonicalJson). */
const signingInput = (d: Digest) => JSON.stringify({ headsSha256: d.headsSha256, keyId: d.keyId, position: d.position, signedAt: d.signedAt, streams: d.streams });

function DigestCheck() {
  const [result, setResult] = useState<{ digest: Digest; ok: boolean | 'unsupported'; url: string }>();
  const { submit, busy, problem } = useSubmit(async () => {
    const digest = await api<Digest>('GET', '/audit/digest');
    const key = await api<{ jwk: JsonWebKey; keyId: string }>('GET', '/audit/public-key');
    let ok: boolean | 'unsupported';
    try {
      const k = await crypto.subtle.importKey('jwk', key.jwk, { name: 'Ed25519' }, false, ['verify']);
      const sig = Uint8Array.from(atob(digest.signature), (c) => c.charCodeAt(0));
      ok = key.keyId === digest.keyId && (await crypto.subtle.verify({ name: 'Ed25519' }, k, sig, new TextEncoder().encode(signingInput(digest))));
    } catch {
      ok = 'unsupported';
    }
    const url = URL.createObjectURL(new Blob([JSON.stringify(digest, null, 2)], { type: 'application/json' }));
    return { digest, ok, url };
  }, setResult);
  return (
    <Section title={t('digest')} id="digest">
      <form onSubmit={submit}>
        <Submit busy={busy} label={t('signDigest')} />
      </form>
      <ProblemAlert problem={problem} />
      {result && (
        <div class="mt-2" role="status">
          <p class={result.ok === true ? 'alert alert-success' : 'alert alert-warning'} data-testid="digest">
            {result.ok === true ? t('digestOk') : result.ok === 'unsupported' ? t('digestUnsupported') : t('digestBad')} ({t('position')} {result.digest.position}, {result.digest.streams} {t('streams')})
          </p>
          <a class="btn btn-outline-primary" href={result.url} download={`onestop-digest-${result.digest.position}.json`}>
            {t('downloadDigest')}
          </a>
        </div>
      )}
    </Section>
  );
}
