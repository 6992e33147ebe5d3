import { PLACE_HOLDING_STATUSES_SQL, taskStatusAfter, type RecordedEvent } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS referral;
-- Referral's own view of its referrals: partner inboxes, occupancy shown in
-- the directory, the SLA watcher's work list. A read-only consumer of the bus:
-- no command writes here and no rule is decided from it (the rules are
-- guarded by streams in the store, DESIGN §9).
CREATE TABLE IF NOT EXISTS referral.referrals (
  referral_id     uuid PRIMARY KEY,
  person_id       uuid NOT NULL,
  assessment_id   uuid,
  partner_id      text NOT NULL,
  service_id      text NOT NULL,
  domain          text,
  priority        text,
  -- the FHIR Task status
  status          text NOT NULL,
  respond_by      timestamptz,
  overdue         boolean NOT NULL DEFAULT false,
  referred_at     timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  stream_position bigint NOT NULL
);
-- earlier versions claimed the person's slot here ('pending' rows under a
-- unique index); the case stream does that now
DROP INDEX IF EXISTS referral.referrals_one_open_per_service;
DELETE FROM referral.referrals WHERE status = 'pending';
-- why a referral was declined or cancelled (a code): the partner learns at once
-- that consent was withdrawn or the data erased (GDPR Art. 19)
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS status_reason text;
-- what the FHIR Task and ServiceRequest show besides: the outcome of a
-- completed service and the consent the referral was made under (rows of an
-- earlier version get them when the view is rebuilt from the log)
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS outcome text;
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS consent_event_id uuid;
-- waitlist and re-referral (issue 14): the date a waitlisted referral expects a
-- place, when a freed place was offered to it, and the links of a re-referral
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS expected_date date;
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS place_available_at timestamptz;
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS replaces_referral_id uuid;
ALTER TABLE referral.referrals ADD COLUMN IF NOT EXISTS replaced_by uuid;
CREATE INDEX IF NOT EXISTS referrals_partner_updated ON referral.referrals (partner_id, updated_at, referral_id);
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
  /** waitlisted (on-hold): when the partner expects a place */
  expectedDate: string | null;
  /** waitlisted: when a freed place was offered to it (null: not yet) */
  placeAvailableAt: string | null;
  /** a re-referral: the declined referral it replaces */
  replacesReferralId: string | null;
  /** a declined referral re-referred: the referral that replaces it */
  replacedBy: string | null;
}

/** A row with what the FHIR facade shows besides (not part of the native API's answer). */
export interface ReferralRecord extends ReferralRow {
  outcome: string | null;
  consentEventId: string | null;
  /** the referral stream's revision this row reflects */
  version: number;
}

/** A FHIR Task search: filters, and a keyset cursor (last updated, id) for paging. */
export interface ReferralSearch {
  partnerIds?: readonly string[];
  statuses?: readonly string[];
  personId?: string;
  /** bounds on the last update: [operator, instant] with operator gt, ge, lt or le */
  updated?: ReadonlyArray<readonly ['gt' | 'ge' | 'lt' | 'le', string]>;
  /** page after this (updatedAt, referralId) */
  after?: readonly [string, string];
  limit: number;
}

