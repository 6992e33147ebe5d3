import { createHash, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { canonicalJson } from '@onestop/events';
import type { StreamHead } from '@onestop/eventstore';

// A signed digest of the event store's stream heads at a global position.
//
// Each stream's head hash closes its SHA-256 chain, so the list of heads
// (stream id, revision, hash) pins down every event of every stream up to that
// position. Its SHA-256 is signed with Ed25519: an auditor who keeps a digest
// can later recompute the heads at the same position and compare, and anyone
// with the public key can check the digest offline, with nothing but node:crypto.
//
//   headsSha256 = hex SHA-256 of the canonical JSON array of
//                 {hash, revision, streamId}, ordered by streamId (code units)
//   signature   = base64 Ed25519 signature of the canonical JSON of
//                 {headsSha256, keyId, position, signedAt, streams}

/** The signed digest of the stream heads at a global position. */
export interface StreamHeadsDigest {
  /** global position of the log the heads are taken at */
  position: number;
  /** number of streams (heads) */
  streams: number;
  headsSha256: string;
  signedAt: string;
  /** RFC 7638 JWK thumbprint of the signing key */
  keyId: string;
  /** base64 Ed25519 signature of the canonical body */
  signature: string;
}

export type DigestHead = Pick<StreamHead, 'streamId' | 'revision' | 'hash'>;

const byStreamId = (a: DigestHead, b: DigestHead) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0);

/** The SHA-256 over the canonical list of heads (streamed: no second copy of the list is built). */
export function headsSha256(heads: readonly DigestHead[]): string {
  const h = createHash('sha256');
  h.update('[');
  [...heads].sort(byStreamId).forEach((x, i) => {
    h.update(`${i ? ',' : ''}${canonicalJson({ streamId: x.streamId, revision: x.revision, hash: x.hash })}`);
  });
  h.update(']');
  return h.digest('hex');
}

/** The exact bytes that are signed. */
export function digestSigningInput(d: Omit<StreamHeadsDigest, 'signature'>): Buffer {
  return Buffer.from(
    canonicalJson({ position: d.position, streams: d.streams, headsSha256: d.headsSha256, signedAt: d.signedAt, keyId: d.keyId }),
    'utf8',
  );
}

/** RFC 7638 thumbprint of an Ed25519 public key (base64url SHA-256 of {crv, kty, x}). */
export function keyIdOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as { crv: string; kty: string; x: string };
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest('base64url');
}

/** Builds and signs the digest of these heads. */
export function signHeadsDigest(
  heads: readonly DigestHead[],
  position: number,
  signedAt: Date,
  privateKey: KeyObject,
): StreamHeadsDigest {
  const body = {
    position,
    streams: heads.length,
    headsSha256: headsSha256(heads),
    signedAt: signedAt.toISOString(),
    keyId: keyIdOf(createPublicKey(privateKey)),
  };
  return { ...body, signature: sign(null, digestSigningInput(body), privateKey).toString('base64') };
}

export type DigestVerification =
  | { ok: true }
  | { ok: false; reason: 'malformed' | 'key_mismatch' | 'bad_signature' | 'heads_mismatch' };

function toPublicKey(key: KeyObject | string | JsonWebKey): KeyObject {
  if (typeof key === 'string') return createPublicKey(key);
  if ('type' in key && (key as KeyObject).type === 'public') return key as KeyObject;
  if ('asymmetricKeyType' in key) return createPublicKey(key as KeyObject);
  return createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
}

/**
 * Checks a digest offline: the signature over its body with the public key
 * (PEM, JWK or KeyObject), and, when the heads are given, that they are the
 * ones it was made of. Pure: no store, no network.
 */
export function verifyDigest(
  digest: StreamHeadsDigest,
  publicKey: KeyObject | string | JsonWebKey,
  heads?: readonly DigestHead[],
): DigestVerification {
  let key: KeyObject;
  let signature: Buffer;
  try {
    key = toPublicKey(publicKey);
    if (key.asymmetricKeyType !== 'ed25519') return { ok: false, reason: 'malformed' };
    if (typeof digest.signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest.signature)) return { ok: false, reason: 'malformed' };
    signature = Buffer.from(digest.signature, 'base64');
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (digest.keyId !== keyIdOf(key)) return { ok: false, reason: 'key_mismatch' };
  if (!verify(null, digestSigningInput(digest), key, signature)) return { ok: false, reason: 'bad_signature' };
  if (heads && (heads.length !== digest.streams || headsSha256(heads) !== digest.headsSha256)) {
    return { ok: false, reason: 'heads_mismatch' };
  }
  return { ok: true };
}
