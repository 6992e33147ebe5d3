import { TOPICS, type RecordedEvent } from '@onestop/events';
import type { EventBus, RunningConsumer } from '@onestop/bus';
import { applySchema, type SqlDriver } from '@onestop/eventstore';
import type { GoalFacts } from './fhir/resources.js';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS referral;
-- The goals of completed assessments, for the FHIR facade's Goal resources:
-- ids, domain and target date only (the team's description stays encrypted in
-- the log). A consumer of the assessment and intake topics, nothing else
-- writes here: a goal is inserted once by its id, and an erasure removes the
-- person's goals, so redelivery and any order across topics end the same
-- (a goal delivered again after the erasure is not kept: erased_persons).
CREATE TABLE IF NOT EXISTS referral.goals (
  goal_id       uuid PRIMARY KEY,
  person_id     uuid NOT NULL,
  assessment_id uuid NOT NULL,
  domain        text NOT NULL,
  target_date   date NOT NULL,
  recorded_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS goals_person ON referral.goals (person_id);
CREATE INDEX IF NOT EXISTS goals_assessment ON referral.goals (assessment_id);
CREATE TABLE IF NOT EXISTS referral.erased_persons (person_id uuid PRIMARY KEY);
`;

const toGoal = (r: Record<string, unknown>): GoalFacts => ({
  goalId: r.goal_id as string,
  personId: r.person_id as string,
  assessmentId: r.assessment_id as string,
  domain: r.domain as string,
  targetDate: typeof r.target_date === 'string' ? r.target_date.slice(0, 10) : (r.target_date as Date).toISOString().slice(0, 10),
  recordedAt: new Date(r.recorded_at as string).toISOString(),
});

/** The assessment goals the referral service shows as FHIR Goals, fed by the bus only. */
export class GoalView {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411102, SCHEMA);
  }

  async apply(events: readonly RecordedEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'AssessmentCompleted') {
        const assessmentId = e.subject.slice('assessment-'.length);
        for (const g of e.data.goals) {
          // dates come from the event; the person is its partition key
          await this.db.query(
            `INSERT INTO referral.goals (goal_id, person_id, assessment_id, domain, target_date, recorded_at)
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM referral.erased_persons WHERE person_id = $2)
             ON CONFLICT (goal_id) DO NOTHING`,
            [g.goalId, e.partitionKey, assessmentId, g.domain, g.targetDate, e.time],
          );
        }
      } else if (e.type === 'PersonalDataErased') {
        await this.db.query(`INSERT INTO referral.erased_persons (person_id) VALUES ($1) ON CONFLICT DO NOTHING`, [e.partitionKey]);
        await this.db.query(`DELETE FROM referral.goals WHERE person_id = $1`, [e.partitionKey]);
      }
    }
  }

  consume(bus: EventBus): Promise<RunningConsumer> {
    return bus.consume({ group: 'referral-goals', topics: [TOPICS.assessment, TOPICS.intake], handle: (batch) => this.apply(batch) });
  }

  async get(goalId: string): Promise<GoalFacts | undefined> {
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM referral.goals WHERE goal_id = $1`, [goalId]);
    return rows[0] ? toGoal(rows[0]) : undefined;
  }

  /** A person's goals, or an assessment's (and of one domain). */
  async list(filter: { personId?: string; assessmentId?: string; domain?: string }): Promise<GoalFacts[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM referral.goals WHERE ($1::uuid IS NULL OR person_id = $1) AND ($2::uuid IS NULL OR assessment_id = $2)
          AND ($3::text IS NULL OR domain = $3) ORDER BY target_date, goal_id LIMIT 200`,
      [filter.personId ?? null, filter.assessmentId ?? null, filter.domain ?? null],
    );
    return rows.map(toGoal);
  }
}
