import { applySchema, type SqlDriver } from '@onestop/eventstore';
import type { RecordedEvent } from '@onestop/events';
import { blindIndex, type PersonKeyring } from '@onestop/kit';
import { closeBirthDates, type DuplicateHit } from './domain/likely-duplicates.js';
import { duplicateKey, normaliseName } from './domain/person-names.js';
import { personTerms, queryTerms } from './domain/person-search.js';
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
-- The search by name and birth date: for each registered person, the keyed
-- digests (HMAC with the server's index key) of its name prefixes and birth
-- date; never a name or a date in clear. Fed by the bus: registrations add
-- rows, an erasure removes them, so an erased person is found no more.
-- position: the registration's global position, to show the newest first.
CREATE TABLE IF NOT EXISTS intake.search_terms (
  term      text   NOT NULL,
  person_id uuid   NOT NULL,
  position  bigint NOT NULL,
  PRIMARY KEY (term, person_id)
);
CREATE INDEX IF NOT EXISTS search_terms_person ON intake.search_terms (person_id);
-- earlier versions claimed fiscal codes here with a lease; the fiscal code's
-- reservation stream does that now (DESIGN §9), and erasure left no copy behind
DROP TABLE IF EXISTS intake.fiscal_code_claims;
`;

/**
 * Intake's blind indexes, views of the intake topic (each fed by a consumer
 * group of its own): likely duplicates, and the search by name prefixes and
 * birth date. Only keyed digests; an erasure leaves nothing in them to match.
 */
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

  /** The likely-duplicate index: applies registrations and erasures; idempotent. */
  apply(events: readonly RecordedEvent[]): Promise<void> {
    return this.applyTo(events, 'duplicate_index', (e, pii) =>
      this.db.query('INSERT INTO intake.duplicate_index (person_id, digest) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING', [e.data.personId, this.digestOf(pii)]),
    );
  }

  /** The search index: applies registrations and erasures; idempotent in any order of redelivery. */
  applySearch(events: readonly RecordedEvent[]): Promise<void> {
    return this.applyTo(events, 'search_terms', (e, pii) =>
      this.db.query(
        'INSERT INTO intake.search_terms (term, person_id, position) SELECT unnest($1::text[]), $2, $3 ON CONFLICT (term, person_id) DO NOTHING',
        [this.digests(personTerms(pii)), e.data.personId, e.globalPosition],
      ),
    );
  }

  /** Registrations are decrypted here (only intake holds the keys) and indexed by `add`; an erasure deletes the person's rows of `table`. */
  private async applyTo(
    events: readonly RecordedEvent[],
    table: 'duplicate_index' | 'search_terms',
    add: (e: RecordedEvent<'PersonRegistered'>, pii: PersonalData) => Promise<unknown>,
  ): Promise<void> {
    for (const e of events) {
      if (e.type === 'PersonRegistered') {
        // an erased person's key is gone: nothing to index, whenever the registration is (re)delivered
        const pii = await this.keyring.tryDecrypt<PersonalData>(e.data.pii);
        if (pii) await add(e, pii);
      } else if (e.type === 'PersonalDataErased') {
        await this.db.query(`DELETE FROM intake.${table} WHERE person_id = $1`, [e.partitionKey]);
      }
    }
  }

  /** The digests of search terms (of a person or of a query). */
  digests(terms: readonly string[]): string[] {
    return terms.map((t) => blindIndex(this.indexKey, t));
  }

  /** The people holding every one of these search digests, newest registration first, at most `limit`. */
  async find(digests: readonly string[], limit: number): Promise<string[]> {
    if (digests.length === 0) return [];
    const rows = await this.db.query<{ person_id: string }>(
      `SELECT person_id FROM intake.search_terms WHERE term = ANY($1::text[])
       GROUP BY person_id HAVING count(*) = $2
       ORDER BY max(position) DESC, person_id LIMIT $3`,
      [digests, new Set(digests).size, limit],
    );
    return rows.map((r) => r.person_id);
  }

  /** The people already indexed with this digest, other than `personId`. */
  async likelyDuplicates(personId: string, digest: string): Promise<string[]> {
    const rows = await this.db.query<{ person_id: string }>(
      'SELECT person_id FROM intake.duplicate_index WHERE digest = $1 AND person_id <> $2 ORDER BY person_id',
      [digest, personId],
    );
    return rows.map((r) => r.person_id);
  }

  /**
   * Who in the whole register may be the person of a registration being typed,
   * by names and birth date (the fiscal code is the reservation stream's, not a
   * view's): the same names with the same or a close birth date from the
   * likely-duplicate index, the same birth date with one of the names from the
   * search index; at most `limit` people for each reason. Only digests are
   * looked up; nothing is decrypted.
   */
  async likelyDuplicatesOf(draft: { givenName?: string | undefined; familyName?: string | undefined; birthDate: string }, limit: number): Promise<DuplicateHit[]> {
    const hits: DuplicateHit[] = [];
    const { givenName, familyName, birthDate } = draft;
    // both names with a letter a–z: an empty one would match everyone of that birth date
    if (givenName !== undefined && familyName !== undefined && normaliseName(givenName) !== '' && normaliseName(familyName) !== '') {
      const exact = this.digestOf({ givenName, familyName, birthDate });
      const close = closeBirthDates(birthDate).map((d) => this.digestOf({ givenName, familyName, birthDate: d }));
      const rows = await this.db.query<{ person_id: string; digest: string }>(
        'SELECT person_id, digest FROM intake.duplicate_index WHERE digest = ANY($1::text[]) ORDER BY (digest = $2) DESC, person_id LIMIT $3',
        [[exact, ...close], exact, limit],
      );
      for (const r of rows) hits.push({ personId: r.person_id, reason: r.digest === exact ? 'name_and_birth_date' : 'name_and_close_birth_date' });
    }
    for (const [reason, q] of [
      ['family_name_and_birth_date', { familyName }],
      ['given_name_and_birth_date', { givenName }],
    ] as const) {
      const terms = queryTerms(q);
      // no name word to match: the birth date alone would find every namesake of the date
      if (terms.length === 0) continue;
      for (const personId of await this.find(this.digests([...terms, ...queryTerms({ birthDate })]), limit)) hits.push({ personId, reason });
    }
    return hits;
  }
}
