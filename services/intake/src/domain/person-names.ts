/**
 * Name normalisation for likely-duplicate detection of people: records with the same
 * normalised names and birth date are reported to the operator, not refused.
 */

const BIRTH_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A comparable form of a name: accents stripped, lower case, apostrophes, hyphens and
 * dots as word breaks, only a–z, 0–9 and single spaces kept.
 */
export function normaliseName(name: string): string {
  return (
    name
      // Lower-case first: some capitals (İ) only gain a combining mark when lower-cased.
      .toLowerCase()
      .normalize('NFD')
      .replace(/\p{M}/gu, '')
      // Every whitespace kind counts as a word break, so tabs or NBSP do not glue words together.
      .replace(/['’‘ʼ`´\-‐‑‒–—.\s]/g, ' ')
      .replace(/[^a-z0-9 ]/g, '')
      .replace(/ +/g, ' ')
      .trim()
  );
}

/**
 * A stable key for likely-duplicate detection: the sorted name tokens, '|', the birth date.
 * Throws RangeError unless birthDate is YYYY-MM-DD, since other spellings would silently miss matches.
 */
export function duplicateKey(p: {
  givenName: string;
  familyName: string;
  birthDate: string;
}): string {
  const birthDate = p.birthDate.trim();
  if (!BIRTH_DATE.test(birthDate)) {
    throw new RangeError('birthDate should be YYYY-MM-DD');
  }
  // Tokens of both fields are pooled and sorted, so swapped given/family names ("Rossi Mario") share a key.
  const tokens = `${normaliseName(p.familyName)} ${normaliseName(p.givenName)}`
    .split(' ')
    .filter((t) => t !== '')
    .sort();
  return `${tokens.join(' ')}|${birthDate}`;
}
