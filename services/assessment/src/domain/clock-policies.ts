import { z } from 'zod';
import { ClockPolicyPublished, type EventData } from '@onestop/events';

// The statutory clocks of each programme, as data: the versions the deadline
// watcher publishes as ClockPolicyPublished on clockpolicy-<programme> (once
// each; the stream's revision makes it so with any number of replicas).
// Versions are append-only: a changed norm is a new version with a later
// validFrom, never an edit of a published one, so that what the watcher knew
// on any date stays answerable from the events.

export type ClockPolicy = Omit<EventData<'ClockPolicyPublished'>, 'publishedBy'>;

const ClockPolicies = z.array(ClockPolicyPublished.omit({ publishedBy: true })).superRefine((policies, ctx) => {
  const seen = new Set<string>();
  for (const p of policies) {
    const key = `${p.programme}@${p.version}`;
    if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `clock policy ${key} is listed twice` });
    seen.add(key);
  }
});

/** The built-in policies, validated when the module loads (a malformed policy never reaches a watcher). */
export const CLOCK_POLICIES: readonly ClockPolicy[] = ClockPolicies.parse([
  {
    // Assegno di Inclusione: the first meeting within 120 days of the digital
    // activation pact, 60 recommended by the ministry's guidelines, then a
    // review every 90 days.
    programme: 'adi',
    version: 1,
    validFrom: '2024-01-01',
    source: 'DL 48/2023 art. 4; DM 72/2024 (linee guida ADI)',
    rules: { firstMeeting: { withinDays: 120, recommendedDays: 60 }, review: { everyDays: 90 }, planReview: true },
  },
  {
    // any other taking charge: only the review date the plan sets
    programme: 'generic',
    version: 1,
    validFrom: '2024-01-01',
    source: 'Regolamento del Punto Unico di Accesso (piano personalizzato)',
    rules: { planReview: true },
  },
]);

/**
 * The version of a programme's policy that governs a deadline anchored on
 * `anchorDate`: the highest version valid from that date among those known.
 */
export function policyFor(known: readonly ClockPolicy[], programme: string, anchorDate: string): ClockPolicy | undefined {
  let best: ClockPolicy | undefined;
  for (const p of known) {
    if (p.programme !== programme || p.validFrom > anchorDate) continue;
    if (!best || p.version > best.version) best = p;
  }
  return best;
}
