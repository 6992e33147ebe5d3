import { Kafka, logLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import type { BusLogger } from '../embedded.js';

/**
 * Routes kafkajs logs through the service logger, all at WARN: kafkajs reports
 * transient states (the group coordinator loading after a broker start, a
 * rebalance, a broker restart) as ERROR although it retries them itself. Real
 * failures surface as errors of the bus (relay, consumer, DLQ) instead.
 */
export function kafkaLogCreator(logger?: BusLogger): logCreator {
  return () =>
    ({ namespace, label, log }) => {
      if (!logger) return;
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      // The relay retries failed sends itself, with a fresh producer (at-least-once,
      // DESIGN §1), so kafkajs's bounded-retries caveat about exactly-once does not apply.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      logger.warn({ kafkajs: namespace, kafkajsLevel: label, ...extra }, `kafkajs: ${message}`);
    };
}

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger?: BusLogger;
  /** anything else of kafkajs' client config (ssl, sasl, timeouts) */
  config?: Partial<KafkaConfig>;
}

/** The kafkajs client of the bus: WARN-level logs through the service logger. */
export function createKafkaClient(options: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.logger),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 300, retries: 6, maxRetryTime: 5000 },
    ...options.config,
  });
}

/** The kafkajs protocol error types along an error's cause chain (kafkajs wraps them when it gives up). */
export function kafkaErrorTypes(e: unknown): string[] {
  const types: string[] = [];
  for (let x = e as { type?: string; cause?: unknown } | undefined, depth = 0; x && depth < 10; x = x.cause as typeof x, depth++) {
    if (typeof x.type === 'string') types.push(x.type);
  }
  return types;
}

/** Rejects with `message` when `p` has not settled within `ms` (the timer does not outlive it). */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
