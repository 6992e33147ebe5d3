/**
 * The first six characters of an Italian fiscal code: three letters of the
 * surname and three of the given names, per DM 23/12/1976 art. 2 and the
 * Agenzia delle Entrate's rules. Pure functions.
 *
 * - Surname: its consonants in order, then its vowels, then X, the first three.
 * - Given names (all of them, as one word): with four consonants or more, the
 *   1st, 3rd and 4th consonant; otherwise as the surname.
 * - Letters are taken from the names as written in Latin letters: accents are
 *   dropped (È → E, Ç → C, Ü → U), letters of other Latin alphabets become
 *   their usual Italian transliteration (ß → SS, Ø → O, Æ → AE, Ł → L), and
 *   spaces, apostrophes and hyphens do not count (De Luca → DLC, D'Angelo → DNG).
 *   A name with letters of another script (Cyrillic, Arabic…) cannot be checked
 *   here: its Latin transliteration on the identity documents decides, so the
 *   caller gives that form (or records an override).
 */

const LATIN_EXTRAS: Record<string, string> = { ß: 'SS', ẞ: 'SS', Ø: 'O', ø: 'O', Æ: 'AE', æ: 'AE', Œ: 'OE', œ: 'OE', Ł: 'L', ł: 'L', Đ: 'D', đ: 'D', Þ: 'TH', þ: 'TH', ı: 'I' };
const VOWELS = new Set(['A', 'E', 'I', 'O', 'U']);

/** The letters A–Z of a name as the fiscal code counts them; null when it holds letters of another script. */
export function fiscalCodeLetters(name: string): string | null {
  const latin = [...name]
    .map((ch) => LATIN_EXTRAS[ch] ?? ch)
    .join('')
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase();
  if (/[^\P{L}A-Z]/u.test(latin)) return null;
  return latin.replace(/[^A-Z]/g, '');
}

function split(letters: string): { consonants: string[]; vowels: string[] } {
  const chars = [...letters];
  return { consonants: chars.filter((c) => !VOWELS.has(c)), vowels: chars.filter((c) => VOWELS.has(c)) };
}

const threeOf = (chars: string[]) => [...chars, 'X', 'X', 'X'].slice(0, 3).join('');

/** The three surname letters (characters 1–3); null when the surname cannot be checked. */
export function surnameCode(familyName: string): string | null {
  const letters = fiscalCodeLetters(familyName);
  if (letters === null || letters.length === 0) return null;
  const { consonants, vowels } = split(letters);
  return threeOf([...consonants, ...vowels]);
}

/** The three given-name letters (characters 4–6); null when the name cannot be checked. */
export function givenNameCode(givenName: string): string | null {
  const letters = fiscalCodeLetters(givenName);
  if (letters === null || letters.length === 0) return null;
  const { consonants, vowels } = split(letters);
  if (consonants.length >= 4) return [consonants[0], consonants[2], consonants[3]].join('');
  return threeOf([...consonants, ...vowels]);
}

/** What the first six characters say about the names given. */
export type NameLettersCheck = { result: 'match' } | { result: 'mismatch'; expected: string } | { result: 'not_checkable' };

/** Compares characters 1–6 of a (valid, normalised) fiscal code with the names given. */
export function checkNameLetters(code: string, familyName: string, givenName: string): NameLettersCheck {
  const surname = surnameCode(familyName);
  const given = givenNameCode(givenName);
  if (surname === null || given === null) return { result: 'not_checkable' };
  const expected = surname + given;
  return code.slice(0, 6) === expected ? { result: 'match' } : { result: 'mismatch', expected };
}
