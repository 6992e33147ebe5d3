import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { OneStopError } from '@onestop/events';

export type { Logger };

/**
 * The fields a log line may carry: an allow-list, not a deny-list. A log line
 * outlives an erasure (files, a log shipper, a SIEM), so nothing reaches it
 * that was not named here as safe: methods, route patterns, statuses, ids,
 * counts, durations. Any other field of a log call is dropped and only its
 * name is kept (`unlisted`), so that a developer sees what to add — after
 * asking whether it can ever hold a person's data.
 */
export const LOGGABLE_FIELDS: ReadonlySet<string> = new Set([
  // HTTP (written by the kit's request log, never the URL or a header)
  'method', 'route', 'status', 'durationMs', 'requestId', 'correlationId', 'actorId', 'actorRole', 'partnerId', 'params',
  // errors, through the allow-list serializer below
  'err',
  // process life
  'signal', 'address', 'modules', 'service',
  // bus, relay and consumers: positions and ids, never payloads
  'group', 'topic', 'topics', 'partition', 'offset', 'origin', 'attempt', 'kind', 'deadLetters', 'deadLetterId', 'reasonCode',
  'responseId', 'referralId', 'personId', 'eventId', 'eventType', 'streamId', 'position',
  // kafkajs' own fields that carry no message content
  'kafkajs', 'kafkajsLevel', 'broker', 'clientId', 'groupId', 'memberId', 'generationId', 'retryCount', 'retryTime',
  // reports of start-up, rebuilds, backfills (counts)
  'restoredRowsRepaired', 'sequenceMovedTo', 'reserved', 'conflicts', 'cases', 'places', 'skipped', 'events', 'streams', 'durationSeconds',
  'partners', 'persons', 'count', 'checks',
]);

const SAFE_VALUE = (v: unknown): boolean =>
  v === null || typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 200);

/** Keeps the allowed fields of a log call (primitives, or arrays/objects of primitives); names the others. */
export function allowListed(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const unlisted: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (!LOGGABLE_FIELDS.has(k)) {
      unlisted.push(k);
      continue;
    }
    if (k === 'err' || SAFE_VALUE(v)) out[k] = v;
    else if (Array.isArray(v) && v.every(SAFE_VALUE)) out[k] = v.slice(0, 50);
    else if (v && typeof v === 'object' && Object.values(v).every(SAFE_VALUE)) out[k] = v;
    else unlisted.push(k);
  }
  if (unlisted.length) out.unlisted = unlisted;
  return out;
}

// Node's system errors carry addresses and syscalls in their text, never a person's data.
const SYSTEM_CODE = /^E[A-Z]{2,}$/;

/**
 * Errors by an allow-list too: the class and code always; the text only of
 * OneStop's own errors (written by this code, naming ids, never values) and
 * of Node's system errors. A driver's text can quote the value it refused
 * (PostgreSQL: `invalid input syntax for type uuid: "…"`; `Key (…)=(…)`), so
 * it is left out; its stack frames (code locations) are kept.
 */
export function serializeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { type: typeof e };
  const code = (e as { code?: unknown }).code;
  const out: Record<string, unknown> = { type: e.constructor?.name ?? 'Error' };
  if (typeof code === 'string' && code.length <= 64) out.code = code;
  const known = e instanceof OneStopError || (typeof code === 'string' && SYSTEM_CODE.test(code));
  if (known) out.message = e.message;
  const frames = (e.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  out.stack = frames.slice(0, 12).join('\n');
  if (e.cause !== undefined && e.cause !== e) out.cause = serializeError(e.cause);
  return out;
}

/**
 * The pino logger of a service: fields by the allow-list, errors through
 * `serializeError`; JSON lines (for collectors), or with `pretty` one readable
 * coloured line per entry (a developer at a terminal). The allow-list applies to both.
 */
export function createLogger(
  name: string,
  level: string = 'info',
  options: { pretty?: boolean; destination?: pino.DestinationStream } = {},
): Logger {
  const opts: pino.LoggerOptions = {
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: allowListed },
    serializers: { err: serializeError },
  };
  // pretty: synchronous, in this thread, so a line is on the terminal before the process exits
  const destination =
    options.destination ??
    (options.pretty ? PinoPretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service,name' }) : undefined);
  return destination ? pino(opts, destination) : pino(opts);
}

/** Readable logs only where someone reads them: a terminal, in development, unless LOG_FORMAT says otherwise. */
export function prettyLogs(config: { LOG_FORMAT: 'auto' | 'json' | 'pretty'; NODE_ENV: string }, stdoutIsTTY: boolean = process.stdout.isTTY === true): boolean {
  if (config.LOG_FORMAT !== 'auto') return config.LOG_FORMAT === 'pretty';
  return stdoutIsTTY && config.NODE_ENV === 'development';
}
