import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths never written to logs: tokens and anything that may carry personal data. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.pii',
  '*.givenName',
  '*.familyName',
  '*.fiscalCode',
  '*.phone',
  '*.email',
  '*.address',
  '*.birthDate',
  '*.notes',
];

/** The pino logger of a service. */
export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
