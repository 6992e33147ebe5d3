// BENCHMARKS.md and results.json from the results of one run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MachineInfo, Scale } from './env.js';
import { fmtMs, fmtNum, fmtRatio, type BenchmarkResult, type CaseResult } from './harness.js';
import type { TargetRow } from './targets.js';

export interface RunReport {
  scale: Scale;
  machine: MachineInfo;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  deadlineMs: number;
  results: BenchmarkResult[];
  targets: TargetRow[];
  notes: string[];
}

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function caseTable(c: CaseResult): string {
  const baselines = c.variants.filter((v) => v.role === 'baseline');
  const extraKeys = Object.keys(c.extraColumns);
  const throughput = c.primary === 'throughput';
  const head = [
    'variant',
    'role',
    'rounds',
    `${c.unit}/s`,
    'round range',
    'p50',
    'p99',
    ...extraKeys.map((k) => c.extraColumns[k]!),
    ...baselines.map((b) => `vs ${b.name}${throughput ? '' : ' (p50)'}`),
  ];
  const lines = [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const v of c.variants) {
    const ratios = baselines.map((b) => {
      if (v.role !== 'subject') return '';
      const r = c.ratios.find((x) => x.subject === v.id && x.baseline === b.id);
      return r ? `**${fmtRatio(r.ratio)}** (${fmtRatio(r.roundMin)}–${fmtRatio(r.roundMax)})` : '–';
    });
    const cells =
      v.error && v.rounds === 0
        ? [
            v.name,
            v.role,
            '0',
            `failed: ${v.error}`,
            '',
            '',
            '',
            ...extraKeys.map(() => ''),
            ...ratios,
          ]
        : [
            v.name + (v.error ? ` (failed later: ${v.error})` : ''),
            v.role,
            String(v.rounds),
            fmtNum(v.eventsPerSec),
            `${fmtNum(v.roundRates.min)}–${fmtNum(v.roundRates.max)}`,
            fmtMs(v.latency?.p50),
            fmtMs(v.latency?.p99),
            ...extraKeys.map((k) => formatExtra(k, v.extra[k])),
            ...ratios,
          ];
    lines.push(`| ${cells.map((x) => esc(String(x))).join(' | ')} |`);
  }
  return lines.join('\n');
}

function formatExtra(key: string, value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (/bytes/i.test(key)) return `${fmtNum(value / 1e6)} MB`;
  if (/ms$/i.test(key)) return fmtMs(value);
  return fmtNum(value);
}

const RATIO_NOTE =
  'Ratios are subject ÷ baseline of events/s over all measured rounds (for latency cases: of p50, so lower is better); in brackets the lowest and highest ratio of single rounds, in which the variants ran back to back.';

export function renderMarkdown(r: RunReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push('# OneStop benchmarks', '');
  out.push(
    `Written by \`npm run bench\` (\`bench/\`) on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, scale **${r.scale.name}**, ` +
      `${(r.durationMs / 60_000).toFixed(1)} min in total (deadline ${(r.deadlineMs / 60_000).toFixed(1)} min). Every figure and the target table at the end come from this one run; ` +
      'the raw figures are in `bench/results.json`.',
    '',
  );
  out.push('## Machine', '');
  out.push(`- CPU: ${m.cpuModel}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.os}`);
  out.push(
    `- Node.js ${m.node}; PostgreSQL: ${m.postgres} (${Object.entries(m.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')})`,
  );
  out.push(`- Kafka: ${m.kafka}`);
  out.push(
    `- Load average (1, 5, 15 min) at start: **${m.loadAverageStart.join(', ')}**${m.loadAverageEnd ? `; at end: ${m.loadAverageEnd.join(', ')}` : ''}`,
  );
  out.push(
    `- Compared with: ${Object.entries(m.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  out.push(`- Code: commit ${m.gitCommit}`);
  out.push('');
  out.push('## Method', '');
  out.push(
    [
      '- Each benchmark runs against a **fresh database** of the local PostgreSQL (dropped afterwards) and, where it needs one, the real Kafka broker of `infra/kafka` (the bench starts its own on port 19392 unless `KAFKA_BROKERS` is set, and stops it at the end if it started it). Topics get a prefix of their own per run.',
      `- Each benchmark declares its **subject** (OneStop) and its **baselines**; they run **interleaved in the same process**: ${r.scale.warmupRounds} warm-up round(s) (discarded), then up to ${r.scale.rounds} measured rounds, the order of the variants rotated every round, so that noise from the machine falls on all of them alike.`,
      '- events/s = all events of the measured rounds ÷ their total wall time; "round range" is the lowest and highest single round. Latencies are per operation, pooled over the measured rounds; p50 and p99 are nearest-rank percentiles of the sorted samples.',
      `- ${RATIO_NOTE}`,
      '- A global deadline keeps the whole run within the 15 minutes of the issue: each benchmark gets a budget, and rounds (or whole benchmarks) that would overrun are left out and said so below. `BENCH_SCALE=smoke|small|full` scales the work; `npm test` runs the harness at the smoke scale.',
      '- Load is generated on the loopback interface only; every loop is bounded in time.',
      '- `BENCH_EXPERIMENTS=1` adds opt-in experiments beside the subject (the relay with bigger pages; a producer with fewer headers), to size a change before it is made; `node bench/src/profile-top.ts` summarises `--cpu-prof` profiles (`BENCH_CPU_PROF_DIR` profiles the child processes).',
    ].join('\n'),
  );
  out.push('');
  if (r.notes.length) out.push(...r.notes.map((n) => `> ${n}`), '');
  out.push('## Results', '');
  for (const [i, b] of r.results.entries()) {
    out.push(`### ${i + 1}. ${b.title}`, '');
    if (b.status !== 'ok') {
      out.push(`**Not measured — ${b.status}:** ${b.reason ?? ''}`, '');
      continue;
    }
    out.push(b.method, '');
    const info = Object.entries(b.info);
    if (info.length) out.push(`Set-up: ${info.map(([k, v]) => `${k}: ${v}`).join('; ')}.`, '');
    for (const c of b.cases) {
      out.push(`**${c.title}**${c.stoppedEarly ? ` (${c.stoppedEarly})` : ''}`, '');
      out.push(caseTable(c), '');
    }
    for (const n of b.notes) out.push(`- ${n}`);
    if (b.notes.length) out.push('');
  }
  out.push('## Targets', '');
  out.push('Computed from the figures above by `bench/src/targets.ts`.', '');
  out.push('| target | measured | met |', '| --- | --- | --- |');
  for (const t of r.targets)
    out.push(`| ${esc(t.target)} | ${esc(t.measured)} | ${t.met ? 'yes' : 'no'} |`);
  return `${out.join('\n')}\n`;
}

export function writeReport(r: RunReport, paths: { markdown: string; json: string }): void {
  mkdirSync(dirname(paths.markdown), { recursive: true });
  mkdirSync(dirname(paths.json), { recursive: true });
  writeFileSync(paths.markdown, renderMarkdown(r));
  writeFileSync(paths.json, `${JSON.stringify(r, null, 2)}\n`);
}
