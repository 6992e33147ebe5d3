// The targets of the issue, evaluated from the results of the run (never
// written by hand): each says what it measured and whether it is met.
import {
  fmtMs,
  fmtNum,
  fmtRatio,
  type BenchmarkResult,
  type CaseResult,
  type VariantResult,
} from './harness.js';

export interface TargetRow {
  target: string;
  measured: string;
  met: boolean;
}

type Found = { ok: true; c: CaseResult } | { ok: false; why: string };

function findCase(results: readonly BenchmarkResult[], bench: string, caseId: string): Found {
  const b = results.find((x) => x.id === bench);
  if (!b) return { ok: false, why: `not measured: benchmark \`${bench}\` was not run` };
  if (b.status !== 'ok')
    return {
      ok: false,
      why: `not measured: ${bench} ${b.status}${b.reason ? ` (${b.reason})` : ''}`,
    };
  const c = b.cases.find((x) => x.id === caseId);
  if (!c) return { ok: false, why: `not measured: ${bench} has no case ${caseId}` };
  return { ok: true, c };
}

function variant(c: CaseResult, id: string): VariantResult | undefined {
  const v = c.variants.find((x) => x.id === id);
  return v && v.rounds > 0 ? v : undefined;
}

const missing = (why: string): Omit<TargetRow, 'target'> => ({ measured: why, met: false });

/** A variant of a case that has no measured round: its error, or that it has none. */
const notMeasured = (c: CaseResult, id: string, label = ''): Omit<TargetRow, 'target'> =>
  missing(
    `not measured: ${label}${c.variants.find((v) => v.id === id)?.error ?? `${label ? 'has ' : ''}no measured round`}`,
  );

function ratioTarget(
  results: readonly BenchmarkResult[],
  bench: string,
  caseId: string,
  baseline: string,
  min: number,
): Omit<TargetRow, 'target'> {
  const f = findCase(results, bench, caseId);
  if (!f.ok) return missing(f.why);
  const s = variant(f.c, 'onestop');
  const b = variant(f.c, baseline);
  if (!s) return notMeasured(f.c, 'onestop', 'OneStop ');
  if (!b) return notMeasured(f.c, baseline, `${baseline} `);
  const r = f.c.ratios.find((x) => x.subject === 'onestop' && x.baseline === baseline)!;
  return {
    measured: `${fmtRatio(r.ratio)} (rounds ${fmtRatio(r.roundMin)}–${fmtRatio(r.roundMax)}): OneStop ${fmtNum(s.eventsPerSec)} vs ${b.name} ${fmtNum(b.eventsPerSec)} events/s`,
    met: r.ratio >= min,
  };
}

function rateTarget(
  results: readonly BenchmarkResult[],
  bench: string,
  caseId: string,
  min: number,
): Omit<TargetRow, 'target'> {
  const f = findCase(results, bench, caseId);
  if (!f.ok) return missing(f.why);
  const s = variant(f.c, 'onestop');
  if (!s) return notMeasured(f.c, 'onestop');
  return {
    measured: `${fmtNum(s.eventsPerSec)} events/s (rounds ${fmtNum(s.roundRates.min)}–${fmtNum(s.roundRates.max)}; ${s.rounds} × ${Math.round(s.events / Math.max(1, s.rounds)).toLocaleString('en-US')} events)`,
    met: s.eventsPerSec >= min,
  };
}

