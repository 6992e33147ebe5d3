export * from './case.js';
