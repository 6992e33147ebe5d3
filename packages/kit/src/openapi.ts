import { problemJsonSchema, PROBLEM_BASE } from './problem.js';

// The OpenAPI document every service serves is completed here, once for all
// routes, so that Redocly's recommended rules and Spectral's `spectral:oas`
// pass and Swagger UI's "Try it out" works as it stands:
//  - an operationId for every operation (declared by the route or derived from
//    its method and path), its tag declared at the top with a description;
//  - the refusals every route can give, documented as problem+json (RFC 9457)
//    with an example each;
//  - an example for every request and response body: the route's own, declared
//    with its zod schema (`.meta({ examples: [...] })`), or one made from the
//    schema; example values for path and query parameters.

type Json = Record<string, unknown>;
type Schema = Json & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  examples?: unknown[];
};
interface MediaType {
  schema?: Schema;
  example?: unknown;
  examples?: unknown;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  description?: string;
  parameters?: Array<{ in: string; name: string; schema?: Schema; example?: unknown; required?: boolean }>;
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { description?: string; content?: Record<string, MediaType>; $ref?: string }>;
}

/** What the refusals of OneStop mean, by status: the `components.responses` every operation refers to. */
const REFUSALS: Record<string, { name: string; description: string; code: string; detail: string }> = {
  '400': { name: 'BadRequest', description: 'The request is not valid: the issues name every invalid field.', code: 'validation_failed', detail: 'invalid body' },
  '401': { name: 'Unauthorized', description: 'No bearer token, or one that does not verify (signature, issuer, audience, expiry).', code: 'unauthorized', detail: 'a valid bearer token is required' },
  '403': { name: 'Forbidden', description: 'The token is valid but its role (team role, partner) may not do this.', code: 'forbidden', detail: 'role operator may not do this' },
  '404': { name: 'NotFound', description: 'No such resource, or one the caller may not know of.', code: 'not_found', detail: 'referral 0b8e6f61-3f0e-4a53-9d0c-6f1f6a0d7f55 not found' },
  '409': { name: 'Conflict', description: 'Another writer changed the same record first, or the Idempotency-Key was used for another request: read again and retry.', code: 'concurrency_retries_exhausted', detail: 'stream referral-0b8e6f61-3f0e-4a53-9d0c-6f1f6a0d7f55 kept changing under 5 attempts; try again' },
  '413': { name: 'ContentTooLarge', description: 'The body is larger than BODY_LIMIT_BYTES.', code: 'body_too_large', detail: 'Request body is too large' },
  '415': { name: 'UnsupportedMediaType', description: 'The body is not application/json.', code: 'unsupported_media_type', detail: 'Unsupported Media Type: text/plain' },
  '422': { name: 'RuleViolation', description: 'The request is well formed but a rule of the domain refuses it (DESIGN §4); `code` names the rule.', code: 'assessment_consent_missing', detail: 'person 3f0c5a8e-2b1d-4c6e-9a7f-1d2e3f4a5b6c has no active assessment consent' },
  '429': { name: 'TooManyRequests', description: 'More than RATE_LIMIT_PER_MINUTE requests with this token (or from this address) in a minute; see Retry-After.', code: 'rate_limited', detail: 'rate limit of 600 requests per minute exceeded; retry in 1 minute' },
  '500': { name: 'InternalError', description: 'A fault of the server; the answer says nothing internal, the log has the details under the requestId.', code: 'internal_error', detail: 'the server could not complete the request' },
  '503': { name: 'NotYetVisible', description: 'The view has not yet applied the position given in `after`: ask again shortly (Retry-After).', code: 'position_not_reached', detail: 'this view has not yet applied position 42 (waited 2000 ms); try again shortly' },
};
const TITLES: Record<string, string> = {
  '400': 'Bad Request', '401': 'Unauthorized', '403': 'Forbidden', '404': 'Not Found', '409': 'Conflict', '413': 'Content Too Large',
  '415': 'Unsupported Media Type', '422': 'Unprocessable Content', '429': 'Too Many Requests', '500': 'Internal Server Error', '503': 'Service Unavailable',
};

/** The refusals an operation can give, from what it declares: a body, a token, path parameters, a command, `after`. */
function refusalsOf(method: string, op: Operation): string[] {
  const params = op.parameters ?? [];
  const statuses = ['429', '500'];
  if (params.length > 0 || op.requestBody) statuses.push('400');
  if (op.security?.length) statuses.push('401', '403');
  if (params.some((p) => p.in === 'path')) statuses.push('404');
  if (method !== 'get') statuses.push('409', '422');
  if (op.requestBody) statuses.push('413', '415');
  if (params.some((p) => p.in === 'query' && p.name === 'after')) statuses.push('503');
  return statuses;
}

