import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaConfig, type Message, type Producer } from 'kafkajs';
import { TOPICS } from '@onestop/events';
import type { EventStore, SqlDriver } from '@onestop/eventstore';
import { SqlDeadLetters } from '../dead-letters.js';
import type { BusLogger } from '../embedded.js';
import { handleWithRetries, validateBatch, type Incoming, type Rejected } from '../handling.js';
import type { ConsumeOptions, DeadLetter, EventBus, RunningConsumer } from '../port.js';
import { createKafkaClient, kafkaErrorTypes, withTimeout } from './client.js';
import { decodeCloudEvent, headersAsText, utf8Text } from './cloudevents.js';
import { DLQ_RECORD_BUDGET, deadLetterRecord, minimalDeadLetterRecord, sqlPayload, type DeadLetterMeta, type SourceMessage } from './dead-letter-queue.js';
import { internalTopicsOutput, KafkaRelay, sendChunks, type KafkaRelayOptions, type RelayOutput } from './relay.js';
import { ensureTopics, internalTopics } from './topics.js';

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
  /** partitions of the topics ensureTopics creates (default 6) */
  partitions?: number;
  /** replication factor of created topics (default -1: the broker's default) */
  replicationFactor?: number;
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
}

export interface KafkaRunningConsumer extends RunningConsumer {
  readonly stats: ConsumerStats;
  /** resolves once the consumer has joined its group and been given partitions */
  joined(timeoutMs?: number): Promise<void>;
}

interface ConsumerState {
  options: ConsumeOptions;
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
    if (this.closed) throw new Error('the bus is closed');
    const state: ConsumerState = { options, stopping: false, stats: { handled: 0, deadLettered: 0, commits: 0, restarts: 0 } };
    let consumer: Consumer | undefined;
    let restartTimer: NodeJS.Timeout | undefined;
    let hasJoined = false;
    const topics = options.topics.map((t) => this.topic(t));
    const c = this.options.consumer ?? {};

    const start = async (): Promise<void> => {
      const k = this.kafka.consumer({
        groupId: options.group,
        sessionTimeout: c.sessionTimeout ?? 30_000,
        heartbeatInterval: c.heartbeatInterval ?? 3000,
        maxWaitTimeInMs: c.maxWaitTimeInMs ?? 1000,
        allowAutoTopicCreation: false,
        retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 },
      });
      consumer = k;
      k.on(k.events.GROUP_JOIN, () => {
        hasJoined = true;
      });
      k.on(k.events.CRASH, ({ payload }) => {
        // kafkajs restarts after retriable failures itself; for the rest we do
        if (payload.restart || state.stopping) return;
        this.options.logger?.error({ err: payload.error, group: options.group }, 'Kafka consumer crashed; restarting');
        scheduleRestart(2000);
      });
      await k.connect();
      await k.subscribe({ topics, fromBeginning: true });
      await k.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.eachBatch(p, state) });
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
            this.options.logger?.warn({ err, group: options.group }, 'Kafka consumer restart failed; trying again');
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
    const running: KafkaRunningConsumer = {
      group: options.group,
      stats: state.stats,
      joined: async (timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!hasJoined) {
          if (Date.now() > deadline) throw new Error(`consumer ${options.group} did not join within ${timeoutMs} ms`);
          await sleep(50);
        }
      },
      stop: async () => {
        state.stopping = true;
        clearTimeout(restartTimer);
        this.consumers.delete(running);
        // waits for the batch in hand; uncommitted messages go to the next member
        await consumer?.disconnect().catch(() => undefined);
      },
    };
    this.consumers.add(running);
    return running;
  }

  /**
   * One fetched batch of one partition, in chunks of `batchSize`: decode,
   * validate, dead-letter the invalid, handle the rest with retries, then
   * commit the chunk's offsets. Nothing is committed that was not handled or
   * dead-lettered.
   */
  private async eachBatch(p: EachBatchPayload, state: ConsumerState): Promise<void> {
    const { batch } = p;
    const { options, stats } = state;
    const size = options.batchSize ?? 500;
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
        const incoming = chunk.map((message) => {
          const source: SourceMessage = { topic: batch.topic, partition: batch.partition, offset: message.offset, message };
          const inc = toIncoming(source);
          sources.set(inc, source);
          return inc;
        });
        const deadLetter = async (rs: Rejected[]) => {
          await this.deadLetter(
            options.group,
            rs.map((r) => ({ source: sources.get(r.message)!, rejected: r })),
            halted,
          );
          stats.deadLettered += rs.length;
        };
        const { valid, rejected } = validateBatch(incoming);
        const deadBefore = stats.deadLettered + rejected.length;
        try {
          if (rejected.length > 0) await deadLetter(rejected);
          await handleWithRetries(valid, options.handle, (r) => deadLetter([r]), {
            maxAttempts: options.maxAttempts ?? 8,
            stopped: halted,
            onError: (err, attempt) => this.options.logger?.warn({ err, group: options.group, attempt }, 'consumer handler failed; retrying'),
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
      }
    } finally {
      clearInterval(beat);
    }
    // let kafkajs re-join the group
    if (rebalance !== undefined && !state.stopping) throw rebalance;
  }

  /** DLQ topic first (original bytes), then SQL; retried until done or the consumer stops. */
  private async deadLetter(group: string, items: Array<{ source: SourceMessage; rejected: Rejected }>, halted: () => boolean): Promise<void> {
    const time = new Date().toISOString();
    const records = items.map(({ source, rejected }) => {
      this.options.logger?.warn({ group, origin: rejected.message.origin, reason: rejected.reason.slice(0, 300) }, 'message dead-lettered');
      const meta: DeadLetterMeta = { reason: rejected.reason, group, time };
      return { source, meta, record: deadLetterRecord(source, meta) };
    });
    await this.retrying(() => this.produceDeadLetters(records), halted, 'DLQ topic');
    const letters: DeadLetter[] = items.map(({ source, rejected: r }) => ({
      group,
      reason: r.reason,
      origin: r.message.origin,
      key: r.message.key === null ? null : r.message.key.slice(0, 1000),
      payload: sqlPayload(r.message.value, source.message.value),
      headers: r.message.headers,
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

  deadLetters(group?: string, limit?: number): Promise<DeadLetter[]> {
    return this.dlq.list(group, limit);
  }

  /** True when a broker answers a metadata request within 5 s. */
  async healthy(): Promise<boolean> {
    if (this.closed) return false;
    try {
      this.admin ??= (async () => {
        const a = this.kafka.admin();
        await a.connect();
        return a;
      })();
      const admin = await withTimeout(this.admin, 5000, 'admin connection timed out');
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
    const a = this.admin;
    this.admin = undefined;
    await a?.then((x) => x.disconnect()).catch(() => undefined);
  }
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
  options: { topicPrefix?: string; relay?: boolean } = {},
): Promise<KafkaBus> {
  const { config } = ctx;
  if (!config.KAFKA_BROKERS?.length) throw new Error('KAFKA_BROKERS is required for the Kafka bus');
  const bus = new KafkaBus({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    partitions: config.KAFKA_PARTITIONS,
    db: ctx.db,
    logger: ctx.logger,
    topicPrefix: options.topicPrefix,
  });
  await bus.migrate();
  await bus.ensureTopics();
  if (options.relay !== false) {
    if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required for the Kafka relay lock');
    bus.startRelay(ctx.store, { lockConnectionString: config.DATABASE_URL });
  }
  return bus;
}
