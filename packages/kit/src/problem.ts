import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { OneStopError, PositionNotReached, type FieldIssue } from '@onestop/events';

/** Problem types are pages every service serves (problem-types.ts): a URI reference, resolved against the answering server. */
export const PROBLEM_BASE = '/problems/';

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  requestId?: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extensions: Record<string, unknown> = {},
): FastifyReply {
  // extensions never override the standard members
  const problem: Problem = {
    ...extensions,
    type: `${PROBLEM_BASE}${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    instance: reply.request.url.split('?')[0],
    code,
    requestId: String(reply.request.id),
  };
  return reply.code(status).type('application/problem+json; charset=utf-8').send(problem);
}

// Fastify's own client errors (bad JSON, wrong media type, body too large…) keep their status.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_ERR_BAD_URL: 'bad_url',
};

/** Every error becomes problem+json; only a genuine fault is a 500, and it says nothing internal. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues: FieldIssue[] = err.validation.map((v) => ({
        path: [err.validationContext, ...String(v.instancePath ?? '').split('/').filter(Boolean)].filter(Boolean).join('.'),
        message: v.message ?? 'invalid',
      }));
      return sendProblem(reply, 400, 'validation_failed', `invalid ${err.validationContext ?? 'request'}`, { issues });
    }
    if (err instanceof PositionNotReached) {
      // not a fault: the view lags; the client asks again
      reply.header('retry-after', '1');
      return sendProblem(reply, err.status, err.code, err.message, err.details);
    }
    if (err instanceof OneStopError) {
      if (err.status >= 500) req.log.error({ err }, err.message);
      return sendProblem(reply, err.status, err.code, err.message, err.details);
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err, issues: err.cause.issues }, 'response does not match its schema');
      return sendProblem(reply, 500, 'internal_error', 'the server could not complete the request');
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code = FASTIFY_CODES[err.code] ?? (status === 429 ? 'rate_limited' : 'bad_request');
      return sendProblem(reply, status, code, err.message);
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, 500, 'internal_error', 'the server could not complete the request');
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, 404, 'route_not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
}

/**
 * Errors the router raises before any route runs (a URL that does not decode,
 * a path parameter over the length limit): problem+json like every other
 * refusal, without echoing the hostile URL back.
 */
export function frameworkProblem(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') void sendProblem(reply, 414, 'uri_too_long', 'a path parameter is longer than allowed');
  else void sendProblem(reply, 400, err.code === 'FST_ERR_BAD_URL' ? 'bad_url' : 'bad_request', 'the request URL is not valid');
}

/** The OpenAPI schema of a problem response. */
export const problemJsonSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', format: 'uri-reference' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
    requestId: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;
