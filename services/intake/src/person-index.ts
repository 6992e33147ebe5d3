import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS intake;
-- Fiscal codes are looked up by a keyed digest (blind index), never stored in
-- clear outside the encrypted PII. One claim per fiscal code: the unique key is
-- what refuses a second registration, even when two arrive at the same time.
CREATE TABLE IF NOT EXISTS intake.fiscal_code_claims (
  digest     text PRIMARY KEY,
  person_id  uuid NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
-- Likely duplicates: same normalised names and birth date, as a keyed digest.
CREATE TABLE IF NOT EXISTS intake.duplicate_index (
  person_id uuid PRIMARY KEY,
  digest    text NOT NULL
);
CREATE INDEX IF NOT EXISTS duplicate_index_digest ON intake.duplicate_index (digest);
`;

/** Intake's lookup tables; deleted rows on erasure leave nothing to match. */
export class PersonIndex {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411080, SCHEMA);
  }

  /**
   * Claims a fiscal-code digest for a person. Returns the person who already
   * holds it, or undefined when the claim is ours. A claim is only taken over
   * when it is older than a minute and its registration never completed
   * (`isLive` false): a younger one belongs to a registration still in flight.
   */
  async claimFiscalCode(digest: string, personId: string, isLive: (personId: string) => Promise<boolean>): Promise<string | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const mine = await this.db.query(
        'INSERT INTO intake.fiscal_code_claims (digest, person_id) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING RETURNING person_id',
        [digest, personId],
      );
      if (mine.length === 1) return undefined;
      const rows = await this.db.query<{ person_id: string; stale: boolean }>(
        `SELECT person_id, claimed_at < now() - interval '60 seconds' AS stale
           FROM intake.fiscal_code_claims WHERE digest = $1`,
        [digest],
      );
      const holder = rows[0];
      if (!holder) continue; // released meanwhile: try again
      if (holder.person_id === personId) return undefined;
      if (!holder.stale || (await isLive(holder.person_id))) return holder.person_id;
      await this.db.query('DELETE FROM intake.fiscal_code_claims WHERE digest = $1 AND person_id = $2', [digest, holder.person_id]);
    }
    throw new Error('could not claim the fiscal code');
  }

  async releaseFiscalCode(digest: string, personId: string): Promise<void> {
    await this.db.query('DELETE FROM intake.fiscal_code_claims WHERE digest = $1 AND person_id = $2', [digest, personId]);
  }

  async personByFiscalCode(digest: string): Promise<string | undefined> {
    const rows = await this.db.query<{ person_id: string }>('SELECT person_id FROM intake.fiscal_code_claims WHERE digest = $1', [digest]);
    return rows[0]?.person_id;
  }

  /** Records the person's duplicate digest and returns the others who share it. */
  async recordAndFindLikelyDuplicates(personId: string, digest: string): Promise<string[]> {
    await this.db.query(
      'INSERT INTO intake.duplicate_index (person_id, digest) VALUES ($1, $2) ON CONFLICT (person_id) DO UPDATE SET digest = excluded.digest',
      [personId, digest],
    );
    const rows = await this.db.query<{ person_id: string }>(
      'SELECT person_id FROM intake.duplicate_index WHERE digest = $1 AND person_id <> $2 ORDER BY person_id',
      [digest, personId],
    );
    return rows.map((r) => r.person_id);
  }

  async forget(personId: string): Promise<void> {
    await this.db.query('DELETE FROM intake.fiscal_code_claims WHERE person_id = $1', [personId]);
    await this.db.query('DELETE FROM intake.duplicate_index WHERE person_id = $1', [personId]);
  }
}
