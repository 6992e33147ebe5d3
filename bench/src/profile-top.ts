// Summarises V8 CPU profiles (`node --cpu-prof`): the functions with the most
// self time, and the most total (inclusive) time, so hot spots can be named.
//
//   node --conditions=onestop-source --import tsx bench/src/profile-top.ts <file-or-dir.cpuprofile> [top=25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './env.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  fn: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

const label = (n: ProfileNode) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const where = url
    ? `${url.startsWith(REPO_ROOT) ? relative(REPO_ROOT, url) : url.replace(/^.*node_modules\//, '')}:${n.callFrame.lineNumber + 1}`
    : '';
  return `${n.callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};

/** Self and total time per function (by name and place) of one profile. */
export function hotSpots(profile: Profile): { totalMs: number; spots: HotSpot[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    all += dt;
    const node = byId.get(id);
    if (!node) return;
    self.set(label(node), (self.get(label(node)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const spots = [...total.keys()].map((fn) => ({
    fn,
    selfMs: self.get(fn) ?? 0,
    selfPct: ((self.get(fn) ?? 0) / all) * 100,
    totalMs: total.get(fn)!,
    totalPct: (total.get(fn)! / all) * 100,
  }));
  return { totalMs: all, spots };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: profile-top.ts <file.cpuprofile | dir> [top]');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(target, f))
    : [target];
  for (const f of files) {
    const { totalMs, spots } = hotSpots(JSON.parse(readFileSync(f, 'utf8')) as Profile);
    console.log(`\n${f}: ${(totalMs / 1000).toFixed(1)} s sampled`);
    console.log('  self time:');
    for (const s of [...spots].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
      console.log(
        `    ${s.selfPct.toFixed(1).padStart(5)} %  ${s.selfMs.toFixed(0).padStart(7)} ms  ${s.fn}`,
      );
    }
    console.log('  total time:');
    for (const s of [...spots].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
      console.log(
        `    ${s.totalPct.toFixed(1).padStart(5)} %  ${s.totalMs.toFixed(0).padStart(7)} ms  ${s.fn}`,
      );
    }
  }
}
