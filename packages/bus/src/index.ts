export * from './port.js';
export { EmbeddedBus, type BusLogger, type EmbeddedBusOptions } from './embedded.js';
export { SqlDeadLetters, type DeadLetterFilter } from './dead-letters.js';
export {
  BACKOFF_FIRST_MS,
  BACKOFF_MAX_MS,
  DEFAULT_TRANSIENT_RETRY_MS,
  classifyFailure,
  handleWithRetries,
  isPermanent,
  validateBatch,
  type FailureKind,
  type Incoming,
  type Rejected,
  type RetryOptions,
} from './handling.js';
export { dataSchemaUri, decodeCloudEvent, encodeCloudEvent, headersAsText, type KafkaMessageIn } from './kafka/cloudevents.js';
export { createKafkaClient, kafkaLogCreator, type KafkaClientOptions } from './kafka/client.js';
export { REDRIVE_TOPIC, ensureTopics, internalTopics, retentionConfigs, type EnsureTopicsOptions, type TopicRequest, type TopicSpec } from './kafka/topics.js';
export {
  KafkaRelay,
  internalTopicsOutput,
  type KafkaRelayOptions,
  type Outgoing,
  type RelayOutput,
  type RelayStats,
} from './kafka/relay.js';
export { DLQ_RECORD_BUDGET, type DeadLetterMeta, type SourceMessage } from './kafka/dead-letter-queue.js';
export {
  KafkaBus,
  createKafkaBus,
  type ConsumerStats,
  type KafkaBusConfig,
  type KafkaBusOptions,
  type KafkaMessageConsumer,
  type KafkaRunningConsumer,
} from './kafka/kafka-bus.js';
export { jsonValue, type ConsumeMessagesOptions, type Parsed, type ReceivedMessage, type TopicSelection } from './kafka/messages.js';
export { busTracer, contextOfTraceparent, endSpan, traceparentOf, tracedHandler, withEventSpans, type EventSpan } from './tracing.js';
export * from './free-text.js';
