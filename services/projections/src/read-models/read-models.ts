import { createHash } from 'node:crypto';
import { topicForStream, type RecordedEvent } from '@onestop/events';
import { applySchema, sqlLiteral, toNumber, type SqlDriver } from '@onestop/eventstore';
import { applyFunctionsSql, assertSchemaName, queries, TABLES, tablesSql } from './sql.js';

type Query = SqlDriver['query'];
type Row = Record<string, unknown>;

/** What the read models need of an event: its stream, position, time, partition key and payload. */
export type ProjectedEvent = Pick<RecordedEvent, 'type' | 'subject' | 'streamPosition' | 'time' | 'partitionKey' | 'data'>;

/** Events per statement: one round trip applies this many. */
const CHUNK = 1000;

/**
 * Drops encrypted members (the person's ciphertext: PII, notes, reasons, goal
 * texts) from a payload: the read models never hold personal data, and the
 * batches sent to the database stay small.
 */
export function withoutCiphertext(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCiphertext);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && (v as { alg?: unknown }).alg === 'A256GCM') continue;
    out[k] = withoutCiphertext(v);
  }
  return out;
}

const toApplied = (e: ProjectedEvent) => ({
  type: e.type,
  subject: e.subject,
  streamPosition: e.streamPosition,
  time: e.time,
  partitionKey: e.partitionKey,
  data: withoutCiphertext(e.data),
});

/** The advisory lock that separates live applies (shared) from the swap of a rebuild (exclusive). */
export function swapLockKey(schema: string): number {
  return createHash('sha256').update(`onestop.projections.swap:${schema}`).digest().readInt32BE(0);
}

const iso = (v: unknown): string | null => (v == null ? null : new Date(v as string).toISOString());
const num = (v: unknown): number => toNumber(v ?? 0);
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));

// ── What the queries return ─────────────────────────────────────────────────
export interface Casework {
  week: { from: string; to: string };
  deadlinesDue: Array<{
    caseManager: string | null;
    deadlines: Array<{ personId: string; deadlineId: string; kind: string; programme: string; dueDate: string; accessPoint: string | null; missed: boolean }>;
  }>;
  firstMeetings: Array<{
    accessPoint: string | null;
    settled: number;
    withinRecommended: number;
    withinDue: number;
    stillMissing: number;
    shareWithinRecommended: number | null;
    shareWithinDue: number | null;
  }>;
  reviews: Array<{ kind: string; settled: number; onTime: number; shareOnTime: number | null }>;
  waitlists: Array<{ partnerId: string; serviceId: string; waiting: number; earliestExpected: string | null; waitingSince: string | null }>;
}

export interface ReferralRecord {
  referralId: string;
  personId: string;
  assessmentId: string;
  partnerId: string;
  serviceId: string;
  domain: string;
  priority: string;
  /** FHIR Task.status */
  status: string;
  referredBy: string;
  referredAt: string;
  respondBy: string;
  acceptedAt: string | null;
  expectedStart: string | null;
  declinedAt: string | null;
  declineReason: string | null;
  startedAt: string | null;
  completedAt: string | null;
  outcome: string | null;
  cancelledAt: string | null;
  cancelReason: string | null;
  overdue: boolean;
  overdueAt: string | null;
}

const toReferral = (r: Row): ReferralRecord => ({
  referralId: r.referral_id as string,
  personId: r.person_id as string,
  assessmentId: r.assessment_id as string,
  partnerId: r.partner_id as string,
  serviceId: r.service_id as string,
  domain: r.domain as string,
  priority: r.priority as string,
  status: r.status as string,
  referredBy: r.referred_by as string,
  referredAt: iso(r.referred_at)!,
  respondBy: iso(r.respond_by)!,
  acceptedAt: iso(r.accepted_at),
  expectedStart: (r.expected_start_text as string | null) ?? null,
  declinedAt: iso(r.declined_at),
  declineReason: (r.decline_reason as string | null) ?? null,
  startedAt: iso(r.started_at),
  completedAt: iso(r.completed_at),
  outcome: (r.outcome as string | null) ?? null,
  cancelledAt: iso(r.cancelled_at),
  cancelReason: (r.cancel_reason as string | null) ?? null,
  overdue: r.overdue as boolean,
  overdueAt: iso(r.overdue_at),
});

