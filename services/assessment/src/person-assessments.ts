import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS assessment;
-- One open assessment per person: the primary key is what refuses a second
-- one, even when two starts arrive at the same time. Claimed before
-- AssessmentStarted is appended, released when the assessment closes.
CREATE TABLE IF NOT EXISTS assessment.open_assessments (
  person_id     uuid PRIMARY KEY,
  assessment_id uuid NOT NULL,
  claimed_at    timestamptz NOT NULL DEFAULT now()
);
-- Every assessment of a person, for listing. Written when an assessment
-- starts, and again (idempotently) by the bus consumer, so a crash between the
-- append and the insert loses nothing.
CREATE TABLE IF NOT EXISTS assessment.by_person (
  assessment_id uuid PRIMARY KEY,
  person_id     uuid NOT NULL,
  -- global position of AssessmentStarted: the log's order is the order of starts
  start_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS by_person_person ON assessment.by_person (person_id, start_position);
`;

/** What the claim holder's stream says: still open, closed, or never written. */
export type ClaimHolderStatus = 'open' | 'closed' | 'absent';

/** The assessment service's own tables: open-assessment claims and the assessments of each person. */
export class PersonAssessments {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411091, SCHEMA);
  }

  /**
   * Claims the person's one open assessment. Returns the assessment that
   * already holds it, or undefined when the claim is ours. A claim is taken
   * over when its assessment is closed (a release that a crash left undone),
   * or when its stream was never written and the claim is older than a
   * minute; a younger one belongs to a start still in flight.
   */
  async claimOpen(personId: string, assessmentId: string, statusOf: (assessmentId: string) => Promise<ClaimHolderStatus>): Promise<string | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const mine = await this.db.query(
        `INSERT INTO assessment.open_assessments (person_id, assessment_id) VALUES ($1, $2)
         ON CONFLICT (person_id) DO NOTHING RETURNING assessment_id`,
        [personId, assessmentId],
      );
      if (mine.length === 1) return undefined;
      const rows = await this.db.query<{ assessment_id: string; stale: boolean }>(
        `SELECT assessment_id, claimed_at < now() - interval '60 seconds' AS stale
           FROM assessment.open_assessments WHERE person_id = $1`,
        [personId],
      );
      const holder = rows[0];
      if (!holder) continue; // released meanwhile: try again
      if (holder.assessment_id === assessmentId) return undefined;
      const status = await statusOf(holder.assessment_id);
      if (status === 'open' || (status === 'absent' && !holder.stale)) return holder.assessment_id;
      await this.release(personId, holder.assessment_id);
    }
    throw new Error('could not claim the open assessment of the person');
  }

  /** Releases the claim, if this assessment holds it. */
  async release(personId: string, assessmentId: string): Promise<void> {
    await this.db.query('DELETE FROM assessment.open_assessments WHERE person_id = $1 AND assessment_id = $2', [personId, assessmentId]);
  }

  /** Releases whatever claim this assessment holds (from the bus, where only the assessment id is at hand). */
  async releaseAssessment(assessmentId: string): Promise<void> {
    await this.db.query('DELETE FROM assessment.open_assessments WHERE assessment_id = $1', [assessmentId]);
  }

  async recordStarted(assessmentId: string, personId: string, startPosition: number): Promise<void> {
    await this.db.query(
      'INSERT INTO assessment.by_person (assessment_id, person_id, start_position) VALUES ($1, $2, $3) ON CONFLICT (assessment_id) DO NOTHING',
      [assessmentId, personId, startPosition],
    );
  }

  /** The person's assessments, oldest first. */
  async ofPerson(personId: string): Promise<string[]> {
    const rows = await this.db.query<{ assessment_id: string }>(
      'SELECT assessment_id FROM assessment.by_person WHERE person_id = $1 ORDER BY start_position',
      [personId],
    );
    return rows.map((r) => r.assessment_id);
  }
}
