import { describe, expect, it } from 'vitest';
import {
  computeCheckCharacter,
  decodeOmocode,
  validateFiscalCode,
} from '../src/domain/fiscal-code.js';

// An independent check-character implementation, written from DM 23/12/1976 differently from
// the one under test (1-based positions, base-36 parsing), so the two can cross-check each other.
// prettier-ignore
const ODD_TABLE: Record<string, number> = {
  '0': 1, '1': 0, '2': 5, '3': 7, '4': 9, '5': 13, '6': 15, '7': 17, '8': 19, '9': 21,
  A: 1, B: 0, C: 5, D: 7, E: 9, F: 13, G: 15, H: 17, I: 19, J: 21, K: 2, L: 4, M: 18,
  N: 20, O: 11, P: 3, Q: 6, R: 8, S: 12, T: 14, U: 16, V: 10, W: 22, X: 25, Y: 24, Z: 23,
};
function referenceCheck(first15: string): string {
  let sum = 0;
  for (let pos = 1; pos <= 15; pos++) {
    const ch = first15[pos - 1] ?? '';
    const n = parseInt(ch, 36);
    sum += pos % 2 === 1 ? (ODD_TABLE[ch] ?? NaN) : n >= 10 ? n - 10 : n;
  }
  return 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[sum % 26] ?? '?';
}

// Deterministic PRNG (mulberry32) so a failing property case can be reproduced.
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ALPHANUMERICS = `${LETTERS}0123456789`;
const MONTHS = 'ABCDEHLMPRST';
const SUBSTITUTES = 'LMNPQRSTUV';
const DIGIT_INDICES_RIGHT_TO_LEFT = [14, 13, 12, 10, 9, 7, 6];

/** Applies the first `count` omocodia substitutions (from the right) and recomputes the check. */
function omocode(canonical: string, count: number): string {
  const chars = canonical.slice(0, 15).split('');
  for (const i of DIGIT_INDICES_RIGHT_TO_LEFT.slice(0, count)) {
    chars[i] = SUBSTITUTES[Number(chars[i])] ?? '?';
  }
  const first15 = chars.join('');
  return first15 + referenceCheck(first15);
}

function withCheck(first15: string): string {
  return first15 + referenceCheck(first15);
}

function replaceAt(code: string, index: number, ch: string): string {
  return code.slice(0, index) + ch + code.slice(index + 1);
}

const MARIO_ROSSI = 'RSSMRA85T10A562S';

describe('the reference implementation used by these tests', () => {
  it('given the published example RSSMRA85T10A562S, when computing its check by hand, then it is S', () => {
    // R8 S18 S12 M12 R8 A0 8→19 5→5 T14 1→1 0→1 A0 5→13 6→6 2→5 = 122; 122 mod 26 = 18 = S
    expect(referenceCheck('RSSMRA85T10A562')).toBe('S');
  });

  it.each([
    ['RSSMRA85T10A56NH', 'one substitution, hand-computed: 122 − 5 + 20 = 137 ≡ 7 = H'],
    ['RSSMRA85T10ARSNO', 'three substitutions, hand-computed: 144 ≡ 14 = O'],
    ['RSSMRAURTMLARSNL', 'seven substitutions, hand-computed: 167 ≡ 11 = L'],
  ])('given the omocode %s (%s), when computing its check, then it matches', (code) => {
    expect(referenceCheck(code.slice(0, 15))).toBe(code[15]);
  });
});