export interface AssessmentRecord {
  assessmentId: string;
  personId: string;
  status: string;
  team: Array<{ memberId: string; role: string }>;
  levels: Record<string, number>;
  needProfile: Record<string, number> | null;
  priorityDomains: string[] | null;
  goals: number | null;
  startedAt: string;
  completedAt: string | null;
  cancelledAt: string | null;
}

const toAssessment = (r: Row): AssessmentRecord => ({
  assessmentId: r.assessment_id as string,
  personId: r.person_id as string,
  status: r.status as string,
  team: r.team as AssessmentRecord['team'],
  levels: r.levels as Record<string, number>,
  needProfile: (r.need_profile as Record<string, number> | null) ?? null,
  priorityDomains: (r.priority_domains as string[] | null) ?? null,
  goals: numOrNull(r.goals),
  startedAt: iso(r.started_at)!,
  completedAt: iso(r.completed_at),
  cancelledAt: iso(r.cancelled_at),
});

export interface CaseOverview {
  personId: string;
  /** null while the person's registration has not reached the read models */
  person: {
    accessPoint: string;
    municipality: string;
    birthYear: number;
    registeredBy: string;
    registeredAt: string;
    status: string;
    consents: { assessment: boolean; referral_sharing: boolean };
    erasedAt: string | null;
  } | null;
  assessments: number;
  assessmentsCompleted: number;
  referrals: number;
  openReferrals: number;
  overdueReferrals: number;
  streams: string[];
}

const toCaseOverview = (r: Row): CaseOverview => ({
  personId: r.person_id as string,
  person:
    r.status == null
      ? null
      : {
          accessPoint: r.access_point as string,
          municipality: r.municipality as string,
          birthYear: num(r.birth_year),
          registeredBy: r.registered_by as string,
          registeredAt: iso(r.registered_at)!,
          status: r.status as string,
          consents: { assessment: r.consent_assessment as boolean, referral_sharing: r.consent_referral_sharing as boolean },
          erasedAt: iso(r.erased_at),
        },
  assessments: num(r.assessments),
  assessmentsCompleted: num(r.assessments_completed),
  referrals: num(r.referrals),
  openReferrals: num(r.open_referrals),
  overdueReferrals: num(r.overdue_referrals),
  streams: (r.streams as string[] | null) ?? [],
});

export interface PartnerStatistics {
  partnerId: string;
  name: string | null;
  sector: string | null;
  received: number;
  accepted: number;
  declined: number;
  declinedByReason: Record<string, number>;
  started: number;
  completed: number;
  completedByOutcome: Record<string, number>;
  cancelled: number;
  overdue: number;
  /** median of (first of accepted/declined − referred), hours; null without answers */
  medianHoursToAnswer: number | null;
  /** median of (started − referred), hours; null when nothing started */
  medianHoursToStart: number | null;
}

export interface NeedLevelCounts {
  domain: string;
  /** completed assessments */
  assessments: number;
  averageLevel: number;
  /** completed assessments at each level 0–4 */
  levels: Record<'0' | '1' | '2' | '3' | '4', number>;
}

const toNeedLevels = (r: Row): NeedLevelCounts => ({
  domain: r.domain as string,
  assessments: num(r.assessments),
  averageLevel: Number(r.average_level),
  levels: { '0': num(r.level_0), '1': num(r.level_1), '2': num(r.level_2), '3': num(r.level_3), '4': num(r.level_4) },
});

export interface Overview {
  persons: { registered: number; erased: number; withAssessmentConsent: number; withReferralSharingConsent: number };
  assessments: { open: number; completed: number; cancelled: number };
  referrals: { total: number; open: number; overdue: number };
  partners: { total: number; inAgreement: number; services: number };
}

