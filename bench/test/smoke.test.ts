// A tiny pass of the benchmark harness, so that `npm run bench` cannot rot:
// the store benchmarks (append vs raw vs Emmett, catch-up) at the smoke scale,
// and the report files. Assertions on shape only, never on timing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCALES } from '../src/env.js';
import { percentile, rotation, summarise } from '../src/harness.js';
import type { RunReport } from '../src/report.js';
import { runBench } from '../src/run.js';

const dir = mkdtempSync(join(tmpdir(), 'onestop-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('benchmark harness', () => {
  it('computes nearest-rank percentiles and rotates the order of variants', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 0.5)).toBe(50);
    expect(percentile(xs, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(summarise([3, 1, 2])).toMatchObject({ count: 3, p50: 2, max: 3 });
    expect(rotation(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotation(['a', 'b', 'c'], 3)).toEqual(['a', 'b', 'c']);
  });

  it('runs the store benchmarks at the smoke scale and writes BENCHMARKS.md and results.json', async () => {
    const markdownPath = join(dir, 'BENCHMARKS.md');
    const jsonPath = join(dir, 'results.json');
    const report = await runBench({
      scale: { ...SCALES.smoke, deadlineMs: 100_000 },
      only: ['append', 'catch-up'],
      markdownPath,
      jsonPath,
      log: () => undefined,
    });

    // results.json: the same report, every variant of every case measured
    const json = JSON.parse(readFileSync(jsonPath, 'utf8')) as RunReport;
    expect(json.scale.name).toBe('smoke');
    expect(json.results.map((r) => [r.id, r.status])).toEqual([
      ['append', 'ok'],
      ['catch-up', 'ok'],
    ]);
    const append = json.results[0]!;
    expect(append.cases.map((c) => c.id)).toEqual(['writers-1', 'writers-8', 'batch-100']);
    for (const c of append.cases) {
      expect(c.variants.map((v) => v.id)).toEqual(['onestop', 'raw', 'emmett']);
      for (const v of c.variants) {
        expect(v.error).toBeUndefined();
        expect(v.rounds).toBeGreaterThan(0);
        expect(v.events).toBeGreaterThan(0);
        expect(v.latency?.count).toBeGreaterThan(0);
      }
      expect(c.ratios.map((r) => `${r.subject}/${r.baseline}`)).toEqual([
        'onestop/raw',
        'onestop/emmett',
      ]);
      for (const r of c.ratios) expect(Number.isFinite(r.ratio)).toBe(true);
    }
    const catchUp = json.results[1]!.cases[0]!;
    expect(catchUp.variants.map((v) => [v.id, v.rounds > 0])).toEqual([
      ['onestop', true],
      ['raw', true],
      ['cursor', true],
    ]);
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(json.machine.postgres).toMatch(/PostgreSQL/);
    expect(json.machine.packages['@event-driven-io/emmett-postgresql']).toMatch(/^\d+\.\d+/);
    expect(json.targets).toEqual(report.targets);

    // BENCHMARKS.md: machine, method, one table per case with absolute figures and ratios, and it ends with the target table
    const md = readFileSync(markdownPath, 'utf8');
    for (const heading of ['## Machine', '## Method', '## Results', '## Targets'])
      expect(md).toContain(heading);
    expect(md).toMatch(/Load average .* at start: \*\*[\d.]+, [\d.]+, [\d.]+\*\*/);
    expect(md).toContain('@event-driven-io/emmett-postgresql');
    expect(md).toMatch(
      /\| variant \| role \| rounds \| events\/s \| round range \| p50 \| p99 \| vs raw pg INSERT \| vs Emmett \|/,
    );
    expect(md.match(/^\| OneStop \| subject \|/gm)?.length).toBe(4); // three append cases and the catch-up
    expect(md).toMatch(/\| vs raw keyset SELECT \| vs raw cursor \|/);
    const lines = md.trimEnd().split('\n');
    const header = lines.lastIndexOf('| target | measured | met |');
    expect(header).toBeGreaterThan(0);
    const rows = lines.slice(header + 2);
    expect(rows).toHaveLength(10);
    for (const row of rows) expect(row).toMatch(/^\| .+ \| .+ \| (yes|no) \|$/);
    expect(rows.map((r) => r.split(' | ')[0])).toEqual([
      '| append ≥ 1.5× Emmett at 8 writers',
      '| append ≥ 60% of raw at 8 writers',
      '| batch append ≥ 80% of raw',
      '| catch-up ≥ 100k events/s',
      '| relay ≥ 20k events/s',
      '| projections ≥ 10k events/s',
      '| rebuild of 1M events ≤ 60 s with peak RSS ≤ 300 MB',
      '| end-to-end p99 ≤ 250 ms at 200 commands/s',
      '| 10k-event case replay ≤ 100 ms',
      '| console: script + styles /app loads ≤ 300 KB compressed',
    ]);
    // benchmarks that did not run are reported as not measured, never as met
    expect(report.targets.find((t) => t.target.startsWith('relay'))).toMatchObject({
      met: false,
      measured: expect.stringMatching(/not measured/),
    });
  }, 150_000);
});
