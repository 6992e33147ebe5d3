/**
 * The Italian fiscal code (codice fiscale) of natural persons, per DM 23/12/1976
 * and its omocodia rules. Pure functions: no I/O, no dependencies.
 *
 * Layout (0-based indices): 0–5 surname and name letters, 6–7 year, 8 month
 * letter, 9–10 day (+40 for women), 11–14 Belfiore place code (a letter and
 * three digits; Z for foreign countries), 15 check letter.
 *
 * Error kinds, checked in this order so the operator sees the most specific cause:
 * - `format`: wrong length, a character outside A–Z/0–9, or a digit where a
 *   letter belongs (indices 0–5, 8, 11, 15);
 * - `omocodia`: a letter at a digit position that is not one of L M N P Q R S T U V,
 *   or substitutions that do not run from the right (index 14 first);
 * - `month`: the month letter is not one of A B C D E H L M P R S T;
 * - `day`: the day is not 01–31 (men) or 41–71 (women), or does not exist in that month;
 * - `check_character`: the check letter does not match the first 15 characters as given.
 */

/** Why a fiscal code was refused. */
export type FiscalCodeError = 'format' | 'month' | 'day' | 'omocodia' | 'check_character';

/** The outcome of {@link validateFiscalCode}. */
export type FiscalCodeResult =
  | {
      ok: true;
      code: string;
      birth: { year2: number; month: number; day: number };
      sex: 'M' | 'F';
      birthPlaceCode: string;
      omocode: boolean;
    }
  | { ok: false; error: FiscalCodeError; message: string };

// Ordered by substitution: omocodia replaces the rightmost digit first (index 14), then leftwards.
const DIGIT_POSITIONS_RIGHT_TO_LEFT = [14, 13, 12, 10, 9, 7, 6] as const;
const DIGIT_POSITIONS: ReadonlySet<number> = new Set(DIGIT_POSITIONS_RIGHT_TO_LEFT);

// The substitute for digit d is OMOCODIA_LETTERS[d].
const OMOCODIA_LETTERS = 'LMNPQRSTUV';
const MONTH_LETTERS = 'ABCDEHLMPRST';
// prettier-ignore
const MONTH_NAMES = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

// Values at odd (1-based) positions for A–Z; digit d takes the value of the d-th letter.
const ODD_VALUES = [
  1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

const ALPHANUMERIC = /^[A-Z0-9]+$/;
const LETTER = /^[A-Z]$/;
const DIGIT = /^[0-9]$/;

function normalise(input: string): string {
  return input.replace(/\s+/g, '').toUpperCase();
}

function oddValue(ch: string): number {
  const index = DIGIT.test(ch) ? ch.charCodeAt(0) - 48 : ch.charCodeAt(0) - 65;
  return ODD_VALUES[index] ?? 0;
}

function evenValue(ch: string): number {
  return DIGIT.test(ch) ? ch.charCodeAt(0) - 48 : ch.charCodeAt(0) - 65;
}

/**
 * The check letter for the first 15 characters of a fiscal code (as given, omocodia
 * letters included). Lower case is accepted; throws RangeError on anything else malformed.
 */
export function computeCheckCharacter(first15: string): string {
  const chars = first15.toUpperCase();
  if (chars.length !== 15 || !ALPHANUMERIC.test(chars)) {
    throw new RangeError('computeCheckCharacter needs exactly 15 letters or digits');
  }
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    const ch = chars.charAt(i);
    // Index i is 1-based position i + 1, so even indices are the "odd" positions.
    sum += i % 2 === 0 ? oddValue(ch) : evenValue(ch);
  }
  return String.fromCharCode(65 + (sum % 26));
}

