// The verifiable log's pure parts: RFC 9162 proofs and C2SP signed notes.
// No database: the offline verifier and the witness use only these.
export * from './tree.js';
export * from './note.js';
export * from './verify.js';
