// Opt-in experiments (BENCH_EXPERIMENTS=1): variants run beside the subject in
// the same rounds, to size a change before it is made (the relay's page size,
// a producer with fewer headers).

export const experimentsEnabled = (): boolean => process.env.BENCH_EXPERIMENTS === '1';

