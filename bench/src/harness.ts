// The benchmark harness: each benchmark declares its subject (OneStop) and
// its baselines; the harness runs them interleaved in one process (warm-up,
// then rounds that alternate which variant goes first), so that machine noise
// (other processes, autovacuum, checkpoints, CPU frequency) falls on all of
// them alike, and aggregates events/s, latency percentiles and ratios. A
// global deadline bounds the whole run.
import { randomBytes } from 'node:crypto';
import type { BenchKafka, Scale, TestDatabase } from './env.js';
import { createTestDatabase } from './env.js';

/** subject: what is measured; baseline: what it is compared with; reference: context (no ratio is computed against it) */
export type Role = 'subject' | 'baseline' | 'reference';

export interface RoundInfo {
  /** 0-based, warm-up rounds included */
  round: number;
  warmup: boolean;
  /** epoch ms this round must not run past (the benchmark's share of the global deadline) */
  deadline: number;
}

export interface RoundResult {
  /** units of work done in the measured part (events, commands, replays) */
  events: number;
  /** wall time of the measured part */
  durationMs: number;
  /** one latency per operation, ms */
  latenciesMs?: number[];
  /** other figures of this round (peak RSS, errors, a second latency series' percentiles…) */
  extra?: Record<string, number>;
}

export interface Variant {
  /** short id the targets refer to, e.g. `onestop`, `raw`, `emmett` */
  id: string;
  /** what the tables show */
  name: string;
  role: Role;
  /** one line: what exactly it does */
  description: string;
  run(info: RoundInfo): Promise<RoundResult>;
}

export type Aggregate = 'max' | 'min' | 'mean' | 'sum' | 'last';

export interface CaseSpec {
  id: string;
  title: string;
  /** throughput: events/s is the headline and ratios are of events/s; latency: p50 is, and ratios are of p50 */
  primary?: 'throughput' | 'latency';
  /** what one `event` is, for the tables (default `events`) */
  unit?: string;
  variants: Variant[];
  rounds?: number;
  warmupRounds?: number;
  /** how each `extra` figure is combined over rounds (default mean) */
  aggregate?: Record<string, Aggregate>;
  /** labels of `extra` figures for the tables: key → column heading */
  extraColumns?: Record<string, string>;
}

export interface Prepared {
  cases: CaseSpec[];
  /** facts about the set-up for the report (fixture sizes, pool sizes…) */
  info?: Record<string, string | number>;
  notes?: string[];
  teardown(): Promise<void>;
}

export interface BenchContext {
  scale: Scale;
  kafka?: BenchKafka;
  runId: string;
  log(message: string): void;
  /** epoch ms by which this benchmark must be done */
  deadline: number;
  /** a fresh database of the local PostgreSQL (dropped after the benchmark) */
  database(label: string): Promise<TestDatabase>;
}

export interface Benchmark {
  id: string;
  title: string;
  /** markdown: what is measured and how */
  method: string;
  needsKafka?: boolean;
  /** the time it is planned to take at a scale, and the least it can do anything useful with (ms) */
  budget(scale: Scale): { plannedMs: number; minMs: number };
  prepare(ctx: BenchContext): Promise<Prepared>;
}

// ── Results ───────────────────────────────────────────────────────────────────
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface RoundRecord {
  round: number;
  warmup: boolean;
  events: number;
  durationMs: number;
  eventsPerSec: number;
  latency?: LatencySummary;
  extra?: Record<string, number>;
}

export interface VariantResult {
  id: string;
  name: string;
  role: Role;
  description: string;
  /** measured rounds (warm-up excluded) */
  rounds: number;
  events: number;
  durationMs: number;
  /** all measured events over all measured time */
  eventsPerSec: number;
  /** events/s of the measured rounds: median, min, max */
  roundRates: { median: number; min: number; max: number };
  latency?: LatencySummary;
  extra: Record<string, number>;
  error?: string;
  history: RoundRecord[];
}

