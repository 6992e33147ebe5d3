import { describe, expect, it } from 'vitest';
import { closeBirthDates, rankDuplicates, type DuplicateHit } from '../src/domain/likely-duplicates.js';

// Which birth dates count as close to the one typed, and how the hits of the
// indexes become one list of likely duplicates with their reasons.

describe('a birth date typed at the desk', () => {
  const close = closeBirthDates('1985-12-10');

  it.each([
    ['1985-10-12', 'day and month swapped'],
    ['1985-12-11', 'one digit wrong in the day'],
    ['1986-12-10', 'one digit wrong in the year'],
    ['1958-12-10', 'two neighbouring digits swapped'],
    ['1985-12-01', 'the day’s digits swapped'],
    ['1985-01-01', '1 January: the date recorded when only the year is known'],
  ])('given 1985-12-10, then %s is close (%s)', (date) => {
    expect(close).toContain(date);
  });

  it.each([
    ['1985-12-10', 'itself'],
    ['1985-12-21', 'two digits of the day wrong'],
    ['1987-12-11', 'two digits wrong'],
    ['0985-12-10', 'before 1900'],
    ['1985-12-40', 'no such day'],
  ])('given 1985-12-10, then %s is not (%s)', (date) => {
    expect(close).not.toContain(date);
  });

  it('given 1 January, then every day of that year is close, and only of that year', () => {
    const jan1 = closeBirthDates('2001-01-01');
    for (const d of ['2001-07-19', '2001-12-31', '2001-02-28']) expect(jan1).toContain(d);
    expect(jan1).not.toContain('2001-02-29');
    expect(jan1.filter((d) => d.startsWith('2001-'))).toHaveLength(364);
  });

  it('given a date that does not exist, then it refuses it', () => {
    expect(() => closeBirthDates('1985-02-30')).toThrow(RangeError);
    expect(() => closeBirthDates('10/12/1985')).toThrow(RangeError);
  });
});

describe('the hits of the indexes', () => {
  const hit = (personId: string, reason: DuplicateHit['reason']): DuplicateHit => ({ personId, reason });

  it('given one person found for several reasons, then it is listed once with its reasons, strongest first', () => {
    const { matches } = rankDuplicates([hit('a', 'family_name_and_birth_date'), hit('a', 'fiscal_code')], 10);
    expect(matches).toEqual([{ personId: 'a', reasons: ['fiscal_code', 'family_name_and_birth_date'] }]);
  });

  it('given the same names and birth date, then one name with the birth date is not said again', () => {
    const { matches } = rankDuplicates([hit('a', 'name_and_birth_date'), hit('a', 'family_name_and_birth_date'), hit('a', 'given_name_and_birth_date')], 10);
    expect(matches).toEqual([{ personId: 'a', reasons: ['name_and_birth_date'] }]);
  });

  it('given people found for different reasons, then the strongest come first, equals in the order found', () => {
    const hits = [hit('c', 'given_name_and_birth_date'), hit('b', 'name_and_close_birth_date'), hit('d', 'given_name_and_birth_date'), hit('a', 'fiscal_code')];
    expect(rankDuplicates(hits, 10).matches.map((m) => m.personId)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('given more people than the limit, then the strongest are kept and more says so', () => {
    const hits = [hit('x', 'given_name_and_birth_date'), hit('y', 'name_and_birth_date'), hit('z', 'fiscal_code')];
    expect(rankDuplicates(hits, 2)).toEqual({ matches: [{ personId: 'z', reasons: ['fiscal_code'] }, { personId: 'y', reasons: ['name_and_birth_date'] }], more: true });
    expect(rankDuplicates(hits, 3).more).toBe(false);
    expect(rankDuplicates([], 3)).toEqual({ matches: [], more: false });
  });
});