describe('validateFiscalCode: valid codes', () => {
  it('given RSSMRA85T10A562S (Mario Rossi), when validated, then it decodes 10 Dec 1985, male, A562', () => {
    expect(validateFiscalCode(MARIO_ROSSI)).toEqual({
      ok: true,
      code: MARIO_ROSSI,
      birth: { year2: 85, month: 12, day: 10 },
      sex: 'M',
      birthPlaceCode: 'A562',
      omocode: false,
    });
  });

  it('given a lower-case code, when validated, then it is accepted and returned upper-case', () => {
    const r = validateFiscalCode('rssmra85t10a562s');
    expect(r).toMatchObject({ ok: true, code: MARIO_ROSSI });
  });

  it('given spaces around and inside the code, when validated, then they are ignored', () => {
    const r = validateFiscalCode('  RSS MRA 85T10 a562s\t');
    expect(r).toMatchObject({ ok: true, code: MARIO_ROSSI });
  });

  it('given day 41 (a woman born on the 1st), when validated, then sex is F and day is 1', () => {
    const r = validateFiscalCode(withCheck('BNCLRA90A41H501'));
    expect(r).toMatchObject({ ok: true, sex: 'F', birth: { year2: 90, month: 1, day: 1 } });
  });

  it('given day 71 in January (a woman born on the 31st), when validated, then day is 31', () => {
    const r = validateFiscalCode(withCheck('BNCLRA90A71H501'));
    expect(r).toMatchObject({ ok: true, sex: 'F', birth: { day: 31 } });
  });

  it('given day 31 in December (a man), when validated, then it is accepted', () => {
    expect(validateFiscalCode(withCheck('RSSMRA85T31A562'))).toMatchObject({ ok: true, sex: 'M' });
  });

  it('given a person born abroad (Z114, United Kingdom), when validated, then the Z place is kept', () => {
    const code = withCheck('SMTJHN80M15Z114');
    expect(code).toBe('SMTJHN80M15Z114H');
    expect(validateFiscalCode(code)).toMatchObject({
      ok: true,
      birthPlaceCode: 'Z114',
      birth: { year2: 80, month: 8, day: 15 },
    });
  });

  it('given 29 Feb of year 00 (not leap in 1900, leap in 2000), when validated, then it is accepted', () => {
    expect(validateFiscalCode(withCheck('VRDGPP00B29F205'))).toMatchObject({
      ok: true,
      birth: { year2: 0, month: 2, day: 29 },
    });
  });

  it('given 29 Feb of year 00 for a woman (day 69), when validated, then it is accepted', () => {
    expect(validateFiscalCode(withCheck('VRDGPP00B69F205'))).toMatchObject({ ok: true, sex: 'F' });
  });

  it('given 29 Feb of year 04 (leap in 1904 and 2004), when validated, then it is accepted', () => {
    expect(validateFiscalCode(withCheck('VRDGPP04B29F205'))).toMatchObject({ ok: true });
  });

  it.each([...MONTHS].map((letter, i) => [letter, i + 1] as const))(
    'given month letter %s, when validated, then it decodes month %i',
    (letter, month) => {
      const r = validateFiscalCode(withCheck(`RSSMRA85${letter}10A562`));
      expect(r).toMatchObject({ ok: true, birth: { month } });
    },
  );
});

describe('validateFiscalCode: omocodes', () => {
  it.each([
    [1, 'RSSMRA85T10A56NH'],
    [3, 'RSSMRA85T10ARSNO'],
    [7, 'RSSMRAURTMLARSNL'],
  ])(
    'given %i substitution(s) from the right, when validated, then it is an accepted omocode',
    (_n, code) => {
      expect(validateFiscalCode(code)).toEqual({
        ok: true,
        code,
        birth: { year2: 85, month: 12, day: 10 },
        sex: 'M',
        birthPlaceCode: 'A562',
        omocode: true,
      });
    },
  );

  it.each([1, 2, 3, 4, 5, 6, 7])(
    'given %i substitution(s) built by the test helper, when validated, then it is accepted',
    (count) => {
      expect(validateFiscalCode(omocode(MARIO_ROSSI, count))).toMatchObject({
        ok: true,
        omocode: true,
      });
    },
  );

  it('given a female omocode with the day substituted (41 → QM), when validated, then the day decodes', () => {
    const code = omocode(withCheck('BNCLRA90A41H501'), 5);
    expect(code.slice(9, 11)).toBe('QM');
    expect(validateFiscalCode(code)).toMatchObject({ ok: true, sex: 'F', birth: { day: 1 } });
  });

  it('given an omocode carrying the canonical check letter, when validated, then the check is refused', () => {
    // The check is computed over the code as given, so RSSMRA85T10A56N needs H, not S.
    expect(validateFiscalCode('RSSMRA85T10A56NS')).toEqual({
      ok: false,
      error: 'check_character',
      message: 'the check character should be H',
    });
  });
});

