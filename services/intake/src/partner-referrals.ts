import { OPEN_REFERRAL_STATUSES_SQL, taskStatusAfter, type RecordedEvent } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS intake;
-- Which partner holds which referral of which person, and its FHIR Task
-- status, from the referral topic (DESIGN §1: intake keeps its own small view,
-- it never asks the referral service). Contact details are disclosed only to a
-- partner with an open referral for the person. stream_position makes
-- redelivery a no-op.
CREATE TABLE IF NOT EXISTS intake.partner_referrals (
  referral_id     uuid PRIMARY KEY,
  person_id       uuid NOT NULL,
  partner_id      text NOT NULL,
  status          text NOT NULL,
  -- the ConsentGiven event the referral was shared under (purpose binding)
  consent_event_id uuid NOT NULL,
  referred_at     timestamptz NOT NULL,
  stream_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS partner_referrals_person ON intake.partner_referrals (person_id, partner_id);
`;

/** Intake's view of the referrals of each person and partner, fed by the bus. */
export class PartnerReferrals {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    // the same lock as intake's other tables: they share the schema
    await applySchema(this.db, 7411080, SCHEMA);
  }

  /** Applies referral events; events already applied (by stream position) change nothing. */
  async apply(events: readonly RecordedEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'ReferredToPartner') {
        await this.db.query(
          `INSERT INTO intake.partner_referrals (referral_id, person_id, partner_id, status, consent_event_id, referred_at, stream_position)
           VALUES ($1, $2, $3, 'requested', $4, $5, $6) ON CONFLICT (referral_id) DO NOTHING`,
          [e.data.referralId, e.data.personId, e.data.partnerId, e.data.consentEventId, e.time, e.streamPosition],
        );
        continue;
      }
      const status = taskStatusAfter(e.type);
      if (!status) continue;
      await this.db.query(
        `UPDATE intake.partner_referrals SET status = $2, stream_position = $3 WHERE referral_id = $1 AND stream_position < $3`,
        [e.subject.slice('referral-'.length), status, e.streamPosition],
      );
    }
  }

  /** The partner's open (requested, accepted, in-progress) referrals of the person, newest first, with the consent each was shared under. */
  async openReferrals(personId: string, partnerId: string): Promise<Array<{ referralId: string; consentEventId: string }>> {
    const rows = await this.db.query<{ referral_id: string; consent_event_id: string }>(
      `SELECT referral_id, consent_event_id FROM intake.partner_referrals
        WHERE person_id = $1 AND partner_id = $2 AND status IN ${OPEN_REFERRAL_STATUSES_SQL}
        ORDER BY referred_at DESC, referral_id`,
      [personId, partnerId],
    );
    return rows.map((r) => ({ referralId: r.referral_id, consentEventId: r.consent_event_id }));
  }
}
