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

  /** Consumes the intake and assessment topics into this view (and runs `also` on the same batches). */
  consume(bus: EventBus, group: string, also?: (events: readonly RecordedEvent[]) => Promise<void>): Promise<RunningConsumer> {
    return bus.consume({
      group,
      topics: [TOPICS.intake, TOPICS.assessment],
      handle: async (batch) => {
        await this.apply(batch);
        await also?.(batch);
      },
    });
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
