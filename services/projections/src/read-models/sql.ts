// The read models of OneStop: the SQL is the specification.
//
// Everything the projections service stores and every question the dashboards
// ask is in this one module, as SQL. The schema name is a parameter: the live
// read models live in `projections`, a rebuild fills a fresh shadow schema and
// then renames it into place.
//
// Why the tables look the way they do (DESIGN §7):
// - Events of different streams and topics may arrive in any order (Kafka keeps
//   order per key only). So every table holds the facts of ONE kind of stream,
//   one row per aggregate, written only by that stream's own events, which do
//   arrive in order. Nothing is counted across aggregates at write time: the
//   figures are aggregated when they are asked for, in the queries below.
// - Delivery is at-least-once. `applied_streams` holds, per stream, the position
//   of the last event applied; an event is applied only if it is newer, and the
//   checkpoint moves in the same statement (so the same transaction) as the
//   change it guards. A redelivered event changes nothing.
// - No personal data: the read models hold ids, codes, dates and levels.
//   Encrypted payload members are stripped before events reach the database.

// Task statuses come from the one vocabulary of packages/events
import { OPEN_REFERRAL_STATUSES_SQL, TASK_STATUS_AFTER } from '@onestop/events';

/** A schema name we are willing to splice into SQL. */
export function assertSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`invalid read-model schema name: ${schema}`);
  return schema;
}

/** Statuses of a FHIR Task that are still open. */
export const OPEN_REFERRAL = OPEN_REFERRAL_STATUSES_SQL;

/** A referral row; the date column is read as text, or drivers turn it into a local midnight. */
const REFERRAL_COLUMNS = `*, expected_start::text AS expected_start_text`;

