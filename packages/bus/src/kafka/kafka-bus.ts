import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaConfig, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import { ConflictError, NotFoundError, TOPICS, type RecordedEvent } from '@onestop/events';
import type { EventStore, SqlDriver } from '@onestop/eventstore';
import { SqlDeadLetters, deadLetterFilter, type DeadLetterFilter } from '../dead-letters.js';
import type { BusLogger } from '../embedded.js';
import { DEFAULT_TRANSIENT_RETRY_MS, handleWithRetries, validateBatch, type Incoming, type Rejected } from '../handling.js';
import type { ConsumeOptions, DeadLetter, EventBus, NewDeadLetter, Redrive, RunningConsumer } from '../port.js';
import { createKafkaClient, kafkaErrorTypes, withTimeout } from './client.js';
import { decodeCloudEvent, headersAsText, utf8Text } from './cloudevents.js';
import { DLQ_RECORD_BUDGET, deadLetterRecord, minimalDeadLetterRecord, SQL_PAYLOAD_MAX, sqlPayload, type DeadLetterMeta, type SourceMessage } from './dead-letter-queue.js';
import type { ConsumeMessagesOptions, Parsed, ReceivedMessage } from './messages.js';
import { internalTopicsOutput, KafkaRelay, sendChunks, type KafkaRelayOptions, type Outgoing, type RelayOutput } from './relay.js';
import { ensureTopics, internalTopics, REDRIVE_TOPIC, type TopicRequest } from './topics.js';
import { tracedHandler } from '../tracing.js';
import { deadLetterBytes, withoutFreeText } from '../free-text.js';

export interface KafkaBusOptions {
  /** an existing client; otherwise one is made from `brokers` and `clientId` */
  kafka?: Kafka;
  brokers?: readonly string[];
  clientId?: string;
  /** extra kafkajs client settings (ssl, sasl, timeouts) */
  clientConfig?: Partial<KafkaConfig>;
  /** where dead letters are recorded for operators (bus.dead_letters) */
  db: SqlDriver;
  logger?: BusLogger;
  /** prepended to every topic name; only for tests sharing one broker */
  topicPrefix?: string;
  /**
   * prepended to every consumer group id; only for tests sharing one broker
   * (services name their groups, and one group must not span two test runs)
   */
  groupPrefix?: string;
  /** partitions of the topics ensureTopics creates (default 6) */
  partitions?: number;
  /** replication factor of created topics (default -1: the broker's default) */
  replicationFactor?: number;
  /**
   * how long a transient handler failure is retried before the message is
   * dead-lettered (default 10 minutes; ONESTOP_TRANSIENT_RETRY_MS); a consumer
   * may set its own
   */
  transientRetryMs?: number;
  consumer?: {
    /** ms without heartbeat before the group evicts a member (default 30000) */
    sessionTimeout?: number;
    heartbeatInterval?: number;
    /** how long a fetch waits for data (default 1000 ms) */
    maxWaitTimeInMs?: number;
  };
}

/** Counters of one consumer, for metrics and tests. */
export interface ConsumerStats {
  /** valid events handed to the handler and committed */
  handled: number;
  deadLettered: number;
  /** offset commits after successful chunks */
  commits: number;
  /** restarts after a crash kafkajs did not recover from itself */
  restarts: number;
  /** times this member joined its group (1 unless it was evicted, rebalanced or restarted) */
  joins: number;
}

export interface KafkaRunningConsumer extends RunningConsumer {
  readonly stats: ConsumerStats;
  /** resolves once the consumer has joined its group and been given partitions */
  joined(timeoutMs?: number): Promise<void>;
}

/** A consumer of non-catalog topics (KafkaBus.consumeMessages). */
export interface KafkaMessageConsumer extends KafkaRunningConsumer {
  /** the topics it is subscribed to now (names without the test prefix) */
  readonly topics: readonly string[];
  /**
   * Subscribes again: to `topics` when given, else to what the pattern (or the
   * list) selects now. Restarts the group member only when the set changed;
   * uncommitted messages are delivered again. Returns the topics now consumed.
   */
  refresh(topics?: readonly string[]): Promise<readonly string[]>;
}

