// Every action of the console goes through the public HTTP API, with the
// user's bearer token. A submit carries an Idempotency-Key made once per form
// submission (kept across a double click or a retry), so the server records it
// once. Errors arrive as problem+json and become a Problem with its fields.

export interface FieldIssue {
  path: string;
  message: string;
}

/** An RFC 9457 problem, as the API sends it. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly issues: FieldIssue[] = [],
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
  }

  /** the message of a field (by the last segment of its path, e.g. `body.fiscalCode` → `fiscalCode`) */
  field(name: string): string | undefined {
    const hit = this.issues.find((i) => i.path === name || i.path.endsWith(`.${name}`));
    if (hit) return hit.message;
    const f = this.extensions['field'];
    return f === name ? this.detail : undefined;
  }
}

let token: string | undefined;
let onUnauthorized: () => void = () => undefined;

export function setToken(t: string | undefined, unauthorized?: () => void): void {
  token = t;
  if (unauthorized) onUnauthorized = unauthorized;
}

/** A fresh key for one submission. */
export const newIdempotencyKey = (): string => crypto.randomUUID();

export interface CallOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** Calls the API; JSON in, JSON out; a problem+json answer throws a Problem. */
export async function api<T = unknown>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: options.signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new Problem(0, 'network', 'network');
  }
  const text = await res.text();
  const json = text ? (safeJson(text) as Record<string, unknown> | undefined) : undefined;
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    const j = json ?? {};
    const code = typeof j['type'] === 'string' ? String(j['type']).split('/').pop()! : `http_${res.status}`;
    throw new Problem(res.status, code, String(j['detail'] ?? res.statusText), Array.isArray(j['issues']) ? (j['issues'] as FieldIssue[]) : [], j);
  }
  return json as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `path` with `after=<position>` when a write gave one: the read waits for the view to have applied it. */
export function after(path: string, position: number | undefined): string {
  if (!position) return path;
  return `${path}${path.includes('?') ? '&' : '?'}after=${position}`;
}