// ── Tables ──────────────────────────────────────────────────────────────────
export const tablesSql = (s: string): string => `
CREATE SCHEMA IF NOT EXISTS ${s};

-- The per-stream checkpoint: position of the last event of the stream applied here.
CREATE TABLE IF NOT EXISTS ${s}.applied_streams (
  stream_id text   PRIMARY KEY,
  position  bigint NOT NULL
);

-- The streams that make up a person's case: person-, assessment-, referral-, audit-<id>,
-- found through the envelope's partition key (the personId).
CREATE TABLE IF NOT EXISTS ${s}.case_streams (
  person_id uuid NOT NULL,
  stream_id text NOT NULL,
  PRIMARY KEY (person_id, stream_id)
);

-- Intake: one row per person stream.
CREATE TABLE IF NOT EXISTS ${s}.persons (
  person_id                uuid PRIMARY KEY,
  access_point             text NOT NULL,
  municipality             text NOT NULL,
  birth_year               int  NOT NULL,
  registered_by            text NOT NULL,
  registered_at            timestamptz NOT NULL,
  -- registered | erased
  status                   text NOT NULL,
  consent_assessment       boolean NOT NULL DEFAULT false,
  consent_referral_sharing boolean NOT NULL DEFAULT false,
  erased_at                timestamptz
);
CREATE INDEX IF NOT EXISTS persons_access_point ON ${s}.persons (access_point);
CREATE INDEX IF NOT EXISTS persons_registered_by ON ${s}.persons (registered_by);

-- Assessment: one row per assessment stream.
CREATE TABLE IF NOT EXISTS ${s}.assessments (
  assessment_id    uuid PRIMARY KEY,
  person_id        uuid NOT NULL,
  -- open | completed | cancelled
  status           text NOT NULL,
  -- [{memberId, role}]
  team             jsonb NOT NULL,
  -- the latest level of each domain evaluated so far
  levels           jsonb NOT NULL DEFAULT '{}',
  -- domain → level, once completed
  need_profile     jsonb,
  priority_domains text[],
  goals            int,
  started_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  cancelled_at     timestamptz
);
CREATE INDEX IF NOT EXISTS assessments_person ON ${s}.assessments (person_id);

-- Referral: one row per referral stream; status is the FHIR Task status.
CREATE TABLE IF NOT EXISTS ${s}.referrals (
  referral_id    uuid PRIMARY KEY,
  person_id      uuid NOT NULL,
  assessment_id  uuid NOT NULL,
  partner_id     text NOT NULL,
  service_id     text NOT NULL,
  domain         text NOT NULL,
  priority       text NOT NULL,
  -- requested | accepted | rejected | in-progress | completed | cancelled
  status         text NOT NULL,
  referred_by    text NOT NULL,
  referred_at    timestamptz NOT NULL,
  respond_by     timestamptz NOT NULL,
  accepted_at    timestamptz,
  expected_start date,
  declined_at    timestamptz,
  decline_reason text,
  started_at     timestamptz,
  completed_at   timestamptz,
  outcome        text,
  cancelled_at   timestamptz,
  cancel_reason  text,
  -- marked late by the SLA watcher (stays true once the answer finally comes)
  overdue        boolean NOT NULL DEFAULT false,
  overdue_at     timestamptz
);
CREATE INDEX IF NOT EXISTS referrals_person ON ${s}.referrals (person_id);
CREATE INDEX IF NOT EXISTS referrals_partner ON ${s}.referrals (partner_id, status);
CREATE INDEX IF NOT EXISTS referrals_overdue ON ${s}.referrals (respond_by) WHERE overdue AND status = 'requested';

-- Directory: one row per partner stream.
CREATE TABLE IF NOT EXISTS ${s}.partners (
  partner_id    text PRIMARY KEY,
  name          text NOT NULL,
  -- public | third_sector
  sector        text NOT NULL,
  -- serviceId → {name, domain, capacity}
  services      jsonb NOT NULL,
  -- agreementId → {responseDays, joinedAt}
  agreements    jsonb NOT NULL DEFAULT '{}',
  registered_at timestamptz NOT NULL
);

-- Taking charge: one row per case stream (care-<personId>).
CREATE TABLE IF NOT EXISTS ${s}.cases (
  person_id       uuid PRIMARY KEY,
  programme       text NOT NULL,
  access_point    text NOT NULL,
  activation_date date NOT NULL,
  -- the current case manager (a staff id); null until assigned
  case_manager    text,
  -- open | closed
  status          text NOT NULL,
  opened_at       timestamptz NOT NULL,
  closed_at       timestamptz
);

-- The deadline watcher's findings: rows of one deadlines-<personId> stream,
-- one per deadline, written only by that stream's events.
CREATE TABLE IF NOT EXISTS ${s}.deadlines (
  person_id        uuid NOT NULL,
  deadline_id      text NOT NULL,
  -- first_meeting | review | plan_review
  kind             text NOT NULL,
  programme        text NOT NULL,
  anchor_date      date NOT NULL,
  due_date         date NOT NULL,
  recommended_date date,
  -- when the watcher found it (it may change hands after: the cases table has the current one)
  case_manager     text,
  access_point     text,
  approaching_at   timestamptz,
  missed_at        timestamptz,
  met_at           timestamptz,
  -- the day it was met in Europe/Rome, the day deadlines are counted in
  met_day          date,
  on_time          boolean,
  PRIMARY KEY (person_id, deadline_id)
);
CREATE INDEX IF NOT EXISTS deadlines_due ON ${s}.deadlines (due_date) WHERE met_at IS NULL;

-- A waitlisted referral (Task on-hold): when it joined the waitlist and the date the partner expects a place.
ALTER TABLE ${s}.referrals ADD COLUMN IF NOT EXISTS waitlisted_at timestamptz;
ALTER TABLE ${s}.referrals ADD COLUMN IF NOT EXISTS waitlist_expected date;
`;

