// Child process of the end-to-end benchmark: intake and projections as one
// service process on PostgreSQL and the real Kafka broker (relay included),
// configured from the environment like `npm run start:*`, on a port of its own;
// topics under BENCH_TOPIC_PREFIX so that every run starts on empty topics.
import { createKafkaBus } from '@onestop/bus';
import { intakeModule } from '@onestop/intake';
import { startServices } from '@onestop/kit';
import { projectionsModule } from '@onestop/projections';

export type E2eServiceMessage =
  { kind: 'ready'; address: string } | { kind: 'error'; message: string };

const prefix = process.env.BENCH_TOPIC_PREFIX ?? '';
try {
  const { address } = await startServices('bench-e2e', [intakeModule(), projectionsModule()], {
    adapters: { kafkaBus: (ctx) => createKafkaBus(ctx, { topicPrefix: prefix }) },
  });
  process.send?.({ kind: 'ready', address } satisfies E2eServiceMessage);
} catch (e) {
  process.send?.({
    kind: 'error',
    message: e instanceof Error ? (e.stack ?? e.message) : String(e),
  } satisfies E2eServiceMessage);
  process.exit(1);
}