/** One message decoded: a value for the handler, or the reason it is dead-lettered. */
type Decoded<T> = { message: Incoming; ok: true; value: T } | { message: Incoming; ok: false; reason: string };

/** What differs between a consumer of catalog events and one of other messages. */
interface ConsumerSpec<T> {
  group: string;
  batchSize?: number;
  transientRetryMs?: number | undefined;
  concurrency?: number | undefined;
  decode(source: SourceMessage): Decoded<T>;
  handle(batch: T[]): Promise<void>;
}

interface ConsumerState<T> {
  spec: ConsumerSpec<T>;
  /** real topic names (with the test prefix) */
  topics: string[];
  stopping: boolean;
  stats: ConsumerStats;
}

// Errors by which the broker refuses a record for what it is; retrying the
// same bytes cannot help, a smaller copy can.
const REFUSED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'UNSUPPORTED_FOR_MESSAGE_FORMAT']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The Kafka adapter of the EventBus port: consumer groups on the internal
 * topics, at-least-once (offsets committed only after the handler succeeded),
 * invalid and failing messages to the DLQ topic and to SQL, and the relay that
 * feeds the topics from the event store.
 */
export class KafkaBus implements EventBus {
  readonly kind = 'kafka' as const;
  readonly kafka: Kafka;
  private readonly prefix: string;
  private readonly dlq: SqlDeadLetters;
  private readonly consumers = new Set<KafkaRunningConsumer>();
  private relayInstance: KafkaRelay | undefined;
  private dlqProducer: Promise<Producer> | undefined;
  private publishProducer: Promise<Producer> | undefined;
  /** publish() calls one after the other: one idempotent producer, in order */
  private publishing: Promise<void> = Promise.resolve();
  private admin: Promise<Admin> | undefined;
  private closed = false;

  constructor(private readonly options: KafkaBusOptions) {
    if (!options.kafka && !options.brokers?.length) throw new Error('KafkaBus needs `kafka` or `brokers`');
    this.kafka =
      options.kafka ??
      createKafkaClient({ brokers: options.brokers!, clientId: options.clientId ?? 'onestop', logger: options.logger, config: options.clientConfig });
    this.prefix = options.topicPrefix ?? '';
    this.dlq = new SqlDeadLetters(options.db);
  }