/** `POST /persons/{personId}/consents` → `postPersonsByPersonIdConsents`: unique per method and path, URL-safe. */
export function derivedOperationId(method: string, url: string): string {
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const words = url
    .split('/')
    .filter(Boolean)
    .map((seg) => {
      const param = /^[:{]([^}]+)}?$/.exec(seg);
      const word = (param ? param[1]! : seg).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
      return param ? `By${cap(word)}` : cap(word);
    });
  return `${method.toLowerCase()}${words.join('') || 'Root'}`;
}

// Example values of path and query parameters, by name: ids of the demo network.
const PARAMETER_EXAMPLES: Record<string, unknown> = {
  partnerId: 'centro-impiego',
  serviceId: 'orientamento',
  agreementId: 'accordo-pistoia',
  fiscalCode: 'RSSMRA85C14G713X',
};
const SAMPLE_UUID = '3f0c5a8e-2b1d-4c6e-9a7f-1d2e3f4a5b6c';
const SAMPLE_TIME = '2026-03-02T09:30:00.000Z';
// Strings by property name, for examples that read like OneStop's data.
const STRING_EXAMPLES: Record<string, string> = {
  partnerId: 'centro-impiego',
  serviceId: 'orientamento',
  agreementId: 'accordo-pistoia',
  accessPoint: 'pistoia-centro',
  municipality: 'Pistoia',
  givenName: 'Mariagrazia',
  familyName: 'Rossellini',
  birthDate: '1985-12-10',
  fiscalCode: 'RSSMGR85T50G713B',
  phone: '+39 0573 918273',
  email: 'mariagrazia.rossellini@example.org',
  address: 'Via dei Vetturini 27, Pistoia',
  status: 'requested',
  priority: 'routine',
  role: 'social_worker',
  teamRole: 'social_worker',
  outcome: 'achieved',
  sector: 'public',
  at: SAMPLE_TIME,
  description: 'trovare un alloggio stabile',
  notes: 'sfratto esecutivo a gennaio',
  note: 'nessun posto libero fino a marzo',
  group: 'projections',
  name: 'Orientamento al lavoro',
  memberId: 'assistente-sociale-1',
  domain: 'employment',
  code: 'validation_failed',
  hash: 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
  signature: 'MEUCIQDx…',
  actor: 'amministratore-1',
  reason: 'the person asked for it',
};
const STRING_CANDIDATES = ['text', '42', 'pistoia-centro', 'Pistoia', 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9', SAMPLE_UUID, '2026-03-02', SAMPLE_TIME, 'PERSONA', 'x'];

function fits(value: string, s: Schema): boolean {
  if (typeof s.minLength === 'number' && value.length < s.minLength) return false;
  if (typeof s.maxLength === 'number' && value.length > s.maxLength) return false;
  if (typeof s.pattern === 'string') {
    try {
      return new RegExp(s.pattern, 'u').test(value);
    } catch {
      return true;
    }
  }
  return true;
}

function sampleString(s: Schema, name: string | undefined): string {
  const byFormat: Record<string, string> = { uuid: SAMPLE_UUID, 'date-time': SAMPLE_TIME, date: '2026-03-02', email: 'mariagrazia.rossellini@example.org', uri: 'https://onestop.example/x' };
  const candidates = [
    ...(typeof s.format === 'string' && byFormat[s.format] ? [byFormat[s.format]!] : []),
    ...(name && STRING_EXAMPLES[name] ? [STRING_EXAMPLES[name]!] : []),
    ...(name && /Id$/.test(name) ? [SAMPLE_UUID] : []),
    ...(name && /(At|Time|By)$/.test(name) && name !== 'recordedBy' ? [SAMPLE_TIME] : []),
    ...STRING_CANDIDATES,
  ];
  return candidates.find((c) => fits(c, s)) ?? 'x'.repeat(Math.max(1, Number(s.minLength ?? 1)));
}

/** A value that fits a JSON Schema (as zod writes them): its own example when it has one. */
export function sampleOf(s: Schema | undefined, name?: string, depth = 0): unknown {
  if (!s || depth > 12) return null;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if ('example' in s) return s.example;
  if ('const' in s) return s.const;
  if ('default' in s) return s.default;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const branches = s.anyOf ?? s.oneOf;
  if (branches?.length) return sampleOf(branches.find((b) => b.type !== 'null') ?? branches[0], name, depth + 1);
  if (s.allOf?.length) return Object.assign({}, ...s.allOf.map((b) => sampleOf(b, name, depth + 1) as object));
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Json = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = sampleOf(v, k, depth + 1);
      if (!s.properties && typeof s.additionalProperties === 'object') {
        const keys = s.propertyNames?.enum?.map(String) ?? ['key'];
        for (const k of keys.slice(0, 3)) out[k] = sampleOf(s.additionalProperties, k, depth + 1);
      }
      return out;
    }
    case 'array': {
      const n = Math.max(1, Number(s.minItems ?? 1));
      return Array.from({ length: n }, () => sampleOf(s.items, name, depth + 1));
    }
    case 'string':
      return sampleString(s, name);
    case 'integer':
    case 'number': {
      // 1 where the bounds allow it, else the nearest bound
      const min = typeof s.minimum === 'number' ? s.minimum : typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum + 1 : -Infinity;
      const max = typeof s.maximum === 'number' ? s.maximum : typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum - 1 : Infinity;
      const v = Math.min(Math.max(1, min), max);
      return type === 'integer' ? Math.ceil(v) : v;
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return null;
  }
}

