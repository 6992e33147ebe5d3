/**
 * The one error hierarchy of OneStop. Every error a caller can act on is a
 * OneStopError with a stable `code` and the HTTP status it maps to; the kit
 * turns it into an RFC 9457 problem+json response, consumers into a DLQ reason.
 */
export class OneStopError extends Error {
  constructor(
    /** stable machine-readable code, e.g. `wrong_expected_version` */
    readonly code: string,
    message: string,
    /** HTTP status it maps to */
    readonly status: number,
    /** extra members of the problem document */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldIssue {
  /** dotted path of the invalid field, e.g. `data.pii.iv` */
  path: string;
  message: string;
}

/** Input that does not have the required shape (HTTP 400, DLQ reason `invalid`). */
export class ValidationError extends OneStopError {
  constructor(
    message: string,
    readonly issues: FieldIssue[],
  ) {
    super('validation_failed', message, 400, { issues });
  }
}

/**
 * An event that breaks its catalog schema, or has a type the catalog does not
 * know, on its way into the log. A programmer error (a decider bug), not the
 * client's: HTTP 500, and nothing of the append is stored.
 */
export class InvalidEventError extends OneStopError {
  constructor(
    message: string,
    readonly issues: FieldIssue[],
  ) {
    super('invalid_event', message, 500, { issues });
  }
}

/** A well-formed command that a business rule refuses (HTTP 422). */
export class RuleViolation extends OneStopError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, 422, details);
  }
}

/** The command conflicts with the current state (HTTP 409). */
export class ConflictError extends OneStopError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, 409, details);
  }
}

export class NotFoundError extends OneStopError {
  constructor(what: string, id: string) {
    super('not_found', `${what} ${id} not found`, 404, { resource: what, id });
  }
}

export class UnauthorizedError extends OneStopError {
  constructor(message = 'a valid bearer token is required') {
    super('unauthorized', message, 401);
  }
}

export class ForbiddenError extends OneStopError {
  constructor(message = 'this role may not do that', code = 'forbidden', details: Record<string, unknown> = {}) {
    super(code, message, 403, details);
  }
}

/** Optimistic concurrency: the stream is not at the revision the writer expected. */
export class WrongExpectedVersion extends ConflictError {
  constructor(
    readonly streamId: string,
    readonly expected: string | number,
    readonly actual: number,
  ) {
    super(
      'wrong_expected_version',
      `stream ${streamId} is at revision ${actual}, expected ${String(expected)}`,
      { streamId, expected, actual },
    );
  }
}

/**
 * A command kept meeting concurrent changes of its stream and gave up after
 * its retries (HTTP 409). Nothing was refused: the same command may succeed
 * when tried again, so consumers treat it as transient, not as a rule.
 */
export class ConcurrencyRetriesExhausted extends ConflictError {
  constructor(
    readonly streamId: string,
    readonly attempts: number,
  ) {
    super('concurrency_retries_exhausted', `stream ${streamId} kept changing under ${attempts} attempts; try again`, { streamId, attempts });
  }
}

/**
 * A read asked to wait for a client's own write (`after=<position>`) and the
 * view had not applied it within the bounded wait (HTTP 503 with Retry-After):
 * the write is stored; the view will catch up.
 */
export class PositionNotReached extends OneStopError {
  constructor(
    readonly position: number,
    readonly waitedMs: number,
  ) {
    super('position_not_reached', `this view has not yet applied position ${position} (waited ${waitedMs} ms); try again shortly`, 503, {
      position,
      waitedMs,
    });
  }
}

/**
 * A retry under an Idempotency-Key of a request that was recorded already,
 * whose first answer was lost (its process died before it could keep it), and
 * which the rules would now refuse on today's state (HTTP 409): what the first
 * attempt recorded stands, once; the answer says where.
 */
export class RequestAlreadyRecorded extends ConflictError {
  constructor(readonly streams: string[]) {
    super('request_already_recorded', 'this request was recorded already (its first answer was lost); it is not applied again', { streams });
  }
}

/**
 * A repeat of an action that was done already, with other data (another
 * outcome, another reason, other goals): the first one stands, nothing is
 * recorded, and the caller learns that its data was not taken (HTTP 409).
 * The same data again is a plain repeat: 200 with `recorded: false`.
 */
export class DoneOtherwise extends ConflictError {
  constructor(action: string, recorded: Record<string, unknown>) {
    super('done_otherwise', `${action} was done already, with other data: the first one stands and nothing was recorded`, { action, stands: recorded });
  }
}
