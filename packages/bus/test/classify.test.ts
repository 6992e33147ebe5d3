import { describe, expect, it } from 'vitest';
import {
  ConcurrencyRetriesExhausted,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  OneStopError,
  RuleViolation,
  ValidationError,
  WrongExpectedVersion,
} from '@onestop/events';
import { classifyFailure } from '../src/index.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('classifyFailure: one place decides what is worth retrying', () => {
  it.each([
    ['a ValidationError', new ValidationError('bad', [])],
    ['a RuleViolation (a refused transition)', new RuleViolation('transition_refused', 'a completed referral cannot be accepted')],
    ['a ForbiddenError (not yours)', new ForbiddenError('this referral is addressed to another partner')],
    ['a NotFoundError (does not exist)', new NotFoundError('referral', 'r-1')],
    ['a ConflictError that is a rule (responseId reused)', new ConflictError('response_id_reused', 'already answered')],
    ['a ZodError of a handler parsing a message', Object.assign(new Error('invalid'), { name: 'ZodError', issues: [{ path: ['a'], message: 'Required' }] })],
  ])('%s is permanent', (_, e) => {
    expect(classifyFailure(e)).toBe('permanent');
  });

  it.each([
    ['WrongExpectedVersion', new WrongExpectedVersion('referral-1', 3, 4)],
    ['the 409 of handleCommand when its retries on concurrency ran out', new ConcurrencyRetriesExhausted('places-p-s', 6)],
    ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['connection reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['a PostgreSQL serialization failure', withCode('could not serialize access', '40001')],
    ['a PostgreSQL deadlock', withCode('deadlock detected', '40P01')],
    ['a PostgreSQL connection failure', withCode('terminating connection due to administrator command', '57P01')],
    ['a Kafka error', Object.assign(new Error('This server is not the leader for that topic-partition'), { name: 'KafkaJSProtocolError', retriable: true })],
    ['a timeout', withCode('Query read timeout', 'ETIMEDOUT')],
    ['a OneStopError of 5xx', new OneStopError('unavailable', 'try later', 503)],
    ['a 429', new OneStopError('rate_limited', 'slow down', 429)],
    ['anything unknown', new TypeError('x is undefined')],
    ['a thrown string', 'boom'],
  ])('%s is transient', (_, e) => {
    expect(classifyFailure(e)).toBe('transient');
  });
});
