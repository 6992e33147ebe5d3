export * from './port.js';
export { EmbeddedBus, type BusLogger } from './embedded.js';
export { SqlDeadLetters } from './dead-letters.js';
export { handleWithRetries, isPermanent, validateBatch, type Incoming, type Rejected } from './handling.js';
export { dataSchemaUri, decodeCloudEvent, encodeCloudEvent, headersAsText, type KafkaMessageIn } from './kafka/cloudevents.js';
export { createKafkaClient, kafkaLogCreator, type KafkaClientOptions } from './kafka/client.js';
export { ensureTopics, internalTopics, type EnsureTopicsOptions } from './kafka/topics.js';
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
