/// <reference lib="dom" />
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, newContext, openBrowser, openConsolePlatform } from './console-browser.js';

// The console's production sign-in in Debian's Chromium against a real
// OpenID provider (oidc-provider from npm, started here on a loopback port):
// the provider's own login and consent pages, back to /app with the code, the
// code exchanged by the browser with its PKCE verifier (S256), and a working
// screen whose API calls carry the provider's access token, which the
// platform verifies through the provider's JWKS. The answer's state is
// checked: a forged one is refused, and the code it carries is useless to
// anyone without the browser's verifier.

const CLIENT_ID = 'onestop-console';
const RESOURCE = 'https://onestop.example/api';
const LOGIN = 'op-oidc-1';

let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(503).end();
const server: Server = createServer((req, res) => handle(req, res));
let issuer: string;
let p: Awaited<ReturnType<typeof openConsolePlatform>>;
let browser: Browser;
let closeBrowser: () => Promise<void>;

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const s256 = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

/** The requests a page sends to the provider and to the platform's API, as they leave the browser. */
function watch(page: Page) {
  const seen = { authorization: [] as URL[], returns: [] as URL[], token: [] as URLSearchParams[], api: [] as Request[] };
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === issuer && u.pathname === '/auth') seen.authorization.push(u);
    else if (u.origin === issuer && u.pathname === '/token' && r.method() === 'POST') seen.token.push(new URLSearchParams(r.postData() ?? ''));
    else if (u.origin === new URL(p.address).origin && u.pathname === '/app' && u.searchParams.has('code')) seen.returns.push(u);
    else if (u.origin === new URL(p.address).origin && !u.pathname.startsWith('/app')) seen.api.push(r);
  });
  return seen;
}

