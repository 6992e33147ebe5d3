import { ConcurrencyRetriesExhausted, OneStopError, parseEvent, WrongExpectedVersion, type RecordedEvent } from '@onestop/events';

/** A message in transit, before validation. */
export interface Incoming {
  origin: string;
  key: string | null;
  /** the envelope object (store) or the decoded message (Kafka), or undefined when undecodable */
  value: unknown;
  raw?: string;
  headers: Record<string, string>;
  /** why it could not be decoded, when it could not */
  decodeError?: string;
}

export interface Rejected {
  message: Incoming;
  reason: string;
}

/** Validates incoming messages against the catalog; the invalid ones come back with their reason. */
export function validateBatch(messages: readonly Incoming[]): { valid: Array<{ message: Incoming; event: RecordedEvent }>; rejected: Rejected[] } {
  const valid: Array<{ message: Incoming; event: RecordedEvent }> = [];
  const rejected: Rejected[] = [];
  for (const m of messages) {
    if (m.decodeError) {
      rejected.push({ message: m, reason: m.decodeError });
      continue;
    }
    const r = parseEvent(m.value);
    if (!r.ok) {
      rejected.push({ message: m, reason: `invalid: ${r.error.issues.map((i) => `${i.path} ${i.message}`).join('; ').slice(0, 2000)}` });
      continue;
    }
    const v = m.value as Partial<RecordedEvent>;
    valid.push({
      message: m,
      event: {
        ...r.event,
        streamPosition: Number(v.streamPosition ?? -1),
        globalPosition: Number(v.globalPosition ?? -1),
        hash: String(v.hash ?? ''),
        prevHash: (v.prevHash as string | null | undefined) ?? null,
      } as RecordedEvent,
    });
  }
  return { valid, rejected };
}

/** Transient: may succeed when tried again (infrastructure, concurrency). Permanent: the same message fails the same way. */
export type FailureKind = 'transient' | 'permanent';

// statuses of a OneStopError that mean "not now" rather than "never"
const RETRY_LATER = new Set([408, 425, 429]);

/**
 * The one place that decides whether a handler's failure is worth retrying.
 * Permanent: the catalog or a rule refuses the message (ValidationError, a
 * parser's ZodError, RuleViolation, ForbiddenError, NotFoundError, any other
 * 4xx OneStopError). Transient: a concurrent change (WrongExpectedVersion,
 * ConcurrencyRetriesExhausted), a OneStopError of 5xx or 408/425/429, and
 * everything else: connection refused or reset, PostgreSQL serialization,
 * deadlock and connection errors, Kafka errors, timeouts, and whatever is
 * not known, since retrying an unknown failure costs only time.
 */
export function classifyFailure(e: unknown): FailureKind {
  if (e instanceof WrongExpectedVersion || e instanceof ConcurrencyRetriesExhausted) return 'transient';
  if (e instanceof OneStopError) return e.status < 500 && !RETRY_LATER.has(e.status) ? 'permanent' : 'transient';
  // a message whose content a handler's zod schema refuses will be refused again
  if ((e as { name?: unknown } | null)?.name === 'ZodError' && Array.isArray((e as { issues?: unknown }).issues)) return 'permanent';
  return 'transient';
}

/** Deterministic failures (a rule, a validation) do not get better with retries. */
export function isPermanent(e: unknown): boolean {
  return classifyFailure(e) === 'permanent';
}

/** How long a transient failure is retried before the message is dead-lettered (10 minutes). */
export const DEFAULT_TRANSIENT_RETRY_MS = 10 * 60_000;
/** Backoff between retries of a transient failure: 100 ms, doubling, at most 30 s. */
export const BACKOFF_FIRST_MS = 100;
export const BACKOFF_MAX_MS = 30_000;

export interface RetryOptions {
  /** how long a message's transient failures are retried before it is dead-lettered */
  transientRetryMs: number;
  onError?: (e: unknown, attempt: number, kind: FailureKind) => void;
  /** the consumer is stopping (or lost its partition): give up at once, leave the message unhandled */
  stopped?: () => boolean;
}

/** Waits `ms`, or less when `stopped()` turns true (checked every 100 ms). */
async function backoff(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  for (let left = ms; left > 0 && !stopped(); left = until - Date.now()) {
    await new Promise((r) => setTimeout(r, Math.min(left, 100)));
  }
}

const describeError = (e: unknown) => {
  const err = e as Error | undefined;
  return `${err instanceof OneStopError ? `${err.code}: ` : ''}${err?.message ?? String(e)}`;
};

/**
 * Runs a batch handler; when the batch fails it is split until the failing
 * message is isolated. That message is dead-lettered at once when its failure
 * is permanent, or retried with backoff (100 ms doubling to 30 s) for
 * `transientRetryMs` first when it is transient; meanwhile the messages after
 * it wait, so the order per partition holds. Everything else is handled;
 * nothing is skipped silently. When `stopped()` turns true the last error is
 * thrown and nothing more is handled or dead-lettered (the caller commits
 * nothing, the next owner gets the messages again).
 * `T` is a catalog event for the internal topics, or whatever a non-catalog
 * consumer's parser makes of a message (KafkaBus.consumeMessages).
 */
export async function handleWithRetries<T = RecordedEvent>(
  batch: Array<{ message: Incoming; event: T }>,
  handle: (events: T[]) => Promise<void>,
  deadLetter: (r: Rejected) => Promise<void>,
  options: RetryOptions,
): Promise<void> {
  if (batch.length === 0) return;
  const stopped = options.stopped ?? (() => false);
  if (batch.length > 1) {
    try {
      await handle(batch.map((b) => b.event));
      return;
    } catch (e) {
      options.onError?.(e, 1, classifyFailure(e));
      if (stopped()) throw e;
    }
    // one of them fails (or all do, for a while): find which, in order
    const mid = Math.ceil(batch.length / 2);
    await handleWithRetries(batch.slice(0, mid), handle, deadLetter, options);
    await handleWithRetries(batch.slice(mid), handle, deadLetter, options);
    return;
  }
  const started = Date.now();
  let delay = BACKOFF_FIRST_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await handle([batch[0]!.event]);
      return;
    } catch (e) {
      const kind = classifyFailure(e);
      options.onError?.(e, attempt, kind);
      if (stopped()) throw e;
      const elapsed = Date.now() - started;
      if (kind === 'permanent' || elapsed + delay > options.transientRetryMs) {
        // a permanent failure's reason is the error; a transient one's says how long it was tried
        const reason =
          kind === 'permanent'
            ? `handler_failed: ${describeError(e)}`.slice(0, 2000)
            : `handler_failed: ${describeError(e).slice(0, 1800)} [transient: still failing after ${attempt} attempts in ${Math.round(elapsed / 1000)} s]`;
        await deadLetter({ message: batch[0]!.message, reason });
        return;
      }
      await backoff(delay, stopped);
      if (stopped()) throw e;
      delay = Math.min(BACKOFF_MAX_MS, delay * 2);
    }
  }
}
