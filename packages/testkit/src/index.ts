export {
  REPO_ROOT,
  createTestDatabase,
  dockerAvailable,
  kafkaControl,
  resolvePostgres,
  testKafkaBrokers,
  type TestDatabase,
} from './env.js';
export { deciderSpec } from './decider-spec.js';
export { eventually } from './eventually.js';
export { readTopicToEnd } from './kafka.js';
export { validateFhir, type FhirValidation, type FhirFinding } from './fhir-validator.js';
export { CHROMIUM, launchTestBrowser } from './browser.js';