describe('validateFiscalCode: errors', () => {
  it.each([
    ['', 'empty'],
    ['RSSMRA85T10A562', '15 characters'],
    ['RSSMRA85T10A562SX', '17 characters'],
    ['   ', 'blank'],
  ])('given %j (%s), when validated, then it is a format error', (input) => {
    expect(validateFiscalCode(input)).toMatchObject({ ok: false, error: 'format' });
  });

  it('given 15 characters, when validated, then the message states the length', () => {
    expect(validateFiscalCode('RSSMRA85T10A562')).toEqual({
      ok: false,
      error: 'format',
      message: 'a fiscal code has 16 characters, not 15',
    });
  });

  it.each([
    'RSSMRA85T10A562!',
    'RSSMRA85T10-562S',
    "RSS'RA85T10A562S",
    'RSSMRÀ85T10A562S',
    'RSSMRA85T10A56.S',
  ])(
    'given %s with a non-alphanumeric character, when validated, then it is a format error',
    (input) => {
      expect(validateFiscalCode(input)).toMatchObject({ ok: false, error: 'format' });
    },
  );

  it.each([
    [0, '1'],
    [5, '0'],
    [8, '1'],
    [11, '0'],
    [15, '5'],
  ])(
    'given a digit at letter index %i, when validated, then it is a format error naming it',
    (index, digit) => {
      const r = validateFiscalCode(replaceAt(MARIO_ROSSI, index, digit));
      expect(r).toEqual({
        ok: false,
        error: 'format',
        message: `character ${index + 1} should be a letter`,
      });
    },
  );

  it.each([
    [14, 'A'],
    [14, 'O'],
    [6, 'O'],
    [9, 'K'],
    [12, 'W'],
  ])(
    'given letter at digit index %i = %s (not LMNPQRSTUV), when validated, then it is an omocodia error',
    (index, letter) => {
      const r = validateFiscalCode(withCheck(replaceAt(MARIO_ROSSI, index, letter).slice(0, 15)));
      expect(r).toEqual({
        ok: false,
        error: 'omocodia',
        message: `character ${index + 1} should be a digit or one of LMNPQRSTUV`,
      });
    },
  );

  it.each([
    ['RSSMRAU5T10A562', 'only the leftmost digit (index 6)'],
    ['RSSMRA85T10A5S2', 'index 13 while index 14 is a digit'],
    ['RSSMRA85T10AR6N', 'indices 12 and 14 but not 13'],
    ['RSSMRA85TMLA562', 'the day only'],
  ])(
    'given %s with substitutions not from the right (%s), when validated, then it is an omocodia error',
    (first15) => {
      const r = validateFiscalCode(withCheck(first15));
      expect(r).toMatchObject({ ok: false, error: 'omocodia' });
      if (!r.ok) expect(r.message).toContain('not a valid omocode');
    },
  );

  it.each([...'FGIJKNOQUVWXYZ'])(
    'given month letter %s, when validated, then it is a month error',
    (letter) => {
      const r = validateFiscalCode(withCheck(`RSSMRA85${letter}10A562`));
      expect(r).toEqual({
        ok: false,
        error: 'month',
        message: 'the month letter should be one of ABCDEHLMPRST',
      });
    },
  );

  it.each([
    ['00', 'day 00'],
    ['32', 'day 32'],
    ['40', 'day 40, between the male and female ranges'],
    ['72', 'female day 72'],
    ['99', 'day 99'],
  ])('given day %s (%s), when validated, then it is a day error', (day) => {
    const r = validateFiscalCode(withCheck(`RSSMRA85A${day}A562`));
    expect(r).toEqual({
      ok: false,
      error: 'day',
      message: 'the day should be 01–31 for men or 41–71 for women',
    });
  });

  it('given 30 February, when validated, then it is a day error', () => {
    expect(validateFiscalCode(withCheck('RSSMRA85B30A562'))).toEqual({
      ok: false,
      error: 'day',
      message: 'there is no 30 February in 1985 or 2085',
    });
  });

  it('given 30 February for a woman (day 70), when validated, then it is a day error', () => {
    expect(validateFiscalCode(withCheck('BNCLRA00B70H501'))).toMatchObject({
      ok: false,
      error: 'day',
    });
  });

  it('given 29 Feb of year 01 (leap neither in 1901 nor in 2001), when validated, then it is a day error', () => {
    expect(validateFiscalCode(withCheck('VRDGPP01B29F205'))).toEqual({
      ok: false,
      error: 'day',
      message: 'there is no 29 February in 1901 or 2001',
    });
  });

  it.each([
    ['D', 'April'],
    ['H', 'June'],
    ['P', 'September'],
    ['S', 'November'],
  ])('given the 31st of month %s (%s), when validated, then it is a day error', (letter) => {
    expect(validateFiscalCode(withCheck(`RSSMRA85${letter}31A562`))).toMatchObject({
      ok: false,
      error: 'day',
    });
  });

  it('given the 31st of a 30-day month in an omocode, when validated, then the decoded day is refused', () => {
    // 31 → PM at indices 9–10; the day check runs on the decoded digits.
    expect(validateFiscalCode(omocode(withCheck('RSSMRA85D31A562'), 5))).toMatchObject({
      ok: false,
      error: 'day',
    });
  });

  it('given a wrong check letter, when validated, then the message names the expected letter', () => {
    expect(validateFiscalCode('RSSMRA85T10A562T')).toEqual({
      ok: false,
      error: 'check_character',
      message: 'the check character should be S',
    });
  });

  it('given a swapped pair of name letters, when validated, then the check letter catches it', () => {
    expect(validateFiscalCode('SRSMRA85T10A562S')).toMatchObject({
      ok: false,
      error: 'check_character',
    });
  });
});

