// Child process of the rebuild benchmark: rebuilds the read models of the
// projections service from the event store of BENCH_DATABASE_URL, the way the
// service does on command, and reports time, events/s and its own peak RSS
// (a process of its own, so the figure is the rebuild's and nothing else's).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { AuditSigningKey, projectionsModule } from '@onestop/projections';

export interface RebuildWorkerReport {
  events: number;
  durationMs: number;
  eventsPerSecond: number;
  skipped: number;
  rssBeforeBytes: number;
  peakRssBytes: number;
}

export type RebuildWorkerMessage =
  | { kind: 'progress'; events: number; headPosition: number; phase: string }
  | ({ kind: 'done' } & RebuildWorkerReport)
  | { kind: 'error'; message: string };

const send = (m: RebuildWorkerMessage) => process.send?.(m);
const url = process.env.BENCH_DATABASE_URL;
if (!url) throw new Error('BENCH_DATABASE_URL is required');

const dataDir = mkdtempSync(join(tmpdir(), 'onestop-bench-rebuild-'));
const infra = await openTestInfrastructure({
  databaseUrl: url,
  env: { ONESTOP_DATA_DIR: dataDir },
});
try {
  const module = projectionsModule({
    signingKey: new AuditSigningKey(generateKeyPairSync('ed25519').privateKey),
  });
  await module.migrate!(infra);
  const projections = module.projections(infra);
  const rssBeforeBytes = process.memoryUsage().rss;
  let peak = rssBeforeBytes;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  let lastSent = 0;
  const report = await projections.rebuild((p) => {
    peak = Math.max(peak, process.memoryUsage().rss);
    if (p.events - lastSent >= 50_000 || p.phase !== 'copy') {
      lastSent = p.events;
      send({ kind: 'progress', events: p.events, headPosition: p.headPosition, phase: p.phase });
    }
  });
  clearInterval(sampler);
  // maxRSS (KiB) is the kernel's high-water mark, which catches peaks between samples
  const peakRssBytes = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  send({
    kind: 'done',
    events: report.events,
    durationMs: report.durationMs,
    eventsPerSecond: report.eventsPerSecond,
    skipped: report.skipped,
    rssBeforeBytes,
    peakRssBytes,
  });
} catch (e) {
  send({ kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
} finally {
  await infra.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.disconnect?.();
}
