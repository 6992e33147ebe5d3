import { TOPICS, type LifeDomain, type RecordedEvent } from '@onestop/events';
import type { EventBus, RunningConsumer } from '@onestop/bus';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

/** What a service knows about a person from intake's events. */
export interface PersonFacts {
  personId: string;
  erased: boolean;
  assessmentConsent: { active: boolean; eventId: string | null };
  referralSharingConsent: { active: boolean; eventId: string | null };
}

/** What a service knows about an assessment from the assessment events. */
export interface AssessmentFacts {
  assessmentId: string;
  personId: string;
  status: 'open' | 'completed' | 'cancelled';
  needProfile: Partial<Record<LifeDomain, number>> | null;
  completedAt: string | null;
}

const schemaSql = (schema: string) => `
CREATE SCHEMA IF NOT EXISTS ${schema};
-- Facts another service owns, kept here from the bus (DESIGN §1: services never
-- call each other). stream_position makes redelivery a no-op.
CREATE TABLE IF NOT EXISTS ${schema}.person_facts (
  person_id        uuid PRIMARY KEY,
  erased           boolean NOT NULL DEFAULT false,
  assessment_consent boolean NOT NULL DEFAULT false,
  assessment_consent_event uuid,
  referral_consent boolean NOT NULL DEFAULT false,
  referral_consent_event uuid,
  stream_position  bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ${schema}.assessment_facts (
  assessment_id   uuid PRIMARY KEY,
  person_id       uuid NOT NULL,
  status          text NOT NULL,
  need_profile    jsonb,
  completed_at    timestamptz,
  stream_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS assessment_facts_person ON ${schema}.assessment_facts (person_id);
-- Every consent event, so that what a withdrawal ends is known from the events
-- themselves (DESIGN §9): the consent it names, or for a withdrawal recorded
-- before withdrawals named it, the latest ConsentGiven of its scope before it.
-- Events of one person arrive in their stream's order, so the consent a
-- withdrawal ends is always here before the withdrawal is.
CREATE TABLE IF NOT EXISTS ${schema}.consent_events (
  event_id        uuid PRIMARY KEY,
  person_id       uuid NOT NULL,
  scope           text NOT NULL,
  given           boolean NOT NULL,
  -- for a withdrawal: the ConsentGiven it ends
  ends            uuid,
  stream_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_events_person ON ${schema}.consent_events (person_id, scope, stream_position);
`;

/**
 * A service's own small view of people's consents and erasure, and of
 * assessments, fed by the bus from the intake and assessment topics.
 */
export class CaseFactsView {
  private readonly schema: string;

  constructor(
    private readonly db: SqlDriver,
    schema: string,
    private readonly lockKey: number,
  ) {
    if (!/^[a-z_]+$/.test(schema)) throw new Error('schema name');
    this.schema = schema;
  }

  async migrate(): Promise<void> {
    await applySchema(this.db, this.lockKey, schemaSql(this.schema));
  }

  /** Applies intake and assessment events; events already applied (by stream position) change nothing. */
  async apply(events: readonly RecordedEvent[]): Promise<void> {
    const s = this.schema;
    for (const e of events) {
      switch (e.type) {
        case 'PersonRegistered':
          await this.db.query(
            `INSERT INTO ${s}.person_facts (person_id, stream_position) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING`,
            [e.data.personId, e.streamPosition],
          );
          break;
        case 'ConsentGiven':
        case 'ConsentWithdrawn': {
          const active = e.type === 'ConsentGiven';
          const col = e.data.scope === 'assessment' ? 'assessment_consent' : 'referral_consent';
          await this.db.query(
            `INSERT INTO ${s}.consent_events (event_id, person_id, scope, given, ends, stream_position)
             VALUES ($1, $2, $3, $4,
                     CASE WHEN $4 THEN NULL ELSE coalesce($5::uuid, (SELECT g.event_id FROM ${s}.consent_events g
                        WHERE g.person_id = $2 AND g.scope = $3 AND g.given AND g.stream_position < $6
                        ORDER BY g.stream_position DESC LIMIT 1)) END, $6)
             ON CONFLICT (event_id) DO NOTHING`,
            [e.id, e.partitionKey, e.data.scope, active, e.type === 'ConsentWithdrawn' ? (e.data.consentEventId ?? null) : null, e.streamPosition],
          );
          await this.db.query(
            `INSERT INTO ${s}.person_facts (person_id, ${col}, ${col}_event, stream_position) VALUES ($1, $2, $3, $4)
             ON CONFLICT (person_id) DO UPDATE SET ${col} = excluded.${col}, ${col}_event = excluded.${col}_event,
               stream_position = excluded.stream_position
             WHERE ${s}.person_facts.stream_position < excluded.stream_position`,
            [e.partitionKey, active, e.id, e.streamPosition],
          );
          break;
        }
        case 'PersonalDataErased':
          await this.db.query(
            `INSERT INTO ${s}.person_facts (person_id, erased, stream_position) VALUES ($1, true, $2)
             ON CONFLICT (person_id) DO UPDATE SET erased = true, assessment_consent = false, referral_consent = false,
               stream_position = excluded.stream_position
             WHERE ${s}.person_facts.stream_position < excluded.stream_position`,
            [e.partitionKey, e.streamPosition],
          );
          break;
        case 'AssessmentStarted':
          await this.db.query(
            `INSERT INTO ${s}.assessment_facts (assessment_id, person_id, status, stream_position) VALUES ($1, $2, 'open', $3)
             ON CONFLICT (assessment_id) DO NOTHING`,
            [e.data.assessmentId, e.data.personId, e.streamPosition],
          );
          break;
        case 'AssessmentCompleted':
        case 'AssessmentCancelled': {
          const completed = e.type === 'AssessmentCompleted';
          await this.db.query(
            `UPDATE ${s}.assessment_facts SET status = $2, need_profile = $3::jsonb, completed_at = $4, stream_position = $5
              WHERE assessment_id = $1 AND stream_position < $5`,
            [
              e.subject.slice('assessment-'.length),
              completed ? 'completed' : 'cancelled',
              completed ? JSON.stringify(e.data.needProfile) : null,
              completed ? e.time : null,
              e.streamPosition,
            ],
          );
          break;
        }
        default:
          break;
      }
    }
  }

