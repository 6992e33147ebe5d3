// Exit codes and the one error type of the `onestop` CLI (no imports: `onestop --help` loads nothing else).

/** Exit codes of the CLI (documented in `onestop --help`). */
export const EXIT = {
  ok: 0,
  /** a verification or check failed */
  failed: 1,
  /** usage error, or the command was refused */
  usage: 2,
  /** infrastructure or configuration error */
  infrastructure: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}
