import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWarnings, ConfigError, loadConfig } from '@onestop/kit';
import { eventually } from '@onestop/testkit';
import { openPlatform, type Platform } from './platform.js';

// Production authentication against a real OpenID provider that the test
// starts itself (oidc-provider from npm, on a loopback port): OneStop verifies
// its access tokens through its JWKS (RS256, then ES256 after a key rotation),
// for the client-credentials flow (a partner system) and the authorization-code
// flow with PKCE (a member of staff), and HS256 is refused in production unless
// explicitly allowed.

const PORT = 31210;
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'https://onestop.example/api';
const REDIRECT = 'http://127.0.0.1:31211/callback';
const PARTNER_SECRET = randomBytes(24).toString('base64url');

// one listening server; a key rotation swaps the provider behind it (as a redeployment of the IdP would)
let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(503).end();
const server: Server = createServer((req, res) => handle(req, res));
let p: Platform;
const keys: Record<string, JWK> = {};

/** Starts the provider with these signing keys (the first signs access tokens with `alg`). */
async function startProvider(jwks: JWK[], alg: string): Promise<void> {
  const provider = new Provider(ISSUER, {
    clients: [
      { client_id: 'coeso-system', client_secret: PARTNER_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      { client_id: 'console', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], redirect_uris: [REDIRECT], response_types: ['code'] },
    ],
    jwks: { keys: jwks },
    scopes: ['openid', 'api'],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'api', audience: 'onestop', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg } } }),
      },
    },
    pkce: { required: () => true },
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    // OneStop's claims: the partner system's client is partner consorzio-coeso; a signed-in account is a social worker
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) =>
      token.accountId ? { role: 'team', teamRole: 'social_worker' } : { role: 'partner', partnerId: 'consorzio-coeso' },
  });
  handle = provider.callback();
}

async function signingKey(kind: 'RS256' | 'ES256', kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(kind, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: kind, use: 'sig' };
}

async function clientCredentialsToken(): Promise<string> {
  const res = await fetch(`${ISSUER}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`coeso-system:${PARTNER_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource: RESOURCE }),
  });
  const body = (await res.json()) as { access_token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

/** The authorization-code flow with PKCE, as a browser would run it through the provider's own login and consent pages. */
async function authorizationCodeToken(login: string): Promise<string> {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(`${ISSUER}/auth`);
  for (const [k, v] of Object.entries({ client_id: 'console', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid api', resource: RESOURCE, code_challenge: challenge, code_challenge_method: 'S256', state: 'st' })) auth.searchParams.set(k, v);
  let res = await go(auth.href);
  for (let step = 0; step < 10; step++) {
    const location = res.headers.get('location');
    expect(location, `step ${step}: ${res.status}`).toBeTruthy();
    const next = new URL(location!, ISSUER);
    if (next.href.startsWith(REDIRECT)) {
      const code = next.searchParams.get('code')!;
      expect(code).toBeTruthy();
      const token = await fetch(`${ISSUER}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'console', code_verifier: verifier, resource: RESOURCE }),
      });
      const body = (await token.json()) as { access_token?: string };
      expect(token.status, JSON.stringify(body)).toBe(200);
      return body.access_token!;
    }
    if (next.pathname.startsWith('/interaction/')) {
      const page = await go(next.href);
      const prompt: Record<string, string> = (await page.text()).includes('name="login"') ? { prompt: 'login', login, password: 'any' } : { prompt: 'consent' };
      res = await go(next.href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(prompt) });
    } else {
      res = await go(next.href);
    }
  }
  throw new Error('the authorization-code flow did not reach the redirect URI');
}

beforeAll(async () => {
  keys.rsa = await signingKey('RS256', 'rsa-1');
  keys.ec = await signingKey('ES256', 'ec-2');
  await startProvider([keys.rsa], 'RS256');
  await new Promise<void>((resolve) => server.listen(PORT, '127.0.0.1', resolve));
  p = await openPlatform('oidc', { env: { JWT_JWKS_URL: `${ISSUER}/jwks`, JWT_ISSUER: ISSUER, JWT_AUDIENCE: 'onestop' } });
}, 120_000);

afterAll(async () => {
  await p?.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const get = (token: string, url: string) => p.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

describe('authentication with a real OpenID provider', () => {
  it('accepts a partner system’s client-credentials token (RS256) with its claims, and nothing HS256', async () => {
    const token = await clientCredentialsToken();
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'RS256', kid: 'rsa-1' });
    expect((await get(token, '/partners')).statusCode).toBe(200);
    // its role is partner: the dashboards stay closed
    expect((await get(token, '/api/overview')).statusCode).toBe(403);
    // an HS256 token signed with the (test) secret is no way in once a JWKS is configured
    expect((await get(p.tokens.admin, '/partners')).statusCode).toBe(401);
  });

  it('accepts a member of staff’s authorization-code token (with PKCE)', async () => {
    const token = await authorizationCodeToken('sw-1');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'sw-1', role: 'team', iss: ISSUER, aud: 'onestop' });
    expect((await get(token, '/api/overview')).statusCode).toBe(200);
  });

  it('picks up a key rotation in the provider’s JWKS (ES256), and keeps accepting the old key while it is published', async () => {
    const old = await clientCredentialsToken();
    await startProvider([keys.ec!, keys.rsa!], 'ES256');
    const rotated = await clientCredentialsToken();
    expect(JSON.parse(Buffer.from(rotated.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256', kid: 'ec-2' });
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
    const jwks = loadConfig({ ...production, JWT_JWKS_URL: `${ISSUER}/jwks` });
    expect(configWarnings(jwks)).toEqual([]);
  });
});
