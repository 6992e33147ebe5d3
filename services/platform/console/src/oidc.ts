// OpenID Connect authorization code flow with PKCE (RFC 7636), the browser's
// side, against any provider's discovery document. Pure helpers (tested in
// node) and two steps: `beginSignIn` sends the browser to the provider,
// `completeSignIn` exchanges the code for tokens when it comes back. The
// verifier and state live in sessionStorage for the length of the round trip.

export interface OidcSettings {
  issuer: string;
  clientId: string;
  scope: string;
}

export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
  code_challenge_methods_supported?: string[];
  /** RFC 9207: the provider names itself (`iss`) in every authorization answer */
  authorization_response_iss_parameter_supported?: boolean;
}

/** Why a return from the provider was refused; the console shows each in plain words. */
export type SignInFailure = 'refused' | 'state' | 'issuer' | 'exchange' | 'nonce';

/** A return from the provider that does not complete the sign-in. */
export class SignInError extends Error {
  constructor(
    readonly reason: SignInFailure,
    detail: string,
  ) {
    super(detail);
  }
}

const base64url = (bytes: Uint8Array): string => {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

/** A code verifier: 32 random bytes, base64url (43 characters, within RFC 7636's 43–128). */
export function codeVerifier(random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): string {
  return base64url(random(32));
}

/** The S256 challenge of a verifier: base64url(SHA-256(verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The provider's discovery document, checked to belong to the configured issuer and to offer S256. */
export async function discover(issuer: string, fetcher: typeof fetch = fetch): Promise<Discovery> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await fetcher(url, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`discovery: ${res.status}`);
  const d = (await res.json()) as Discovery;
  if (d.issuer.replace(/\/$/, '') !== issuer.replace(/\/$/, '')) throw new Error('discovery: the document names another issuer');
  if (!d.authorization_endpoint || !d.token_endpoint) throw new Error('discovery: no authorization or token endpoint');
  if (d.code_challenge_methods_supported && !d.code_challenge_methods_supported.includes('S256')) throw new Error('discovery: the provider does not offer PKCE S256');
  return d;
}

/** The authorization request URL. */
export function authorizationUrl(d: Discovery, s: OidcSettings, p: { redirectUri: string; state: string; nonce: string; challenge: string; uiLocales?: string }): string {
  const u = new URL(d.authorization_endpoint);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', s.clientId);
  u.searchParams.set('redirect_uri', p.redirectUri);
  u.searchParams.set('scope', s.scope);
  u.searchParams.set('state', p.state);
  u.searchParams.set('nonce', p.nonce);
  u.searchParams.set('code_challenge', p.challenge);
  u.searchParams.set('code_challenge_method', 'S256');
  if (p.uiLocales) u.searchParams.set('ui_locales', p.uiLocales);
  return u.toString();
}

/** The body of the token request (form-encoded; a public client sends no secret). */
export function tokenRequestBody(s: OidcSettings, p: { code: string; redirectUri: string; verifier: string }): URLSearchParams {
  return new URLSearchParams({ grant_type: 'authorization_code', code: p.code, redirect_uri: p.redirectUri, client_id: s.clientId, code_verifier: p.verifier });
}

/** The claims of a JWT, unverified: the API verifies every token it is sent; the console only reads who signed in. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a JWT');
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(decodeURIComponent(escape(json))) as Record<string, unknown>;
}

const PENDING = 'onestop.oidc.pending';

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
}

/** Step 1: to the provider. */
export async function beginSignIn(s: OidcSettings, redirectUri: string, uiLocales: string): Promise<void> {
  const d = await discover(s.issuer);
  const pending: Pending = { state: codeVerifier(), nonce: codeVerifier(), verifier: codeVerifier(), redirectUri };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  location.assign(authorizationUrl(d, s, { redirectUri, state: pending.state, nonce: pending.nonce, challenge: await codeChallenge(pending.verifier), uiLocales }));
}

/** Step 2: back from the provider with `?code=&state=`; the access token, or undefined when this is not a return from it. */
export async function completeSignIn(s: OidcSettings, search: URLSearchParams): Promise<{ accessToken: string; idToken?: string; expiresIn?: number } | undefined> {
  const code = search.get('code');
  const state = search.get('state');
  const error = search.get('error');
  const raw = sessionStorage.getItem(PENDING);
  if (!raw || (!code && !error)) return undefined;
  // one answer per request: whatever comes of this one, the verifier is not used again
  sessionStorage.removeItem(PENDING);
  const pending = JSON.parse(raw) as Pending;
  if (error) throw new SignInError('refused', `the provider refused the sign-in: ${error}`);
  // the answer must be to this browser's own request (RFC 6749 §10.12: no code injected from elsewhere)
  if (state !== pending.state) throw new SignInError('state', 'the sign-in answer does not match the request (state)');
  const d = await discover(s.issuer);
  // RFC 9207: where the provider names itself in its answers, an answer naming another one is a mix-up
  const iss = search.get('iss');
  if ((iss !== null || d.authorization_response_iss_parameter_supported) && iss !== d.issuer) throw new SignInError('issuer', 'the sign-in answer comes from another issuer (iss)');
  const res = await fetch(d.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: tokenRequestBody(s, { code: code!, redirectUri: pending.redirectUri, verifier: pending.verifier }),
  });
  if (!res.ok) throw new SignInError('exchange', `token exchange: ${res.status}`);
  const t = (await res.json()) as { access_token?: string; id_token?: string; expires_in?: number };
  if (!t.access_token) throw new SignInError('exchange', 'token exchange: no access token');
  if (t.id_token && jwtClaims(t.id_token)['nonce'] !== pending.nonce) throw new SignInError('nonce', 'the ID token does not answer this sign-in (nonce)');
  return { accessToken: t.access_token, ...(t.id_token ? { idToken: t.id_token } : {}), ...(t.expires_in ? { expiresIn: t.expires_in } : {}) };
}