export interface RatioResult {
  subject: string;
  baseline: string;
  /** throughput: subject events/s ÷ baseline events/s; latency: subject p50 ÷ baseline p50 */
  ratio: number;
  /** the same ratio round by round (variants of one round ran back to back): min and max */
  roundMin: number;
  roundMax: number;
}

export interface CaseResult {
  id: string;
  title: string;
  primary: 'throughput' | 'latency';
  unit: string;
  variants: VariantResult[];
  ratios: RatioResult[];
  extraColumns: Record<string, string>;
  /** why fewer rounds than planned ran */
  stoppedEarly?: string;
}

export interface BenchmarkResult {
  id: string;
  title: string;
  method: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  durationMs: number;
  info: Record<string, string | number>;
  notes: string[];
  cases: CaseResult[];
}

// ── Statistics ────────────────────────────────────────────────────────────────
/** Nearest-rank percentile of a sorted array (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarise(latencies: readonly number[]): LatencySummary | undefined {
  if (latencies.length === 0) return undefined;
  const sorted = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  const arr = Array.from(sorted);
  return {
    count: arr.length,
    p50: percentile(arr, 0.5),
    p90: percentile(arr, 0.9),
    p99: percentile(arr, 0.99),
    max: arr[arr.length - 1]!,
    mean: sum / arr.length,
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function combine(values: number[], how: Aggregate): number {
  switch (how) {
    case 'max':
      return Math.max(...values);
    case 'min':
      return Math.min(...values);
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'last':
      return values[values.length - 1]!;
    default:
      return values.reduce((a, b) => a + b, 0) / values.length;
  }
}

/** Variants in the order of round `r`: rotated, so each goes first equally often. */
export function rotation<T>(items: readonly T[], r: number): T[] {
  const k = items.length === 0 ? 0 : r % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ── Running ───────────────────────────────────────────────────────────────────
const now = () => Date.now();

/**
 * Runs one case: warm-up rounds (discarded), then measured rounds in rotated
 * order, until the rounds are done or the deadline would be passed (at least
 * one measured round of every variant is always attempted while time remains).
 */
export async function runCase(
  spec: CaseSpec,
  scale: Scale,
  deadline: number,
  log: (m: string) => void,
): Promise<CaseResult> {
  const warm = spec.warmupRounds ?? scale.warmupRounds;
  const rounds = spec.rounds ?? scale.rounds;
  const history = new Map<string, RoundRecord[]>(spec.variants.map((v) => [v.id, []]));
  const failed = new Map<string, string>();
  /** raw latency samples of the measured rounds: the percentiles reported are those of every measured operation */
  const samples = new Map<string, number[]>(spec.variants.map((v) => [v.id, []]));
  const longest = new Map<string, number>();
  let stoppedEarly: string | undefined;
  for (let r = 0; r < warm + rounds; r++) {
    const warmup = r < warm;
    const order = rotation(spec.variants, r).filter((v) => !failed.has(v.id));
    if (order.length === 0) break;
    const estimate = order.reduce((s, v) => s + (longest.get(v.id) ?? 0), 0);
    if (now() + estimate > deadline) {
      if (warmup) continue; // no time to warm up: measure straight away
      const measured = [...history.values()].some((h) => h.some((x) => !x.warmup));
      if (measured) {
        stoppedEarly = `deadline: ${r - warm} of ${rounds} measured rounds ran`;
        break;
      }
    }
    for (const v of order) {
      if (now() > deadline && [...history.values()].some((h) => h.some((x) => !x.warmup))) {
        stoppedEarly = `deadline: round ${r - warm + 1} of ${rounds} incomplete`;
        break;
      }
      const started = now();
      try {
        const res = await v.run({ round: r, warmup, deadline });
        const latency = res.latenciesMs ? summarise(res.latenciesMs) : undefined;
        if (!warmup && res.latenciesMs) {
          const pool = samples.get(v.id)!;
          for (const x of res.latenciesMs) pool.push(x);
        }
        history.get(v.id)!.push({
          round: r,
          warmup,
          events: res.events,
          durationMs: res.durationMs,
          eventsPerSec: res.durationMs > 0 ? (res.events * 1000) / res.durationMs : 0,
          ...(latency ? { latency } : {}),
          ...(res.extra ? { extra: res.extra } : {}),
        });
        const rec = history.get(v.id)!.at(-1)!;
        log(
          `  ${spec.id} ${warmup ? 'warm-up' : `round ${r - warm + 1}/${rounds}`} ${v.name}: ${fmtNum(rec.eventsPerSec)} ${spec.unit ?? 'events'}/s` +
            (latency ? `, p50 ${fmtMs(latency.p50)} p99 ${fmtMs(latency.p99)}` : ''),
        );
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        failed.set(v.id, message);
        log(`  ${spec.id} ${v.name} FAILED: ${message}`);
        if (process.env.BENCH_DEBUG) console.error(e);
      }
      longest.set(v.id, Math.max(longest.get(v.id) ?? 0, now() - started));
    }
    if (stoppedEarly) break;
  }

  const variants: VariantResult[] = spec.variants.map((v) => {
    const all = history.get(v.id)!;
    const measured = all.filter((x) => !x.warmup);
    const events = measured.reduce((s, x) => s + x.events, 0);
    const durationMs = measured.reduce((s, x) => s + x.durationMs, 0);
    const rates = measured.map((x) => x.eventsPerSec);
    const latency = summarise(samples.get(v.id)!);
    const extra: Record<string, number> = {};
    const keys = new Set(measured.flatMap((x) => Object.keys(x.extra ?? {})));
    for (const k of keys) {
      const values = measured
        .map((x) => x.extra?.[k])
        .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      if (values.length) extra[k] = combine(values, spec.aggregate?.[k] ?? 'mean');
    }
    return {
      id: v.id,
      name: v.name,
      role: v.role,
      description: v.description,
      rounds: measured.length,
      events,
      durationMs,
      eventsPerSec: durationMs > 0 ? (events * 1000) / durationMs : 0,
      roundRates: {
        median: median(rates),
        min: rates.length ? Math.min(...rates) : Number.NaN,
        max: rates.length ? Math.max(...rates) : Number.NaN,
      },
      ...(latency ? { latency } : {}),
      ...(failed.has(v.id) ? { error: failed.get(v.id)! } : {}),
      extra,
      history: all,
    };
  });
  return finishCase(spec, variants, stoppedEarly);
}

function finishCase(
  spec: CaseSpec,
  variants: VariantResult[],
  stoppedEarly: string | undefined,
): CaseResult {
  const primary = spec.primary ?? 'throughput';
  const value = (x: VariantResult) =>
    primary === 'throughput' ? x.eventsPerSec : (x.latency?.p50 ?? Number.NaN);
  const roundValue = (x: RoundRecord) =>
    primary === 'throughput' ? x.eventsPerSec : (x.latency?.p50 ?? Number.NaN);
  const ratios: RatioResult[] = [];
  for (const s of variants.filter((v) => v.role === 'subject' && v.rounds > 0)) {
    for (const b of variants.filter((v) => v.role === 'baseline' && v.rounds > 0)) {
      const perRound: number[] = [];
      for (const sr of s.history.filter((x) => !x.warmup)) {
        const br = b.history.find((x) => x.round === sr.round);
        if (br) perRound.push(roundValue(sr) / roundValue(br));
      }
      const finite = perRound.filter(Number.isFinite);
      ratios.push({
        subject: s.id,
        baseline: b.id,
        ratio: value(s) / value(b),
        roundMin: finite.length ? Math.min(...finite) : Number.NaN,
        roundMax: finite.length ? Math.max(...finite) : Number.NaN,
      });
    }
  }
  return {
    id: spec.id,
    title: spec.title,
    primary,
    unit: spec.unit ?? 'events',
    variants,
    ratios,
    extraColumns: spec.extraColumns ?? {},
    ...(stoppedEarly ? { stoppedEarly } : {}),
  };
}

export interface RunOptions {
  scale: Scale;
  benchmarks: readonly Benchmark[];
  kafka?: () => Promise<BenchKafka>;
  log?: (message: string) => void;
  /** epoch ms: the whole run ends by then */
  deadline: number;
}

/** Runs the benchmarks in order, each within its share of the remaining time; never throws for one benchmark. */
export async function runBenchmarks(
  options: RunOptions,
): Promise<{ results: BenchmarkResult[]; kafka?: BenchKafka }> {
  const log = options.log ?? ((m: string) => console.log(m));
  const runId = randomBytes(4).toString('hex');
  const results: BenchmarkResult[] = [];
  let kafka: BenchKafka | undefined;
  let kafkaError: string | undefined;
  const { benchmarks, scale } = options;
  for (const [i, b] of benchmarks.entries()) {
    const started = now();
    const result: BenchmarkResult = {
      id: b.id,
      title: b.title,
      method: b.method,
      status: 'ok',
      durationMs: 0,
      info: {},
      notes: [],
      cases: [],
    };
    results.push(result);
    const reserve = benchmarks.slice(i + 1).reduce((s, x) => s + x.budget(scale).minMs, 0);
    const { plannedMs, minMs } = b.budget(scale);
    const available = options.deadline - now() - reserve;
    if (available < minMs) {
      result.status = 'skipped';
      result.reason = `global deadline: ${Math.max(0, Math.round(available / 1000))} s left for it, it needs at least ${Math.round(minMs / 1000)} s`;
      log(`${b.id}: skipped (${result.reason})`);
      continue;
    }
    const deadline = now() + Math.min(plannedMs, available);
    if (b.needsKafka && !kafka && !kafkaError) {
      try {
        if (!options.kafka) throw new Error('no Kafka configured for this run');
        kafka = await options.kafka();
      } catch (e) {
        kafkaError = e instanceof Error ? e.message : String(e);
      }
    }
    if (b.needsKafka && !kafka) {
      result.status = 'skipped';
      result.reason = `no Kafka broker: ${kafkaError}`;
      log(`${b.id}: skipped (${result.reason})`);
      continue;
    }
    const databases: TestDatabase[] = [];
    const ctx: BenchContext = {
      scale,
      ...(kafka ? { kafka } : {}),
      runId,
      log,
      deadline,
      database: async (label) => {
        const db = await createTestDatabase(`bench${label}`);
        databases.push(db);
        return db;
      },
    };
    log(`${b.id}: ${b.title} (budget ${Math.round((deadline - now()) / 1000)} s)`);
    let prepared: Prepared | undefined;
    try {
      prepared = await b.prepare(ctx);
      result.info = prepared.info ?? {};
      result.notes = prepared.notes ?? [];
      for (const spec of prepared.cases) {
        result.cases.push(await runCase(spec, scale, deadline, log));
      }
      // info and notes may be completed while the cases ran
      result.info = prepared.info ?? result.info;
      result.notes = prepared.notes ?? result.notes;
    } catch (e) {
      result.status = 'failed';
      result.reason = e instanceof Error ? e.message : String(e);
      log(`${b.id}: FAILED: ${result.reason}`);
      if (process.env.BENCH_DEBUG) console.error(e);
    } finally {
      await prepared
        ?.teardown()
        .catch((e: unknown) => log(`${b.id}: teardown failed: ${String(e)}`));
      for (const db of databases)
        await db
          .drop()
          .catch((e: unknown) => log(`${b.id}: dropping ${db.name} failed: ${String(e)}`));
      result.durationMs = now() - started;
      log(`${b.id}: done in ${(result.durationMs / 1000).toFixed(1)} s`);
    }
  }
  return { results, ...(kafka ? { kafka } : {}) };
}

// ── Formatting ────────────────────────────────────────────────────────────────
export function fmtNum(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function fmtMs(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 100) return `${Math.round(x)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function fmtRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return `${x.toFixed(2)}×`;
}
