// One run of the benchmarks: PostgreSQL and Kafka found or started, the
// benchmarks run in order within the deadline, the report written.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { appendBenchmark } from './benchmarks/append.js';
import { catchUpBenchmark } from './benchmarks/catch-up.js';
import { e2eBenchmark } from './benchmarks/e2e.js';
import { projectionsBenchmark } from './benchmarks/projections.js';
import { rebuildBenchmark } from './benchmarks/rebuild.js';
import { relayBenchmark } from './benchmarks/relay.js';
import { replayBenchmark } from './benchmarks/replay.js';
import { verifiableLogBenchmark } from './benchmarks/verifiable-log.js';
import { consoleBenchmark } from './benchmarks/console.js';
import {
  REPO_ROOT,
  machineInfo,
  startKafka,
  usePostgres,
  type BenchKafka,
  type Scale,
} from './env.js';
import { runBenchmarks, type Benchmark } from './harness.js';
import { writeReport, type RunReport } from './report.js';
import { evaluateTargets } from './targets.js';

/**
 * Every benchmark, in the order they run (the report numbers them in the order
 * of the issue). The rebuild comes before the end-to-end run: it is the longest,
 * and the end-to-end run can be shortened by the deadline where a killed
 * rebuild would measure nothing.
 */
export const ALL_BENCHMARKS: readonly Benchmark[] = [
  appendBenchmark,
  catchUpBenchmark,
  relayBenchmark,
  projectionsBenchmark,
  rebuildBenchmark,
  e2eBenchmark,
  replayBenchmark,
  verifiableLogBenchmark,
  consoleBenchmark,
];

export interface BenchRunOptions {
  scale: Scale;
  /** ids of the benchmarks to run (default all) */
  only?: readonly string[];
  markdownPath?: string;
  jsonPath?: string;
  log?: (message: string) => void;
}

export async function runBench(options: BenchRunOptions): Promise<RunReport> {
  const started = Date.now();
  const deadline = started + options.scale.deadlineMs;
  const log = options.log ?? ((m: string) => console.log(m));
  const pg = await usePostgres();
  const machine = await machineInfo(pg.url);
  log(
    `bench: scale ${options.scale.name}, deadline ${(options.scale.deadlineMs / 60_000).toFixed(1)} min, load average ${machine.loadAverageStart.join(' ')}`,
  );
  const unknown = (options.only ?? []).filter((id) => !ALL_BENCHMARKS.some((b) => b.id === id));
  if (unknown.length)
    throw new Error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL_BENCHMARKS.map((b) => b.id).join(', ')}`,
    );
  const benchmarks = options.only?.length
    ? ALL_BENCHMARKS.filter((b) => options.only!.includes(b.id))
    : ALL_BENCHMARKS;
  let kafka: BenchKafka | undefined;
  let report: RunReport;
  try {
    const run = await runBenchmarks({
      scale: options.scale,
      benchmarks,
      deadline,
      log,
      kafka: async () => {
        kafka = await startKafka(log);
        machine.kafka = `Apache Kafka ${kafka.version}: ${kafka.description}`;
        return kafka;
      },
    });
    machine.loadAverageEnd = loadavg().map((x) => Math.round(x * 100) / 100) as [
      number,
      number,
      number,
    ];
    const finished = Date.now();
    const notes: string[] = [];
    if (machine.loadAverageStart[0] > machine.cores * 0.5) {
      notes.push(
        `The machine was busy when this run started (load average ${machine.loadAverageStart[0]} on ${machine.cores} cores): other work shared the CPUs with PostgreSQL, Kafka and the bench, so absolute figures are lower and noisier than on a quiet machine. The ratios, measured interleaved in the same run, are the steadier figures.`,
      );
    }
    report = {
      scale: options.scale,
      machine,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      deadlineMs: options.scale.deadlineMs,
      results: run.results,
      targets: evaluateTargets(run.results),
      notes,
    };
  } finally {
    await (kafka as BenchKafka | undefined)?.release();
    await pg.stop?.();
  }
  writeReport(report, {
    markdown: options.markdownPath ?? join(REPO_ROOT, 'BENCHMARKS.md'),
    json: options.jsonPath ?? join(REPO_ROOT, 'bench', 'results.json'),
  });
  return report;
}
