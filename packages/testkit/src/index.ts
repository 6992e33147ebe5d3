export {
  REPO_ROOT,
  createTestDatabase,
  dockerAvailable,
  kafkaControl,
  resolvePostgres,
  testKafkaBrokers,
  type TestDatabase,
} from './env.js';
