import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { after, newIdempotencyKey, Problem } from './api';
import { currentPosition, onChange } from './changes';
import { problemText, t } from './i18n';

/**
 * Data that stays current: loaded once, and again whenever the projections
 * announce a new position (the read passes `after`, so it waits for it).
 */
export function useLive<T>(load: (after: number | undefined) => Promise<T>, deps: unknown[]): { data: T | undefined; error: Problem | undefined; reload: (position?: number) => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Problem>();
  const seq = useRef<number>(0);
  // one read in flight per list, and at most one more queued: a burst of changes costs two reads, not one per change
  const inFlight = useRef(false);
  const queued = useRef<{ position: number | undefined } | undefined>(undefined);
  const latest = useRef<(position?: number) => void>(() => undefined);
  const reload = useCallback((position?: number) => {
    if (inFlight.current) {
      queued.current = { position };
      return;
    }
    inFlight.current = true;
    const mine = ++seq.current;
    load(position)
      .then((d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (mine === seq.current) setError(e instanceof Problem ? e : new Problem(0, 'unknown', String(e)));
      })
      .finally(() => {
        inFlight.current = false;
        const next = queued.current;
        queued.current = undefined;
        // the queued read uses the list's current arguments, not those of the read that just ended
        if (next) latest.current(next.position);
      });
  }, deps);
  latest.current = reload;
  useEffect(() => {
    reload(currentPosition() || undefined);
    return onChange((p) => reload(p));
  }, [reload]);
  return { data, error, reload };
}

/** A form submission: one Idempotency-Key per submission (a double click sends the same key), disabled while it runs. */
export function useSubmit<T>(action: (key: string) => Promise<T>, onDone?: (result: T) => void) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  const key = useRef<string | undefined>(undefined);
  const running = useRef(false);
  const submit = async (e?: Event) => {
    e?.preventDefault();
    key.current ??= newIdempotencyKey();
    if (running.current) return;
    running.current = true;
    setBusy(true);
    setProblem(undefined);
    try {
      const r = await action(key.current);
      key.current = undefined;
      onDone?.(r);
    } catch (err) {
      // a refusal is final for this key: a corrected submission is a new one
      if (err instanceof Problem && err.status >= 400 && err.status < 500) key.current = undefined;
      setProblem(err instanceof Problem ? err : new Problem(0, 'unknown', String(err)));
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  return { submit, busy, problem };
}

export const withAfter = after;

let ids = 0;
export const useId = (prefix: string) => useRef(`${prefix}-${++ids}`).current;

/** A labelled field; the API's problem for it (or a live check) shown beneath, tied to it for screen readers. */
export function Field(props: {
  label: string;
  name: string;
  problem?: Problem | undefined;
  hint?: string | undefined;
  error?: string | undefined;
  children: (attrs: { id: string; name: string; 'aria-describedby'?: string; 'aria-invalid'?: 'true'; class: string }) => ComponentChildren;
}) {
  const id = useId(props.name);
  const message = props.error ?? (props.problem ? fieldProblem(props.problem, props.name) : undefined);
  const describedBy = [props.hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="form-group">
      <label for={id}>{props.label}</label>
      {props.children({
        id,
        name: props.name,
        ...(describedBy ? { 'aria-describedby': describedBy } : {}),
        ...(message ? { 'aria-invalid': 'true' as const } : {}),
        class: message ? 'form-control is-invalid' : 'form-control',
      })}
      {props.hint && (
        <small id={`${id}-hint`} class="form-text">
          {props.hint}
        </small>
      )}
      {message && (
        <div id={`${id}-error`} class="invalid-feedback" role="alert">
          {message}
        </div>
      )}
    </div>
  );
}

function fieldProblem(p: Problem, name: string): string | undefined {
  const m = p.field(name);
  return m === undefined ? undefined : problemText(p, m);
}

/** A problem not tied to one field, in plain words. */
export function ProblemAlert({ problem, fields = [] }: { problem: Problem | undefined; fields?: string[] }) {
  if (!problem) return null;
  // issues shown next to their field are not repeated here
  if (problem.issues.length && problem.issues.every((i) => fields.some((f) => i.path === f || i.path.endsWith(`.${f}`)))) {
    return (
      <div class="alert alert-danger" role="alert">
        {t('fixFields')}
      </div>
    );
  }
  return (
    <div class="alert alert-danger" role="alert">
      {problemText(problem)}
    </div>
  );
}

export function Loading({ error }: { error?: Problem | undefined }) {
  if (error) return <ProblemAlert problem={error} />;
  return (
    <p role="status" class="text-secondary">
      {t('loading')}
    </p>
  );
}

export function Submit({ busy, label, variant = 'primary' }: { busy: boolean; label: string; variant?: string }) {
  return (
    <button type="submit" class={`btn btn-${variant}`} disabled={busy} aria-busy={busy}>
      {busy ? t('working') : label}
    </button>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="mb-5" aria-labelledby={id ?? undefined}>
      <h2 class="h4" id={id}>
        {title}
      </h2>
      {children}
    </section>
  );
}

export const formatDate = (iso: string | null | undefined, withTime = false): string => {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return withTime ? d.toLocaleString(document.documentElement.lang) : d.toLocaleDateString(document.documentElement.lang);
};

/** The value of the field an input or change event comes from. */
export const value = (e: Event): string => (e.currentTarget as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value;