function digitAt(code: string, index: number): number {
  const ch = code.charAt(index);
  return DIGIT.test(ch) ? Number(ch) : OMOCODIA_LETTERS.indexOf(ch);
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(month: number, year2: number): number {
  if (month === 2) {
    // The century is not in the code, so 29 Feb stands if either 19yy or 20yy was a leap year.
    return isLeap(1900 + year2) || isLeap(2000 + year2) ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function fail(error: FiscalCodeError, message: string): FiscalCodeResult {
  return { ok: false, error, message };
}

/**
 * Validates a natural person's fiscal code (spaces and case are ignored) and decodes
 * its birth date, sex and birthplace; `code` is returned normalised but as given (not de-omocoded).
 */
export function validateFiscalCode(input: string): FiscalCodeResult {
  const code = normalise(input);
  if (code.length !== 16) {
    return fail('format', `a fiscal code has 16 characters, not ${code.length}`);
  }
  if (!ALPHANUMERIC.test(code)) {
    return fail('format', 'a fiscal code holds only letters and digits');
  }
  for (let i = 0; i < 16; i++) {
    if (!DIGIT_POSITIONS.has(i) && !LETTER.test(code.charAt(i))) {
      return fail('format', `character ${i + 1} should be a letter`);
    }
  }

  let substitutions = 0;
  for (const i of DIGIT_POSITIONS_RIGHT_TO_LEFT) {
    const ch = code.charAt(i);
    if (DIGIT.test(ch)) continue;
    if (!OMOCODIA_LETTERS.includes(ch)) {
      return fail('omocodia', `character ${i + 1} should be a digit or one of ${OMOCODIA_LETTERS}`);
    }
    // A substitute is only legitimate when every digit position to its right is substituted too.
    if (substitutions !== DIGIT_POSITIONS_RIGHT_TO_LEFT.indexOf(i)) {
      return fail(
        'omocodia',
        `character ${i + 1} is substituted but a digit to its right is not, so this is not a valid omocode`,
      );
    }
    substitutions++;
  }

  const month = MONTH_LETTERS.indexOf(code.charAt(8)) + 1;
  if (month === 0) {
    return fail('month', `the month letter should be one of ${MONTH_LETTERS}`);
  }

  const year2 = digitAt(code, 6) * 10 + digitAt(code, 7);
  const rawDay = digitAt(code, 9) * 10 + digitAt(code, 10);
  const sex = rawDay > 40 ? 'F' : 'M';
  const day = sex === 'F' ? rawDay - 40 : rawDay;
  if (day < 1 || day > 31) {
    return fail('day', 'the day should be 01–31 for men or 41–71 for women');
  }
  if (day > daysInMonth(month, year2)) {
    const yy = String(year2).padStart(2, '0');
    return fail('day', `there is no ${day} ${MONTH_NAMES[month - 1]} in 19${yy} or 20${yy}`);
  }

  const expected = computeCheckCharacter(code.slice(0, 15));
  if (code.charAt(15) !== expected) {
    return fail('check_character', `the check character should be ${expected}`);
  }

  const birthPlaceCode =
    code.charAt(11) + [12, 13, 14].map((i) => String(digitAt(code, i))).join('');
  return {
    ok: true,
    code,
    birth: { year2, month, day },
    sex,
    birthPlaceCode,
    omocode: substitutions > 0,
  };
}

/**
 * The canonical code: omocodia letters at digit positions turned back into digits and the
 * check character recomputed. It does not validate (use validateFiscalCode first);
 * throws RangeError unless given 16 letters or digits (spaces and case are ignored).
 */
export function decodeOmocode(code: string): string {
  const chars = normalise(code);
  if (chars.length !== 16 || !ALPHANUMERIC.test(chars)) {
    throw new RangeError('decodeOmocode needs exactly 16 letters or digits');
  }
  let first15 = '';
  for (let i = 0; i < 15; i++) {
    const ch = chars.charAt(i);
    const digit = OMOCODIA_LETTERS.indexOf(ch);
    first15 += DIGIT_POSITIONS.has(i) && digit >= 0 ? String(digit) : ch;
  }
  return first15 + computeCheckCharacter(first15);
}
