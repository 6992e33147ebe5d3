import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { OneStopError, PositionNotReached, type FieldIssue } from '@onestop/events';
import { applySecurityHeaders, SECURITY_HEADERS } from './security-headers.js';

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
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * The problem's `instance`: the request, by its id — never the URL, which a
 * caller wrote (an echoed path is a reflected-content vector, and a URL may
 * hold what must not be repeated).
 */
export const problemInstance = (requestId: string): string => `urn:onestop:request:${requestId}`;

/**
 * Every refusal and fault goes out here: problem+json, the security headers,
 * and `Cache-Control: no-store` (a refusal is about one caller's request).
 */
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
    instance: problemInstance(String(reply.request.id)),
    code,
    requestId: String(reply.request.id),
  };
  applySecurityHeaders(reply);
  return reply.code(status).header('cache-control', 'no-store').type('application/problem+json; charset=utf-8').send(problem);
}

// Fastify's own client errors (bad JSON, wrong media type, body too large…)
// keep their status, with texts of our own: some of fastify's quote the request
// (the media type it refused).
const FASTIFY_CODES: Record<string, [code: string, detail: string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'this route takes application/json'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['body_too_large', 'the body is larger than allowed'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['empty_body', 'a JSON body was announced but is empty'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'the body is not valid JSON'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['invalid_content_length', 'the body does not have the length its Content-Length says'],
  FST_ERR_CTP_INVALID_TYPE: ['unsupported_media_type', 'the Content-Type header is not valid'],
  FST_ERR_VALIDATION: ['validation_failed', 'the request is not valid'],
  FST_ERR_BAD_URL: ['bad_url', 'the request URL is not valid'],
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
      if (err.status >= 500) req.log.error({ err }, 'request failed');
      return sendProblem(reply, err.status, err.code, err.message, err.details);
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err: new Error(err.cause.issues.map((i) => `${i.path.join('.')}: ${i.code}`).join('; ')) }, 'response does not match its schema');
      return sendProblem(reply, 500, 'internal_error', 'the server could not complete the request');
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      const known = FASTIFY_CODES[err.code];
      if (known) return sendProblem(reply, status, known[0], known[1]);
      if (status === 429) return sendProblem(reply, 429, 'rate_limited', err.message); // our own text (the limit and the wait)
      if (status === 414) return sendProblem(reply, 414, 'uri_too_long', 'the request URL is longer than allowed');
      return sendProblem(reply, status, 'bad_request', 'the request was refused');
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, 500, 'internal_error', 'the server could not complete the request');
  });
  app.setNotFoundHandler((_req, reply) => sendProblem(reply, 404, 'route_not_found', 'no route matches this method and path'));
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

/**
 * What Node's HTTP parser refuses before fastify sees a request (a header
 * section over the limit, a Content-Length that is not a number, bytes after a
 * short body that do not parse as a request): the same problem+json with the
 * same security headers, written on the socket, then the connection closes.
 * The parser's error carries the raw bytes it refused: it is never logged.
 */
export function clientErrorProblem(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are larger than allowed']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : err.code === 'HPE_INVALID_CONTENT_LENGTH' || err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH'
          ? [400, 'invalid_content_length', 'the Content-Length header is not valid']
          : [400, 'bad_request', 'the request could not be parsed as HTTP'];
  const requestId = randomUUID();
  const body = JSON.stringify({
    type: `${PROBLEM_BASE}${code}`,
    title: TITLES[status] ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: problemInstance(requestId),
    code,
    requestId,
  });
  const headers = {
    ...SECURITY_HEADERS,
    'cache-control': 'no-store',
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    connection: 'close',
  };
  if (socket.writable) {
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n\r\n${body}`);
  } else socket.destroy();
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
