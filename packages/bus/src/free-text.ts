import { createHash } from 'node:crypto';

/**
 * Fields that carry free text a person wrote about a person (a partner's
 * decline note, notes, descriptions, comments). In the log they are always
 * ciphertext under the person's key; a dead letter is kept outside the log and
 * out of reach of erasure, so there they are replaced by a digest.
 */
export const FREE_TEXT_FIELDS: ReadonlySet<string> = new Set(['note', 'notes', 'description', 'comment', 'comments', 'text', 'freeText']);

/** What stands for a free text in a dead letter: its SHA-256 (to match it against the sender's copy) and its length. */
export const digestOfText = (s: string): { redacted: 'free_text'; sha256: string; length: number } => ({
  redacted: 'free_text',
  sha256: createHash('sha256').update(s, 'utf8').digest('hex'),
  length: s.length,
});

/** A JSON value with every free-text field replaced by its digest, at any depth. */
export function withoutFreeText(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutFreeText);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [k, FREE_TEXT_FIELDS.has(k) && typeof x === 'string' ? digestOfText(x) : withoutFreeText(x)]),
  );
}

/**
 * The bytes of a message as a dead letter keeps them: a JSON value without its
 * free text, re-serialised; bytes that are not JSON are kept only as a digest
 * (they cannot be re-driven usefully, and may hold anything).
 */
export function deadLetterBytes(value: Buffer | null | undefined): Buffer | null {
  if (value == null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return Buffer.from(JSON.stringify({ redacted: 'not_json', sha256: createHash('sha256').update(value).digest('hex'), bytes: value.length }));
  }
  const clean = withoutFreeText(parsed);
  return JSON.stringify(clean) === JSON.stringify(parsed) ? value : Buffer.from(JSON.stringify(clean));
}
