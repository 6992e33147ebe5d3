import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

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

/**
 * The pino logger of a service: JSON lines (for collectors), or with `pretty`
 * one readable coloured line per entry (a developer at a terminal). Redaction
 * applies to both.
 */
export function createLogger(name: string, level: string = 'info', options: { pretty?: boolean } = {}): Logger {
  const opts = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // synchronous, in this thread: a line is on the terminal before the process exits
  return options.pretty ? pino(opts, PinoPretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service,name' })) : pino(opts);
}

/** Readable logs only where someone reads them: a terminal, in development, unless LOG_FORMAT says otherwise. */
export function prettyLogs(config: { LOG_FORMAT: 'auto' | 'json' | 'pretty'; NODE_ENV: string }, stdoutIsTTY: boolean = process.stdout.isTTY === true): boolean {
  if (config.LOG_FORMAT !== 'auto') return config.LOG_FORMAT === 'pretty';
  return stdoutIsTTY && config.NODE_ENV === 'development';
}
