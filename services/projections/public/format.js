// Numbers, durations and dates as an Italian reader expects them; times in
// the time zone of the One Stop Shops.

const TZ = 'Europe/Rome';
const int = new Intl.NumberFormat('it-IT', { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat('it-IT', { maximumFractionDigits: 1 });
const pct = new Intl.NumberFormat('it-IT', { style: 'percent', maximumFractionDigits: 0 });
const dateTime = new Intl.DateTimeFormat('it-IT', { dateStyle: 'short', timeStyle: 'short', timeZone: TZ });
const dateOnly = new Intl.DateTimeFormat('it-IT', { dateStyle: 'medium', timeZone: TZ });
const timeOnly = new Intl.DateTimeFormat('it-IT', { timeStyle: 'medium', timeZone: TZ });
const seconds = new Intl.DateTimeFormat('it-IT', { dateStyle: 'short', timeStyle: 'medium', timeZone: TZ });

export const num = (n) => int.format(n);
export const dec = (n) => one.format(n);
export const percent = (part, whole) => (whole > 0 ? pct.format(part / whole) : '—');

/** A median in hours: "30 h", or "72 h (3 g)" from two days on; "—" without data. */
export function hours(h) {
  if (h == null) return '—';
  const text = `${one.format(h)} h`;
  return h >= 48 ? `${text} (${one.format(h / 24)} g)` : text;
}

export const when = (iso) => (iso ? dateTime.format(new Date(iso)) : '—');
export const whenPrecise = (iso) => (iso ? seconds.format(new Date(iso)) : '—');
export const day = (iso) => (iso ? dateOnly.format(new Date(iso)) : '—');
export const clock = (date) => timeOnly.format(date);

/** Whole days from `iso` to now (0 when less than a day). */
export const daysSince = (iso, now = Date.now()) => Math.max(0, Math.floor((now - Date.parse(iso)) / 86_400_000));

/** The first characters of an id, enough to tell ids apart on screen. */
export const shortId = (id) => (typeof id === 'string' && id.length > 8 ? `${id.slice(0, 8)}…` : String(id));