describe('computeCheckCharacter', () => {
  it('given RSSMRA85T10A562, when computed, then it is S', () => {
    expect(computeCheckCharacter('RSSMRA85T10A562')).toBe('S');
  });

  it('given lower case, when computed, then it is the same letter', () => {
    expect(computeCheckCharacter('rssmra85t10a562')).toBe('S');
  });

  it.each(['RSSMRA85T10A56', 'RSSMRA85T10A562S', 'RSSMRA85T10A56!', ''])(
    'given %j (not 15 letters or digits), when computed, then it throws RangeError',
    (input) => {
      expect(() => computeCheckCharacter(input)).toThrow(RangeError);
    },
  );

  it('given 500 random 15-character strings, when computed, then it agrees with the reference', () => {
    const random = prng(7);
    for (let n = 0; n < 500; n++) {
      let s = '';
      for (let i = 0; i < 15; i++) s += ALPHANUMERICS[Math.floor(random() * ALPHANUMERICS.length)];
      expect(computeCheckCharacter(s), s).toBe(referenceCheck(s));
    }
  });
});

describe('decodeOmocode', () => {
  it.each(['RSSMRA85T10A56NH', 'RSSMRA85T10ARSNO', 'RSSMRAURTMLARSNL'])(
    'given the omocode %s, when decoded, then it is RSSMRA85T10A562S',
    (code) => {
      expect(decodeOmocode(code)).toBe(MARIO_ROSSI);
    },
  );

  it('given a code without substitutions, when decoded, then it is unchanged', () => {
    expect(decodeOmocode(MARIO_ROSSI)).toBe(MARIO_ROSSI);
  });

  it('given substitute letters outside digit positions (name, month, place letter), when decoded, then they stay', () => {
    const code = withCheck('LMNPQR85L10M562');
    expect(decodeOmocode(code)).toBe(code);
    expect(decodeOmocode(omocode(code, 7))).toBe(code);
  });

  it('given lower case and spaces, when decoded, then the result is canonical upper case', () => {
    expect(decodeOmocode(' rssmra urtml arsnl ')).toBe(MARIO_ROSSI);
  });

  it.each(['RSSMRA85T10A562', 'RSSMRA85T10A562S1', 'RSSMRA85T10A56-S'])(
    'given %s (not 16 letters or digits), when decoded, then it throws RangeError',
    (input) => {
      expect(() => decodeOmocode(input)).toThrow(RangeError);
    },
  );
});

