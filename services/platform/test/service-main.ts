// One OneStop service as its own process, for the multi-process tests
// (topology.ts). It is services/<service>/src/main.ts — startServices(name,
// [module()]) on the configuration from the environment — with one test-only
// difference: the Kafka bus prefixes its topics and consumer groups with
// ONESTOP_TEST_KAFKA_PREFIX, so that a test run on the shared test broker has a
// namespace of its own (the product's configuration has no such variable).
//
// The SLA tests need two controls that the product's configuration does not
// have yet: ONESTOP_SLA_INTERVAL_MS (how often the SLA watcher runs) and
// ONESTOP_CLOCK_OFFSET_MS (the process clock runs this far ahead). While
// BaseConfigSchema does not know them, this entry applies them itself through
// the options the product already takes (referralModule({ slaIntervalMs }),
// startServices(…, { clock })), and says so on stderr. Once the configuration
// has them, it leaves them to the product.
import { createKafkaBus } from '@onestop/bus';
import { assessmentModule } from '@onestop/assessment';
import { intakeModule } from '@onestop/intake';
import { BaseConfigSchema, startServices, type Clock, type ServiceModule } from '@onestop/kit';
import { projectionsModule } from '@onestop/projections';
import { referralModule } from '@onestop/referral';

const service = process.env.ONESTOP_TEST_SERVICE;
const prefix = process.env.ONESTOP_TEST_KAFKA_PREFIX ?? '';
const known = BaseConfigSchema.shape as Record<string, unknown>;
const productHas = (name: string) => name in known;

const slaIntervalMs =
  process.env.ONESTOP_SLA_INTERVAL_MS && !productHas('ONESTOP_SLA_INTERVAL_MS') ? Number(process.env.ONESTOP_SLA_INTERVAL_MS) : undefined;
const clockOffsetMs =
  process.env.ONESTOP_CLOCK_OFFSET_MS && !productHas('ONESTOP_CLOCK_OFFSET_MS') ? Number(process.env.ONESTOP_CLOCK_OFFSET_MS) : undefined;
if (slaIntervalMs !== undefined || clockOffsetMs !== undefined) {
  process.stderr.write(
    `service-main: the product configuration lacks ${[
      slaIntervalMs !== undefined ? 'ONESTOP_SLA_INTERVAL_MS' : '',
      clockOffsetMs !== undefined ? 'ONESTOP_CLOCK_OFFSET_MS' : '',
    ]
      .filter(Boolean)
      .join(' and ')}; the test entry applies them itself\n`,
  );
}
const clock: Clock | undefined = clockOffsetMs ? { now: () => new Date(Date.now() + clockOffsetMs) } : undefined;

const modules: Record<string, () => ServiceModule> = {
  intake: () => intakeModule(),
  assessment: () => assessmentModule(),
  referral: () => referralModule(slaIntervalMs !== undefined ? { slaIntervalMs } : {}),
  projections: () => projectionsModule(),
};
const make = service ? modules[service] : undefined;
if (!make) {
  process.stderr.write(`service-main: ONESTOP_TEST_SERVICE must be one of ${Object.keys(modules).join(', ')} (got ${service})\n`);
  process.exit(2);
}

await startServices(service!, [make()], {
  adapters: { kafkaBus: (ctx) => createKafkaBus(ctx, { topicPrefix: prefix, groupPrefix: prefix }) },
  ...(clock ? { clock } : {}),
});
