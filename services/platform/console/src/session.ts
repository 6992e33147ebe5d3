import { api, setToken } from './api';
import { stopChanges } from './changes';
import { beginSignIn, completeSignIn, jwtClaims, type OidcSettings } from './oidc';

// Who is signed in, for this browser tab only (sessionStorage): a token the
// server minted for a demo user (development) or the provider's access token
// (production). Never a token pasted by hand.

export interface User {
  sub: string;
  role: 'operator' | 'team' | 'partner' | 'auditor' | 'admin';
  teamRole?: string;
  partnerId?: string;
  name?: string;
}

export interface Session {
  token: string;
  user: User;
  expiresAt: string;
}

export interface ConsoleConfig {
  oidc: OidcSettings | null;
  devSignIn: boolean;
  demoUsers: Array<User & { id: string }>;
}

const KEY = 'onestop.session';

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return undefined;
  const s = JSON.parse(raw) as Session;
  if (new Date(s.expiresAt).getTime() <= Date.now()) {
    sessionStorage.removeItem(KEY);
    return undefined;
  }
  return s;
}

/** Makes the API calls of this tab carry the session's token (a plain setter, safe to call on every render). */
export function useSession(s: Session, onExpired: () => void): void {
  setToken(s.token, onExpired);
}

function store(s: Session): Session {
  sessionStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  setToken(undefined);
  stopChanges();
}

/** Development: the server mints a token for the chosen demo user. */
export async function devSignIn(user: string, idempotencyKey: string): Promise<Session> {
  const r = await api<{ token: string; expiresAt: string; user: User }>('POST', '/app/session', { user }, { idempotencyKey });
  return store({ token: r.token, user: r.user, expiresAt: r.expiresAt });
}

export const redirectUri = (): string => `${location.origin}/app`;

/** Production: to the provider (the page leaves). */
export function oidcSignIn(settings: OidcSettings, lang: string): Promise<void> {
  return beginSignIn(settings, redirectUri(), lang);
}

/** Back from the provider: the session, with the user read from the access token's OneStop claims. */
export async function oidcReturn(settings: OidcSettings): Promise<Session | undefined> {
  const search = new URLSearchParams(location.search);
  let t: Awaited<ReturnType<typeof completeSignIn>>;
  try {
    t = await completeSignIn(settings, search);
  } finally {
    // the code and state leave the address (and the history) whether the sign-in succeeds or is refused
    if (search.has('code') || search.has('error')) history.replaceState(null, '', '/app');
  }
  if (!t) return undefined;
  const c = jwtClaims(t.accessToken);
  const user: User = {
    sub: String(c['sub']),
    role: c['role'] as User['role'],
    ...(c['teamRole'] ? { teamRole: String(c['teamRole']) } : {}),
    ...(c['partnerId'] ? { partnerId: String(c['partnerId']) } : {}),
    ...(c['name'] ? { name: String(c['name']) } : {}),
  };
  const exp = typeof c['exp'] === 'number' ? c['exp'] * 1000 : Date.now() + (t.expiresIn ?? 3600) * 1000;
  return store({ token: t.accessToken, user, expiresAt: new Date(exp).toISOString() });
}
