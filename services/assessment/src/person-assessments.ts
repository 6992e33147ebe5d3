import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS assessment;
-- Every assessment of a person, for listing: a read-only view written by the
-- bus consumer alone (the one-open-assessment rule is the person's case
-- stream's, DESIGN §9).
CREATE TABLE IF NOT EXISTS assessment.by_person (
  assessment_id uuid PRIMARY KEY,
  person_id     uuid NOT NULL,
  -- global position of AssessmentStarted: the log's order is the order of starts
  start_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS by_person_person ON assessment.by_person (person_id, start_position);
-- earlier versions claimed the open assessment in a table with a lease
DROP TABLE IF EXISTS assessment.open_assessments;
`;

/** The assessments of each person, as the bus tells them (the details are read from each assessment's stream). */
export class PersonAssessments {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411091, SCHEMA);
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

  /**
   * For reads that wait for a client's own write: once an assessment is
   * listed here, the list shows all of it (the rest is read from its stream).
   */
  async appliedRevision(streamId: string): Promise<number | undefined> {
    if (!streamId.startsWith('assessment-')) return undefined;
    const rows = await this.db.query('SELECT 1 FROM assessment.by_person WHERE assessment_id::text = $1', [streamId.slice('assessment-'.length)]);
    return rows.length ? Number.MAX_SAFE_INTEGER : -1;
  }
}