  /**
   * Consumes the intake and assessment topics into this view, and runs `also`
   * on the same batches after the view has applied them (with `alsoTopics`
   * added to the subscription, for what `also` needs besides).
   */
  consume(bus: EventBus, group: string, also?: (events: readonly RecordedEvent[]) => Promise<void>, alsoTopics: readonly string[] = []): Promise<RunningConsumer> {
    return bus.consume({
      group,
      topics: [TOPICS.intake, TOPICS.assessment, ...alsoTopics],
      handle: async (batch) => {
        await this.apply(batch);
        await also?.(batch);
      },
    });
  }

  /**
   * The ConsentGiven event a withdrawal ends (undefined if none was given
   * before it): what the withdrawal stops is decided from this, never from the
   * person's consent now.
   */
  async consentEndedBy(withdrawal: RecordedEvent<'ConsentWithdrawn'>): Promise<string | undefined> {
    if (withdrawal.data.consentEventId) return withdrawal.data.consentEventId;
    const rows = await this.db.query<{ ends: string | null }>(`SELECT ends FROM ${this.schema}.consent_events WHERE event_id = $1`, [withdrawal.id]);
    return rows[0]?.ends ?? undefined;
  }

  /**
   * How that consent ended, once this view has seen it end: a withdrawal that
   * ends it (`consent_withdrawn`, even if an erasure came later), else the
   * erasure of the person; undefined while it has not ended. Once defined it
   * never changes, so the answer does not depend on how much of the log a
   * batch held, nor on late or repeated deliveries.
   */
  async consentEndReason(personId: string, consentEventId: string): Promise<'consent_withdrawn' | 'personal_data_erased' | undefined> {
    const rows = await this.db.query<{ withdrawn: boolean; erased: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${this.schema}.consent_events WHERE person_id = $1 AND ends = $2) AS withdrawn,
              EXISTS (SELECT 1 FROM ${this.schema}.person_facts WHERE person_id = $1 AND erased) AS erased`,
      [personId, consentEventId],
    );
    const r = rows[0]!;
    return r.withdrawn ? 'consent_withdrawn' : r.erased ? 'personal_data_erased' : undefined;
  }

  /** The revision of a person or assessment stream this view has applied (-1: none yet; undefined: not a stream it follows), for reads that wait for a client's own write. */
  async appliedRevision(streamId: string): Promise<number | undefined> {
    const [category, ...rest] = streamId.split('-');
    const id = rest.join('-');
    const table = category === 'person' ? 'person_facts WHERE person_id::text = $1' : category === 'assessment' ? 'assessment_facts WHERE assessment_id::text = $1' : undefined;
    if (!table) return undefined;
    const rows = await this.db.query<{ p: unknown }>(`SELECT stream_position AS p FROM ${this.schema}.${table}`, [id]);
    return rows[0] ? Number(rows[0].p) : -1;
  }

  /** A ConsentGiven event this view has heard of, with its person and scope (undefined for any other id). */
  async consentGiven(eventId: string): Promise<{ personId: string; scope: string } | undefined> {
    const rows = await this.db.query<{ person_id: string; scope: string }>(
      `SELECT person_id, scope FROM ${this.schema}.consent_events WHERE event_id = $1 AND given`,
      [eventId],
    );
    return rows[0] ? { personId: rows[0].person_id, scope: rows[0].scope } : undefined;
  }

  async person(personId: string): Promise<PersonFacts | undefined> {
    const rows = await this.db.query<{
      person_id: string;
      erased: boolean;
      assessment_consent: boolean;
      assessment_consent_event: string | null;
      referral_consent: boolean;
      referral_consent_event: string | null;
    }>(`SELECT * FROM ${this.schema}.person_facts WHERE person_id = $1`, [personId]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      personId: r.person_id,
      erased: r.erased,
      assessmentConsent: { active: r.assessment_consent, eventId: r.assessment_consent_event },
      referralSharingConsent: { active: r.referral_consent, eventId: r.referral_consent_event },
    };
  }

  async assessment(assessmentId: string): Promise<AssessmentFacts | undefined> {
    const rows = await this.db.query<{
      assessment_id: string;
      person_id: string;
      status: AssessmentFacts['status'];
      need_profile: AssessmentFacts['needProfile'];
      completed_at: Date | string | null;
    }>(`SELECT * FROM ${this.schema}.assessment_facts WHERE assessment_id = $1`, [assessmentId]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      assessmentId: r.assessment_id,
      personId: r.person_id,
      status: r.status,
      needProfile: r.need_profile,
      completedAt: r.completed_at ? new Date(r.completed_at).toISOString() : null,
    };
  }
}