  /** The real name of an internal topic (with the test prefix, if any). */
  topic(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** The real id of a consumer group (with the test prefix, if any). */
  groupId(group: string): string {
    return `${this.options.groupPrefix ?? ''}${group}`;
  }

  /** Creates the dead-letter table. */
  async migrate(): Promise<void> {
    await this.dlq.migrate();
  }

  /** Creates the internal topics of DESIGN §5 that do not exist yet. */
  async ensureTopics(): Promise<string[]> {
    return ensureTopics(this.kafka, internalTopics(this.prefix), {
      partitions: this.options.partitions ?? 6,
      replicationFactor: this.options.replicationFactor ?? -1,
    });
  }

  /**
   * Creates these topics (names without the test prefix) when they do not
   * exist yet, with the bus's partitions and replication; for topics outside
   * the internal set, such as a partner's two topics. A topic given with
   * configs gets them, whether it is created now or existed (ensureTopics).
   * Returns those it created.
   */
  async createTopics(requests: readonly TopicRequest[]): Promise<string[]> {
    if (requests.length === 0) return [];
    const created = await ensureTopics(
      this.kafka,
      requests.map((r) => (typeof r === 'string' ? this.topic(r) : { ...r, topic: this.topic(r.topic) })),
      { partitions: this.options.partitions ?? 6, replicationFactor: this.options.replicationFactor ?? -1, logger: this.options.logger },
    );
    return created.map((t) => t.slice(this.prefix.length));
  }

  /**
   * Sends messages (topic names without the test prefix) with the bus's
   * idempotent producer, acks from every in-sync replica, in order; resolves
   * once the broker has them all. A failure rejects (the caller retries, so
   * delivery is at-least-once) and the next call gets a fresh producer. Auto
   * creation is off: the topics must exist (createTopics).
   */
  publish(messages: readonly Outgoing[]): Promise<void> {
    const run = this.publishing.then(async () => {
      if (this.closed) throw new Error('the bus is closed');
      if (messages.length === 0) return;
      const producer = await this.connectedPublishProducer();
      try {
        for (const chunk of sendChunks(messages.map((m) => ({ topic: this.topic(m.topic), message: m.message })), 512 * 1024)) {
          await producer.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
        }
      } catch (e) {
        // as the relay does: a fresh producer id, so a retry of a batch the broker
        // did write cannot be refused as out of sequence
        const p = this.publishProducer;
        this.publishProducer = undefined;
        await p?.then((x) => x.disconnect()).catch(() => undefined);
        throw e;
      }
    });
    this.publishing = run.catch(() => undefined);
    return run;
  }

  private connectedPublishProducer(): Promise<Producer> {
    this.publishProducer ??= (async () => {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      return p;
    })().catch((e: unknown) => {
      this.publishProducer = undefined;
      throw e;
    });
    return this.publishProducer;
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const a = this.kafka.admin();
      await a.connect();
      return a;
    })().catch((e: unknown) => {
      this.admin = undefined;
      throw e;
    });
    return this.admin;
  }

  /** Starts the relay from `store` to the internal topics (plus any extra outputs); close() stops it. */
  startRelay(store: EventStore, options: Omit<KafkaRelayOptions, 'kafka' | 'store' | 'outputs'> & { extraOutputs?: RelayOutput[] }): KafkaRelay {
    if (this.relayInstance) throw new Error('the relay is already running');
    const { extraOutputs = [], ...rest } = options;
    this.relayInstance = new KafkaRelay({
      logger: this.options.logger,
      ...rest,
      kafka: this.kafka,
      store,
      outputs: [internalTopicsOutput(this.prefix), ...extraOutputs],
    });
    return this.relayInstance;
  }

  get relay(): KafkaRelay | undefined {
    return this.relayInstance;
  }

  async consume(options: ConsumeOptions): Promise<KafkaRunningConsumer> {
    const { running } = await this.startConsumer<RecordedEvent>(
      {
        group: options.group,
        batchSize: options.batchSize,
        transientRetryMs: options.transientRetryMs,
        concurrency: options.concurrency,
        handle: tracedHandler(options.group, options.handle),
        decode: (source) => {
          const message = toIncoming(source);
          const { valid, rejected } = validateBatch([message]);
          return valid[0] ? { message, ok: true, value: valid[0].event } : { message, ok: false, reason: rejected[0]!.reason };
        },
      },
      options.topics.map((t) => this.topic(t)),
    );
    return running;
  }

  /**
   * A consumer group on topics that carry no catalog events (a partner's
   * answers): `parse` validates each message, `handle` gets the valid ones.
   * Same path as `consume`: at-least-once, offsets committed after the handler
   * succeeded, invalid and failing messages to the DLQ topic and to SQL with
   * their reason. With `topicPattern`, or when the list changes, call
   * `refresh()` after topics were created: subscriptions are fixed at start.
   */
  async consumeMessages<T>(options: ConsumeMessagesOptions<T>): Promise<KafkaMessageConsumer> {
    const resolve = async (topics?: readonly string[]): Promise<string[]> => {
      if (topics) return [...new Set(topics)].map((t) => this.topic(t));
      if (options.topics) return [...new Set(options.topics)].map((t) => this.topic(t));
      // a /g or /y pattern would remember where it last matched
      const pattern = new RegExp(options.topicPattern.source, options.topicPattern.flags.replace(/[gy]/g, ''));
      const admin = await this.connectedAdmin();
      const names = await withTimeout(admin.listTopics(), 30_000, 'listing topics timed out');
      return names.filter((n) => n.startsWith(this.prefix) && pattern.test(n.slice(this.prefix.length))).sort();
    };
    const { running, resubscribe, state } = await this.startConsumer<T>(
      {
        group: options.group,
        batchSize: options.batchSize,
        transientRetryMs: options.transientRetryMs,
        handle: options.handle,
        decode: (source) => {
          const message = plainIncoming(source);
          let parsed: Parsed<T>;
          try {
            parsed = options.parse(this.received(source, message));
          } catch (e) {
            parsed = { ok: false, reason: `invalid: the parser failed: ${(e as Error)?.message ?? String(e)}` };
          }
          return parsed.ok ? { message, ok: true, value: parsed.value } : { message, ok: false, reason: parsed.reason.slice(0, 2000) || 'invalid' };
        },
      },
      await resolve(),
    );
    const logical = () => state.topics.map((t) => t.slice(this.prefix.length));
    return {
      ...running,
      get topics() {
        return logical();
      },
      refresh: async (topics) => {
        await resubscribe(() => resolve(topics));
        return logical();
      },
    };
  }

  /** A message of a non-catalog topic as `parse` sees it: the logical topic name, key and headers as text. */
  private received(source: SourceMessage, message: Incoming): ReceivedMessage {
    // a re-driven message counts as coming from the topic it first came from
    const topic = source.redrive?.topic ?? source.topic;
    return {
      topic: topic.startsWith(this.prefix) ? topic.slice(this.prefix.length) : topic,
      partition: source.partition,
      offset: source.offset,
      key: message.key,
      value: source.message.value ?? null,
      headers: message.headers,
    };
  }

  /**
   * Runs one group member on `topics` (none: it waits for a resubscribe), and
   * restarts it after a crash kafkajs does not recover from itself.
   */
  private async startConsumer<T>(
    spec: ConsumerSpec<T>,
    topics: string[],
  ): Promise<{ running: KafkaRunningConsumer; state: ConsumerState<T>; resubscribe(next: () => Promise<string[]>): Promise<void> }> {
    if (this.closed) throw new Error('the bus is closed');
    const state: ConsumerState<T> = { spec, topics, stopping: false, stats: { handled: 0, deadLettered: 0, commits: 0, restarts: 0, joins: 0 } };
    let consumer: Consumer | undefined;
    let restartTimer: NodeJS.Timeout | undefined;
    let hasJoined = false;
    const c = this.options.consumer ?? {};

    const start = async (): Promise<void> => {
      if (state.topics.length === 0) return;
      const k = this.kafka.consumer({
        groupId: this.groupId(spec.group),
        sessionTimeout: c.sessionTimeout ?? 30_000,
        heartbeatInterval: c.heartbeatInterval ?? 3000,
        maxWaitTimeInMs: c.maxWaitTimeInMs ?? 1000,
        allowAutoTopicCreation: false,
        retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 },
      });
      consumer = k;
      k.on(k.events.GROUP_JOIN, () => {
        if (consumer !== k) return;
        hasJoined = true;
        state.stats.joins += 1;
      });
      k.on(k.events.CRASH, ({ payload }) => {
        // kafkajs restarts after retriable failures itself; for the rest we do (not for a member already replaced)
        if (payload.restart || state.stopping || consumer !== k) return;
        this.options.logger?.error({ err: payload.error, group: spec.group }, 'Kafka consumer crashed; restarting');
        scheduleRestart(2000);
      });
      await k.connect();
      // the re-drive topic too: dead letters handed back to this group come that way
      await k.subscribe({ topics: [...state.topics, this.topic(REDRIVE_TOPIC)], fromBeginning: true });
      await k.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, spec.concurrency ?? 1),
        eachBatch: (p) => this.eachBatch(p, state),
      });
    };
    const scheduleRestart = (delay: number) => {
      if (state.stopping) return;
      clearTimeout(restartTimer);
      restartTimer = setTimeout(() => {
        void (async () => {
          state.stats.restarts += 1;
          await consumer?.disconnect().catch(() => undefined);
          if (state.stopping) return;
          await start().catch((err) => {
            this.options.logger?.warn({ err, group: spec.group }, 'Kafka consumer restart failed; trying again');
            scheduleRestart(Math.min(delay * 2, 30_000));
          });
        })();
      }, delay);
    };

    try {
      await start();
    } catch (e) {
      state.stopping = true;
      await consumer?.disconnect().catch(() => undefined);
      throw e;
    }
    // one resubscription at a time
    let resubscribing: Promise<void> = Promise.resolve();
    const resubscribe = (next: () => Promise<string[]>): Promise<void> => {
      const run = resubscribing.then(async () => {
        if (state.stopping) return;
        const topics = await next();
        const same = topics.length === state.topics.length && topics.every((t) => state.topics.includes(t));
        if (same) return;
        this.options.logger?.info?.({ group: spec.group, topics: topics.length }, 'Kafka consumer subscribing again');
        clearTimeout(restartTimer);
        state.topics = topics;
        hasJoined = false;
        const old = consumer;
        consumer = undefined;
        // waits for the batch in hand; what it did not commit, the new member gets again
        await old?.disconnect().catch(() => undefined);
        if (state.stopping) return;
        await start().catch((err) => {
          this.options.logger?.warn({ err, group: spec.group }, 'Kafka consumer did not start on its new topics; trying again');
          scheduleRestart(2000);
        });
      });
      resubscribing = run.catch(() => undefined);
      return run;
    };
    const running: KafkaRunningConsumer = {
      group: spec.group,
      stats: state.stats,
      joined: async (timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!hasJoined && state.topics.length > 0) {
          if (Date.now() > deadline) throw new Error(`consumer ${spec.group} did not join within ${timeoutMs} ms`);
          await sleep(50);
        }
      },
      stop: async () => {
        state.stopping = true;
        clearTimeout(restartTimer);
        this.consumers.delete(running);
        await resubscribing;
        // waits for the batch in hand; uncommitted messages go to the next member
        await consumer?.disconnect().catch(() => undefined);
      },
    };
    this.consumers.add(running);
    return { running, state, resubscribe };
  }

  /**
   * One fetched batch of one partition, in chunks of `batchSize`: decode,
   * validate, dead-letter the invalid, handle the rest with retries, then
   * commit the chunk's offsets. Nothing is committed that was not handled or
   * dead-lettered.
   */
  private async eachBatch<T>(p: EachBatchPayload, state: ConsumerState<T>): Promise<void> {
    const { batch } = p;
    const { spec: options, stats } = state;
    const size = options.batchSize ?? 500;
    const redriveTopic = this.topic(REDRIVE_TOPIC);
    let rebalance: unknown;
    // heartbeats while a slow handler or a retry backoff runs; kafkajs throttles them
    const beat = setInterval(() => {
      if (rebalance !== undefined) return;
      p.heartbeat().catch((e: unknown) => {
        rebalance ??= e;
      });
    }, 1000);
    const halted = () => state.stopping || !p.isRunning() || p.isStale() || rebalance !== undefined;
    try {
      for (let i = 0; i < batch.messages.length; i += size) {
        if (halted()) break;
        const chunk = batch.messages.slice(i, i + size);
        const sources = new Map<Incoming, SourceMessage>();
        const valid: Array<{ message: Incoming; event: T }> = [];
        const rejected: Rejected[] = [];
        const redriven = new Map<Incoming, string>();
        for (const message of chunk) {
          let source: SourceMessage = { topic: batch.topic, partition: batch.partition, offset: message.offset, message };
          if (batch.topic === redriveTopic) {
            // re-driven dead letters of other groups are not this one's business
            const r = redriveOf(message.headers, options.group);
            if (!r) continue;
            source = { ...source, redrive: r };
          }
          const d = options.decode(source);
          if (source.redrive) redriven.set(d.message, source.redrive.id);
          sources.set(d.message, source);
          if (d.ok) valid.push({ message: d.message, event: d.value });
          else rejected.push({ message: d.message, reason: d.reason });
        }
        const deadLetter = async (rs: Rejected[]) => {
          for (const r of rs) redriven.delete(r.message);
          await this.recordDeadLetters(
            options.group,
            rs.map((r) => ({ source: sources.get(r.message)!, rejected: r })),
            halted,
          );
          stats.deadLettered += rs.length;
        };
        const deadBefore = stats.deadLettered + rejected.length;
        try {
          if (rejected.length > 0) await deadLetter(rejected);
          await handleWithRetries(valid, options.handle, (r) => deadLetter([r]), {
            transientRetryMs: options.transientRetryMs ?? this.options.transientRetryMs ?? DEFAULT_TRANSIENT_RETRY_MS,
            stopped: halted,
            onError: (err, attempt, kind) => this.options.logger?.warn({ err, group: options.group, attempt, kind }, 'consumer handler failed'),
          });
        } catch (e) {
          // stopped or rebalancing mid-chunk: leave it uncommitted, the next owner gets it again
          if (halted()) break;
          throw e;
        }
        const last = chunk[chunk.length - 1]!.offset;
        p.resolveOffset(last);
        await p.commitOffsetsIfNecessary({
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
        });
        stats.handled += valid.length - (stats.deadLettered - deadBefore);
        stats.commits += 1;
        if (redriven.size > 0) {
          const ids = [...redriven.values()];
          this.options.logger?.info?.({ group: options.group, deadLetters: ids }, 're-driven dead letters handled');
          await this.dlq.resolved(ids).catch((err: unknown) => this.options.logger?.warn({ err, deadLetters: ids }, 'marking re-driven dead letters resolved failed'));
        }
      }
    } finally {
      clearInterval(beat);
    }
    // let kafkajs re-join the group
    if (rebalance !== undefined && !state.stopping) throw rebalance;
  }

  /** DLQ topic first (original bytes), then SQL; retried until done or the consumer stops. */
  private async recordDeadLetters(group: string, items: Array<{ source: SourceMessage; rejected: Rejected }>, halted: () => boolean): Promise<void> {
    const time = new Date().toISOString();
    // a dead letter lives outside the log, out of reach of erasure: no free text in it (see free-text.ts)
    items = items.map(({ source, rejected }) => ({
      source: { ...source, message: { ...source.message, value: deadLetterBytes(source.message.value) } },
      rejected: { ...rejected, message: { ...rejected.message, value: withoutFreeText(rejected.message.value) } },
    }));
    const records = items.map(({ source, rejected }) => {
      this.options.logger?.warn({ group, origin: rejected.message.origin }, 'message dead-lettered');
      const meta: DeadLetterMeta = { reason: rejected.reason, group, time };
      return { source, meta, record: deadLetterRecord(source, meta) };
    });
    await this.retrying(() => this.produceDeadLetters(records), halted, 'DLQ topic');
    const letters: NewDeadLetter[] = items.map(({ source, rejected: r }) => ({
      group,
      reason: r.reason,
      origin: r.message.origin,
      key: r.message.key === null ? null : r.message.key.slice(0, 1000),
      payload: sqlPayload(r.message.value, source.message.value),
      headers: r.message.headers,
      redriveOf: source.redrive?.id ?? null,
      // the bytes for a re-drive (the DLQ topic keeps the big ones)
      raw: (source.message.value?.length ?? 0) <= SQL_PAYLOAD_MAX ? { key: source.message.key ?? null, value: source.message.value ?? null } : undefined,
    }));
    await this.retrying(() => this.dlq.recordMany(letters), halted, 'DLQ table');
  }

  private async produceDeadLetters(records: Array<{ source: SourceMessage; meta: DeadLetterMeta; record: Message }>): Promise<void> {
    const producer = await this.connectedDlqProducer();
    const topic = this.topic(TOPICS.dlq);
    // requests of at most ~DLQ_RECORD_BUDGET, so that no partition's record batch exceeds the broker's limit
    for (const chunk of sendChunks(records.map((r) => ({ topic, message: r.record })), DLQ_RECORD_BUDGET)) {
      try {
        await producer.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
      } catch (e) {
        if (!kafkaErrorTypes(e).some((t) => REFUSED.has(t))) throw e;
        // refused for what one of them is: one by one, each with its own fallback
        const mine = new Set(chunk.topicMessages.flatMap((t) => t.messages));
        for (const r of records.filter((x) => mine.has(x.record))) await this.produceDeadLetter(producer, topic, r);
      }
    }
  }

  private async produceDeadLetter(producer: Producer, topic: string, r: { source: SourceMessage; meta: DeadLetterMeta; record: Message }): Promise<void> {
    try {
      await producer.send({ topic, acks: -1, messages: [r.record] });
    } catch (e) {
      if (!kafkaErrorTypes(e).some((t) => REFUSED.has(t))) throw e;
      // the DLQ topic allows less than the default; keep the reason and the pointer
      const { source } = r;
      this.options.logger?.warn({ err: e, origin: `${source.topic}/${source.partition}@${source.offset}` }, 'DLQ copy refused; sending key and headers only');
      await producer.send({ topic, acks: -1, messages: [minimalDeadLetterRecord(source, r.meta, (e as Error).message)] });
    }
  }

  private async retrying(fn: () => Promise<void>, halted: () => boolean, what: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (halted()) throw e;
        this.options.logger?.error({ err: e, attempt }, `writing to the ${what} failed; retrying`);
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt - 1, 5)));
      }
    }
  }

  private connectedDlqProducer(): Promise<Producer> {
    this.dlqProducer ??= (async () => {
      const p = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
      await p.connect();
      return p;
    })().catch((e: unknown) => {
      this.dlqProducer = undefined;
      throw e;
    });
    return this.dlqProducer;
  }

  deadLetters(filter?: DeadLetterFilter | string, limit?: number): Promise<DeadLetter[]> {
    return this.dlq.list(deadLetterFilter(filter, limit));
  }

  deadLetter(id: string): Promise<(DeadLetter & { redrives: Redrive[] }) | undefined> {
    return this.dlq.get(id);
  }

  /**
   * Publishes the dead letter's original key, value and headers to the
   * re-drive topic, addressed to its group (`dlq_group`), with the topic it
   * counts as coming from (`dlq_topic`) and `dlq_redrive_of`; then records the
   * re-drive. The group's member that owns the key's partition handles it.
   */
  async redrive(id: string, by: { actor: string; reason: string }): Promise<Redrive> {
    const letter = await this.dlq.get(id);
    if (!letter) throw new NotFoundError('dead letter', id);
    const raw = await this.dlq.raw(id);
    const origin = /^(.+)\/(\d+)@(\d+)$/.exec(letter.origin);
    if (!origin) throw new ConflictError('not_redrivable', `dead letter ${id} did not come from a Kafka topic (${letter.origin})`);
    if (!raw.kept) {
      throw new ConflictError('not_redrivable', `dead letter ${id} is too big to be kept in SQL; its bytes are on the DLQ topic (${TOPICS.dlq}), from ${letter.origin}`);
    }
    // a re-driven message that failed again still counts as coming from its first topic
    const topic = origin[1] === this.topic(REDRIVE_TOPIC) ? letter.headers.dlq_topic : origin[1];
    if (!topic) throw new ConflictError('not_redrivable', `dead letter ${id} names no original topic`);
    const headers: Record<string, Buffer | string> = {};
    for (const [name, value] of Object.entries(letter.headers)) {
      if (name.startsWith('dlq_')) continue;
      headers[name] = value.startsWith('base64:') ? Buffer.from(value.slice('base64:'.length), 'base64') : value;
    }
    Object.assign(headers, { dlq_redrive_of: id, dlq_group: letter.group, dlq_topic: topic });
    await this.publish([{ topic: REDRIVE_TOPIC, message: { key: raw.key, value: raw.value, headers } }]);
    const redrive = await this.dlq.recordRedrive(id, { by: by.actor, reason: by.reason, status: 'redriven' });
    this.options.logger?.info?.({ deadLetter: id, group: letter.group, origin: letter.origin, by: by.actor, reason: by.reason.slice(0, 300) }, 'dead letter re-driven');
    return redrive;
  }

  /** True when a broker answers a metadata request within 5 s. */
  async healthy(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const admin = await withTimeout(this.connectedAdmin(), 5000, 'admin connection timed out');
      const { brokers } = await withTimeout(admin.describeCluster(), 5000, 'describeCluster timed out');
      return brokers.length > 0;
    } catch {
      const a = this.admin;
      this.admin = undefined;
      void a?.then((x) => x.disconnect()).catch(() => undefined);
      return false;
    }
  }

  /** Stops consumers and relay, then disconnects the producers. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.relayInstance?.stop();
    const p = this.dlqProducer;
    this.dlqProducer = undefined;
    await p?.then((x) => x.disconnect()).catch(() => undefined);
    await this.publishing;
    const q = this.publishProducer;
    this.publishProducer = undefined;
    await q?.then((x) => x.disconnect()).catch(() => undefined);
    const a = this.admin;
    this.admin = undefined;
    await a?.then((x) => x.disconnect()).catch(() => undefined);
  }
}

/** The dead letter a message of the re-drive topic hands back to `group`, if it is addressed to it. */
function redriveOf(headers: KafkaMessage['headers'], group: string): { id: string; topic: string } | undefined {
  const h = headersAsText(headers);
  if (h.dlq_group !== group || !h.dlq_topic || !/^\d{1,18}$/.test(h.dlq_redrive_of ?? '')) return undefined;
  return { id: h.dlq_redrive_of!, topic: h.dlq_topic };
}

