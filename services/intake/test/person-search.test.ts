import { describe, expect, it } from 'vitest';
import { MAX_PREFIX, personTerms, queryTerms, type PersonQuery } from '../src/domain/person-search.js';

// The search terms: what a registered person is indexed under, and what a
// query asks for. A query finds a person when every term it asks for is among
// the person's (the index holds the terms' keyed digests, never the terms).

const anna = { givenName: 'Anna Maria', familyName: "D'Àngelo", birthDate: '1970-03-15' };
const finds = (q: PersonQuery, p = anna) => {
  const held = new Set(personTerms(p));
  const asked = queryTerms(q);
  return asked.length > 0 && asked.every((t) => held.has(t));
};

describe('a registered person', () => {
  it('given a name, when indexed, then every prefix of two letters or more of every word is a term of its field, and the birth date', () => {
    const terms = personTerms({ givenName: 'Zoë', familyName: 'Li', birthDate: '1992-11-02' });
    expect(terms.sort()).toEqual(['person-search:birth:1992-11-02', 'person-search:family:li', 'person-search:given:zo', 'person-search:given:zoe'].sort());
  });

  it('given a one-letter word, when indexed, then the letter itself is its only term', () => {
    expect(personTerms(anna)).toContain('person-search:family:d');
    expect(personTerms(anna).filter((t) => /:family:.$/.test(t))).toEqual(['person-search:family:d']);
  });

  it(`given a long word, when indexed, then its prefixes stop at ${MAX_PREFIX} letters`, () => {
    const long = 'Wolfeschlegelsteinhausenbergerdorff';
    const family = personTerms({ givenName: 'Hubert', familyName: long, birthDate: '1904-02-29' }).filter((t) => t.includes(':family:'));
    expect(family).toHaveLength(MAX_PREFIX - 1);
    expect(finds({ familyName: long }, { givenName: 'Hubert', familyName: long, birthDate: '1904-02-29' })).toBe(true);
  });
});

describe('a query', () => {
  it.each<[PersonQuery, boolean, string]>([
    [{ familyName: 'dang' }, false, 'a prefix across the apostrophe is no word of the name'],
    [{ familyName: 'ANG' }, true, 'case does not matter'],
    [{ familyName: "d'angelo" }, true, 'accents, apostrophes and whole words'],
    [{ familyName: 'd' }, true, 'a one-letter word finds one-letter name words'],
    [{ givenName: 'ma an' }, true, 'words in any order'],
    [{ givenName: 'angelo' }, false, 'a surname word is no given-name word'],
    [{ familyName: 'angelo', givenName: 'luisa' }, false, 'every word must match'],
    [{ birthDate: '1970-03-15' }, true, 'the birth date alone'],
    [{ familyName: 'angelo', birthDate: '1970-03-16' }, false, 'a name narrowed by another birth date'],
  ])('given %j, then it finds Anna Maria D’Àngelo: %s (%s)', (q, expected, _why) => {
    expect(finds(q)).toBe(expected);
  });

  it('given only letters outside a–z or nothing at all, then it asks for nothing', () => {
    expect(queryTerms({ familyName: '李小龍' })).toEqual([]);
    expect(queryTerms({})).toEqual([]);
  });
});
