import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@onestop/events';
import { ConfigError } from '@onestop/kit';
import {
  AuditSigningKey,
  compareWithDigest,
  headsSha256,
  loadAuditConfig,
  parseSigningKey,
  signHeadsDigest,
  verifyDigest,
  type SignedDigestRecord,
} from '../src/app.js';

const hash = (s: string) => createHash('sha256').update(s).digest('hex');
const heads = [
  { streamId: 'referral-2', revision: 3, hash: hash('r2') },
  { streamId: 'person-1', revision: 1, hash: hash('p1') },
  { streamId: 'partner-caritas', revision: 2, hash: hash('c') },
];
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signedAt = new Date('2026-11-26T10:00:00.000Z');

describe('the heads hash', () => {
  it('is the SHA-256 of the canonical list ordered by stream id, whatever the input order', () => {
    const sorted = [...heads].sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
    const expected = hash(canonicalJson(sorted.map((h) => ({ streamId: h.streamId, revision: h.revision, hash: h.hash }))));
    expect(headsSha256(heads)).toBe(expected);
    expect(headsSha256([...heads].reverse())).toBe(expected);
    expect(headsSha256([])).toBe(hash('[]'));
  });
});

describe('verifyDigest (offline)', () => {
  const digest = signHeadsDigest(heads, 42, signedAt, privateKey);

  it('accepts the digest with the public key as KeyObject, PEM or JWK, with or without the heads', () => {
    expect(digest).toMatchObject({ position: 42, streams: 3, headsSha256: headsSha256(heads), signedAt: signedAt.toISOString() });
    expect(verifyDigest(digest, publicKey)).toEqual({ ok: true });
    expect(verifyDigest(digest, publicKey.export({ format: 'pem', type: 'spki' }).toString())).toEqual({ ok: true });
    expect(verifyDigest(digest, publicKey.export({ format: 'jwk' }))).toEqual({ ok: true });
    expect(verifyDigest(JSON.parse(JSON.stringify(digest)), publicKey, heads)).toEqual({ ok: true });
  });

  it('refuses any altered member, another key, other heads, and garbage', () => {
    expect(verifyDigest({ ...digest, position: 43 }, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyDigest({ ...digest, streams: 2 }, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyDigest({ ...digest, signedAt: new Date().toISOString() }, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyDigest({ ...digest, headsSha256: hash('other') }, publicKey)).toEqual({ ok: false, reason: 'bad_signature' });
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyDigest(digest, other)).toEqual({ ok: false, reason: 'key_mismatch' });
    const altered = heads.map((h, i) => (i === 0 ? { ...h, hash: hash('tampered') } : h));
    expect(verifyDigest(digest, publicKey, altered)).toEqual({ ok: false, reason: 'heads_mismatch' });
    expect(verifyDigest(digest, publicKey, heads.slice(1))).toEqual({ ok: false, reason: 'heads_mismatch' });
    expect(verifyDigest({ ...digest, signature: '***' }, publicKey)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDigest(digest, 'not a key')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDigest(digest, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('compareWithDigest: the log against the last signed digest', () => {
  const recorded: SignedDigestRecord = {
    ...signHeadsDigest(heads, 42, signedAt, privateKey),
    events: 2 + 4 + 3,
    heads: new Map(heads.map((h) => [h.streamId, { revision: h.revision, hash: h.hash }])),
  };

  it('passes a log that holds every head of the digest, grown since', () => {
    const grown = [...heads.map((h) => (h.streamId === 'person-1' ? { ...h, revision: 5, hash: hash('p1 later') } : h)), { streamId: 'person-9', revision: 0, hash: hash('p9') }];
    expect(compareWithDigest(grown, 50, recorded)).toMatchObject({ warning: null, missingCount: 0, shrunkCount: 0, rewrittenCount: 0 });
    expect(compareWithDigest(heads, 42, recorded).warning).toBeNull();
  });

  it('warns on an empty log', () => {
    const c = compareWithDigest([], 0, recorded);
    expect(c.warning).toBe(
      'the log is empty (0 streams, 0 events), yet the digest signed 2026-11-26T10:00:00.000Z (position 42: 3 streams, 9 events) names 3 streams: ' +
        'its events were lost, deleted or are hidden from the store (e.g. by a restore).',
    );
    expect(c).toMatchObject({ missingCount: 3, missingStreams: ['partner-caritas', 'person-1', 'referral-2'] });
  });

  it('names the streams missing, behind or rewritten, and the counts that shrank', () => {
    const now = [
      { streamId: 'referral-2', revision: 1, hash: hash('r2 at 1') },
      { streamId: 'person-1', revision: 1, hash: hash('p1 rewritten') },
    ];
    const c = compareWithDigest(now, 40, recorded);
    expect(c).toMatchObject({
      missingStreams: ['partner-caritas'],
      shrunkStreams: [{ streamId: 'referral-2', revision: 1, digestRevision: 3 }],
      rewrittenStreams: ['person-1'],
    });
    expect(c.warning).toBe(
      'the log holds less than the digest signed 2026-11-26T10:00:00.000Z (position 42: 3 streams, 9 events): ' +
        "it has 4 events, fewer than the digest's 9; it has 2 streams, fewer than the digest's 3; its head is at position 40, before the digest's 42; " +
        '1 stream of the digest is missing: partner-caritas; 1 stream is behind its head in the digest: referral-2 at revision 1, not 3; ' +
        '1 stream with another head than the digest at the same revision (rewritten): person-1.',
    );
  });

  it('names the first five of many and counts the rest', () => {
    const many: SignedDigestRecord = { ...recorded, streams: 8, events: 8, heads: new Map(Array.from({ length: 8 }, (_, i) => [`person-${i}`, { revision: 0, hash: hash(String(i)) }])) };
    const c = compareWithDigest([{ streamId: 'person-0', revision: 0, hash: hash('0') }], 42, many);
    expect(c.missingCount).toBe(7);
    expect(c.warning).toContain('7 streams of the digest are missing: person-1, person-2, person-3, person-4, person-5, and 2 more');
  });
});

describe('the signing key', () => {
  it('is read from base64 PKCS#8 DER, a base64 32-byte seed, or PEM', () => {
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    const fromDer = new AuditSigningKey(parseSigningKey(der.toString('base64')));
    const fromSeed = new AuditSigningKey(parseSigningKey(der.subarray(-32).toString('base64')));
    const fromPem = new AuditSigningKey(parseSigningKey(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()));
    expect(fromSeed.keyId).toBe(fromDer.keyId);
    expect(fromPem.keyId).toBe(fromDer.keyId);
    expect(fromDer.publicKeyJwk()).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: fromDer.keyId, alg: 'EdDSA' });
  });

  it('comes from ONESTOP_AUDIT_SIGNING_KEY, validated; a bad value names the variable', () => {
    const seed = randomBytes(32).toString('base64');
    const config = loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: seed });
    const key = AuditSigningKey.load({ NODE_ENV: 'production', ONESTOP_DATA_DIR: '/nonexistent' }, config);
    expect(key.keyId).toBe(new AuditSigningKey(parseSigningKey(seed)).keyId);
    expect(() => loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: 'c2hvcnQ=' })).toThrow(/ONESTOP_AUDIT_SIGNING_KEY/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    expect(() => loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: rsa })).toThrow(ConfigError);
    expect(loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: '' })).toEqual({});
  });

  it('is required in production; elsewhere generated once into the data directory (0600) and reused', () => {
    expect(() => AuditSigningKey.load({ NODE_ENV: 'production', ONESTOP_DATA_DIR: '/nonexistent' }, {})).toThrow(ConfigError);
    const root = mkdtempSync(join(tmpdir(), 'onestop-key-'));
    const dir = join(root, 'data');
    const first = AuditSigningKey.load({ NODE_ENV: 'development', ONESTOP_DATA_DIR: dir }, {});
    const file = join(dir, 'audit-signing-key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseSigningKey(readFileSync(file, 'utf8')).asymmetricKeyType).toBe('ed25519');
    expect(AuditSigningKey.load({ NODE_ENV: 'development', ONESTOP_DATA_DIR: dir }, {}).keyId).toBe(first.keyId);
    rmSync(root, { recursive: true, force: true });
  });
});
