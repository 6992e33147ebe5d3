// `npm run bench`: every benchmark against the local PostgreSQL and Kafka, in
// one go, within 15 minutes; writes bench/BENCHMARKS.md and bench/results.json.
//
//   BENCH_SCALE=smoke|small|full   how much work (default full)
//   BENCH_ONLY=append,catch-up     run only these benchmarks
//   BENCH_DEADLINE_S=840           global deadline in seconds (default per scale)
//   BENCH_REPORT, BENCH_RESULTS    where to write the report and the JSON
//   BENCH_KAFKA_PORT=19392         port of the bench's own infra/kafka broker (KAFKA_BROKERS: use that cluster)
//   BENCH_KEEP_KAFKA=1             leave the broker running afterwards
//   BENCH_EXPERIMENTS=1            add the opt-in experiments (see src/experiments.ts)
//   BENCH_CPU_PROF_DIR=dir         --cpu-prof the child processes (rebuild worker, e2e service) into dir
//   BENCH_DEBUG=1                  print stack traces of failures
import { resolve } from 'node:path';
import { scaleFromEnv } from './env.js';
import { fmtNum } from './harness.js';
import { runBench } from './run.js';

const scale = scaleFromEnv();
const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const started = Date.now();
const log = (m: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`);

try {
  const report = await runBench({
    scale,
    only,
    ...(process.env.BENCH_REPORT ? { markdownPath: resolve(process.env.BENCH_REPORT) } : {}),
    ...(process.env.BENCH_RESULTS ? { jsonPath: resolve(process.env.BENCH_RESULTS) } : {}),
    log,
  });
  console.log('\n| target | measured | met |\n| --- | --- | --- |');
  for (const t of report.targets)
    console.log(`| ${t.target} | ${t.measured} | ${t.met ? 'yes' : 'no'} |`);
  console.log(
    `\n${fmtNum(report.durationMs / 1000)} s in total; report in ${process.env.BENCH_REPORT ?? 'BENCHMARKS.md'}`,
  );
  // kafkajs and pg may keep sockets half-closed for a while: the run is over
  process.exit(0);
} catch (e) {
  console.error('bench failed:', e);
  process.exit(1);
}