// ── Applying events ─────────────────────────────────────────────────────────
// One function per schema applies a batch of events (a jsonb array, in order)
// in one statement, so one round trip per batch. Each event is
// {type, subject, streamPosition, time, partitionKey, data}.
// The per-stream checkpoints are handled per batch, not per event: the batch's
// checkpoint rows are locked once (in stream order, so concurrent appliers
// cannot deadlock), the events newer than both the checkpoint and any earlier
// event of their stream in the same batch are selected in one query, and each
// checkpoint moves once to the newest position applied. That halves the
// statements run per event (DESIGN §7: redelivery still changes nothing).
// The bodies name their schema, so a rebuild re-creates them after renaming.
export const applyFunctionsSql = (s: string): string => `
DROP FUNCTION IF EXISTS ${s}.apply_event(jsonb);

CREATE OR REPLACE FUNCTION ${s}.apply_events(p_events jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_applied  int := 0;
  v_streams  text[];
  e          jsonb;
  v_stream   text;
  v_category text;
  v_id       text;
  v_position bigint;
  v_time     timestamptz;
  d          jsonb;
BEGIN
  SELECT array_agg(DISTINCT value->>'subject' ORDER BY value->>'subject') INTO v_streams
    FROM jsonb_array_elements(p_events);
  IF v_streams IS NULL THEN
    RETURN 0;
  END IF;
  -- every stream of the batch gets its checkpoint row, locked until commit: a
  -- concurrent applier of the same stream waits, then sees what this one applied
  INSERT INTO ${s}.applied_streams (stream_id, position)
    SELECT unnest(v_streams), -1
    ON CONFLICT (stream_id) DO NOTHING;
  PERFORM 1 FROM ${s}.applied_streams WHERE stream_id = ANY (v_streams) ORDER BY stream_id FOR UPDATE;

  FOR e IN
    WITH batch AS (
      SELECT t.value AS ev, t.n, t.value->>'subject' AS stream, (t.value->>'streamPosition')::bigint AS pos
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(value, n)
    ), seen AS (
      SELECT batch.*, max(pos) OVER (PARTITION BY stream ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM batch
    )
    -- (the = ANY keeps the look-up of the checkpoints on their index, however many streams there are)
    SELECT seen.ev FROM seen JOIN ${s}.applied_streams a ON a.stream_id = seen.stream AND a.stream_id = ANY (v_streams)
     WHERE seen.pos > greatest(a.position, coalesce(seen.before, -1))
     ORDER BY seen.n
  LOOP
    v_stream   := e->>'subject';
    v_category := split_part(v_stream, '-', 1);
    v_id       := substr(v_stream, length(v_category) + 2);
    v_position := (e->>'streamPosition')::bigint;
    v_time     := (e->>'time')::timestamptz;
    d          := e->'data';
    v_applied  := v_applied + 1;

    -- a stream joins its case with its first event; later events need no look-up
    IF v_position = 0 AND v_category IN ('person', 'assessment', 'referral', 'audit') THEN
      INSERT INTO ${s}.case_streams (person_id, stream_id) VALUES ((e->>'partitionKey')::uuid, v_stream)
      ON CONFLICT DO NOTHING;
    END IF;

    CASE e->>'type'
    -- Intake ------------------------------------------------------------------
    WHEN 'PersonRegistered' THEN
      INSERT INTO ${s}.persons (person_id, access_point, municipality, birth_year, registered_by, registered_at, status)
      VALUES (v_id::uuid, d->>'accessPoint', d->>'municipality', (d->>'birthYear')::int, d->>'registeredBy', v_time, 'registered')
      ON CONFLICT (person_id) DO NOTHING;
    WHEN 'ConsentGiven', 'ConsentWithdrawn' THEN
      UPDATE ${s}.persons SET
        consent_assessment = CASE WHEN d->>'scope' = 'assessment'
                                  THEN e->>'type' = 'ConsentGiven' ELSE consent_assessment END,
        consent_referral_sharing = CASE WHEN d->>'scope' = 'referral_sharing'
                                        THEN e->>'type' = 'ConsentGiven' ELSE consent_referral_sharing END
      WHERE person_id = v_id::uuid;
    WHEN 'PersonalDataErased' THEN
      UPDATE ${s}.persons SET status = 'erased', erased_at = v_time,
        consent_assessment = false, consent_referral_sharing = false
      WHERE person_id = v_id::uuid;

    -- Assessment --------------------------------------------------------------
    WHEN 'AssessmentStarted' THEN
      INSERT INTO ${s}.assessments (assessment_id, person_id, status, team, started_at)
      VALUES (v_id::uuid, (d->>'personId')::uuid, 'open', d->'team', v_time)
      ON CONFLICT (assessment_id) DO NOTHING;
    WHEN 'DomainEvaluated' THEN
      UPDATE ${s}.assessments SET levels = levels || jsonb_build_object(d->>'domain', d->'needLevel')
      WHERE assessment_id = v_id::uuid;
    WHEN 'AssessmentCompleted' THEN
      UPDATE ${s}.assessments SET status = 'completed', completed_at = v_time,
        need_profile = d->'needProfile',
        priority_domains = ARRAY(SELECT jsonb_array_elements_text(d->'priorityDomains')),
        goals = jsonb_array_length(d->'goals')
      WHERE assessment_id = v_id::uuid;
    WHEN 'AssessmentCancelled' THEN
      UPDATE ${s}.assessments SET status = 'cancelled', cancelled_at = v_time
      WHERE assessment_id = v_id::uuid;

    -- Referral ----------------------------------------------------------------
    WHEN 'ReferredToPartner' THEN
      INSERT INTO ${s}.referrals (referral_id, person_id, assessment_id, partner_id, service_id, domain, priority,
                                  status, referred_by, referred_at, respond_by)
      VALUES (v_id::uuid, (d->>'personId')::uuid, (d->>'assessmentId')::uuid, d->>'partnerId', d->>'serviceId',
              d->>'domain', d->>'priority', '${TASK_STATUS_AFTER.ReferredToPartner}', d->>'referredBy', v_time, (d->>'respondBy')::timestamptz)
      ON CONFLICT (referral_id) DO NOTHING;
    WHEN 'ReferralAccepted' THEN
      UPDATE ${s}.referrals SET status = '${TASK_STATUS_AFTER.ReferralAccepted}', accepted_at = v_time, expected_start = (d->>'expectedStart')::date
      WHERE referral_id = v_id::uuid;
    WHEN 'ReferralDeclined' THEN
      UPDATE ${s}.referrals SET status = '${TASK_STATUS_AFTER.ReferralDeclined}', declined_at = v_time, decline_reason = d->>'reason'
      WHERE referral_id = v_id::uuid;
    WHEN 'ServiceStarted' THEN
      UPDATE ${s}.referrals SET status = '${TASK_STATUS_AFTER.ServiceStarted}', started_at = v_time
      WHERE referral_id = v_id::uuid;
    WHEN 'ServiceCompleted' THEN
      UPDATE ${s}.referrals SET status = '${TASK_STATUS_AFTER.ServiceCompleted}', completed_at = v_time, outcome = d->>'outcome'
      WHERE referral_id = v_id::uuid;
    WHEN 'ReferralCancelled' THEN
      UPDATE ${s}.referrals SET status = '${TASK_STATUS_AFTER.ReferralCancelled}', cancelled_at = v_time, cancel_reason = d->>'reason'
      WHERE referral_id = v_id::uuid;
    WHEN 'ReferralOverdue' THEN
      UPDATE ${s}.referrals SET overdue = true, overdue_at = v_time
      WHERE referral_id = v_id::uuid;
    WHEN 'ReferralWaitlisted' THEN
      -- on-hold until the partner accepts, declines or the referral is cancelled (the statuses above)
      UPDATE ${s}.referrals SET status = 'on-hold', waitlisted_at = v_time, waitlist_expected = (d->>'expectedDate')::date
      WHERE referral_id = v_id::uuid;

    -- Taking charge -------------------------------------------------------------
    WHEN 'CaseOpened' THEN
      INSERT INTO ${s}.cases (person_id, programme, access_point, activation_date, status, opened_at)
      VALUES (v_id::uuid, d->>'programme', d->>'accessPoint', (d->>'activationDate')::date, 'open', v_time)
      ON CONFLICT (person_id) DO NOTHING;
    WHEN 'CaseManagerAssigned' THEN
      UPDATE ${s}.cases SET case_manager = d->'caseManager'->>'memberId' WHERE person_id = v_id::uuid;
    WHEN 'CaseTransferred' THEN
      UPDATE ${s}.cases SET case_manager = d->'to'->>'memberId' WHERE person_id = v_id::uuid;
    WHEN 'CaseClosed' THEN
      UPDATE ${s}.cases SET status = 'closed', closed_at = v_time WHERE person_id = v_id::uuid;
    WHEN 'CaseReopened' THEN
      UPDATE ${s}.cases SET status = 'open', closed_at = NULL,
        activation_date = coalesce((d->>'activationDate')::date, activation_date)
      WHERE person_id = v_id::uuid;
    WHEN 'DeadlineApproaching', 'DeadlineMissed', 'DeadlineMet' THEN
      INSERT INTO ${s}.deadlines (person_id, deadline_id, kind, programme, anchor_date, due_date, recommended_date, case_manager, access_point)
      VALUES (v_id::uuid, d->>'deadlineId', d->>'kind', d->>'programme', (d->>'anchorDate')::date, (d->>'dueDate')::date,
              (d->>'recommendedDate')::date, d->>'caseManager', d->>'accessPoint')
      ON CONFLICT (person_id, deadline_id) DO NOTHING;
      UPDATE ${s}.deadlines SET
        approaching_at = CASE WHEN e->>'type' = 'DeadlineApproaching' THEN v_time ELSE approaching_at END,
        missed_at      = CASE WHEN e->>'type' = 'DeadlineMissed' THEN v_time ELSE missed_at END,
        met_at         = CASE WHEN e->>'type' = 'DeadlineMet' THEN (d->>'metAt')::timestamptz ELSE met_at END,
        met_day        = CASE WHEN e->>'type' = 'DeadlineMet' THEN ((d->>'metAt')::timestamptz AT TIME ZONE 'Europe/Rome')::date ELSE met_day END,
        on_time        = CASE WHEN e->>'type' = 'DeadlineMet' THEN (d->>'onTime')::boolean ELSE on_time END
      WHERE person_id = v_id::uuid AND deadline_id = d->>'deadlineId';

    -- Directory ---------------------------------------------------------------
    WHEN 'PartnerRegistered' THEN
      INSERT INTO ${s}.partners (partner_id, name, sector, services, registered_at)
      VALUES (v_id, d->>'name', d->>'sector',
              (SELECT coalesce(jsonb_object_agg(svc->>'serviceId', svc - 'serviceId'), '{}')
                 FROM jsonb_array_elements(d->'services') AS svc),
              v_time)
      ON CONFLICT (partner_id) DO NOTHING;
    WHEN 'PartnerJoinedAgreement' THEN
      UPDATE ${s}.partners
         SET agreements = agreements || jsonb_build_object(d->>'agreementId',
                                          jsonb_build_object('responseDays', d->'responseDays', 'joinedAt', e->'time'))
      WHERE partner_id = v_id;
    WHEN 'PartnerLeftAgreement' THEN
      UPDATE ${s}.partners SET agreements = agreements - (d->>'agreementId')
      WHERE partner_id = v_id;
    WHEN 'ServiceCapacityChanged' THEN
      UPDATE ${s}.partners SET services = jsonb_set(services, ARRAY[d->>'serviceId', 'capacity'], d->'capacity')
      WHERE partner_id = v_id AND services ? (d->>'serviceId');

    ELSE
      -- ContactDetailsUpdated (personal data only), CaseHistoryRead (the case's
      -- audit stream) and types this version does not know: the checkpoint and
      -- case_streams above are all they change.
      NULL;
    END CASE;
  END LOOP;

  UPDATE ${s}.applied_streams a SET position = b.pos
    FROM (SELECT value->>'subject' AS stream, max((value->>'streamPosition')::bigint) AS pos
            FROM jsonb_array_elements(p_events) GROUP BY 1) b
   WHERE a.stream_id = ANY (v_streams) AND a.stream_id = b.stream AND a.position < b.pos;
  RETURN v_applied;
END
$$;
`;

