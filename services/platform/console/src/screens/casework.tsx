import { api } from '../api';
import { label, t } from '../i18n';
import { formatDate, Loading, Section, useLive, withAfter } from '../ui';

// The taking-charge figures of GET /api/casework: the statutory deadlines due
// this week per case manager (the team sees its own first), and for the
// network manager the shares of first meetings and reviews on time and the
// waitlists. Ids and codes only: the read models hold no personal data.

export interface Casework {
  week: { from: string; to: string };
  deadlinesDue: Array<{
    caseManager: string | null;
    deadlines: Array<{ personId: string; deadlineId: string; kind: string; programme: string; dueDate: string; accessPoint: string | null; missed: boolean }>;
  }>;
  firstMeetings: Array<{ accessPoint: string | null; settled: number; withinRecommended: number; withinDue: number; stillMissing: number; shareWithinRecommended: number | null; shareWithinDue: number | null }>;
  reviews: Array<{ kind: string; settled: number; onTime: number; shareOnTime: number | null }>;
  waitlists: Array<{ partnerId: string; serviceId: string; waiting: number; earliestExpected: string | null }>;
}

const percent = (share: number | null) => (share === null ? '—' : `${Math.round(share * 100)}%`);

/** This week's deadlines per case manager; `only`: one case manager's (the team member's own). */
export function DeadlinesThisWeek({ only }: { only?: string }) {
  const data = useLive((a) => api<Casework>('GET', withAfter('/api/casework', a)), []);
  if (!data.data) return <Loading error={data.error} />;
  const groups = data.data.deadlinesDue.filter((g) => only === undefined || g.caseManager === only);
  return (
    <Section title={`${t('deadlinesThisWeek')} (${formatDate(data.data.week.from)} – ${formatDate(data.data.week.to)})`} id="deadlines-week">
      {groups.length === 0 ? (
        <p>{t('noDeadlines')}</p>
      ) : (
        <table class="table os-table" data-testid="deadlines-week">
          <thead>
            <tr>
              <th scope="col">{t('caseManager')}</th>
              <th scope="col">{t('dueDate')}</th>
              <th scope="col">{t('deadlineKind')}</th>
            </tr>
          </thead>
          <tbody>
            {groups.flatMap((g) =>
              g.deadlines.map((d) => (
                <tr key={`${d.personId}/${d.deadlineId}`}>
                  <th scope="row">{g.caseManager ?? t('unassigned')}</th>
                  <td>
                    {formatDate(d.dueDate)} {d.missed ? <strong class="text-danger">({t('missed')})</strong> : null}
                  </td>
                  <td>
                    <a href={`#/person/${d.personId}`}>{label('deadlineKind', d.kind)}</a>
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** The network manager's figures: first meetings within 60/120 days by access point, reviews on time, waitlists. */
export function CaseworkFigures() {
  const data = useLive((a) => api<Casework>('GET', withAfter('/api/casework', a)), []);
  if (!data.data) return <Loading error={data.error} />;
  const { firstMeetings, reviews, waitlists } = data.data;
  return (
    <>
      <Section title={t('firstMeetings')} id="first-meetings">
        <table class="table os-table" data-testid="first-meetings">
          <thead>
            <tr>
              <th scope="col">{t('accessPoint')}</th>
              <th scope="col">{t('settled')}</th>
              <th scope="col">{t('within60')}</th>
              <th scope="col">{t('within120')}</th>
              <th scope="col">{t('stillMissing')}</th>
            </tr>
          </thead>
          <tbody>
            {firstMeetings.map((f) => (
              <tr key={f.accessPoint ?? '-'}>
                <th scope="row">{f.accessPoint ?? '—'}</th>
                <td>{f.settled}</td>
                <td>
                  {f.withinRecommended} ({percent(f.shareWithinRecommended)})
                </td>
                <td>
                  {f.withinDue} ({percent(f.shareWithinDue)})
                </td>
                <td>{f.stillMissing}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={t('reviewsOnTime')} id="reviews">
        <table class="table os-table" data-testid="reviews-on-time">
          <thead>
            <tr>
              <th scope="col">{t('deadlineKind')}</th>
              <th scope="col">{t('settled')}</th>
              <th scope="col">{t('onTime')}</th>
            </tr>
          </thead>
          <tbody>
            {reviews.map((r) => (
              <tr key={r.kind}>
                <th scope="row">{label('deadlineKind', r.kind)}</th>
                <td>{r.settled}</td>
                <td>
                  {r.onTime} ({percent(r.shareOnTime)})
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={t('waitlists')} id="waitlists">
        {waitlists.length === 0 ? (
          <p>{t('noWaitlist')}</p>
        ) : (
          <table class="table os-table" data-testid="waitlists">
            <thead>
              <tr>
                <th scope="col">{t('partner')}</th>
                <th scope="col">{t('waiting')}</th>
                <th scope="col">{t('earliestExpected')}</th>
              </tr>
            </thead>
            <tbody>
              {waitlists.map((w) => (
                <tr key={`${w.partnerId}/${w.serviceId}`}>
                  <th scope="row">
                    {w.partnerId} — {w.serviceId}
                  </th>
                  <td>{w.waiting}</td>
                  <td>{w.earliestExpected ? formatDate(w.earliestExpected) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
