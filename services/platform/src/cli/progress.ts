// A dependency-free progress renderer for the `onestop` CLI, on stderr so
// that stdout stays for results. On a terminal it redraws one line with a
// bar; elsewhere (CI logs, pipes, files) it prints a plain line now and then.

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** what is counted: "events", "streams", "keys" */
  unit: string;
  /** force the terminal or plain mode (default: the stream's isTTY) */
  tty?: boolean;
  /** plain mode: at most one line per this many ms (default 2000; the first and the last are always printed) */
  intervalMs?: number;
  /** terminal mode: at most one redraw per this many ms (default 80) */
  redrawMs?: number;
  now?: () => number;
}

const group = (n: number) => Math.round(n).toLocaleString('en-US');

export class Progress {
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly redrawMs: number;
  private readonly now: () => number;
  private readonly started: number;
  private last = -Infinity;
  private lastLine = '';
  private done = 0;
  private total: number | undefined = 0;
  private detail = '';
  private drawn = false;
  private finished = false;

  constructor(
    private readonly label: string,
    private readonly out: ProgressStream,
    private readonly options: ProgressOptions,
  ) {
    this.tty = options.tty ?? Boolean(out.isTTY);
    this.intervalMs = options.intervalMs ?? 2000;
    this.redrawMs = options.redrawMs ?? 80;
    this.now = options.now ?? Date.now;
    this.started = this.now();
  }

  /**
   * Reports `done` of `total` (total 0: nothing to do, shown as complete;
   * total undefined: not known, only the count is shown).
   */
  update(done: number, total?: number, detail = ''): void {
    if (this.finished) return;
    this.done = Math.max(0, done);
    this.total = total === undefined ? undefined : Math.max(0, total);
    this.detail = detail;
    // plain lines: the last one is finish()'s
    if (!this.tty && this.total !== undefined && this.fraction() >= 1) return;
    const t = this.now();
    const due = t - this.last >= (this.tty ? this.redrawMs : this.intervalMs);
    if (this.drawn && !due) return;
    this.last = t;
    this.render(false);
  }

  /** Draws the final state and ends the line; `message` replaces the detail. */
  finish(message?: string): void {
    if (this.finished) return;
    if (message !== undefined) this.detail = message;
    if (this.total === undefined || this.total === 0 || this.done > this.total) this.total = this.done;
    this.render(true);
    this.finished = true;
  }

  /** 0–1 */
  fraction(): number {
    if (this.total === undefined) return 0;
    return this.total === 0 ? 1 : Math.min(1, this.done / this.total);
  }

  private render(final: boolean): void {
    const f = this.fraction();
    const known = this.total !== undefined;
    const pct = known ? `${Math.floor(f * 100)}%`.padStart(4) : '';
    const counts = known ? `${group(this.done)}/${group(this.total!)} ${this.options.unit}` : `${group(this.done)} ${this.options.unit}`;
    const elapsed = `${((this.now() - this.started) / 1000).toFixed(1)} s`;
    const detail = this.detail ? `  ${this.detail}` : '';
    if (this.tty) {
      const columns = this.out.columns || 80;
      const width = Math.max(10, Math.min(30, columns - this.label.length - 50));
      let bar: string;
      if (known) {
        const full = Math.round(f * width);
        bar = `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
      } else {
        // not known how far: a block that moves with every update
        const at = this.done % width;
        bar = `${'░'.repeat(at)}█${'░'.repeat(width - at - 1)}`;
      }
      const line = `${this.label} [${bar}]${pct ? ` ${pct}` : ''} ${counts} ${elapsed}${detail}`.slice(0, Math.max(20, columns - 1));
      this.out.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    } else {
      const line = known ? `${this.label}: ${pct.trim()} (${counts})${detail}` : `${this.label}: ${counts}${detail}`;
      if (line === this.lastLine && !final) return;
      this.lastLine = line;
      this.out.write(`${line}${final ? ` in ${elapsed}` : ''}\n`);
    }
    this.drawn = true;
  }
}
