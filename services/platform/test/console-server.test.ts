import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { loadConfig, registerProblemHandlers, type ServiceContext } from '@onestop/kit';
import { authorizationUrl, codeChallenge, codeVerifier, discover, tokenRequestBody } from '../console/src/oidc.js';
import { consoleModule } from '../src/console/module.js';
import { ChangeFeed, changedPosition } from '@onestop/projections';

// The console's server side without a browser: the page, its hashed assets and
// CSP, the development sign-in and its refusal in production; the browser's
// PKCE helpers (RFC 7636's own example) and discovery checks; the change feed.

async function consoleApp(env: Record<string, string>) {
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app);
  const config = loadConfig(env);
  await app.register(consoleModule().routes, { ctx: { config } as unknown as ServiceContext });
  return app;
}

const SECRET = 'a-development-secret-of-at-least-32-chars';

describe('the console page and its development sign-in', () => {
  it('serves the page with hashed assets, a CSP that allows only its own origin and the OpenID provider', async () => {
    const app = await consoleApp({ NODE_ENV: 'development', JWT_SECRET: SECRET, ONESTOP_OIDC_ISSUER: 'https://id.example.org/realms/onestop', ONESTOP_OIDC_CLIENT_ID: 'console' });
    const page = await app.inject({ url: '/app' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("connect-src 'self' https://id.example.org;");
    expect(page.headers['content-security-policy']).toContain("script-src 'self';");
    const [, js] = /src="\/app\/assets\/(console-[A-Z0-9]+\.js)"/.exec(page.body)!;
    const asset = await app.inject({ url: `/app/assets/${js}` });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    const br = await app.inject({ url: `/app/assets/${js}`, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.rawPayload.length).toBeLessThan(asset.rawPayload.length / 2);
    expect(br.headers['etag']).not.toBe(asset.headers['etag']);
    expect((await app.inject({ url: '/app/assets/..%2F..%2Fpackage.json' })).statusCode).toBe(404);
    const config = (await app.inject({ url: '/app/config' })).json();
    expect(config.oidc).toEqual({ issuer: 'https://id.example.org/realms/onestop', clientId: 'console', scope: 'openid profile' });
    expect(config.demoUsers.map((u: { teamRole?: string }) => u.teamRole)).toEqual(expect.arrayContaining(['educator', 'tutor', 'social_worker', 'employment_operator', 'network_manager']));
  });

  it('mints a token for a listed demo user in development, and nothing for an unknown one', async () => {
    const app = await consoleApp({ NODE_ENV: 'development', JWT_SECRET: SECRET });
    const ok = await app.inject({ method: 'POST', url: '/app/session', payload: { user: 'tutor' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().user).toMatchObject({ role: 'team', teamRole: 'tutor' });
    expect((await app.inject({ method: 'POST', url: '/app/session', payload: { user: 'root' } })).statusCode).toBe(404);
  });

  it('refuses the development sign-in in production and where tokens come from a JWKS', async () => {
    const prod = await consoleApp({
      NODE_ENV: 'production',
      JWT_SECRET: SECRET,
      // production takes a JWKS; a shared secret only when explicitly allowed (as here, to reach the console's own refusal)
      JWT_ALLOW_HS256_IN_PRODUCTION: 'true',
      ONESTOP_MASTER_KEYS: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      ONESTOP_INDEX_KEY: 'an-index-key-of-at-least-32-characters',
      ONESTOP_AUDIT_SIGNING_KEY: 'x',
    });
    const refused = await prod.inject({ method: 'POST', url: '/app/session', payload: { user: 'admin' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().type).toMatch(/dev_sign_in_disabled$/);
    expect((await prod.inject({ url: '/app/config' })).json()).toMatchObject({ devSignIn: false, demoUsers: [] });
    const jwks = await consoleApp({ NODE_ENV: 'development', JWT_JWKS_URL: 'https://id.example.org/jwks' });
    expect((await jwks.inject({ method: 'POST', url: '/app/session', payload: { user: 'admin' } })).statusCode).toBe(403);
  });
});

describe('the browser side of OpenID Connect code + PKCE', () => {
  it('computes the S256 challenge of RFC 7636 appendix B', async () => {
    expect(await codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    const v = codeVerifier();
    expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(codeVerifier()).not.toBe(v);
  });

  it('builds the authorization request and the token request of a public client', () => {
    const d = { issuer: 'https://id.example.org', authorization_endpoint: 'https://id.example.org/auth', token_endpoint: 'https://id.example.org/token' };
    const s = { issuer: d.issuer, clientId: 'console', scope: 'openid profile' };
    const u = new URL(authorizationUrl(d, s, { redirectUri: 'https://onestop.example.org/app', state: 'st', nonce: 'no', challenge: 'ch', uiLocales: 'it' }));
    expect(Object.fromEntries(u.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'console',
      redirect_uri: 'https://onestop.example.org/app',
      scope: 'openid profile',
      state: 'st',
      nonce: 'no',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
      ui_locales: 'it',
    });
    expect(Object.fromEntries(tokenRequestBody(s, { code: 'c', redirectUri: 'https://onestop.example.org/app', verifier: 'v' }))).toEqual({
      grant_type: 'authorization_code',
      code: 'c',
      redirect_uri: 'https://onestop.example.org/app',
      client_id: 'console',
      code_verifier: 'v',
    });
  });

  it('refuses a discovery document of another issuer or without S256', async () => {
    const doc = (body: object) => (async () => new Response(JSON.stringify(body), { status: 200 })) as unknown as typeof fetch;
    const base = { authorization_endpoint: 'https://id.example.org/auth', token_endpoint: 'https://id.example.org/token' };
    await expect(discover('https://id.example.org', doc({ ...base, issuer: 'https://evil.example.org' }))).rejects.toThrow(/another issuer/);
    await expect(discover('https://id.example.org', doc({ ...base, issuer: 'https://id.example.org', code_challenge_methods_supported: ['plain'] }))).rejects.toThrow(/S256/);
    await expect(discover('https://id.example.org/', doc({ ...base, issuer: 'https://id.example.org', code_challenge_methods_supported: ['S256'] }))).resolves.toMatchObject(base);
  });
});

describe('the change feed behind GET /api/changes', () => {
  it('only moves forward and tells every listener', () => {
    const feed = new ChangeFeed();
    const heard: number[] = [];
    const stop = feed.subscribe((p) => heard.push(p));
    feed.advance(5);
    feed.advance(3);
    feed.advance(5);
    feed.advance(9);
    stop();
    feed.advance(12);
    expect(heard).toEqual([5, 9]);
    expect(feed.position).toBe(12);
  });

  it('moves on what lists show, never on a recorded read alone', () => {
    const e = (type: string, globalPosition: number) => ({ type, globalPosition });
    expect(changedPosition([e('ConsentGiven', 4), e('CaseHistoryRead', 7), e('ReferralAccepted', 6)])).toBe(6);
    expect(changedPosition([e('CaseHistoryRead', 8)])).toBeUndefined();
    expect(changedPosition([])).toBeUndefined();
  });
});
