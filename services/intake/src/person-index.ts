import { applySchema, type SqlDriver } from '@onestop/eventstore';
import type { RecordedEvent } from '@onestop/events';
import { blindIndex, type PersonKeyring } from '@onestop/kit';
import { duplicateKey } from './domain/person-names.js';
import type { PersonalData } from './domain/personal-data.js';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS intake;
-- Likely duplicates: same normalised names and birth date, as a keyed digest.
-- A read-only view fed by the bus (registrations and erasures); likely
-- duplicates are reported, never refused, so nothing is decided from it.
CREATE TABLE IF NOT EXISTS intake.duplicate_index (
  person_id uuid PRIMARY KEY,
  digest    text NOT NULL
);
CREATE INDEX IF NOT EXISTS duplicate_index_digest ON intake.duplicate_index (digest);
-- earlier versions claimed fiscal codes here with a lease; the fiscal code's
-- reservation stream does that now (DESIGN §9), and erasure left no copy behind
DROP TABLE IF EXISTS intake.fiscal_code_claims;
`;

/** Intake's likely-duplicate index, a view of the intake topic; an erasure leaves nothing in it to match. */
export class PersonIndex {
  constructor(
    private readonly db: SqlDriver,
    private readonly keyring: PersonKeyring,
    private readonly indexKey: string,
  ) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411080, SCHEMA);
  }

  /** The digest likely duplicates share. */
  digestOf(p: Pick<PersonalData, 'givenName' | 'familyName' | 'birthDate'>): string {
    return blindIndex(this.indexKey, duplicateKey(p));
  }

  /** Applies registrations (decrypted here: only intake holds the keys) and erasures; idempotent. */
  async apply(events: readonly RecordedEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'PersonRegistered') {
        // an erased person's key is gone: nothing to index
        const pii = await this.keyring.tryDecrypt<PersonalData>(e.data.pii);
        if (!pii) continue;
        await this.db.query('INSERT INTO intake.duplicate_index (person_id, digest) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING', [
          e.data.personId,
          this.digestOf(pii),
        ]);
      } else if (e.type === 'PersonalDataErased') {
        await this.db.query('DELETE FROM intake.duplicate_index WHERE person_id = $1', [e.partitionKey]);
      }
    }
  }

  /** The people already indexed with this digest, other than `personId`. */
  async likelyDuplicates(personId: string, digest: string): Promise<string[]> {
    const rows = await this.db.query<{ person_id: string }>(
      'SELECT person_id FROM intake.duplicate_index WHERE digest = $1 AND person_id <> $2 ORDER BY person_id',
      [digest, personId],
    );
    return rows.map((r) => r.person_id);
  }
}
