// The need-profile chart, drawn by hand in SVG: one bar per domain, split by
// need level. Every segment carries its level as a digit and a tooltip, the
// legend names the levels, and a table with the same numbers follows the
// chart, so neither colour nor sight is needed to read it.
import { s } from './dom.js';
import { num } from './format.js';
import { DOMAINS, label } from './labels.js';

export const LEVELS = [
  { level: 0, name: 'nessuno', fill: '#e9eef5', ink: '#1b2a3a' },
  { level: 1, name: 'lieve', fill: '#bcd3ea', ink: '#1b2a3a' },
  { level: 2, name: 'moderato', fill: '#7ea9d6', ink: '#0d1b2a' },
  { level: 3, name: 'elevato', fill: '#2f6aa8', ink: '#ffffff' },
  { level: 4, name: 'grave', fill: '#123a66', ink: '#ffffff' },
];

let seq = 0;

/**
 * rows: [{ domain, assessments, averageLevel, levels: {0..4: count} }];
 * total: the width of a full bar (completed assessments).
 */
export function needChart(rows, { title, desc, total }) {
  const id = `need-chart-${++seq}`;
  const W = 560;
  const labelW = 172;
  const barW = 308;
  const rowH = 34;
  const barH = 24;
  const top = 24;
  const legendY = top + rows.length * rowH + 10;
  const H = legendY + 56;
  const x = (n) => (total > 0 ? (n / total) * barW : 0);

  const axis = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    s(
      'g',
      { class: 'tick' },
      s('line', { x1: labelW + f * barW, x2: labelW + f * barW, y1: top - 6, y2: top + rows.length * rowH - 8, stroke: '#c7d0db', 'stroke-dasharray': f === 0 ? null : '3 3' }),
      s('text', { x: labelW + f * barW, y: top - 10, 'text-anchor': 'middle', class: 'axis' }, `${Math.round(f * 100)}%`),
    ),
  );

  const bars = rows.map((r, i) => {
    const y = top + i * rowH;
    let at = labelW;
    const segments = LEVELS.map(({ level, name, fill, ink }) => {
      const n = r.levels[level] ?? 0;
      if (n === 0) return null;
      const w = x(n);
      const g = s(
        'g',
        { class: 'segment', 'data-level': level },
        s('title', {}, `${label(DOMAINS, r.domain)} – livello ${level} (${name}): ${num(n)} ${n === 1 ? 'valutazione' : 'valutazioni'} su ${num(r.assessments)}`),
        s('rect', { x: at, y, width: Math.max(w, 0.5), height: barH, fill, stroke: '#ffffff', 'stroke-width': 1.5 }),
        w >= 18 ? s('text', { x: at + w / 2, y: y + barH / 2 + 5, 'text-anchor': 'middle', fill: ink, class: 'digit' }, String(level)) : null,
      );
      at += w;
      return g;
    });
    return s(
      'g',
      { class: 'row', 'data-domain': r.domain },
      s('text', { x: labelW - 10, y: y + barH / 2 + 5, 'text-anchor': 'end', class: 'domain' }, label(DOMAINS, r.domain)),
      r.assessments === 0 ? s('text', { x: labelW + 4, y: y + barH / 2 + 5, class: 'none' }, 'nessuna valutazione') : segments,
      s('text', { x: labelW + barW + 12, y: y + barH / 2 + 5, class: 'avg' }, r.assessments === 0 ? '' : `media ${r.averageLevel.toFixed(1).replace('.', ',')}`),
    );
  });

  const legend = s(
    'g',
    { class: 'legend' },
    s('text', { x: 0, y: legendY + 14, class: 'legend-title' }, 'Livello di bisogno (la cifra nel segmento):'),
    LEVELS.map(({ level, name, fill, ink }, i) =>
      s(
        'g',
        {},
        s('rect', { x: i * 108, y: legendY + 26, width: 24, height: 22, fill, stroke: '#5b6b7c', 'stroke-width': 0.75 }),
        s('text', { x: i * 108 + 12, y: legendY + 42, 'text-anchor': 'middle', fill: ink, class: 'digit' }, String(level)),
        s('text', { x: i * 108 + 30, y: legendY + 42 }, name),
      ),
    ),
  );

  return s(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-labelledby': `${id}-title ${id}-desc`,
      preserveAspectRatio: 'xMinYMin meet',
    },
    s('title', { id: `${id}-title` }, title),
    s('desc', { id: `${id}-desc` }, desc),
    axis,
    bars,
    legend,
  );
}
