import { OneStopError, parseEvent, type RecordedEvent } from '@onestop/events';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic failures (a rule, a validation) do not get better with retries. */
export function isPermanent(e: unknown): boolean {
  return e instanceof OneStopError && e.status < 500;
}

/**
 * Runs a batch handler with retries; when the batch keeps failing it is split
 * until the failing messages are isolated, and those are dead-lettered with the
 * error as reason. Everything else is handled; nothing is skipped silently.
 * `T` is a catalog event for the internal topics, or whatever a non-catalog
 * consumer's parser makes of a message (KafkaBus.consumeMessages).
 */
export async function handleWithRetries<T = RecordedEvent>(
  batch: Array<{ message: Incoming; event: T }>,
  handle: (events: T[]) => Promise<void>,
  deadLetter: (r: Rejected) => Promise<void>,
  options: { maxAttempts: number; onError?: (e: unknown, attempt: number) => void; stopped?: () => boolean },
): Promise<void> {
  if (batch.length === 0) return;
  let lastError: unknown;
  for (let attempt = 1; attempt <= (batch.length > 1 ? 2 : options.maxAttempts); attempt++) {
    try {
      await handle(batch.map((b) => b.event));
      return;
    } catch (e) {
      lastError = e;
      options.onError?.(e, attempt);
      if (options.stopped?.()) throw e;
      if (isPermanent(e)) break;
      await sleep(Math.min(5_000, 100 * 2 ** (attempt - 1)));
    }
  }
  if (batch.length > 1) {
    const mid = Math.ceil(batch.length / 2);
    await handleWithRetries(batch.slice(0, mid), handle, deadLetter, options);
    await handleWithRetries(batch.slice(mid), handle, deadLetter, options);
    return;
  }
  const err = lastError as Error;
  await deadLetter({
    message: batch[0]!.message,
    reason: `handler_failed: ${err instanceof OneStopError ? `${err.code}: ` : ''}${err?.message ?? String(err)}`.slice(0, 2000),
  });
}