function withExample(media: MediaType | undefined): void {
  if (!media?.schema || media.example !== undefined || media.examples !== undefined) return;
  media.example = sampleOf(media.schema);
}

export interface OpenApiTag {
  name: string;
  description: string;
  /** further documentation (e.g. the README's FHIR section) */
  externalDocs?: { description: string; url: string };
}

const GENERAL_TAG: OpenApiTag = { name: 'general', description: 'What every OneStop service serves, whatever its modules.' };

/**
 * Completes a generated OpenAPI document (see the header of this file):
 * servers, tags, operationIds, problem+json refusals and examples.
 */
export function completeOpenApi(doc: Json, tags: readonly OpenApiTag[]): Json {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation>>;
  const used = new Set<string>();
  const refused = new Set<string>();
  let secured = false;
  for (const [url, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      op.operationId ??= derivedOperationId(method, url);
      // a route without roles is public: say so, rather than leave it undefined
      if (!op.security) {
        op.security = [];
        op.description ??= 'Public: no token is needed.';
      }
      if (op.security.length) secured = true;
      // a route the kit itself serves (outside any module) still gets a declared tag
      if (!op.tags?.length) op.tags = [GENERAL_TAG.name];
      for (const t of op.tags) used.add(t);
      for (const p of op.parameters ?? []) {
        if (p.example === undefined && p.schema) {
          p.example = PARAMETER_EXAMPLES[p.name] ?? sampleOf(p.schema, p.name);
        }
      }
      for (const media of Object.values(op.requestBody?.content ?? {})) withExample(media);
      const responses = (op.responses ??= {});
      for (const [status, r] of Object.entries(responses)) {
        if (/^2/.test(status)) for (const media of Object.values(r.content ?? {})) withExample(media);
      }
      for (const status of refusalsOf(method, op)) {
        responses[status] ??= { $ref: `#/components/responses/${REFUSALS[status]!.name}` };
        refused.add(status);
      }
    }
  }
  const described = new Map<string, OpenApiTag>([GENERAL_TAG, ...tags].map((t) => [t.name, t]));
  const components = { ...((doc.components ?? {}) as Json) };
  // a document of public routes only (the console's) has no use for the bearer scheme
  if (!secured) delete components.securitySchemes;
  return {
    ...doc,
    servers: [{ url: '/', description: 'the server that serves this document' }],
    tags: [...used].sort().map((name) => ({ name, description: described.get(name)?.description ?? name, ...(described.get(name)?.externalDocs ? { externalDocs: described.get(name)!.externalDocs } : {}) })),
    components: {
      ...components,
      schemas: { ...(components.schemas as Json | undefined), Problem: problemJsonSchema },
      responses: Object.fromEntries(
        Object.entries(REFUSALS).filter(([status]) => refused.has(status)).map(([status, r]) => [
          r.name,
          {
            description: r.description,
            content: {
              'application/problem+json': {
                schema: { $ref: '#/components/schemas/Problem' },
                example: {
                  type: `${PROBLEM_BASE}${r.code}`,
                  title: TITLES[status],
                  status: Number(status),
                  detail: r.detail,
                  instance: 'urn:onestop:request:req-1a2b3c',
                  code: r.code,
                  requestId: 'req-1a2b3c',
                  ...(status === '400' ? { issues: [{ path: 'body.birthDate', message: 'Invalid ISO date' }] } : {}),
                },
              },
            },
          },
        ]),
      ),
    },
  };
}
