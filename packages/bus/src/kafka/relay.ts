import pg from 'pg';
import { Partitioners, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import { topicForStream, type RawRecordedEvent } from '@onestop/events';
import { Wakeup, type EventStore, type Subscription } from '@onestop/eventstore';
import type { BusLogger } from '../embedded.js';
import { withTimeout } from './client.js';
import { encodeCloudEvent } from './cloudevents.js';
import { SpanKind, type Span } from '@opentelemetry/api';
import { busTracer, contextOfTraceparent, endSpan, traceparentOf } from '../tracing.js';

/** One Kafka message the relay publishes for an event. */
export interface Outgoing {
  topic: string;
  message: Message;
}

/**
 * Where the relay sends events. The internal topics are one output; the
 * partner topics of DESIGN §5 (id-only referrals per partner) will be another.
 */
export interface RelayOutput {
  readonly name: string;
  /** the messages an event becomes on this output; none when it does not concern it */
  route(event: RawRecordedEvent): Outgoing[];
}

/** The internal topics of DESIGN §5: every event of a stream that has a topic, as a binary CloudEvent. */
export function internalTopicsOutput(topicPrefix = ''): RelayOutput {
  return {
    name: 'internal',
    route(event) {
      const topic = topicForStream(event.subject);
      return topic ? [{ topic: `${topicPrefix}${topic}`, message: encodeCloudEvent(event) }] : [];
    },
  };
}

export interface KafkaRelayOptions {
  kafka: Kafka;
  store: EventStore;
  /** PostgreSQL where the relays of every process meet for the advisory lock */
  lockConnectionString: string;
  /** checkpoint name in the store; also names the lock (default `relay:kafka`) */
  checkpoint?: string;
  outputs?: readonly RelayOutput[];
  /** events read from the log per batch (default 500) */
  batchSize?: number;
  /**
   * the checkpoint is stored at most this often (default 100 ms) and on stop:
   * under a steady trickle of appends the relay would otherwise write it once
   * per event. A relay taking over republishes at most that much (consumers
   * are idempotent); nothing is ever checkpointed before the broker acked it
   */
  checkpointEveryMs?: number;
  /** a sendBatch call carries at most about this many bytes (default 512 KiB), under the broker's 1 MB record-batch limit */
  maxSendBytes?: number;
  /** how often a relay on stand-by tries to take the lock (default 3000 ms) */
  standbyRetryMs?: number;
  /** how often the active relay checks that its lock connection is alive (default 2000 ms) */
  lockCheckMs?: number;
  logger?: BusLogger;
}

/** Counters for metrics and health. */
export interface RelayStats {
  /** holds the lock and relays */
  active: boolean;
  /** messages the broker acknowledged, since start */
  published: number;
  /** global position of the last event relayed (acknowledged; checkpointed within checkpointEveryMs) */
  position: number;
  /** failed publish attempts, since start (each one is retried) */
  failures: number;
  lastError: string | null;
  lastPublishedAt: string | null;
}

// Two-key advisory lock (namespace, hashtext(checkpoint)): several relays with
// different checkpoints (outputs) can run side by side, one process each.
const LOCK_NAMESPACE = 7411080;

/**
 * The outbox relay (DESIGN §1): reads the store's global log from a named
 * checkpoint and publishes each event to its topics with an idempotent
 * producer. The checkpoint advances only after the broker acknowledged, and a
 * failed send is retried with backoff, never skipped. Only the process that
 * holds a PostgreSQL session advisory lock relays; the others stand by.
 */
export class KafkaRelay {
  private readonly checkpoint: string;
  private readonly outputs: readonly RelayOutput[];
  private stopped = false;
  private readonly wake = new Wakeup();
  private producer: Producer | undefined;
  private subscription: Subscription | undefined;
  private lockHeld = false;
  private lastPosition = 0;
  private readonly counters = { published: 0, failures: 0, lastError: null as string | null, lastPublishedAt: null as string | null };
  private readonly done: Promise<void>;

  constructor(private readonly options: KafkaRelayOptions) {
    this.checkpoint = options.checkpoint ?? 'relay:kafka';
    this.outputs = options.outputs ?? [internalTopicsOutput()];
    this.done = this.run();
  }

  get stats(): RelayStats {
    return { active: this.lockHeld, position: this.position, ...this.counters };
  }

  /** Global position of the last event relayed. */
  get position(): number {
    return this.subscription?.position ?? this.lastPosition;
  }

  /** Resolves once the relay has published everything up to `position`. */
  async reached(position: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.position < position) {
      if (this.stopped) throw new Error('relay stopped');
      if (Date.now() > deadline) throw new Error(`relay at ${this.position}, not at ${position} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops relaying and releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lockHeld = false;
    this.wake.notify();
    // cuts short a send that kafkajs is still retrying (broker down): it fails, nothing is checkpointed
    void this.dropProducer();
    await this.done;
  }

  private log(level: 'info' | 'warn' | 'error', obj: object, msg: string): void {
    const l = this.options.logger;
    if (level === 'info') l?.info?.(obj, msg);
    else l?.[level](obj, msg);
  }

  private async run(): Promise<void> {
    const standbyMs = this.options.standbyRetryMs ?? 3000;
    let standing = false;
    while (!this.stopped) {
      const client = new pg.Client({
        connectionString: this.options.lockConnectionString,
        keepAlive: true,
        connectionTimeoutMillis: 10_000,
        application_name: 'onestop-relay',
      });
      let lost = false;
      const onLost = () => {
        lost = true;
        this.lockHeld = false;
        this.wake.notify();
      };
      client.on('error', onLost);
      client.on('end', onLost);
      try {
        await client.connect();
        while (!this.stopped && !lost) {
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_NAMESPACE, this.checkpoint]);
          if (rows[0]?.ok) break;
          if (!standing) this.log('info', { checkpoint: this.checkpoint }, 'relay standing by: another process relays');
          standing = true;
          await this.wake.wait(standbyMs);
        }
        if (!this.stopped && !lost) {
          standing = false;
          await this.relayWhileLocked(client, () => lost);
        }
      } catch (e) {
        if (!this.stopped) this.log('warn', { err: e, checkpoint: this.checkpoint }, 'relay lock connection failed');
      } finally {
        this.lockHeld = false;
        client.removeListener('end', onLost);
        // ending the session releases the lock; a dead socket must not hang us
        await withTimeout(client.end(), 2000, 'closing the lock connection timed out').catch(() => undefined);
      }
      if (!this.stopped) await this.wake.wait(standbyMs);
    }
    await this.dropProducer();
  }

  private async relayWhileLocked(client: pg.Client, lost: () => boolean): Promise<void> {
    this.lockHeld = true;
    this.log('info', { checkpoint: this.checkpoint }, 'relay active');
    const sub = this.options.store.subscribeToAll({
      checkpoint: this.checkpoint,
      checkpointEveryMs: this.options.checkpointEveryMs ?? 100,
      batchSize: this.options.batchSize ?? 500,
      handle: (events) => this.publish(events),
      onError: (e) => {
        if (!this.lockHeld) return; // stopping, or the lock is gone: not a publish failure
        this.counters.failures += 1;
        this.counters.lastError = (e as Error)?.message ?? String(e);
        this.log('warn', { err: e, checkpoint: this.checkpoint }, 'relay publish failed; retrying with backoff');
      },
    });
    this.subscription = sub;
    // a subscription that failed for good (its checkpoint could not be loaded)
    // gives the lock up: this relay, or another, starts over after the stand-by
    // pause, from the stored checkpoint, never from the start of the log
    let failed = false;
    sub.ended.catch((e: unknown) => {
      failed = true;
      this.counters.failures += 1;
      this.counters.lastError = (e as Error)?.message ?? String(e);
      this.log('error', { err: e, checkpoint: this.checkpoint }, 'relay subscription failed; giving the lock up to start over');
      this.wake.notify();
    });
    try {
      const checkMs = this.options.lockCheckMs ?? 2000;
      while (!this.stopped && !lost() && !failed) {
        await this.wake.wait(checkMs);
        if (this.stopped || lost() || failed) break;
        try {
          await withTimeout(client.query('SELECT 1'), 10_000, 'lock connection check timed out');
        } catch (e) {
          this.log('error', { err: e, checkpoint: this.checkpoint }, 'relay lost its lock connection; stopping relaying');
          break;
        }
      }
    } finally {
      // nothing more may be sent once the lock is gone: publish() checks this
      this.lockHeld = false;
      this.lastPosition = sub.position;
      await sub.stop();
      this.lastPosition = sub.position;
      this.subscription = undefined;
      await this.dropProducer();
    }
  }

  private async publish(events: RawRecordedEvent[]): Promise<void> {
    if (!this.lockHeld) throw new Error('relay lock not held');
    const spans: Span[] = [];
    const outgoing = events.flatMap((e) => {
      const traced = publishSpan(e, spans);
      return this.outputs.flatMap((o) => o.route(traced));
    });
    if (outgoing.length === 0) return void spans.forEach((s) => endSpan(s));
    const producer = await this.connectedProducer();
    try {
      for (const chunk of sendChunks(outgoing, this.options.maxSendBytes ?? 512 * 1024)) {
        if (!this.lockHeld) throw new Error('relay lock lost');
        await producer.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
        this.counters.published += chunk.count;
      }
      this.counters.lastPublishedAt = new Date().toISOString();
      for (const s of spans) endSpan(s);
    } catch (e) {
      for (const s of spans) endSpan(s, e);
      // A fresh producer (new producer id) for the retry: the next page may hold
      // more events than this one, which the broker would refuse as out of
      // sequence from this producer if it had in fact written this batch.
      await this.dropProducer();
      throw e;
    }
  }

  private async connectedProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  private async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect().catch(() => undefined);
  }
}

/**
 * A PRODUCER span for an event that carries a trace (child of the span that
 * appended it), ended once the broker acknowledged; the event goes on with the
 * span's traceparent, which the CloudEvents encoding puts in `ce_traceparent`.
 */
function publishSpan(e: RawRecordedEvent, spans: Span[]): RawRecordedEvent {
  const topic = e.traceparent ? topicForStream(e.subject) : undefined;
  if (!topic) return e;
  const span = busTracer().startSpan(
    `publish ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
        'messaging.message.id': e.id,
        'onestop.event.type': e.type,
        'onestop.event.global_position': e.globalPosition,
      },
    },
    contextOfTraceparent(e.traceparent),
  );
  spans.push(span);
  const traceparent = traceparentOf(span);
  return traceparent ? { ...e, traceparent } : e;
}

/** Splits messages into sendBatch calls of at most about `maxBytes` each, keeping their order. */
export function sendChunks(outgoing: readonly Outgoing[], maxBytes: number): Array<{ topicMessages: TopicMessages[]; count: number }> {
  const chunks: Array<{ topicMessages: TopicMessages[]; count: number }> = [];
  let current = new Map<string, Message[]>();
  let bytes = 0;
  let count = 0;
  const flush = () => {
    if (count === 0) return;
    chunks.push({ topicMessages: [...current].map(([topic, messages]) => ({ topic, messages })), count });
    current = new Map();
    bytes = 0;
    count = 0;
  };
  for (const o of outgoing) {
    const size = messageBytes(o.message);
    if (count > 0 && bytes + size > maxBytes) flush();
    const list = current.get(o.topic) ?? [];
    list.push(o.message);
    current.set(o.topic, list);
    bytes += size;
    count += 1;
  }
  flush();
  return chunks;
}

function messageBytes(m: Message): number {
  const len = (v: unknown) => (v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
  let n = 70 + len(m.key) + len(m.value);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += Buffer.byteLength(k) + (Array.isArray(v) ? v.reduce((s, x) => s + len(x), 0) : len(v));
  return n;
}
