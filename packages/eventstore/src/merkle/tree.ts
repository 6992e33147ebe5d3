import { createHash } from 'node:crypto';

// RFC 9162 §2.1: the Merkle tree over the global log, as pure functions.
//
//   leaf hash  = SHA-256(0x00 ‖ the event's stored hash bytes)
//   node hash  = SHA-256(0x01 ‖ left ‖ right)
//   MTH({})    = SHA-256()            (the empty tree)
//   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
//
// A stored tree keeps the hash of every *perfect* subtree: 2^level leaves
// starting at leaf index × 2^level (level 0: the leaf hashes). Any MTH(D[a:b])
// the RFC's algorithms need is a perfect subtree or the node of a few of them
// (the ragged right edge), so a proof reads O(log n) stored hashes. The
// functions below take the hashes through `NodeAt`, so that the same code
// serves the store (which first asks `nodesNeeded` which ones to read in one
// query) and the tests (which give them from memory).

/** The stored hash of the perfect subtree of 2^level leaves starting at leaf index × 2^level. */
export type NodeAt = (level: number, index: number) => Buffer;

/** Where a perfect subtree is stored. */
export interface NodeKey {
  level: number;
  index: number;
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** SHA-256(0x00 ‖ data): the leaf hash of one entry (for the log: the event's stored hash bytes). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF).update(data).digest();
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** MTH of the empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number) => n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a whole number ≥ 0, not ${n}`);
}

/** MTH(D[start:end]) from stored perfect subtrees (RFC 9162 §2.1.1, split as the RFC splits). */
export function subtreeHash(start: number, end: number, node: NodeAt): Buffer {
  const n = end - start;
  if (n === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(n) && start % n === 0) return node(Math.log2(n), start / n);
  if (n === 1) throw new RangeError(`no leaf at ${start}`);
  const k = splitPoint(n);
  return nodeHash(subtreeHash(start, start + k, node), subtreeHash(start + k, end, node));
}

/** The root hash of the tree of the first `size` leaves. */
export function rootHash(size: number, node: NodeAt): Buffer {
  checkSize(size, 'the tree size');
  return subtreeHash(0, size, node);
}

/** RFC 9162 §2.1.3.1 PATH(m, D[start:end]), m relative to start. */
function path(m: number, start: number, end: number, node: NodeAt): Buffer[] {
  const n = end - start;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...path(m, start, start + k, node), subtreeHash(start + k, end, node)];
  return [...path(m - k, start + k, end, node), subtreeHash(start, start + k, node)];
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1). */
export function inclusionProof(index: number, size: number, node: NodeAt): Buffer[] {
  checkSize(size, 'the tree size');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  return path(index, 0, size, node);
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b). */
function subproof(m: number, start: number, end: number, complete: boolean, node: NodeAt): Buffer[] {
  const n = end - start;
  if (m === n) return complete ? [] : [subtreeHash(start, end, node)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(m, start, start + k, complete, node), subtreeHash(start + k, end, node)];
  return [...subproof(m - k, start + k, end, false, node), subtreeHash(start, start + k, node)];
}

/** The consistency proof between the trees of `first` and `second` leaves (RFC 9162 §2.1.4.1); empty when first is 0 or equal to second. */
export function consistencyProof(first: number, second: number, node: NodeAt): Buffer[] {
  checkSize(first, 'the first size');
  checkSize(second, 'the second size');
  if (first > second) throw new RangeError(`the first tree (${first}) is larger than the second (${second})`);
  if (first === 0 || first === second) return [];
  return subproof(first, 0, second, true, node);
}

/** The stored subtrees a computation reads: run it once on a recorder, then fetch them all in one query. */
export function nodesNeeded(compute: (node: NodeAt) => unknown): NodeKey[] {
  const seen = new Map<string, NodeKey>();
  const zero = Buffer.alloc(32);
  compute((level, index) => {
    seen.set(`${level}/${index}`, { level, index });
    return zero;
  });
  return [...seen.values()];
}

/** The perfect subtrees that make up the first `size` leaves, largest first: the right edge a growing tree extends. */
export function frontier(size: number): NodeKey[] {
  const out: NodeKey[] = [];
  let start = 0;
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level;
    if (start + width <= size) {
      out.push({ level, index: start / width });
      start += width;
    }
  }
  return out;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** The RFC's "if LSB(fn) is not set, right-shift fn and sn equally until either LSB(fn) is set or fn is 0". */
function climbRightEdge(fn: number, sn: number): [number, number] {
  while (fn % 2 === 0 && fn !== 0) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return [fn, sn];
}

/**
 * RFC 9162 §2.1.3.2: does `proof` show that `leaf` (a leaf hash) is leaf
 * `index` of the tree of `size` leaves whose root is `root`?
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      [fn, sn] = climbRightEdge(fn, sn);
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(r, root);
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree of `first` leaves with
 * root `firstRoot` is a prefix of the tree of `second` leaves with root
 * `secondRoot`? (Equal sizes: equal roots and an empty proof; first 0: always.)
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false;
  if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0 && same(firstRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      [fn, sn] = climbRightEdge(fn, sn);
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(fr, firstRoot) && same(sr, secondRoot);
}
