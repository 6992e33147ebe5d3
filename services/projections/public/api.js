// The JSON APIs of the projections service, called with the bearer token.
// Paths are relative to the page (/dashboard), so the page also works behind
// a reverse proxy that mounts the service under a prefix.

/** An answer other than 2xx, with the problem+json body when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function getJson(path, token, { signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, { detail: 'il servizio non risponde: controllare la connessione' });
  }
  if (!res.ok) {
    let problem = null;
    try {
      problem = await res.json();
    } catch {
      // not JSON: the status says enough
    }
    throw new ApiError(res.status, problem);
  }
  return res.json();
}

/** Everything the dashboards show, read in parallel. */
export async function loadDashboards(token) {
  const get = (p) => getJson(p, token);
  const [overview, funnel, partners, overdue, needs, caseload] = await Promise.all([
    get('api/overview'),
    get('api/funnel'),
    get('api/partners'),
    get('api/referrals/overdue'),
    get('api/need-profiles'),
    get('api/caseload'),
  ]);
  return { overview, funnel, partners, overdue, needs, caseload };
}

/**
 * A case's history for the auditor; the read is recorded by the server. The
 * verification is asked after it, so that it covers the read just recorded.
 */
export async function loadCase(personId, token) {
  const id = encodeURIComponent(personId);
  const history = await getJson(`audit/cases/${id}/history`, token);
  const verification = await getJson(`audit/cases/${id}/verification`, token);
  return { history, verification };
}
