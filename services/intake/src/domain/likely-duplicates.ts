/**
 * Likely duplicates of a registration being typed at the access point: who in
 * the whole register may be the same person, and why. Reported, never refused
 * (DESIGN §4), except the fiscal code, which the registration itself refuses.
 *
 * What an operator at a One Stop Shop desk meets, and so what counts:
 * - `fiscal_code`: the same fiscal code (any omocodia spelling). Certain; the
 *   registration would be refused, so the operator should open that person.
 * - `name_and_birth_date`: the same normalised names (in either order) and
 *   birth date. The rule of DESIGN §4, and what `POST /persons` reports.
 * - `name_and_close_birth_date`: the same names, and a birth date one slip of
 *   the keyboard away (one digit wrong, two neighbouring digits swapped), with
 *   day and month swapped (foreign documents written month first), or the
 *   1 January of the same year, the date recorded when only the year of birth
 *   is known (people without documents). A draft dated 1 January matches any
 *   date of its year for the same reason.
 * - `family_name_and_birth_date` / `given_name_and_birth_date`: the same birth
 *   date and one of the names. Names are spelt differently from one desk to
 *   the next (Mohamed, Mohammed, Muhammad; a surname changed by marriage or
 *   dropped from a double one); the matching name tells the operator which it
 *   may be, and a surname with a birth date also flags twins, who are not the
 *   same person. The search index matches words by their beginning, so "Ross"
 *   finds "Rossini" too: a likely duplicate, not a verdict.
 * Names alone (without a birth date) are not enough: across a whole register
 * they find namesakes, and each one opened is a recorded read of someone else.
 */

/** Why a registered person may be the one being registered, strongest first. */
export const DUPLICATE_REASONS = ['fiscal_code', 'name_and_birth_date', 'name_and_close_birth_date', 'family_name_and_birth_date', 'given_name_and_birth_date'] as const;
export type DuplicateReason = (typeof DUPLICATE_REASONS)[number];

/** A person one of the indexes found, with the reason it was found for. */
export interface DuplicateHit {
  personId: string;
  reason: DuplicateReason;
}

/** A likely duplicate: a person and every reason it was found for, strongest first. */
export interface LikelyDuplicate {
  personId: string;
  reasons: DuplicateReason[];
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** No birth date before this is taken at registration (PersonalData). */
const EARLIEST = '1900-01-01';

const isRealDate = (d: string): boolean => {
  const m = ISO_DATE.exec(d);
  if (!m) return false;
  const [y, mo, da] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, da));
  return d >= EARLIEST && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === da;
};

/** Every day of a year, as YYYY-MM-DD. */
function daysOf(year: string): string[] {
  const out: string[] = [];
  for (let d = new Date(Date.UTC(Number(year), 0, 1)); d.getUTCFullYear() === Number(year); d = new Date(d.getTime() + 86_400_000)) {
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

/**
 * The birth dates close to `birthDate` (see the header), itself excluded, only
 * dates that exist and are not before 1900. Throws RangeError unless YYYY-MM-DD.
 */
export function closeBirthDates(birthDate: string): string[] {
  const m = ISO_DATE.exec(birthDate);
  if (!m || !isRealDate(birthDate)) throw new RangeError('birthDate should be an existing YYYY-MM-DD date');
  const [, year, month, day] = m as unknown as [string, string, string, string];
  const digits = `${year}${month}${day}`;
  const asDate = (s: string) => `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
  const out = new Set<string>();
  for (let i = 0; i < digits.length; i++) {
    // one digit wrong
    for (let d = 0; d <= 9; d++) out.add(asDate(digits.slice(0, i) + String(d) + digits.slice(i + 1)));
    // two neighbouring digits swapped
    if (i + 1 < digits.length) out.add(asDate(digits.slice(0, i) + digits[i + 1]! + digits[i]! + digits.slice(i + 2)));
  }
  out.add(`${year}-${day}-${month}`);
  out.add(`${year}-01-01`);
  if (month === '01' && day === '01') for (const d of daysOf(year)) out.add(d);
  out.delete(birthDate);
  return [...out].filter(isRealDate).sort();
}

// a reason implied by a stronger one says nothing more
const IMPLIED: Partial<Record<DuplicateReason, readonly DuplicateReason[]>> = {
  name_and_birth_date: ['family_name_and_birth_date', 'given_name_and_birth_date'],
};

/**
 * The hits of every index as one list: a person once, with its reasons
 * (strongest first, those a stronger one implies left out), the strongest
 * first and, among equals, in the order found; at most `limit`, and whether
 * there were more.
 */
export function rankDuplicates(hits: readonly DuplicateHit[], limit: number): { matches: LikelyDuplicate[]; more: boolean } {
  const byPerson = new Map<string, Set<DuplicateReason>>();
  for (const h of hits) byPerson.set(h.personId, (byPerson.get(h.personId) ?? new Set()).add(h.reason));
  const strength = (r: DuplicateReason) => DUPLICATE_REASONS.indexOf(r);
  const all = [...byPerson].map(([personId, set]) => {
    const implied = new Set([...set].flatMap((r) => IMPLIED[r] ?? []));
    return { personId, reasons: [...set].filter((r) => !implied.has(r)).sort((a, b) => strength(a) - strength(b)) };
  });
  // Array.prototype.sort is stable: equals keep the order found
  all.sort((a, b) => strength(a.reasons[0]!) - strength(b.reasons[0]!));
  return { matches: all.slice(0, limit), more: all.length > limit };
}