/** The tables of a read-model schema, with the key that orders a full dump. */
export const TABLES = {
  applied_streams: 'stream_id',
  case_streams: 'person_id, stream_id',
  persons: 'person_id',
  assessments: 'assessment_id',
  referrals: 'referral_id',
  partners: 'partner_id',
  cases: 'person_id',
  deadlines: 'person_id, deadline_id',
} as const;

// ── Rebuild ─────────────────────────────────────────────────────────────────
/**
 * Streams whose live checkpoint is ahead of the shadow's: events another
 * process applied to the live read models that the shadow has not seen yet.
 * The swap waits until there are none.
 */
export const shadowBehindSql = (live: string, shadow: string): string => `
SELECT count(*) AS behind
  FROM ${live}.applied_streams l
  LEFT JOIN ${shadow}.applied_streams s USING (stream_id)
 WHERE s.position IS NULL OR s.position < l.position`;

// ── Queries for the dashboards ──────────────────────────────────────────────
export const queries = (s: string) => ({
  /** Totals of the network agreement. */
  overview: `
SELECT
  (SELECT count(*) FROM ${s}.persons WHERE status = 'registered')                     AS persons_registered,
  (SELECT count(*) FROM ${s}.persons WHERE status = 'erased')                         AS persons_erased,
  (SELECT count(*) FROM ${s}.persons WHERE consent_assessment)                        AS consent_assessment,
  (SELECT count(*) FROM ${s}.persons WHERE consent_referral_sharing)                  AS consent_referral_sharing,
  (SELECT count(*) FROM ${s}.assessments WHERE status = 'open')                       AS assessments_open,
  (SELECT count(*) FROM ${s}.assessments WHERE status = 'completed')                  AS assessments_completed,
  (SELECT count(*) FROM ${s}.assessments WHERE status = 'cancelled')                  AS assessments_cancelled,
  (SELECT count(*) FROM ${s}.referrals)                                               AS referrals_total,
  (SELECT count(*) FROM ${s}.referrals WHERE status IN ${OPEN_REFERRAL})              AS referrals_open,
  (SELECT count(*) FROM ${s}.referrals WHERE status = 'requested' AND overdue)        AS referrals_overdue,
  (SELECT count(*) FROM ${s}.partners)                                                AS partners,
  (SELECT count(*) FROM ${s}.partners WHERE agreements <> '{}')                       AS partners_in_agreement,
  (SELECT coalesce(sum((SELECT count(*) FROM jsonb_object_keys(services))), 0) FROM ${s}.partners) AS services`,

  /** Referred → accepted → started → completed, and the ways out (declined, cancelled). */
  funnel: `
SELECT count(*)                                          AS referred,
       count(accepted_at)                                AS accepted,
       count(started_at)                                 AS started,
       count(completed_at)                               AS completed,
       count(declined_at)                                AS declined,
       count(cancelled_at)                               AS cancelled,
       count(*) FILTER (WHERE status IN ${OPEN_REFERRAL}) AS open
  FROM ${s}.referrals
 WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR domain = $2)`,

  /**
   * Per partner: what it received and what it did with it. Time to answer is
   * the first of accepted/declined minus referred_at; time to start is
   * started_at minus referred_at; both as medians, in hours. Partners known
   * only from referrals (their directory events not yet here) are listed too.
   */
  partnerStatistics: `
WITH known AS (
  SELECT partner_id FROM ${s}.partners UNION SELECT partner_id FROM ${s}.referrals
)
SELECT k.partner_id, p.name, p.sector,
       count(r.referral_id)           AS received,
       count(r.accepted_at)           AS accepted,
       count(r.declined_at)           AS declined,
       count(r.started_at)            AS started,
       count(r.completed_at)          AS completed,
       count(r.cancelled_at)          AS cancelled,
       count(*) FILTER (WHERE r.overdue) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM least(r.accepted_at, r.declined_at) - r.referred_at)::float8 / 3600) AS median_hours_to_answer,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM r.started_at - r.referred_at)::float8 / 3600) AS median_hours_to_start,
       (SELECT coalesce(jsonb_object_agg(x.decline_reason, x.n), '{}') FROM (
          SELECT decline_reason, count(*) AS n FROM ${s}.referrals
           WHERE partner_id = k.partner_id AND declined_at IS NOT NULL GROUP BY decline_reason) x) AS declined_by_reason,
       (SELECT coalesce(jsonb_object_agg(x.outcome, x.n), '{}') FROM (
          SELECT outcome, count(*) AS n FROM ${s}.referrals
           WHERE partner_id = k.partner_id AND completed_at IS NOT NULL GROUP BY outcome) x) AS completed_by_outcome
  FROM known k
  LEFT JOIN ${s}.partners p USING (partner_id)
  LEFT JOIN ${s}.referrals r USING (partner_id)
 GROUP BY k.partner_id, p.name, p.sector
 ORDER BY k.partner_id`,

  /** Referrals with status, timestamps and the overdue flag, newest first. */
  referrals: `
SELECT ${REFERRAL_COLUMNS} FROM ${s}.referrals
 WHERE ($1::text IS NULL OR status = $1)
   AND ($2::boolean IS NULL OR overdue = $2)
   AND ($3::text IS NULL OR partner_id = $3)
   AND ($4::uuid IS NULL OR person_id = $4)
 ORDER BY referred_at DESC, referral_id
 LIMIT $5 OFFSET $6`,

  /** Still waiting for an answer after the date the agreement allows. */
  overdueReferrals: `
SELECT ${REFERRAL_COLUMNS} FROM ${s}.referrals
 WHERE status = 'requested' AND overdue
 ORDER BY respond_by, referral_id`,

  /** Completed assessments: per domain, how many at each need level, and the average level. */
  needProfilesByDomain: `
WITH levels AS (
  SELECT d.key AS domain, d.value::int AS level
    FROM ${s}.assessments a CROSS JOIN LATERAL jsonb_each_text(a.need_profile) AS d
   WHERE a.status = 'completed'
)
SELECT domain, count(*) AS assessments, avg(level)::float8 AS average_level,
       count(*) FILTER (WHERE level = 0) AS level_0, count(*) FILTER (WHERE level = 1) AS level_1,
       count(*) FILTER (WHERE level = 2) AS level_2, count(*) FILTER (WHERE level = 3) AS level_3,
       count(*) FILTER (WHERE level = 4) AS level_4
  FROM levels GROUP BY domain ORDER BY domain`,

  /** The same, per access point of the person (null while the person's registration is not here yet). */
  needProfilesByAccessPoint: `
WITH levels AS (
  SELECT p.access_point, d.key AS domain, d.value::int AS level
    FROM ${s}.assessments a CROSS JOIN LATERAL jsonb_each_text(a.need_profile) AS d
    LEFT JOIN ${s}.persons p ON p.person_id = a.person_id
   WHERE a.status = 'completed'
)
SELECT access_point, domain, count(*) AS assessments, avg(level)::float8 AS average_level,
       count(*) FILTER (WHERE level = 0) AS level_0, count(*) FILTER (WHERE level = 1) AS level_1,
       count(*) FILTER (WHERE level = 2) AS level_2, count(*) FILTER (WHERE level = 3) AS level_3,
       count(*) FILTER (WHERE level = 4) AS level_4
  FROM levels GROUP BY access_point, domain ORDER BY access_point NULLS LAST, domain`,

  /** Persons registered per operator. */
  caseloadOperators: `
SELECT registered_by AS operator, count(*) AS persons,
       count(*) FILTER (WHERE status = 'registered') AS registered,
       count(*) FILTER (WHERE status = 'erased') AS erased
  FROM ${s}.persons GROUP BY registered_by ORDER BY registered_by`,

  /** Assessments per team member. */
  caseloadTeam: `
SELECT m->>'memberId' AS member_id, m->>'role' AS role, count(*) AS assessments,
       count(*) FILTER (WHERE a.status = 'open') AS open,
       count(*) FILTER (WHERE a.status = 'completed') AS completed,
       count(*) FILTER (WHERE a.status = 'cancelled') AS cancelled
  FROM ${s}.assessments a CROSS JOIN LATERAL jsonb_array_elements(a.team) AS m
 GROUP BY 1, 2 ORDER BY 1, 2`,

  /** One line per case: the person and the counts of their assessments and referrals. */
  caseOverviews: `
SELECT c.person_id, p.access_point, p.municipality, p.birth_year, p.registered_by, p.registered_at, p.status,
       p.consent_assessment, p.consent_referral_sharing, p.erased_at,
       (SELECT count(*) FROM ${s}.assessments a WHERE a.person_id = c.person_id) AS assessments,
       (SELECT count(*) FROM ${s}.assessments a WHERE a.person_id = c.person_id AND a.status = 'completed') AS assessments_completed,
       (SELECT count(*) FROM ${s}.referrals r WHERE r.person_id = c.person_id) AS referrals,
       (SELECT count(*) FROM ${s}.referrals r WHERE r.person_id = c.person_id AND r.status IN ${OPEN_REFERRAL}) AS open_referrals,
       (SELECT count(*) FROM ${s}.referrals r WHERE r.person_id = c.person_id AND r.status = 'requested' AND r.overdue) AS overdue_referrals,
       (SELECT array_agg(cs.stream_id ORDER BY cs.stream_id) FROM ${s}.case_streams cs WHERE cs.person_id = c.person_id) AS streams
  FROM (SELECT DISTINCT person_id FROM ${s}.case_streams
         WHERE $1::uuid IS NULL OR person_id = $1) c
  LEFT JOIN ${s}.persons p USING (person_id)
 WHERE ($2::text IS NULL OR p.access_point = $2)
 ORDER BY p.registered_at DESC NULLS LAST, c.person_id
 LIMIT $3 OFFSET $4`,

  /** The assessments of one case. */
  caseAssessments: `
SELECT * FROM ${s}.assessments WHERE person_id = $1 ORDER BY started_at, assessment_id`,

  /**
   * Deadlines due between two days ($1, $2: this week, Monday to Sunday) not
   * met yet, of open cases, per case manager (the case's current one; the one
   * the watcher saw while the case's own events are not here yet). Only the
   * deadlines the watcher has told of: it tells them
   * ONESTOP_DEADLINE_APPROACHING_DAYS ahead (keep it at 7 or more).
   */
  deadlinesDue: `
SELECT coalesce(c.case_manager, d.case_manager) AS case_manager, d.person_id, d.deadline_id, d.kind, d.programme,
       d.due_date::text AS due_date, coalesce(c.access_point, d.access_point) AS access_point, d.missed_at IS NOT NULL AS missed
  FROM ${s}.deadlines d
  LEFT JOIN ${s}.cases c USING (person_id)
 WHERE d.met_at IS NULL AND d.due_date BETWEEN $1::date AND $2::date AND coalesce(c.status, 'open') = 'open'
 ORDER BY 1 NULLS LAST, d.due_date, d.person_id, d.deadline_id`,

  /**
   * First meetings by access point: of the first-meeting deadlines settled
   * (met, or missed), how many were met within the recommended date (ADI: 60
   * days) and within the due date (120 days) of the activation.
   */
  firstMeetings: `
SELECT access_point,
       count(*) AS settled,
       count(*) FILTER (WHERE met_day <= recommended_date) AS within_recommended,
       count(*) FILTER (WHERE on_time) AS within_due,
       count(*) FILTER (WHERE missed_at IS NOT NULL AND met_at IS NULL) AS still_missing
  FROM ${s}.deadlines
 WHERE kind = 'first_meeting' AND (met_at IS NOT NULL OR missed_at IS NOT NULL)
 GROUP BY access_point ORDER BY access_point NULLS LAST`,

  /** Reviews (the plan's review date, and the policy's periodic review meetings): of those settled, how many on time. */
  reviewsOnTime: `
SELECT kind, count(*) AS settled, count(*) FILTER (WHERE on_time) AS on_time
  FROM ${s}.deadlines
 WHERE kind IN ('plan_review', 'review') AND (met_at IS NOT NULL OR missed_at IS NOT NULL)
 GROUP BY kind ORDER BY kind`,

  /** Referrals waiting for a place (Task on-hold), per partner service, with the earliest expected date. */
  waitlists: `
SELECT partner_id, service_id, count(*) AS waiting, min(waitlist_expected)::text AS earliest_expected, min(waitlisted_at) AS waiting_since
  FROM ${s}.referrals
 WHERE status = 'on-hold'
 GROUP BY partner_id, service_id ORDER BY partner_id, service_id`,

  /** The streams of one case (the audit trail reads them from the event store). */
  caseStreams: `
SELECT stream_id FROM ${s}.case_streams WHERE person_id = $1 ORDER BY stream_id`,
});