interface Generated {
  code: string;
  canonical: string;
  year2: number;
  month: number;
  day: number;
  sex: 'M' | 'F';
  place: string;
  substitutions: number;
}

/** Random valid codes: random letters, a real date in 1900–2099, a place, 0–7 substitutions. */
function generate(random: () => number): Generated {
  const pick = (s: string): string => s[Math.floor(random() * s.length)] ?? '?';
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const year = int(1900, 2099);
  const month = int(1, 12);
  const day = int(1, new Date(Date.UTC(year, month, 0)).getUTCDate());
  const sex = random() < 0.5 ? 'M' : 'F';
  const place = pick('ABCDEFGHILMZ') + String(int(1, 999)).padStart(3, '0');
  let letters = '';
  for (let i = 0; i < 6; i++) letters += pick(LETTERS);
  const year2 = year % 100;
  const first15 =
    letters +
    String(year2).padStart(2, '0') +
    (MONTHS[month - 1] ?? '?') +
    String(sex === 'F' ? day + 40 : day).padStart(2, '0') +
    place;
  const canonical = withCheck(first15);
  // Most real codes are not omocodes; weight towards none but cover every count.
  const substitutions = random() < 0.4 ? 0 : int(1, 7);
  return {
    code: omocode(canonical, substitutions),
    canonical,
    year2,
    month,
    day,
    sex,
    place,
    substitutions,
  };
}

describe('property: 200 random valid codes', () => {
  const random = prng(20240601);
  const samples = Array.from({ length: 200 }, () => generate(random));

  it('given each generated code, when validated, then it is ok and decodes what was generated', () => {
    for (const g of samples) {
      expect(validateFiscalCode(g.code), g.code).toEqual({
        ok: true,
        code: g.code,
        birth: { year2: g.year2, month: g.month, day: g.day },
        sex: g.sex,
        birthPlaceCode: g.place,
        omocode: g.substitutions > 0,
      });
      expect(decodeOmocode(g.code), g.code).toBe(g.canonical);
    }
  });

  it('given the samples, then they include omocodes with every substitution count', () => {
    expect(new Set(samples.map((g) => g.substitutions))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7]));
  });

  it('given each generated code, when any one character is replaced by another letter or digit, then it is refused', () => {
    // Odd and even tables are both one-to-one over the characters a position can hold, so every
    // single substitution changes the sum by 1–25 (mod 26) and the check letter catches it,
    // unless shape, omocodia, month or day rules refuse it first.
    let tried = 0;
    for (const g of samples) {
      for (let i = 0; i < 16; i++) {
        for (const ch of ALPHANUMERICS) {
          if (ch === g.code[i]) continue;
          const mutated = replaceAt(g.code, i, ch);
          const r = validateFiscalCode(mutated);
          if (r.ok) expect.fail(`${g.code} → ${mutated} was accepted`);
          tried++;
        }
      }
    }
    expect(tried).toBe(200 * 16 * 35);
  });
});
