import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, type BaseConfig } from '@onestop/kit';
import { keyIdOf } from './digest.js';

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Parses an Ed25519 private key: PEM, base64 PKCS#8 DER, or a base64 32-byte seed. */
export function parseSigningKey(spec: string): KeyObject {
  const text = spec.trim();
  let key: KeyObject;
  if (text.startsWith('-----BEGIN')) {
    key = createPrivateKey(text);
  } else {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new Error('not base64');
    const der = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    key = createPrivateKey({ key: der.length === 32 ? Buffer.concat([ED25519_PKCS8_PREFIX, der]) : der, format: 'der', type: 'pkcs8' });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an Ed25519 key is needed, not ${key.asymmetricKeyType}`);
  return key;
}

/**
 * The variables this service reads beyond the base configuration (to be merged
 * into the kit's BaseConfigSchema; until then read here, with the same rules).
 */
export const AuditConfigSchema = z.object({
  /** Ed25519 private key that signs stream-head digests: base64 PKCS#8 DER, base64 32-byte seed, or PEM */
  ONESTOP_AUDIT_SIGNING_KEY: z
    .string()
    .trim()
    .min(1)
    .refine(
      (v) => {
        try {
          parseSigningKey(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'an Ed25519 private key: base64 PKCS#8 DER, base64 32-byte seed, or PEM' },
    )
    .optional(),
});
export type AuditConfig = z.infer<typeof AuditConfigSchema>;

/** Validates this service's own variables; names every bad one, like the kit's loader. */
export function loadAuditConfig(env: Record<string, string | undefined> = process.env): AuditConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = AuditConfigSchema.safeParse(cleaned);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  return r.data;
}

/** The key that signs audit digests, with its public half. */
export class AuditSigningKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;

  constructor(readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  publicKeyPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  publicKeyJwk(): JsonWebKey {
    return { ...this.publicKey.export({ format: 'jwk' }), kid: this.keyId, alg: 'EdDSA', use: 'sig' } as JsonWebKey;
  }

  /**
   * From ONESTOP_AUDIT_SIGNING_KEY; outside production, when it is not set, a
   * key generated once and kept in `${ONESTOP_DATA_DIR}/audit-signing-key`
   * (mode 0600), so digests stay verifiable across restarts.
   */
  static load(config: Pick<BaseConfig, 'NODE_ENV' | 'ONESTOP_DATA_DIR'>, audit: AuditConfig): AuditSigningKey {
    if (audit.ONESTOP_AUDIT_SIGNING_KEY) return new AuditSigningKey(parseSigningKey(audit.ONESTOP_AUDIT_SIGNING_KEY));
    if (config.NODE_ENV === 'production') {
      throw new ConfigError(['ONESTOP_AUDIT_SIGNING_KEY: required in production (the key that signs audit digests)']);
    }
    const dir = resolve(config.ONESTOP_DATA_DIR);
    const file = join(dir, 'audit-signing-key');
    if (existsSync(file)) return new AuditSigningKey(parseSigningKey(readFileSync(file, 'utf8')));
    mkdirSync(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    // 'wx': two processes starting together must not overwrite each other's key
    try {
      writeFileSync(file, `${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      return new AuditSigningKey(parseSigningKey(readFileSync(file, 'utf8')));
    }
    return new AuditSigningKey(privateKey);
  }
}
