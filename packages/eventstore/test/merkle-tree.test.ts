import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  consistencyProof,
  frontier,
  inclusionProof,
  leafHash,
  nodesNeeded,
  rootHash,
  verifyConsistency,
  verifyInclusion,
  type NodeAt,
} from '../src/merkle/tree.js';

// Known-answer tests of the RFC 9162 proofs. The expected values are computed
// here, independently of the module, straight from the RFC's definitions over
// arrays of entries (MTH, PATH, SUBPROOF as written in §2.1.1, §2.1.3.1 and
// §2.1.4.1), and the module's proofs, built from stored perfect subtrees, must
// equal them and verify; a proof with one bit changed must not.

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const k = (n: number) => 2 ** Math.floor(Math.log2(n - 1)); // the largest power of two < n
/** MTH(D[n]) as RFC 9162 §2.1.1 defines it. */
const mth = (d: Buffer[]): Buffer =>
  d.length === 0 ? sha() : d.length === 1 ? sha(Buffer.from([0]), d[0]!) : sha(Buffer.from([1]), mth(d.slice(0, k(d.length))), mth(d.slice(k(d.length))));
/** PATH(m, D[n]), §2.1.3.1. */
const PATH = (m: number, d: Buffer[]): Buffer[] => {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s ? [...PATH(m, d.slice(0, s)), mth(d.slice(s))] : [...PATH(m - s, d.slice(s)), mth(d.slice(0, s))];
};
/** SUBPROOF(m, D[n], b), §2.1.4.1. */
const SUBPROOF = (m: number, d: Buffer[], b: boolean): Buffer[] => {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s ? [...SUBPROOF(m, d.slice(0, s), b), mth(d.slice(s))] : [...SUBPROOF(m - s, d.slice(s), false), mth(d.slice(0, s))];
};

/** Entries like the certificate-transparency test data: 0x00, 0x10, 0x2021, … */
const entries = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(Array.from({ length: i + 1 }, (_, j) => (i * 16 + j) & 0xff)));

/** The stored perfect subtrees of a tree of these entries, as the store keeps them. */
function storedNodes(d: Buffer[]): { node: NodeAt; reads: string[] } {
  const levels: Buffer[][] = [d.map((e) => leafHash(e))];
  while (levels.at(-1)!.length > 1) {
    const below = levels.at(-1)!;
    levels.push(Array.from({ length: Math.floor(below.length / 2) }, (_, i) => sha(Buffer.from([1]), below[2 * i]!, below[2 * i + 1]!)));
  }
  const reads: string[] = [];
  const node: NodeAt = (level, index) => {
    reads.push(`${level}/${index}`);
    const h = levels[level]?.[index];
    if (!h) throw new Error(`no stored node ${level}/${index}`);
    return h;
  };
  return { node, reads };
}

const flip = (b: Buffer) => {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 1;
  return c;
};

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33, 65, 129, 257];

describe('RFC 9162 Merkle tree', () => {
  it('matches the certificate-transparency test roots for the first eight entries', () => {
    // the roots of the RFC 6962 reference test data (leaves '', 00, 10, 2021, 3031, 40414243, …)
    const ct = [
      Buffer.alloc(0),
      Buffer.from('00', 'hex'),
      Buffer.from('10', 'hex'),
      Buffer.from('2021', 'hex'),
      Buffer.from('3031', 'hex'),
      Buffer.from('40414243', 'hex'),
      Buffer.from('5051525354555657', 'hex'),
      Buffer.from('606162636465666768696a6b6c6d6e6f', 'hex'),
    ];
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    for (let n = 1; n <= 8; n++) {
      expect(mth(ct.slice(0, n)).toString('hex'), `naive MTH of ${n}`).toBe(roots[n - 1]);
      expect(rootHash(n, storedNodes(ct).node).toString('hex'), `stored-tree root of ${n}`).toBe(roots[n - 1]);
    }
    expect(rootHash(0, storedNodes([]).node).equals(EMPTY_ROOT)).toBe(true);
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it.each(SIZES)('inclusion proofs of every leaf of a tree of %i equal PATH(m, D[n]) and verify', (n) => {
    const d = entries(n);
    const { node } = storedNodes(d);
    const root = mth(d);
    expect(rootHash(n, node).equals(root)).toBe(true);
    for (let m = 0; m < n; m++) {
      const proof = inclusionProof(m, n, node);
      expect(proof.map((p) => p.toString('hex'))).toEqual(PATH(m, d).map((p) => p.toString('hex')));
      expect(verifyInclusion(m, n, leafHash(d[m]!), proof, root)).toBe(true);
      // another leaf, another index, another size, a changed proof or root: refused
      expect(verifyInclusion(m, n, leafHash(Buffer.from('other')), proof, root)).toBe(false);
      if (n > 1) expect(verifyInclusion((m + 1) % n, n, leafHash(d[m]!), proof, root)).toBe(false);
      expect(verifyInclusion(m, n, leafHash(d[m]!), proof, flip(root))).toBe(false);
      proof.forEach((_, i) => expect(verifyInclusion(m, n, leafHash(d[m]!), proof.map((p, j) => (j === i ? flip(p) : p)), root)).toBe(false));
      expect(verifyInclusion(m, n, leafHash(d[m]!), [...proof, root], root)).toBe(false);
    }
    expect(() => inclusionProof(n, n, node)).toThrow(RangeError);
  });

  it.each(SIZES)('consistency proofs from every smaller tree to a tree of %i equal SUBPROOF(m, D[n], true) and verify', (n) => {
    const d = entries(n);
    const { node } = storedNodes(d);
    const second = mth(d);
    for (let m = 1; m <= n; m++) {
      const first = mth(d.slice(0, m));
      const proof = consistencyProof(m, n, node);
      expect(proof.map((p) => p.toString('hex'))).toEqual((m === n ? [] : SUBPROOF(m, d, true)).map((p) => p.toString('hex')));
      expect(verifyConsistency(m, n, proof, first, second), `${m} → ${n}`).toBe(true);
      if (m < n) {
        // a first tree of other contents (a fork), or a changed proof: refused
        const forked = mth([...d.slice(0, m - 1), Buffer.from('forged')]);
        expect(verifyConsistency(m, n, proof, forked, second)).toBe(false);
        expect(verifyConsistency(m, n, proof, first, flip(second))).toBe(false);
        proof.forEach((_, i) => expect(verifyConsistency(m, n, proof.map((p, j) => (j === i ? flip(p) : p)), first, second)).toBe(false));
        expect(verifyConsistency(m, n, [], first, second)).toBe(false);
      }
    }
    expect(verifyConsistency(0, n, [], EMPTY_ROOT, second)).toBe(true);
    expect(verifyConsistency(n, n, [], second, flip(second))).toBe(false);
    expect(() => consistencyProof(n + 1, n, node)).toThrow(RangeError);
  });

  it('a proof reads O(log n) stored subtrees, and the ones it needs can be listed before reading', () => {
    const n = 257;
    const { node, reads } = storedNodes(entries(n));
    for (const m of [0, 100, 255, 256]) {
      reads.length = 0;
      inclusionProof(m, n, node);
      expect(new Set(reads).size).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)));
      expect(nodesNeeded((at) => inclusionProof(m, n, at)).map((x) => `${x.level}/${x.index}`).sort()).toEqual([...new Set(reads)].sort());
    }
    expect(frontier(13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
  });
});