export function evaluateTargets(results: readonly BenchmarkResult[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const add = (target: string, r: Omit<TargetRow, 'target'>) => rows.push({ target, ...r });

  add(
    'append ≥ 1.5× Emmett at 8 writers',
    ratioTarget(results, 'append', 'writers-8', 'emmett', 1.5),
  );
  add('append ≥ 60% of raw at 8 writers', ratioTarget(results, 'append', 'writers-8', 'raw', 0.6));
  add('batch append ≥ 80% of raw', ratioTarget(results, 'append', 'batch-100', 'raw', 0.8));
  add('catch-up ≥ 100k events/s', rateTarget(results, 'catch-up', 'global-log', 100_000));
  add('relay ≥ 20k events/s', rateTarget(results, 'relay', 'relay', 20_000));
  add('projections ≥ 10k events/s', rateTarget(results, 'projections', 'projections', 10_000));

  {
    const f = findCase(results, 'rebuild', 'rebuild');
    const target = 'rebuild of 1M events ≤ 60 s with peak RSS ≤ 300 MB';
    if (!f.ok) add(target, missing(f.why));
    else {
      const s = variant(f.c, 'onestop');
      if (!s) add(target, notMeasured(f.c, 'onestop'));
      else {
        const seconds = s.durationMs / 1000;
        const rssMb = (s.extra.peakRssBytes ?? Number.NaN) / 1e6;
        const enough = s.events >= 1_000_000;
        add(target, {
          measured:
            `${seconds.toFixed(1)} s for ${s.events.toLocaleString('en-US')} events (${fmtNum(s.eventsPerSec)} events/s), peak RSS ${fmtNum(rssMb)} MB` +
            (enough ? '' : ' — fewer than 1,000,000 events at this scale'),
          met: enough && seconds <= 60 && rssMb <= 300,
        });
      }
    }
  }
  {
    const f = findCase(results, 'e2e', 'fixed-rate');
    const target = 'end-to-end p99 ≤ 250 ms at 200 commands/s';
    if (!f.ok) add(target, missing(f.why));
    else {
      const s = variant(f.c, 'onestop');
      if (!s?.latency) add(target, notMeasured(f.c, 'onestop'));
      else {
        const rate = s.extra.offeredRate ?? Number.NaN;
        const achieved = s.extra.achievedRate ?? Number.NaN;
        const failures = (s.extra.errors ?? 0) + (s.extra.notVisible ?? 0);
        add(target, {
          measured:
            `p99 ${fmtMs(s.latency.p99)} (p50 ${fmtMs(s.latency.p50)}) at ${fmtNum(achieved)} of ${fmtNum(rate)} commands/s offered, ${s.latency.count} commands` +
            (failures ? `, ${failures} failed or never visible` : ''),
          met: rate >= 200 && achieved >= 0.95 * rate && failures === 0 && s.latency.p99 <= 250,
        });
      }
    }
  }
  {
    const f = findCase(results, 'replay', 'case-replay');
    const target = '10k-event case replay ≤ 100 ms';
    if (!f.ok) add(target, missing(f.why));
    else {
      const s = variant(f.c, 'onestop');
      if (!s?.latency) add(target, notMeasured(f.c, 'onestop'));
      else {
        const events = s.extra.eventsReplayed ?? 0;
        add(target, {
          measured:
            `median ${fmtMs(s.latency.p50)} (p99 ${fmtMs(s.latency.p99)}, ${s.latency.count} replays) of ${events.toLocaleString('en-US')} events` +
            (events >= 10_000 ? '' : ' — fewer than 10,000 events at this scale'),
          met: events >= 10_000 && s.latency.p50 <= 100,
        });
      }
    }
  }
  {
    const f = findCase(results, 'console', 'console-bytes');
    const target = 'console: script + styles /app loads ≤ 300 KB compressed';
    if (!f.ok) add(target, missing(f.why));
    else {
      const s = variant(f.c, 'console');
      if (!s) add(target, notMeasured(f.c, 'console'));
      else {
        const e = s.extra;
        add(target, {
          measured: `${fmtNum(e.jsCssKB ?? NaN)} KB (script ${fmtNum(e.jsKB ?? NaN)} KB, styles ${fmtNum(e.cssKB ?? NaN)} KB; fonts ${fmtNum(e.fontsKB ?? NaN)} KB more)`,
          met: (e.jsCssKB ?? Infinity) <= 300,
        });
      }
    }
  }
  return rows;
}