export interface Funnel {
  referred: number;
  accepted: number;
  started: number;
  completed: number;
  declined: number;
  cancelled: number;
  open: number;
}

export interface Caseload {
  operators: Array<{ operator: string; persons: number; registered: number; erased: number }>;
  teamMembers: Array<{ memberId: string; role: string; assessments: number; open: number; completed: number; cancelled: number }>;
}

export interface ReferralFilter {
  status?: string;
  overdue?: boolean;
  partnerId?: string;
  personId?: string;
  limit?: number;
  offset?: number;
}

/**
 * The read models of one schema: applying events (idempotent, any order across
 * streams) and the dashboards' questions. The SQL is in ./sql.ts.
 */
export class ReadModels {
  readonly schema: string;
  private readonly q: ReturnType<typeof queries>;
  /** taken shared by every apply: computed once, not per batch */
  private readonly swapKey: number;

  constructor(
    private readonly db: SqlDriver,
    schema = 'projections',
  ) {
    this.schema = assertSchemaName(schema);
    this.q = queries(this.schema);
    this.swapKey = swapLockKey(this.schema);
  }

  /** Creates the tables and the apply functions (idempotent). */
  async migrate(): Promise<void> {
    await applySchema(this.db, this.swapKey, tablesSql(this.schema) + applyFunctionsSql(this.schema));
  }

  /**
   * Applies events in order, each at most once per stream position, in one
   * transaction together with the per-stream checkpoints. Returns how many
   * changed something (the rest were already applied).
   */
  async apply(events: readonly ProjectedEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    if (events.length <= CHUNK) {
      // one round trip instead of four (BEGIN, lock, apply, COMMIT): a live
      // consumer applies many small batches. The lock statement runs before the
      // apply statement is analysed, so a swap cannot slip between them.
      const rows = await this.db.script<{ applied: unknown }>(
        `SELECT pg_advisory_xact_lock_shared(${this.swapKey});
         SELECT ${this.schema}.apply_events(${sqlLiteral(JSON.stringify(events.map(toApplied)))}::jsonb) AS applied;`,
      );
      return num(rows[0]?.applied);
    }
    return this.db.transaction(async (q) => {
      // shared: many appliers at once; a rebuild's swap takes it exclusively
      await q('SELECT pg_advisory_xact_lock_shared($1)', [this.swapKey]);
      return this.applyWith(q, events);
    });
  }

  /** Applies events with a given query function (inside the caller's transaction). */
  async applyWith(q: Query, events: readonly ProjectedEvent[]): Promise<number> {
    let applied = 0;
    for (let i = 0; i < events.length; i += CHUNK) {
      const chunk = events.slice(i, i + CHUNK).map(toApplied);
      const rows = await q<{ applied: unknown }>(`SELECT ${this.schema}.apply_events($1::jsonb) AS applied`, [JSON.stringify(chunk)]);
      applied += num(rows[0]?.applied);
    }
    return applied;
  }

  /**
   * The revision of a stream these read models have applied (-1: none yet;
   * undefined: a stream category they do not project), for reads that wait for
   * a client's own write (`?after=`).
   */
  async appliedRevision(streamId: string): Promise<number | undefined> {
    // every stream relayed to a topic is projected; reservation streams stay in the store
    if (topicForStream(streamId) === undefined) return undefined;
    const rows = await this.db.query<{ position: unknown }>(`SELECT position FROM ${this.schema}.applied_streams WHERE stream_id = $1`, [streamId]);
    return rows[0] ? num(rows[0].position) : -1;
  }

