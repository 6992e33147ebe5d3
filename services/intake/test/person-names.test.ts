import { describe, expect, it } from 'vitest';
import { duplicateKey, normaliseName } from '../src/domain/person-names.js';

describe('normaliseName', () => {
  it.each([
    ["  D'Àngelo-Rossi ", 'd angelo rossi', 'accent, apostrophe, hyphen and outer spaces'],
    ['MARÍA  josé', 'maria jose', 'accents, mixed case and a double space'],
    ['François', 'francois', 'cedilla'],
    ['Muñoz', 'munoz', 'tilde'],
    ['Dvořák', 'dvorak', 'caron and ring'],
    ['Jürgen Groß', 'jurgen gro', 'ß is not decomposed by NFD, so it is removed'],
    ['St. John', 'st john', 'a dot'],
    ['O’Brien', 'o brien', 'a typographic apostrophe'],
    ['Anne–Marie', 'anne marie', 'an en dash'],
    ['Maria\tLuisa\u00a0Bianchi', 'maria luisa bianchi', 'a tab and a no-break space'],
    ['Rossi, Mario', 'rossi mario', 'a comma is removed'],
    ['Giovanni (Gianni)', 'giovanni gianni', 'brackets are removed'],
    ['Luigi 2nd', 'luigi 2nd', 'digits are kept'],
    ['İlker', 'ilker', 'a dotted capital I'],
    ['李小龍', '', 'a script with no a–z letters'],
    ['   ', '', 'only spaces'],
    ['', '', 'empty'],
  ])('given %j, when normalised, then it is %j (%s)', (input, expected) => {
    expect(normaliseName(input)).toBe(expected);
  });

  it('given a composed and a decomposed spelling of the same name, when normalised, then they are equal', () => {
    const composed = 'Nicol\u00f2';
    const decomposed = 'Nicolo\u0300';
    expect(normaliseName(composed)).toBe('nicolo');
    expect(normaliseName(decomposed)).toBe('nicolo');
  });

  it('given an already normalised name, when normalised again, then it is unchanged', () => {
    const once = normaliseName("  D'Àngelo-Rossi ");
    expect(normaliseName(once)).toBe(once);
  });
});

describe('duplicateKey', () => {
  const mario = { givenName: 'Mario', familyName: 'Rossi', birthDate: '1985-12-10' };

  it('given Mario Rossi born 1985-12-10, when keyed, then the key is the sorted tokens and the date', () => {
    expect(duplicateKey(mario)).toBe('mario rossi|1985-12-10');
  });

  it('given given and family names swapped, when keyed, then the key is the same', () => {
    expect(duplicateKey({ givenName: 'Rossi', familyName: 'Mario', birthDate: '1985-12-10' })).toBe(
      duplicateKey(mario),
    );
  });

  it('given different case, accents and spacing, when keyed, then the key is the same', () => {
    expect(
      duplicateKey({ givenName: '  MÀRIO ', familyName: 'rossì', birthDate: '1985-12-10' }),
    ).toBe(duplicateKey(mario));
  });

  it('given a compound name written with a hyphen or a space, when keyed, then the key is the same', () => {
    const hyphen = { givenName: 'Anna-Maria', familyName: "D'Angelo", birthDate: '1970-01-02' };
    const spaced = { givenName: 'Anna Maria', familyName: 'D Angelo', birthDate: '1970-01-02' };
    expect(duplicateKey(hyphen)).toBe('angelo anna d maria|1970-01-02');
    expect(duplicateKey(spaced)).toBe(duplicateKey(hyphen));
  });

  it('given a token moved from the given to the family name, when keyed, then the key is the same', () => {
    const a = { givenName: 'Maria Luisa', familyName: 'Bianchi', birthDate: '1960-05-05' };
    const b = { givenName: 'Maria', familyName: 'Luisa Bianchi', birthDate: '1960-05-05' };
    expect(duplicateKey(a)).toBe(duplicateKey(b));
  });

  it('given the same names but another birth date, when keyed, then the key differs', () => {
    expect(duplicateKey({ ...mario, birthDate: '1985-12-11' })).not.toBe(duplicateKey(mario));
  });

  it('given a different name, when keyed, then the key differs', () => {
    expect(duplicateKey({ ...mario, givenName: 'Maria' })).not.toBe(duplicateKey(mario));
  });

  it('given a birth date with surrounding spaces, when keyed, then they are ignored', () => {
    expect(duplicateKey({ ...mario, birthDate: ' 1985-12-10 ' })).toBe(duplicateKey(mario));
  });

  it('given an empty given name, when keyed, then no stray space enters the key', () => {
    expect(duplicateKey({ givenName: '', familyName: 'Rossi', birthDate: '1985-12-10' })).toBe(
      'rossi|1985-12-10',
    );
  });

  it.each(['10/12/1985', '1985-12-10T00:00:00Z', '85-12-10', ''])(
    'given birth date %j (not YYYY-MM-DD), when keyed, then it throws RangeError',
    (birthDate) => {
      expect(() => duplicateKey({ ...mario, birthDate })).toThrow(RangeError);
    },
  );
});