/** A date column as YYYY-MM-DD, whichever form the driver hands it in (a Date at local midnight, or text). */
const dateOnly = (v: unknown): string => {
  if (v instanceof Date) return `${v.getFullYear()}-${String(v.getMonth() + 1).padStart(2, '0')}-${String(v.getDate()).padStart(2, '0')}`;
  return String(v).slice(0, 10);
};
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
  expectedDate: r.expected_date == null ? null : dateOnly(r.expected_date),
  placeAvailableAt: iso(r.place_available_at),
  replacesReferralId: (r.replaces_referral_id as string | null) ?? null,
  replacedBy: (r.replaced_by as string | null) ?? null,
});
const toRecord = (r: Record<string, unknown>): ReferralRecord => ({
  ...toRow(r),
  outcome: (r.outcome as string | null) ?? null,
  consentEventId: (r.consent_event_id as string | null) ?? null,
  version: Number(r.stream_position),
});
const SQL_OPERATOR = { gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/** Referral's tables, fed by the bus only; redelivery and duplicates change nothing (stream positions). */
export class ReferralView {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411100, SCHEMA);
  }

  async apply(events: readonly RecordedEvent[]): Promise<void> {
    for (const e of events) {
      switch (e.type) {
        case 'ReferredToPartner': {
          const d = e.data;
          await this.db.query(
            `INSERT INTO referral.referrals (referral_id, person_id, assessment_id, partner_id, service_id, domain, priority,
                                             status, respond_by, referred_at, updated_at, stream_position, consent_event_id, replaces_referral_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $9, $10, $11, $12)
             ON CONFLICT (referral_id) DO NOTHING`,
            [d.referralId, d.personId, d.assessmentId, d.partnerId, d.serviceId, d.domain, d.priority, d.respondBy, e.time, e.streamPosition, d.consentEventId, d.replacesReferralId ?? null],
          );
          break;
        }
        case 'ReferralAccepted':
        case 'ReferralDeclined':
        case 'ServiceStarted':
        case 'ServiceCompleted':
        case 'ReferralCancelled':
          await this.db.query(
            `UPDATE referral.referrals SET status = $2, updated_at = $3, stream_position = $4, status_reason = $5, outcome = $6
              WHERE referral_id = $1 AND stream_position < $4`,
            [
              e.subject.slice('referral-'.length),
              taskStatusAfter(e.type),
              e.time,
              e.streamPosition,
              e.type === 'ReferralDeclined' || e.type === 'ReferralCancelled' ? e.data.reason : null,
              e.type === 'ServiceCompleted' ? e.data.outcome : null,
            ],
          );
          break;
        case 'ReferralWaitlisted':
          await this.db.query(
            `UPDATE referral.referrals SET status = $2, updated_at = $3, stream_position = $4, status_reason = NULL, expected_date = $5::date
              WHERE referral_id = $1 AND stream_position < $4`,
            [e.subject.slice('referral-'.length), taskStatusAfter(e.type), e.time, e.streamPosition, e.data.expectedDate],
          );
          break;
        case 'ReferralPlaceAvailable':
        case 'ReferralReplaced':
          await this.db.query(
            `UPDATE referral.referrals SET ${e.type === 'ReferralPlaceAvailable' ? 'place_available_at = $2' : 'replaced_by = $4::uuid'}, updated_at = $2, stream_position = $3
              WHERE referral_id = $1 AND stream_position < $3`,
            [e.subject.slice('referral-'.length), e.time, e.streamPosition, ...(e.type === 'ReferralReplaced' ? [e.data.replacedBy] : [])],
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

  /** The revision of a stream this view has applied (-1: none yet; undefined: not a stream it follows), for reads that wait for a client's own write. */
  async appliedRevision(streamId: string): Promise<number | undefined> {
    const [category, ...rest] = streamId.split('-');
    const id = rest.join('-');
    const table = category === 'referral' ? 'referrals WHERE referral_id::text = $1' : category === 'partner' ? 'partners WHERE partner_id = $1' : undefined;
    if (!table) return undefined;
    const rows = await this.db.query<{ p: unknown }>(`SELECT stream_position AS p FROM referral.${table}`, [id]);
    return rows[0] ? Number(rows[0].p) : -1;
  }

  /** Places taken per service, as this view has heard (the directory shows it; acceptance counts its places stream). */
  async occupancy(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ partner_id: string; service_id: string; n: number }>(
      `SELECT partner_id, service_id, count(*)::int AS n FROM referral.referrals WHERE status IN ${PLACE_HOLDING_STATUSES_SQL}
        GROUP BY partner_id, service_id`,
    );
    return new Map(rows.map((r) => [`${r.partner_id}/${r.service_id}`, r.n]));
  }

  async get(referralId: string): Promise<ReferralRow | undefined> {
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM referral.referrals WHERE referral_id = $1`, [referralId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** One referral with what the FHIR facade shows. */
  async record(referralId: string): Promise<ReferralRecord | undefined> {
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM referral.referrals WHERE referral_id = $1`, [referralId]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** Referrals for a FHIR search, oldest update first (a page ends where the next begins: no row is skipped or repeated while nothing changes). */
  async search(q: ReferralSearch): Promise<ReferralRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (q.partnerIds) where.push(`partner_id = ANY(${arg(q.partnerIds)}::text[])`);
    if (q.statuses) where.push(`status = ANY(${arg(q.statuses)}::text[])`);
    if (q.personId) where.push(`person_id = ${arg(q.personId)}::uuid`);
    for (const [op, at] of q.updated ?? []) where.push(`updated_at ${SQL_OPERATOR[op]} ${arg(at)}::timestamptz`);
    if (q.after) where.push(`(updated_at, referral_id) > (${arg(q.after[0])}::timestamptz, ${arg(q.after[1])}::uuid)`);
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM referral.referrals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY updated_at, referral_id LIMIT ${arg(q.limit)}`,
      args,
    );
    return rows.map(toRecord);
  }

  /** Whether a partner has any referral of a person (what lets it read the person's pseudonymous Patient and goals). */
  async partnerKnowsPerson(partnerId: string, personId: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM referral.referrals WHERE partner_id = $1 AND person_id = $2 LIMIT 1`, [partnerId, personId]);
    return rows.length > 0;
  }

  /** Whether a partner has a referral made under a consent. */
  async partnerKnowsConsent(partnerId: string, consentEventId: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM referral.referrals WHERE partner_id = $1 AND consent_event_id = $2 LIMIT 1`, [partnerId, consentEventId]);
    return rows.length > 0;
  }

  async list(filter: { partnerId?: string; personId?: string; status?: string; overdue?: boolean; limit?: number }): Promise<ReferralRow[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM referral.referrals
        WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::uuid IS NULL OR person_id = $2)
          AND ($3::text IS NULL OR status = $3) AND ($4::boolean IS NULL OR overdue = $4)
        ORDER BY referred_at DESC NULLS LAST, referral_id LIMIT $5`,
      [filter.partnerId ?? null, filter.personId ?? null, filter.status ?? null, filter.overdue ?? null, filter.limit ?? 500],
    );
    return rows.map(toRow);
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