/** Origin, key and headers of a message, its value left to a consumer's parser. */
function plainIncoming(s: SourceMessage): Incoming {
  const m = s.message;
  const key = m.key == null ? null : (utf8Text(m.key) ?? `base64:${m.key.toString('base64')}`);
  return { origin: `${s.topic}/${s.partition}@${s.offset}`, key, value: undefined, headers: headersAsText(m.headers) };
}

function toIncoming(s: SourceMessage): Incoming {
  const m = s.message;
  const origin = `${s.topic}/${s.partition}@${s.offset}`;
  const key = m.key == null ? null : (utf8Text(m.key) ?? `base64:${m.key.toString('base64')}`);
  const headers = headersAsText(m.headers);
  const decoded = decodeCloudEvent(m);
  return typeof decoded === 'string' ? { origin, key, value: undefined, headers, decodeError: decoded } : { origin, key, value: decoded, headers };
}

/** What createKafkaBus reads of the service configuration (BaseConfig of @onestop/kit). */
export interface KafkaBusConfig {
  KAFKA_BROKERS?: string[];
  KAFKA_CLIENT_ID: string;
  KAFKA_PARTITIONS: number;
  /** how long transient handler failures are retried before dead-lettering (ms) */
  ONESTOP_TRANSIENT_RETRY_MS?: number;
  /** the PostgreSQL where relays take their advisory lock */
  DATABASE_URL?: string;
}

/**
 * The Kafka bus as `openInfrastructure` wants it (AdapterFactories.kafkaBus):
 * dead-letter table, internal topics, and the relay (on stand-by unless this
 * process holds the relay lock).
 */
export async function createKafkaBus(
  ctx: { config: KafkaBusConfig; store: EventStore; db: SqlDriver; logger?: BusLogger },
  options: { topicPrefix?: string; groupPrefix?: string; relay?: boolean } = {},
): Promise<KafkaBus> {
  const { config } = ctx;
  if (!config.KAFKA_BROKERS?.length) throw new Error('KAFKA_BROKERS is required for the Kafka bus');
  const bus = new KafkaBus({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    partitions: config.KAFKA_PARTITIONS,
    transientRetryMs: config.ONESTOP_TRANSIENT_RETRY_MS,
    db: ctx.db,
    logger: ctx.logger,
    topicPrefix: options.topicPrefix,
    groupPrefix: options.groupPrefix,
  });
  await bus.migrate();
  await bus.ensureTopics();
  if (options.relay !== false) {
    if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required for the Kafka relay lock');
    bus.startRelay(ctx.store, { lockConnectionString: config.DATABASE_URL });
  }
  return bus;
}
