import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWarnings, ConfigError, loadConfig } from '@onestop/kit';
import { eventually } from '@onestop/testkit';
import { claimsOf, headerOf, signingKey, startIdentityProvider, type IdentityProvider } from './identity-provider.js';
import { openPlatform, type Platform } from './platform.js';

// Production authentication against a real OpenID provider that the test
// starts itself (oidc-provider from npm, on a loopback port): OneStop verifies
// its access tokens through its JWKS (RS256, then ES256 after a key rotation),
// for the client-credentials flow (a partner system) and the authorization-code
// flow with PKCE (a member of staff), and HS256 is refused in production unless
// explicitly allowed.

const PORT = 31210;
let idp: IdentityProvider;
let p: Platform;

beforeAll(async () => {
  idp = await startIdentityProvider(PORT);
  p = await openPlatform('oidc', { env: { JWT_JWKS_URL: idp.jwksUrl, JWT_ISSUER: idp.issuer, JWT_AUDIENCE: 'onestop' } });
}, 120_000);

afterAll(async () => {
  await p?.close();
  await idp?.close();
});

const get = (token: string, url: string) => p.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

describe('authentication with a real OpenID provider', () => {
  it('accepts a partner system’s client-credentials token (RS256) with its claims, and nothing HS256', async () => {
    const token = await idp.clientCredentialsToken();
    expect(headerOf(token)).toMatchObject({ alg: 'RS256', kid: 'rsa-1' });
    expect((await get(token, '/partners')).statusCode).toBe(200);
    // its role is partner: the dashboards stay closed
    expect((await get(token, '/api/overview')).statusCode).toBe(403);
    // an HS256 token signed with the (test) secret is no way in once a JWKS is configured
    expect((await get(p.tokens.admin, '/partners')).statusCode).toBe(401);
  });

  it('accepts a member of staff’s authorization-code token (with PKCE)', async () => {
    const token = await idp.authorizationCodeToken('sw-1');
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: 'sw-1', role: 'team', iss: idp.issuer, aud: 'onestop' });
    expect((await get(token, '/api/overview')).statusCode).toBe(200);
  });

  it('picks up a key rotation in the provider’s JWKS (ES256), and keeps accepting the old key while it is published', async () => {
    const old = await idp.clientCredentialsToken();
    idp.use([await signingKey('ES256', 'ec-2'), idp.firstKey], 'ES256');
    const rotated = await idp.clientCredentialsToken();
    expect(headerOf(rotated)).toMatchObject({ alg: 'ES256', kid: 'ec-2' });
    // the cached key set is fetched again on an unknown key id (at most every 5 s)
    await eventually(async () => expect((await get(rotated, '/partners')).statusCode).toBe(200), 15_000, 250);
    expect((await get(old, '/partners')).statusCode).toBe(200);
  });
});

describe('HS256 in production', () => {
  const production = { NODE_ENV: 'production', ONESTOP_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`, ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'), ONESTOP_AUDIT_SIGNING_KEY: 'x', JWT_SECRET: randomBytes(32).toString('base64url') };

  it('is refused unless explicitly allowed, and then warned about at start', () => {
    expect(() => loadConfig(production)).toThrow(ConfigError);
    expect(() => loadConfig(production)).toThrow(/JWT_ALLOW_HS256_IN_PRODUCTION/);
    const allowed = loadConfig({ ...production, JWT_ALLOW_HS256_IN_PRODUCTION: 'true' });
    expect(configWarnings(allowed)).toEqual([expect.stringMatching(/^SECURITY WARNING: production accepts HS256/)]);
    const jwks = loadConfig({ ...production, JWT_JWKS_URL: idp.jwksUrl });
    expect(configWarnings(jwks)).toEqual([]);
  });
});
