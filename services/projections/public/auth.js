/* global window, sessionStorage, atob, URLSearchParams */
// The bearer token: pasted by the user or handed over once in the URL
// fragment (#token=…), kept in sessionStorage only (this tab, until it is
// closed): never in localStorage, a cookie or the query string.

const KEY = 'onestop.dashboard.token';

export const getToken = () => sessionStorage.getItem(KEY);

export function setToken(token) {
  const t = String(token).trim().replace(/^Bearer\s+/i, '');
  if (t) sessionStorage.setItem(KEY, t);
  return t;
}

export const clearToken = () => sessionStorage.removeItem(KEY);

/**
 * Takes a `#token=…` fragment once: keeps the token for the session and
 * removes it from the address bar and the history entry at once, so it is not
 * bookmarked, shared or shown. Returns true when there was one.
 */
export function takeTokenFromFragment(loc = window.location, history = window.history) {
  if (!loc.hash.includes('token=')) return false;
  const params = new URLSearchParams(loc.hash.slice(1));
  const token = params.get('token');
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', `${loc.pathname}${loc.search}${rest ? `#${rest}` : ''}`);
  if (token) setToken(token);
  return Boolean(token);
}

/**
 * What the token says about itself (role, expiry), for display only: the
 * server verifies it on every call. Null when it is not a readable JWT.
 */
export function describeToken(token) {
  const part = String(token).split('.')[1];
  if (!part) return null;
  try {
    const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (claims === null || typeof claims !== 'object') return null;
    return {
      role: typeof claims.role === 'string' ? claims.role : null,
      teamRole: typeof claims.teamRole === 'string' ? claims.teamRole : null,
      partnerId: typeof claims.partnerId === 'string' ? claims.partnerId : null,
      expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
    };
  } catch {
    return null;
  }
}
