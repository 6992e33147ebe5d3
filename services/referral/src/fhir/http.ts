import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OneStopError } from '@onestop/events';
import { operationOutcome, type Resource } from './resources.js';
import { FhirRefusal } from './task-change.js';

// How the facade answers: FHIR JSON, and OperationOutcomes for every refusal.

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

const ISSUE_CODE: Record<number, string> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  406: 'not-supported',
  409: 'conflict',
  410: 'deleted',
  412: 'conflict',
  413: 'too-costly',
  414: 'too-long',
  415: 'not-supported',
  422: 'business-rule',
  429: 'throttled',
  503: 'transient',
};

/** Sends a FHIR resource. */
export function sendResource(reply: FastifyReply, status: number, resource: Resource): FastifyReply {
  return reply.code(status).type(FHIR_JSON).send(resource);
}

/** Sends an OperationOutcome for a refusal or fault. */
export function sendOutcome(reply: FastifyReply, status: number, text: string, issueCode?: string, expression?: string[]): FastifyReply {
  const severity = status >= 500 ? 'fatal' : 'error';
  return sendResource(reply, status, operationOutcome(severity, issueCode ?? ISSUE_CODE[status] ?? (status >= 500 ? 'exception' : 'processing'), text, expression));
}

/** Any error under /fhir as an OperationOutcome: the status of a known refusal, otherwise a 500 that says nothing internal. */
export function fhirErrorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof FhirRefusal) return sendOutcome(reply, err.status, err.message, err.issueCode, err.expression);
  if (err instanceof OneStopError) {
    if (err.status >= 500) req.log.error({ err }, err.message);
    if (err.status === 503 || err.code === 'position_not_reached') reply.header('retry-after', '1');
    return sendOutcome(reply, err.status, err.message);
  }
  const status = typeof (err as FastifyError).statusCode === 'number' ? (err as FastifyError).statusCode! : 500;
  if (status >= 400 && status < 500) {
    // fastify's own client errors (bad JSON, media type, size): their message names no input value
    const text = (err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'the body must be application/fhir+json or application/json' : status === 400 ? 'the request is not valid FHIR JSON' : err.message;
    return sendOutcome(reply, status, text);
  }
  req.log.error({ err }, 'unhandled error under /fhir');
  return sendOutcome(reply, 500, 'the server could not complete the request');
}

