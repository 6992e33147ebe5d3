// Server-sent events from the projections (GET /api/changes), read with
// fetch so that the bearer token goes in a header (EventSource cannot send
// one). Each event says only "the read models are at position N"; the
// screens that listen read again with `?after=N`. On a dropped line it
// reconnects after the server's `retry` delay.

type Listener = (position: number) => void;
const listeners = new Set<Listener>();
let position = 0;
let controller: AbortController | undefined;

export function currentPosition(): number {
  return position;
}

export function onChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function stopChanges(): void {
  controller?.abort();
  controller = undefined;
}

export function startChanges(token: string): void {
  stopChanges();
  const c = new AbortController();
  controller = c;
  void (async () => {
    let retry = 2000;
    while (!c.signal.aborted) {
      try {
        const res = await fetch('/api/changes', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: c.signal });
        if (res.status === 401 || res.status === 403) return;
        if (!res.ok || !res.body) throw new Error(String(res.status));
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const line of block.split('\n')) {
              if (line.startsWith('retry: ')) retry = Number(line.slice(7)) || retry;
              if (line.startsWith('data: ')) {
                const p = Number((JSON.parse(line.slice(6)) as { position?: number }).position);
                if (Number.isSafeInteger(p) && p > position) {
                  position = p;
                  document.documentElement.dataset['position'] = String(p);
                  for (const l of listeners) l(p);
                }
              }
            }
          }
        }
      } catch {
        if (c.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, retry));
    }
  })();
}
