import { expect } from 'vitest';

/** Any part of a value, at any depth: what `thenMatches` compares. */
type DeepPartial<T> = T extends readonly (infer U)[] ? ReadonlyArray<DeepPartial<U>> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

interface SpecDecider<C, E, S> {
  initialState: S;
  evolve(state: S, event: E): S;
  decide(command: C, state: S): E[];
}

/**
 * Given/when/then specifications for pure deciders (STYLE.md):
 * `spec.given([events]).when(command).then([events])` or `.thenThrows(ErrorClass, code?)`.
 */
export function deciderSpec<C, E, S>(decider: SpecDecider<C, E, S>) {
  return {
    given(events: readonly E[]) {
      const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
      return {
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: readonly E[]) {
              expect(run()).toEqual(expected);
            },
            /** the events decided, compared on the fields given only (at any depth) */
            thenMatches(expected: ReadonlyArray<DeepPartial<E>>) {
              expect(run()).toMatchObject(expected);
            },
            thenNothing() {
              expect(run()).toEqual([]);
            },
            thenThrows(errorClass: abstract new (...args: never[]) => Error, code?: string) {
              let thrown: unknown;
              try {
                run();
              } catch (e) {
                thrown = e;
              }
              expect(thrown, 'expected the command to be refused').toBeInstanceOf(errorClass);
              if (code) expect((thrown as { code?: string }).code).toBe(code);
              return thrown as Error & { code: string; details?: Record<string, unknown> };
            },
          };
        },
        /** the state after the given events, for assertions on evolve */
        state,
      };
    },
  };
}
