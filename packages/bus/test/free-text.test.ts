import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deadLetterBytes, withoutFreeText } from '../src/index.js';

// Dead letters are kept outside the log, out of reach of erasure (issue 12):
// what a person wrote about a person never reaches them in clear.

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('free text in dead letters', () => {
  it('replaces every free-text field, at any depth, by its digest and length; keeps codes, ids and ciphertext', () => {
    const answer = { responseId: 'r-1', action: 'decline', reason: 'other', note: 'sfratto, famiglia Rossi', nested: [{ notes: 'debiti' }], pii: { alg: 'A256GCM', ct: 'AAAA' } };
    expect(withoutFreeText(answer)).toEqual({
      responseId: 'r-1',
      action: 'decline',
      reason: 'other',
      note: { redacted: 'free_text', sha256: sha('sfratto, famiglia Rossi'), length: 23 },
      nested: [{ notes: { redacted: 'free_text', sha256: sha('debiti'), length: 6 } }],
      pii: { alg: 'A256GCM', ct: 'AAAA' },
    });
  });

  it('keeps the bytes of a message without free text as they were, re-serialises one with it, and keeps only a digest of bytes that are not JSON', () => {
    const plain = Buffer.from('{"action":"accept"}');
    expect(deadLetterBytes(plain)).toBe(plain);
    const withNote = deadLetterBytes(Buffer.from('{"action":"decline","note":"Mario Rossi"}'))!.toString();
    expect(withNote).not.toContain('Mario');
    expect(JSON.parse(withNote)).toMatchObject({ action: 'decline', note: { sha256: sha('Mario Rossi') } });
    const garbage = deadLetterBytes(Buffer.from('{"note":"Mario Rossi'))!.toString();
    expect(garbage).not.toContain('Mario');
    expect(JSON.parse(garbage)).toMatchObject({ redacted: 'not_json', bytes: Buffer.byteLength('{"note":"Mario Rossi') });
    expect(deadLetterBytes(null)).toBeNull();
  });
});
