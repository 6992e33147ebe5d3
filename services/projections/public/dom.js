/* global document */
// Building the page with the DOM only: every text goes in as textContent,
// never as HTML, so nothing an API returns can become markup or script.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'hidden' && v === true) el.hidden = true;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return el;
}

/** An HTML element: h('td', { class: 'num' }, '3'). */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** An SVG element. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replaces the content of an element. */
export function fill(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

/** The element with this id (it must exist: the page is ours). */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** A table with a caption, a header row and rows of cells (strings, numbers or elements). */
export function table({ caption, head, rows, className = 'data', rowAttrs = () => ({}), numeric = [], wide = [] }) {
  const cell = (tag, c, i) => h(tag, { class: numeric.includes(i) ? 'num' : wide.includes(i) ? 'wide' : null, scope: tag === 'th' ? 'col' : null }, c);
  return h(
    'table',
    { class: className },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, head.map((c, i) => cell('th', c, i)))),
    h(
      'tbody',
      {},
      rows.map((r, ri) => h('tr', rowAttrs(ri), r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : cell('td', c, i))))),
    ),
  );
}

/** A horizontally scrollable region for a wide table, reachable with the keyboard. */
export const scroller = (labelText, child) => h('div', { class: 'scroller', role: 'region', 'aria-label': labelText, tabindex: '0' }, child);
