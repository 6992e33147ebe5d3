import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { expect } from 'vitest';

// A real OpenID provider for the authentication tests (oidc-provider from npm,
// on a loopback port): a partner system's client (client credentials), the
// console (authorization code with PKCE), OneStop's claims in its JWT access
// tokens. One listening server; a key rotation swaps the provider behind it
// (as a redeployment of the IdP would).

export const RESOURCE = 'https://onestop.example/api';
/** A second API at the same provider whose access tokens live `LONG_TOKEN_TTL` s (for the longest-lifetime check). */
export const LONG_RESOURCE = 'https://onestop.example/long-lived';
export const LONG_TOKEN_TTL = 7200;

/** The partner system's client: its tokens have `sub` = this client id. */
export const PARTNER_CLIENT = 'coeso-system';

export interface IdentityProvider {
  issuer: string;
  jwksUrl: string;
  /** the RS256 key it starts with (kid rsa-1) */
  firstKey: JWK;
  /** Starts the provider with these signing keys (the first signs access tokens with `alg`). */
  use(jwks: JWK[], alg: string): void;
  /** A partner system's access token (client credentials); `resource` LONG_RESOURCE for a long-lived one. */
  clientCredentialsToken(resource?: string): Promise<string>;
  /** A member of staff's access token, through the provider's own login and consent pages (authorization code with PKCE). */
  authorizationCodeToken(login: string): Promise<string>;
  close(): Promise<void>;
}

/** A signing key for the provider's JWKS. */
export async function signingKey(kind: 'RS256' | 'ES256', kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(kind, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: kind, use: 'sig' };
}

/** Starts the provider on `port` (loopback) with one RS256 key. */
export async function startIdentityProvider(port: number): Promise<IdentityProvider> {
  const issuer = `http://127.0.0.1:${port}`;
  const redirect = `http://127.0.0.1:${port + 1}/callback`;
  const partnerSecret = randomBytes(24).toString('base64url');
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(503).end();
  const server: Server = createServer((req, res) => handle(req, res));

  const use = (jwks: JWK[], alg: string) => {
    const provider = new Provider(issuer, {
      clients: [
        { client_id: PARTNER_CLIENT, client_secret: partnerSecret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
        { client_id: 'console', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], redirect_uris: [redirect], response_types: ['code'] },
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
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: 'api',
            audience: 'onestop',
            accessTokenFormat: 'jwt',
            accessTokenTTL: resource === LONG_RESOURCE ? LONG_TOKEN_TTL : 300,
            jwt: { sign: { alg } },
          }),
        },
      },
      pkce: { required: () => true },
      findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
      // OneStop's claims: the partner system's client is partner consorzio-coeso; a signed-in account is a social worker, or an admin when its login starts with `admin`
      extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) =>
        !token.accountId
          ? { role: 'partner', partnerId: 'consorzio-coeso' }
          : token.accountId.startsWith('admin')
            ? { role: 'admin' }
            : { role: 'team', teamRole: 'social_worker' },
    });
    handle = provider.callback();
  };

  const clientCredentialsToken = async (resource = RESOURCE): Promise<string> => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${PARTNER_CLIENT}:${partnerSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource }),
    });
    const body = (await res.json()) as { access_token?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    return body.access_token!;
  };

  const authorizationCodeToken = async (login: string): Promise<string> => {
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
    const auth = new URL(`${issuer}/auth`);
    for (const [k, v] of Object.entries({ client_id: 'console', response_type: 'code', redirect_uri: redirect, scope: 'openid api', resource: RESOURCE, code_challenge: challenge, code_challenge_method: 'S256', state: 'st' })) auth.searchParams.set(k, v);
    let res = await go(auth.href);
    for (let step = 0; step < 10; step++) {
      const location = res.headers.get('location');
      expect(location, `step ${step}: ${res.status}`).toBeTruthy();
      const next = new URL(location!, issuer);
      if (next.href.startsWith(redirect)) {
        const code = next.searchParams.get('code')!;
        expect(code).toBeTruthy();
        const token = await fetch(`${issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: 'console', code_verifier: verifier, resource: RESOURCE }),
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
  };

  const firstKey = await signingKey('RS256', 'rsa-1');
  use([firstKey], 'RS256');
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    firstKey,
    use,
    clientCredentialsToken,
    authorizationCodeToken,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** The claims of a JWT, unverified (for assertions). */
export const claimsOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
/** The protected header of a JWT. */
export const headerOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
