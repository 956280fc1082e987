// Small DOM helpers: build elements node by node (no markup from data
// ever reaches the parser), and format times for people.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  // Flattened all the way: a view mapping each item to a few elements
  // nests lists in lists, and an array left in would print as text.
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** h builds an HTML element: h('a', {href: '#/'}, 'Home'). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

/** icon returns a 24×24 stroked SVG icon drawn from a path. */
export function icon(d, label) {
  return s('svg', {class: 'icon', viewBox: '0 0 24 24', 'aria-hidden': label ? null : 'true', role: label ? 'img' : null, 'aria-label': label},
    s('path', {d}));
}

/** clear empties an element. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
const dayFmt = new Intl.DateTimeFormat(undefined, {weekday: 'short', hour: '2-digit', minute: '2-digit'});
const rel = new Intl.RelativeTimeFormat(undefined, {numeric: 'auto'});

/** clock formats a time of today as 14:03:22, an older one with its day. */
export function clock(t) {
  const d = new Date(t);
  return Date.now() - d.getTime() < 20 * 3600e3 ? timeFmt.format(d) : dayFmt.format(d);
}

/** ago says how long ago a time was: "2 minutes ago". */
export function ago(t) {
  const secs = (new Date(t).getTime() - Date.now()) / 1000;
  if (!Number.isFinite(secs) || new Date(t).getFullYear() < 2000) return 'never';
  const abs = Math.abs(secs);
  if (abs < 45) return 'just now';
  if (abs < 3600) return rel.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rel.format(Math.round(secs / 3600), 'hour');
  return rel.format(Math.round(secs / 86400), 'day');
}

/** timeEl is a <time> showing ago(t), kept fresh by refreshTimes. */
export function timeEl(t, cls) {
  const d = new Date(t);
  const valid = Number.isFinite(d.getTime());
  return h('time', {class: cls, datetime: valid ? d.toISOString() : null, 'data-ago': valid ? '' : null, title: valid ? d.toLocaleString() : null}, ago(t));
}

/** refreshTimes rewrites every <time> made by timeEl under root. */
export function refreshTimes(root) {
  for (const el of root.querySelectorAll('time[data-ago]')) el.textContent = ago(el.getAttribute('datetime'));
}

/** announce tells screen readers something (a polite live region). */
export function announce(msg) {
  const el = document.getElementById('announce');
  if (!el) return;
  el.textContent = '';
  // A change of text in a later task is what makes readers speak it again.
  setTimeout(() => { el.textContent = msg; }, 50);
}

const sheets = new Map();

/** loadStyle adds one of the hub's stylesheets once; it resolves when the sheet applies. */
export function loadStyle(href) {
  if (!sheets.has(href)) {
    sheets.set(href, new Promise((resolve, reject) => {
      const link = h('link', {rel: 'stylesheet', href});
      link.addEventListener('load', () => resolve());
      link.addEventListener('error', () => {
        sheets.delete(href);
        link.remove();
        reject(new Error(`${href} could not be loaded`));
      });
      document.head.append(link);
    }));
  }
  return sheets.get(href);
}