  /** Every table, every row, in key order: for comparing two builds of the read models. */
  async dump(): Promise<Record<keyof typeof TABLES, unknown[]>> {
    const out = {} as Record<keyof typeof TABLES, unknown[]>;
    for (const [table, key] of Object.entries(TABLES) as Array<[keyof typeof TABLES, string]>) {
      const rows = await this.db.query<{ row: unknown }>(`SELECT to_jsonb(t) AS row FROM ${this.schema}.${table} t ORDER BY ${key}`);
      out[table] = rows.map((r) => r.row);
    }
    return out;
  }

  /** The stored per-stream checkpoints. */
  async appliedPositions(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ stream_id: string; position: unknown }>(`SELECT stream_id, position FROM ${this.schema}.applied_streams`);
    return new Map(rows.map((r) => [r.stream_id, toNumber(r.position)]));
  }

  // ── Dashboards ────────────────────────────────────────────────────────────
  async overview(): Promise<Overview> {
    const r = (await this.db.query<Row>(this.q.overview))[0]!;
    return {
      persons: {
        registered: num(r.persons_registered),
        erased: num(r.persons_erased),
        withAssessmentConsent: num(r.consent_assessment),
        withReferralSharingConsent: num(r.consent_referral_sharing),
      },
      assessments: { open: num(r.assessments_open), completed: num(r.assessments_completed), cancelled: num(r.assessments_cancelled) },
      referrals: { total: num(r.referrals_total), open: num(r.referrals_open), overdue: num(r.referrals_overdue) },
      partners: { total: num(r.partners), inAgreement: num(r.partners_in_agreement), services: num(r.services) },
    };
  }

  async funnel(filter: { partnerId?: string; domain?: string } = {}): Promise<Funnel> {
    const r = (await this.db.query<Row>(this.q.funnel, [filter.partnerId ?? null, filter.domain ?? null]))[0]!;
    return {
      referred: num(r.referred),
      accepted: num(r.accepted),
      started: num(r.started),
      completed: num(r.completed),
      declined: num(r.declined),
      cancelled: num(r.cancelled),
      open: num(r.open),
    };
  }

  async partnerStatistics(): Promise<PartnerStatistics[]> {
    const rows = await this.db.query<Row>(this.q.partnerStatistics);
    return rows.map((r) => ({
      partnerId: r.partner_id as string,
      name: (r.name as string | null) ?? null,
      sector: (r.sector as string | null) ?? null,
      received: num(r.received),
      accepted: num(r.accepted),
      declined: num(r.declined),
      declinedByReason: r.declined_by_reason as Record<string, number>,
      started: num(r.started),
      completed: num(r.completed),
      completedByOutcome: r.completed_by_outcome as Record<string, number>,
      cancelled: num(r.cancelled),
      overdue: num(r.overdue),
      medianHoursToAnswer: numOrNull(r.median_hours_to_answer),
      medianHoursToStart: numOrNull(r.median_hours_to_start),
    }));
  }

  async referrals(filter: ReferralFilter = {}): Promise<ReferralRecord[]> {
    const rows = await this.db.query<Row>(this.q.referrals, [
      filter.status ?? null,
      filter.overdue ?? null,
      filter.partnerId ?? null,
      filter.personId ?? null,
      filter.limit ?? 100,
      filter.offset ?? 0,
    ]);
    return rows.map(toReferral);
  }

  async overdueReferrals(): Promise<ReferralRecord[]> {
    const rows = await this.db.query<Row>(this.q.overdueReferrals);
    return rows.map(toReferral);
  }

  async needProfiles(): Promise<{ byDomain: NeedLevelCounts[]; byAccessPoint: Array<NeedLevelCounts & { accessPoint: string | null }> }> {
    const byDomain = (await this.db.query<Row>(this.q.needProfilesByDomain)).map(toNeedLevels);
    const byAccessPoint = (await this.db.query<Row>(this.q.needProfilesByAccessPoint)).map((r) => ({
      accessPoint: (r.access_point as string | null) ?? null,
      ...toNeedLevels(r),
    }));
    return { byDomain, byAccessPoint };
  }

  async caseload(): Promise<Caseload> {
    const operators = (await this.db.query<Row>(this.q.caseloadOperators)).map((r) => ({
      operator: r.operator as string,
      persons: num(r.persons),
      registered: num(r.registered),
      erased: num(r.erased),
    }));
    const teamMembers = (await this.db.query<Row>(this.q.caseloadTeam)).map((r) => ({
      memberId: r.member_id as string,
      role: r.role as string,
      assessments: num(r.assessments),
      open: num(r.open),
      completed: num(r.completed),
      cancelled: num(r.cancelled),
    }));
    return { operators, teamMembers };
  }

  async caseOverviews(filter: { accessPoint?: string; limit?: number; offset?: number } = {}): Promise<CaseOverview[]> {
    const rows = await this.db.query<Row>(this.q.caseOverviews, [null, filter.accessPoint ?? null, filter.limit ?? 100, filter.offset ?? 0]);
    return rows.map(toCaseOverview);
  }

  /** One case, with its assessments and referrals; undefined when no stream of it has arrived. */
  async caseOverview(personId: string): Promise<(CaseOverview & { assessmentList: AssessmentRecord[]; referralList: ReferralRecord[] }) | undefined> {
    const row = (await this.db.query<Row>(this.q.caseOverviews, [personId, null, 1, 0]))[0];
    if (!row) return undefined;
    const assessmentList = (await this.db.query<Row>(this.q.caseAssessments, [personId])).map(toAssessment);
    const referralList = await this.referrals({ personId, limit: 1000 });
    return { ...toCaseOverview(row), assessmentList, referralList };
  }

  /**
   * The taking-charge figures (issue 14): deadlines due between two days per
   * case manager, first meetings within the recommended and the due date per
   * access point, reviews on time, waitlists per service.
   */
  async casework(week: { from: string; to: string }): Promise<Casework> {
    const due = await this.db.query<Row>(this.q.deadlinesDue, [week.from, week.to]);
    const byManager = new Map<string | null, Casework['deadlinesDue'][number]>();
    for (const r of due) {
      const key = (r.case_manager as string | null) ?? null;
      if (!byManager.has(key)) byManager.set(key, { caseManager: key, deadlines: [] });
      byManager.get(key)!.deadlines.push({
        personId: r.person_id as string,
        deadlineId: r.deadline_id as string,
        kind: r.kind as string,
        programme: r.programme as string,
        dueDate: r.due_date as string,
        accessPoint: (r.access_point as string | null) ?? null,
        missed: r.missed as boolean,
      });
    }
    const share = (n: number, of: number) => (of === 0 ? null : n / of);
    const firstMeetings = (await this.db.query<Row>(this.q.firstMeetings)).map((r) => ({
      accessPoint: (r.access_point as string | null) ?? null,
      settled: num(r.settled),
      withinRecommended: num(r.within_recommended),
      withinDue: num(r.within_due),
      stillMissing: num(r.still_missing),
      shareWithinRecommended: share(num(r.within_recommended), num(r.settled)),
      shareWithinDue: share(num(r.within_due), num(r.settled)),
    }));
    const reviews = (await this.db.query<Row>(this.q.reviewsOnTime)).map((r) => ({
      kind: r.kind as string,
      settled: num(r.settled),
      onTime: num(r.on_time),
      shareOnTime: share(num(r.on_time), num(r.settled)),
    }));
    const waitlists = (await this.db.query<Row>(this.q.waitlists)).map((r) => ({
      partnerId: r.partner_id as string,
      serviceId: r.service_id as string,
      waiting: num(r.waiting),
      earliestExpected: (r.earliest_expected as string | null) ?? null,
      waitingSince: iso(r.waiting_since),
    }));
    return { week, deadlinesDue: [...byManager.values()], firstMeetings, reviews, waitlists };
  }

  /** The stream ids of a case, as far as the read models know them. */
  async caseStreams(personId: string): Promise<string[]> {
    return (await this.db.query<{ stream_id: string }>(this.q.caseStreams, [personId])).map((r) => r.stream_id);
  }
}