/** From the console's sign-in button through the provider's own login and consent pages (its development interactions). */
async function throughProvider(page: Page): Promise<void> {
  await page.goto(`${p.address}/app`);
  await page.getByRole('button', { name: 'Accedi con il fornitore di identità' }).click();
  await page.waitForURL((u) => u.origin === issuer && u.pathname.startsWith('/interaction/'));
  await page.locator('input[name=login]').fill(LOGIN);
  await page.locator('input[name=password]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

beforeAll(async () => {
  // as the other browser tests: CI installs Debian's Chromium, and a missing browser fails rather than skips
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH; the console test never downloads a browser`);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // production's sign-in: tokens only from the provider (no demo users, no token the platform signs itself)
  p = await openConsolePlatform('console-oidc', {
    seed: false,
    env: {
      JWT_JWKS_URL: `${issuer}/jwks`,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: 'onestop',
      ONESTOP_OIDC_ISSUER: issuer,
      ONESTOP_OIDC_CLIENT_ID: CLIENT_ID,
      ONESTOP_OIDC_SCOPE: 'openid profile api',
    },
  });
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    // the console is a public client: no secret, PKCE required, its only redirect the page itself
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: [`${p.address}/app`] }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'rsa-console', alg: 'RS256', use: 'sig' }] },
    scopes: ['openid', 'profile', 'api'],
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'api', audience: 'onestop', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    pkce: { required: () => true },
    // lifetimes of its own artifacts, set so that the provider does not warn of its defaults
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    // the browser calls the token endpoint from the console's origin: allowed for the client's own redirect origin only
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris: string[] }) => client.redirectUris.some((u) => new URL(u).origin === origin),
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    // OneStop's claims on the access token: a signed-in account is an operator at the access point
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) => (token.accountId ? { role: 'operator' } : {}),
  });
  handle = provider.callback();
  ({ browser, close: closeBrowser } = await openBrowser());
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await p?.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the console signs in with OpenID Connect (code + PKCE) against a real provider', () => {
  it('goes through the provider’s pages, exchanges the code with its S256 verifier, and works with the provider’s token', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const seen = watch(page);
    await page.goto(`${p.address}/app`);
    await page.getByRole('button', { name: 'Accedi con il fornitore di identità' }).waitFor();
    // production: no demo user to pick, no field to paste a token into
    expect(await page.locator('#demo-user, textarea, input').count()).toBe(0);

    await throughProvider(page);
    await page.getByTestId('who').waitFor();
    expect(await page.getByTestId('who').textContent()).toContain(LOGIN);
    // the code and state are gone from the address once used
    expect(new URL(page.url()).search).toBe('');

    // one authorization request with an S256 challenge, one token request with its verifier and no secret
    expect(seen.authorization).toHaveLength(1);
    const auth = seen.authorization[0]!.searchParams;
    expect(Object.fromEntries(['response_type', 'client_id', 'redirect_uri', 'code_challenge_method'].map((k) => [k, auth.get(k)]))).toEqual({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: `${p.address}/app`,
      code_challenge_method: 'S256',
    });
    expect(auth.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(seen.token).toHaveLength(1);
    const exchange = seen.token[0]!;
    expect(exchange.get('grant_type')).toBe('authorization_code');
    expect(s256(exchange.get('code_verifier')!)).toBe(auth.get('code_challenge'));
    // the answer came back with this request's state, naming the provider (RFC 9207), which the console checks
    expect(seen.returns).toHaveLength(1);
    expect(Object.fromEntries(['state', 'iss'].map((k) => [k, seen.returns[0]!.searchParams.get(k)]))).toEqual({ state: auth.get('state'), iss: issuer });
    expect(exchange.has('client_secret')).toBe(false);

    // a working screen: the operator's search answers, with the provider's token on every API call
    await page.getByLabel('Cognome', { exact: true }).fill('Nessuno');
    const [search] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/persons/search'),
      page.getByRole('button', { name: 'Cerca' }).nth(1).click(),
    ]);
    expect(search.status()).toBe(200);
    await page.getByTestId('matches').getByText('Nessuna persona trovata.').waitFor();
    const calls = seen.api.filter((r) => !new URL(r.url()).pathname.startsWith('/api/changes'));
    expect(calls.length).toBeGreaterThan(1);
    for (const r of calls) {
      const authorization = (await r.allHeaders())['authorization'] ?? '';
      expect(authorization, r.url()).toMatch(/^Bearer /);
      expect(claimsOf(authorization.slice('Bearer '.length))).toMatchObject({ iss: issuer, aud: 'onestop', sub: LOGIN, role: 'operator' });
    }
    await ctx.close();
  }, 120_000);

  it('refuses an answer whose state was forged, and its code is useless without the browser’s verifier', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const seen = watch(page);
    // the state is changed on its way to the provider, which echoes it: the answer no longer matches
    // what the browser asked for, as a forged or swapped answer would not (playwright's route sees the
    // first request of a navigation, not the provider's redirects)
    const FORGED = 'forged-state-forged-state-forged-state-forg';
    await page.route(
      (u) => u.origin === issuer && u.pathname === '/auth',
      (route) => {
        const u = new URL(route.request().url());
        u.searchParams.set('state', FORGED);
        return route.continue({ url: u.href });
      },
    );
    await throughProvider(page);
    await page.getByRole('alert').getByText('La risposta del fornitore di identità non corrisponde alla richiesta di accesso (state).').waitFor();
    expect(seen.returns).toHaveLength(1);
    expect(seen.returns[0]!.searchParams.get('state')).toBe(FORGED);
    const code = seen.returns[0]!.searchParams.get('code');
    // the code does not stay in the address (nor in the history) once refused
    expect(new URL(page.url()).search).toBe('');
    // no exchange, no session: the sign-in button again
    await page.getByRole('button', { name: 'Accedi con il fornitore di identità' }).waitFor();
    expect(seen.token).toHaveLength(0);
    expect(await page.getByTestId('who').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('onestop.session'))).toBeNull();

    // the provider requires the verifier that only the browser held (and has now forgotten)
    expect(code).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const exchange = (verifier?: string) =>
      fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: `${p.address}/app`, client_id: CLIENT_ID, ...(verifier ? { code_verifier: verifier } : {}) }),
      });
    for (const attempt of [await exchange(), await exchange('x'.repeat(43))]) {
      expect(attempt.status).toBe(400);
      const body = (await attempt.json()) as { access_token?: string; error?: string };
      expect(body.access_token).toBeUndefined();
      expect(body.error).toBe('invalid_grant');
    }
    await ctx.close();
  }, 120_000);
});
