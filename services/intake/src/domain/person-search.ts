/**
 * Finding a person by name and birth date without keeping names in clear.
 *
 * Rules:
 * - a person is found by any prefix of any word of the surname or of the given
 *   name (case, accents, apostrophes and hyphens do not matter), by the exact
 *   birth date, or by both; every word asked for must match (AND);
 * - the index holds only keyed digests of these search terms (a blind index,
 *   like the fiscal code's): the terms below are what gets digested, never stored;
 * - a prefix is at most MAX_PREFIX characters: a longer word asked for is cut
 *   there, so it still finds the names it begins;
 * - a word of one letter ("D" of D'Angelo) finds only one-letter name words,
 *   never every name that begins with it.
 */

import { normaliseName } from './person-names.js';

/** The longest prefix indexed: long enough to tell names apart, short enough to bound the rows per person. */
export const MAX_PREFIX = 20;
/** The shortest prefix indexed of a word of two or more letters. */
export const MIN_PREFIX = 2;

export type NameField = 'family' | 'given';

/** What a search asks for: words of either name field, and/or a birth date. */
export interface PersonQuery {
  familyName?: string | undefined;
  givenName?: string | undefined;
  birthDate?: string | undefined;
}

const words = (name: string): string[] => normaliseName(name).split(' ').filter((w) => w !== '');

const nameTerm = (field: NameField, prefix: string): string => `person-search:${field}:${prefix}`;
const birthTerm = (birthDate: string): string => `person-search:birth:${birthDate}`;

/** The prefixes of a word that the index keeps: all from MIN_PREFIX to MAX_PREFIX characters (the word itself when shorter). */
function prefixes(word: string): string[] {
  if (word.length < MIN_PREFIX) return [word];
  const out: string[] = [];
  for (let n = MIN_PREFIX; n <= Math.min(word.length, MAX_PREFIX); n++) out.push(word.slice(0, n));
  return out;
}

/** The terms of a registered person, to be digested into the index (deduplicated). */
export function personTerms(p: { givenName: string; familyName: string; birthDate: string }): string[] {
  const terms = new Set<string>([birthTerm(p.birthDate.trim())]);
  for (const [field, name] of [['family', p.familyName], ['given', p.givenName]] as const) {
    for (const w of words(name)) for (const prefix of prefixes(w)) terms.add(nameTerm(field, prefix));
  }
  return [...terms];
}

/**
 * The terms a search asks for (deduplicated), each of which a match must hold;
 * empty when the query names nothing searchable (e.g. a name with no a–z letters).
 */
export function queryTerms(q: PersonQuery): string[] {
  const terms = new Set<string>();
  for (const [field, name] of [['family', q.familyName], ['given', q.givenName]] as const) {
    for (const w of words(name ?? '')) terms.add(nameTerm(field, w.slice(0, MAX_PREFIX)));
  }
  if (q.birthDate) terms.add(birthTerm(q.birthDate.trim()));
  return [...terms];
}
