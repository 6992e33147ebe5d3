import { api } from '../api';
import { label, t } from '../i18n';
import type { Session } from '../session';
import { Loading, Section, useLive, withAfter } from '../ui';
import { CaseworkFigures, DeadlinesThisWeek } from './casework';
import { fullName, person, type Partner } from './common';

// The network manager's (and the admin's) view of today: the network's totals,
// the funnel, each partner by name with its answers and times, and the late
// referrals with the person's name where the role may read it.

interface Overview {
  persons: { registered: number; erased: number; withAssessmentConsent: number; withReferralSharingConsent: number };
  assessments: { open: number; completed: number; cancelled: number };
  referrals: { total: number; open: number; overdue: number };
  partners: { total: number; inAgreement: number; services: number };
}
interface Stats {
  partnerId: string;
  name: string | null;
  received: number;
  accepted: number;
  declined: number;
  started: number;
  completed: number;
  overdue: number;
  medianHoursToAnswer: number | null;
}
interface Late {
  referralId: string;
  personId: string;
  partnerId: string;
  serviceId: string;
  respondBy: string;
}

export function Dashboard({ session }: { session: Session }) {
  const data = useLive(async (a) => {
    const [overview, funnel, stats, late, partners] = await Promise.all([
      api<Overview>('GET', withAfter('/api/overview', a)),
      api<Record<string, number>>('GET', withAfter('/api/funnel', a)),
      api<Stats[]>('GET', withAfter('/api/partners', a)),
      api<Late[]>('GET', withAfter('/api/referrals/overdue', a)),
      api<Partner[]>('GET', '/partners'),
    ]);
    const mayReadNames = session.user.role === 'team' || session.user.role === 'admin';
    const names = mayReadNames ? Object.fromEntries(await Promise.all(late.map(async (l) => [l.personId, fullName(await person(l.personId))] as const))) : {};
    return { overview, funnel, stats, late, partners, names };
  }, []);
  if (!data.data) return <Loading error={data.error} />;
  const { overview, funnel, stats, late, partners, names } = data.data;
  const pname = (id: string) => partners.find((p) => p.partnerId === id)?.name ?? id;
  const sname = (pid: string, sid: string) => partners.find((p) => p.partnerId === pid)?.services.find((s) => s.serviceId === sid)?.name ?? sid;
  const tiles: Array<[string, number]> = [
    [t('personsRegistered'), overview.persons.registered],
    [t('assessmentsOpen'), overview.assessments.open],
    [t('assessmentsCompleted'), overview.assessments.completed],
    [t('referralsOpen'), overview.referrals.open],
    [t('referralsOverdue'), overview.referrals.overdue],
    [t('partnersInAgreement'), overview.partners.inAgreement],
  ];
  return (
    <>
      <h1 class="h2 mb-4">{t('navDashboard')}</h1>
      <div class="row" data-testid="tiles">
        {tiles.map(([l, n]) => (
          <div class="col-6 col-lg-2 mb-3" key={l}>
            <div class="card card-bg h-100">
              <div class="card-body">
                <p class="h2 mb-0" data-value={n}>
                  {n}
                </p>
                <p class="mb-0">{l}</p>
              </div>
            </div>
          </div>
        ))}
      </div>
      <Section title={t('funnel')} id="funnel">
        <table class="table os-table" data-testid="funnel">
          <thead>
            <tr>
              {['referred', 'accepted', 'started', 'completed', 'declined', 'cancelled', 'open'].map((k) => (
                <th scope="col" key={k}>
                  {label('funnel', k)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              {['referred', 'accepted', 'started', 'completed', 'declined', 'cancelled', 'open'].map((k) => (
                <td key={k} data-key={k}>
                  {funnel[k] ?? 0}
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      </Section>
      <Section title={t('partnerStats')} id="partners">
        <table class="table os-table" data-testid="partner-stats">
          <thead>
            <tr>
              <th scope="col">{t('partner')}</th>
              <th scope="col">{label('funnel', 'referred')}</th>
              <th scope="col">{label('funnel', 'accepted')}</th>
              <th scope="col">{label('funnel', 'declined')}</th>
              <th scope="col">{label('funnel', 'completed')}</th>
              <th scope="col">{t('overdue')}</th>
              <th scope="col">{t('medianAnswer')}</th>
            </tr>
          </thead>
          <tbody>
            {stats.map((s) => (
              <tr key={s.partnerId}>
                <th scope="row">{s.name ?? pname(s.partnerId)}</th>
                <td>{s.received}</td>
                <td>{s.accepted}</td>
                <td>{s.declined}</td>
                <td>{s.completed}</td>
                <td>{s.overdue}</td>
                <td>{s.medianHoursToAnswer === null ? '—' : `${Math.round(s.medianHoursToAnswer)} h`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <DeadlinesThisWeek />
      <CaseworkFigures />
      <Section title={t('lateReferrals')} id="late">
        {late.length === 0 ? (
          <p>{t('noLate')}</p>
        ) : (
          <ul>
            {late.map((l) => (
              <li key={l.referralId}>
                {names[l.personId] ?? t('personHidden')} → {pname(l.partnerId)} — {sname(l.partnerId, l.serviceId)} ({t('respondBy')} {new Date(l.respondBy).toLocaleDateString(document.documentElement.lang)})
              </li>
            ))}
          </ul>
        )}
      </Section>
    </>
  );
}
