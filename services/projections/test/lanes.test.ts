import { describe, expect, it } from 'vitest';
import { byStream } from '../src/app.js';

describe('byStream: a rebuild page split into lanes', () => {
  const events = Array.from({ length: 200 }, (_, i) => ({ subject: `person-${i % 17}`, n: i }));

  it('puts every event in exactly one lane, each stream whole in one lane and in its order', () => {
    const lanes = byStream(events, 3);
    expect(lanes.length).toBeGreaterThan(1);
    expect(lanes.flat().map((e) => e.n).sort((a, b) => a - b)).toEqual(events.map((e) => e.n));
    const laneOf = new Map<string, number>();
    lanes.forEach((lane, i) => {
      for (const e of lane) {
        expect(laneOf.get(e.subject) ?? i).toBe(i);
        laneOf.set(e.subject, i);
      }
      const ns = lane.map((e) => e.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    });
  });

  it('keeps one lane as it is, and leaves out empty lanes', () => {
    expect(byStream(events, 1)).toEqual([events]);
    expect(byStream([{ subject: 'person-1' }], 4)).toEqual([[{ subject: 'person-1' }]]);
    expect(byStream([], 2)).toEqual([]);
  });
});
