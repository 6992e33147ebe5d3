import type { RecordedEvent } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS referral;
-- Referral's own view of its referrals: partner inboxes, occupancy of services,
-- the SLA watcher's work list, and the "one open referral per person and
-- service" rule, which the partial unique index enforces even under races.
CREATE TABLE IF NOT EXISTS referral.referrals (
  referral_id     uuid PRIMARY KEY,
  person_id       uuid NOT NULL,
  assessment_id   uuid,
  partner_id      text NOT NULL,
  service_id      text NOT NULL,
  domain          text,
  priority        text,
  -- 'pending' while a referral is being recorded; then the FHIR Task status
  status          text NOT NULL,
  respond_by      timestamptz,
  overdue         boolean NOT NULL DEFAULT false,
  referred_at     timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  stream_position bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS referrals_one_open_per_service ON referral.referrals (person_id, partner_id, service_id)
  WHERE status IN ('pending', 'requested', 'accepted', 'in-progress');
-- why a referral was declined or cancelled (a code): the partner learns at once
-- that consent was withdrawn or the data erased (GDPR Art. 19)
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS status_reason text;
CREATE INDEX IF NOT EXISTS referrals_partner ON referral.referrals (partner_id, status);
CREATE INDEX IF NOT EXISTS referrals_person ON referral.referrals (person_id);
CREATE INDEX IF NOT EXISTS referrals_due ON referral.referrals (respond_by) WHERE status = 'requested' AND NOT overdue;
CREATE TABLE IF NOT EXISTS referral.partners (
  partner_id      text PRIMARY KEY,
  name            text NOT NULL,
  sector          text NOT NULL,
  services        jsonb NOT NULL,
  agreements      jsonb NOT NULL DEFAULT '{}',
  stream_position bigint NOT NULL
);
`;

const STATUS_OF: Record<string, string> = {
  ReferralAccepted: 'accepted',
  ReferralDeclined: 'rejected',
  ServiceStarted: 'in-progress',
  ServiceCompleted: 'completed',
  ReferralCancelled: 'cancelled',
};

export interface ReferralRow {
  referralId: string;
  personId: string;
  assessmentId: string | null;
  partnerId: string;
  serviceId: string;
  domain: string | null;
  priority: string | null;
  status: string;
  /** the decline or cancellation reason code */
  statusReason: string | null;
  respondBy: string | null;
  overdue: boolean;
  referredAt: string | null;
  updatedAt: string;
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());
const toRow = (r: Record<string, unknown>): ReferralRow => ({
  referralId: r.referral_id as string,
  personId: r.person_id as string,
  assessmentId: (r.assessment_id as string | null) ?? null,
  partnerId: r.partner_id as string,
  serviceId: r.service_id as string,
  domain: (r.domain as string | null) ?? null,
  priority: (r.priority as string | null) ?? null,
  status: r.status as string,
  statusReason: (r.status_reason as string | null) ?? null,
  respondBy: iso(r.respond_by),
  overdue: r.overdue as boolean,
  referredAt: iso(r.referred_at),
  updatedAt: iso(r.updated_at)!,
});

/** The event fields the view needs (recorded events, or just-appended ones with their position). */
export type ViewEvent = Pick<RecordedEvent, 'type' | 'data' | 'subject' | 'streamPosition' | 'time'>;

/** Referral's tables, updated right after each command and again (idempotently) from the bus. */
export class ReferralView {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411100, SCHEMA);
  }

  async apply(events: readonly ViewEvent[]): Promise<void> {
    for (const e of events as RecordedEvent[]) {
      switch (e.type) {
        case 'ReferredToPartner': {
          const d = e.data;
          // replaces the 'pending' claim row (or creates the row when replaying from the bus)
          await this.db.query(
            `INSERT INTO referral.referrals (referral_id, person_id, assessment_id, partner_id, service_id, domain, priority,
                                             status, respond_by, referred_at, updated_at, stream_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $9, $10)
             ON CONFLICT (referral_id) DO UPDATE SET assessment_id = excluded.assessment_id, domain = excluded.domain,
               priority = excluded.priority, status = 'requested', respond_by = excluded.respond_by,
               referred_at = excluded.referred_at, updated_at = excluded.updated_at, stream_position = excluded.stream_position
             WHERE referral.referrals.stream_position < excluded.stream_position`,
            [d.referralId, d.personId, d.assessmentId, d.partnerId, d.serviceId, d.domain, d.priority, d.respondBy, e.time, e.streamPosition],
          );
          break;
        }
        case 'ReferralAccepted':
        case 'ReferralDeclined':
        case 'ServiceStarted':
        case 'ServiceCompleted':
        case 'ReferralCancelled':
          await this.db.query(
            `UPDATE referral.referrals SET status = $2, updated_at = $3, stream_position = $4, status_reason = $5
              WHERE referral_id = $1 AND stream_position < $4`,
            [
              e.subject.slice('referral-'.length),
              STATUS_OF[e.type],
              e.time,
              e.streamPosition,
              e.type === 'ReferralDeclined' || e.type === 'ReferralCancelled' ? e.data.reason : null,
            ],
          );
          break;
        case 'ReferralOverdue':
          await this.db.query(
            `UPDATE referral.referrals SET overdue = true, updated_at = $2, stream_position = $3
              WHERE referral_id = $1 AND stream_position < $3`,
            [e.subject.slice('referral-'.length), e.time, e.streamPosition],
          );
          break;
        case 'PartnerRegistered':
          await this.db.query(
            `INSERT INTO referral.partners (partner_id, name, sector, services, stream_position) VALUES ($1, $2, $3, $4::jsonb, $5)
             ON CONFLICT (partner_id) DO NOTHING`,
            [e.data.partnerId, e.data.name, e.data.sector, JSON.stringify(e.data.services), e.streamPosition],
          );
          break;
        case 'PartnerJoinedAgreement':
        case 'PartnerLeftAgreement':
        case 'ServiceCapacityChanged': {
          const partnerId = e.subject.slice('partner-'.length);
          const change =
            e.type === 'PartnerJoinedAgreement'
              ? `agreements = agreements || jsonb_build_object($3::text, jsonb_build_object('responseDays', $4::int))`
              : e.type === 'PartnerLeftAgreement'
                ? `agreements = agreements - $3::text`
                : `services = (SELECT jsonb_agg(CASE WHEN s->>'serviceId' = $3::text THEN jsonb_set(s, '{capacity}', to_jsonb($4::int)) ELSE s END)
                                 FROM jsonb_array_elements(services) s)`;
          const arg3 = e.type === 'ServiceCapacityChanged' ? e.data.serviceId : e.data.agreementId;
          const arg4 = e.type === 'PartnerJoinedAgreement' ? e.data.responseDays : e.type === 'ServiceCapacityChanged' ? e.data.capacity : undefined;
          // PostgreSQL refuses a parameter that the statement does not use (leaving has no $4)
          await this.db.query(
            `UPDATE referral.partners SET ${change}, stream_position = $2 WHERE partner_id = $1 AND stream_position < $2`,
            [partnerId, e.streamPosition, arg3, ...(arg4 === undefined ? [] : [arg4])],
          );
          break;
        }
        default:
          break;
      }
    }
  }

  /**
   * Claims the (person, partner, service) slot for a new referral. Returns the
   * open referral that already holds it, or undefined when the claim is ours.
   */
  async claim(r: { referralId: string; personId: string; partnerId: string; serviceId: string }): Promise<string | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      // a claim whose referral was never recorded (crash) is released after a minute
      await this.db.query(
        `DELETE FROM referral.referrals WHERE status = 'pending' AND person_id = $1 AND partner_id = $2 AND service_id = $3
            AND updated_at < now() - interval '60 seconds'`,
        [r.personId, r.partnerId, r.serviceId],
      );
      const mine = await this.db.query(
        `INSERT INTO referral.referrals (referral_id, person_id, partner_id, service_id, status, stream_position)
         VALUES ($1, $2, $3, $4, 'pending', -1) ON CONFLICT DO NOTHING RETURNING referral_id`,
        [r.referralId, r.personId, r.partnerId, r.serviceId],
      );
      if (mine.length === 1) return undefined;
      const rows = await this.db.query<{ referral_id: string }>(
        `SELECT referral_id FROM referral.referrals WHERE person_id = $1 AND partner_id = $2 AND service_id = $3
            AND status IN ('pending', 'requested', 'accepted', 'in-progress')`,
        [r.personId, r.partnerId, r.serviceId],
      );
      if (rows[0]) return rows[0].referral_id;
    }
    throw new Error('could not claim the referral slot');
  }

  async releaseClaim(referralId: string): Promise<void> {
    await this.db.query(`DELETE FROM referral.referrals WHERE referral_id = $1 AND status = 'pending'`, [referralId]);
  }

  /** Places of a service taken by accepted or started referrals. */
  async occupied(partnerId: string, serviceId: string): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM referral.referrals WHERE partner_id = $1 AND service_id = $2 AND status IN ('accepted', 'in-progress')`,
      [partnerId, serviceId],
    );
    return rows[0]!.n;
  }

  async occupancy(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ partner_id: string; service_id: string; n: number }>(
      `SELECT partner_id, service_id, count(*)::int AS n FROM referral.referrals WHERE status IN ('accepted', 'in-progress')
        GROUP BY partner_id, service_id`,
    );
    return new Map(rows.map((r) => [`${r.partner_id}/${r.service_id}`, r.n]));
  }

  async get(referralId: string): Promise<ReferralRow | undefined> {
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM referral.referrals WHERE referral_id = $1 AND status <> 'pending'`, [referralId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async list(filter: { partnerId?: string; personId?: string; status?: string; overdue?: boolean; limit?: number }): Promise<ReferralRow[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM referral.referrals
        WHERE status <> 'pending' AND ($1::text IS NULL OR partner_id = $1) AND ($2::uuid IS NULL OR person_id = $2)
          AND ($3::text IS NULL OR status = $3) AND ($4::boolean IS NULL OR overdue = $4)
        ORDER BY referred_at DESC NULLS LAST, referral_id LIMIT $5`,
      [filter.partnerId ?? null, filter.personId ?? null, filter.status ?? null, filter.overdue ?? null, filter.limit ?? 500],
    );
    return rows.map(toRow);
  }

  /** Open referrals of a person (what withdrawing consent or erasure cancels). */
  async openOfPerson(personId: string): Promise<string[]> {
    const rows = await this.db.query<{ referral_id: string }>(
      `SELECT referral_id FROM referral.referrals WHERE person_id = $1 AND status IN ('requested', 'accepted', 'in-progress')`,
      [personId],
    );
    return rows.map((r) => r.referral_id);
  }

  /** Requested referrals whose answer is late and not yet marked overdue. */
  async dueBefore(now: Date, limit = 200): Promise<string[]> {
    const rows = await this.db.query<{ referral_id: string }>(
      `SELECT referral_id FROM referral.referrals WHERE status = 'requested' AND NOT overdue AND respond_by < $1
        ORDER BY respond_by LIMIT $2`,
      [now.toISOString(), limit],
    );
    return rows.map((r) => r.referral_id);
  }

  async partners(): Promise<Array<{ partnerId: string; name: string; sector: string; services: Array<{ serviceId: string; name: string; domain: string; capacity: number }>; agreements: Record<string, { responseDays: number }> }>> {
    const rows = await this.db.query<{ partner_id: string; name: string; sector: string; services: never; agreements: never }>(
      'SELECT partner_id, name, sector, services, agreements FROM referral.partners ORDER BY partner_id',
    );
    return rows.map((r) => ({ partnerId: r.partner_id, name: r.name, sector: r.sector, services: r.services, agreements: r.agreements }));
  }
}
