// Charts as SVG, drawn here: a sparkline for the cards and a history chart
// (average line over a min–max band) with axes and a readout that follows
// the pointer or the arrow keys.

import {h, s, clock} from './dom.js';
import {formatNumber, withUnit} from './format.js';

const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;

/**
 * vertices turns the API's history ({from, to, step_ms, points}) into the
 * corners of the chart's line: each bucket at its middle, a value carried
 * in from before the range at its start, a value held flat across buckets
 * with no change (a sensor that reports only on change), and the current
 * value held until the end. Each vertex is {t, lo, mid, hi}; scale maps
 * values (brightness 0–254 to per cent, for example).
 */
export function vertices(data, current, scale = (v) => v) {
  const step = data.step_ms || 0;
  const end = Math.min(Date.parse(data.to), Date.now());
  const at = (p) => Date.parse(p.time) + (p.count ? step / 2 : 0);
  // A sensor that reports every few minutes is drawn as a line from point
  // to point; a silence much longer than its usual one means the value did
  // not change, so it is held flat.
  const gaps = data.points.slice(1).map((p, i) => at(p) - at(data.points[i])).sort((a, b) => a - b);
  const hold = Math.max(1.5 * step, 3 * (gaps[Math.floor(gaps.length / 2)] || 0));
  const out = [];
  for (const p of data.points) {
    const t = at(p);
    const prev = out[out.length - 1];
    if (prev && t - prev.t > hold) out.push({t: t - step / 2, lo: prev.mid, mid: prev.mid, hi: prev.mid});
    out.push({t, lo: scale(p.min), mid: scale(p.avg), hi: scale(p.max), time: p.time, count: p.count});
  }
  const last = out[out.length - 1];
  if (last && end > last.t) {
    const v = typeof current === 'number' ? scale(current) : last.mid;
    out.push({t: end, lo: v, mid: v, hi: v});
  }
  return out;
}

/** sparkline draws a history (see vertices) in a small SVG. */
export function sparkline(data, current, labelText) {
  const W = 100, H = 28;
  const svg = s('svg', {class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': labelText});
  const vs = vertices(data, current);
  if (vs.length < 2) return svg;
  // A history younger than the window (a new hub, a new sensor) fills the
  // sparkline from its first value rather than making a sliver at its end.
  const from = Math.max(Date.parse(data.from), vs[0].t), to = Date.parse(data.to);
  const lo = Math.min(...vs.map((v) => v.mid)), hi = Math.max(...vs.map((v) => v.mid));
  const span = hi - lo || 1;
  const x = (t) => (((t - from) / (to - from)) * W).toFixed(2);
  const y = (v) => (hi === lo ? H / 2 : H - 2 - ((v - lo) / span) * (H - 4)).toFixed(2);
  const d = vs.map((v, i) => `${i ? 'L' : 'M'}${x(v.t)},${y(v.mid)}`).join('');
  svg.append(
    s('path', {class: 'spark-area', d: `${d}L${x(vs[vs.length - 1].t)},${H}L${x(vs[0].t)},${H}Z`}),
    s('path', {class: 'spark-line', d, 'vector-effect': 'non-scaling-stroke'}),
  );
  return svg;
}

// niceStep returns a round step (1, 2, 2.5 or 5 × 10^n) near span/n.
function niceStep(span, n) {
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const TIME_STEPS = [5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY];
const hm = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'});
const wd = new Intl.DateTimeFormat(undefined, {weekday: 'short'});

/**
 * chart draws a history into a <figure>: data is the API's answer
 * ({from, to, step_ms, points}), opts.label names the attribute, opts.unit
 * its unit, opts.current is its value now and opts.scale maps values. It returns {el, dispose}; the chart redraws when its
 * width changes until dispose is called.
 */
export function chart(data, opts) {
  const readout = h('p', {class: 'readout'});
  const holder = h('div', {class: 'chart-holder'});
  const fig = h('figure', {class: 'chart'}, h('figcaption', {}, h('span', {class: 'chart-title'}, opts.label), readout), holder);
  const vs = vertices(data, opts.current, opts.scale);
  // The points a reader can step through: the buckets with values.
  const pts = vs.filter((v) => v.time !== undefined);
  const from = Date.parse(data.from), to = Date.parse(data.to);
  const fmt = (v) => withUnit(formatNumber(v), opts.unit);

  if (!pts.length) {
    holder.append(h('p', {class: 'empty'}, 'No values in this range.'));
    return {el: fig, dispose() {}};
  }
  const lo = Math.min(...vs.map((p) => p.lo)), hi = Math.max(...vs.map((p) => p.hi));
  const latest = vs[vs.length - 1].mid;
  const summary = `${opts.label}: from ${fmt(lo)} to ${fmt(hi)}, now ${fmt(latest)}`;
  const idle = () => { readout.textContent = lo === hi ? fmt(lo) : `${fmt(lo)} – ${fmt(hi)}`; };
  idle();

  let width = 0, index = -1;
  function draw() {
    const W = Math.max(240, Math.round(holder.clientWidth || 320)), H = 180;
    if (W === width) return;
    width = W;
    const L = 44, R = 10, T = 10, B = 24;
    let ymin = lo, ymax = hi;
    if (ymax - ymin < 1e-9) { ymin -= 1; ymax += 1; }
    const ystep = niceStep(ymax - ymin, 3);
    ymin = Math.floor(ymin / ystep) * ystep;
    ymax = Math.ceil(ymax / ystep) * ystep;
    const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
    const y = (v) => T + (1 - (v - ymin) / (ymax - ymin)) * (H - T - B);

    const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': summary, tabindex: 0, class: 'chart-svg'});
    const grid = s('g', {class: 'grid'});
    for (let v = ymin; v <= ymax + ystep / 2; v += ystep) {
      grid.append(s('line', {x1: L, x2: W - R, y1: y(v), y2: y(v)}), s('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'}, formatNumber(v)));
    }
    const span = to - from;
    const tstep = TIME_STEPS.find((st) => span / st <= Math.max(2, Math.floor((W - L) / 70))) || 7 * DAY;
    const off = new Date(from).getTimezoneOffset() * MIN;
    for (let t = Math.ceil((from - off) / tstep) * tstep + off; t <= to; t += tstep) {
      const label = tstep >= DAY ? wd.format(t) : hm.format(t);
      grid.append(s('line', {class: 'tick', x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4}), s('text', {x: x(t), y: H - 6, 'text-anchor': 'middle'}, label));
    }
    const line = vs.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.mid).toFixed(1)}`).join('');
    const band = vs.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`).join('') +
      vs.slice().reverse().map((p) => `L${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`).join('') + 'Z';
    const cursor = s('g', {class: 'cursor', visibility: 'hidden'}, s('line', {y1: T, y2: H - B}), s('circle', {r: 4}));
    svg.append(grid, s('path', {class: 'band', d: band}), s('path', {class: 'line', d: line}), cursor);
    // The value now, marked: it also shows a history that is all at the end.
    const now = vs[vs.length - 1];
    svg.append(s('circle', {class: 'dot', cx: x(now.t), cy: y(now.mid), r: 3}));

    const show = (i) => {
      index = Math.max(0, Math.min(pts.length - 1, i));
      const p = pts[index];
      cursor.setAttribute('visibility', 'visible');
      cursor.firstChild.setAttribute('x1', x(p.t));
      cursor.firstChild.setAttribute('x2', x(p.t));
      cursor.lastChild.setAttribute('cx', x(p.t));
      cursor.lastChild.setAttribute('cy', y(p.mid));
      const range = p.lo === p.hi ? '' : ` (${formatNumber(p.lo)}–${formatNumber(p.hi)})`;
      readout.textContent = `${p.count ? clock(p.time) : 'Before ' + clock(p.time)} · ${fmt(p.mid)}${range}`;
    };
    const hide = () => { cursor.setAttribute('visibility', 'hidden'); idle(); };
    svg.addEventListener('pointermove', (ev) => {
      const px = ((ev.clientX - svg.getBoundingClientRect().left) / svg.getBoundingClientRect().width) * W;
      let best = 0;
      for (let i = 1; i < pts.length; i++) if (Math.abs(x(pts[i].t) - px) < Math.abs(x(pts[best].t) - px)) best = i;
      show(best);
    });
    svg.addEventListener('pointerleave', hide);
    svg.addEventListener('blur', hide);
    svg.addEventListener('keydown', (ev) => {
      const moves = {ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: pts.length - 1};
      if (!(ev.key in moves)) return;
      ev.preventDefault();
      show(index < 0 && ev.key.startsWith('Arrow') ? pts.length - 1 : moves[ev.key]);
    });
    holder.replaceChildren(svg);
  }
  // Drawn once the figure is in the document and has a width.
  const ro = new ResizeObserver(() => draw());
  ro.observe(holder);
  return {el: fig, dispose: () => ro.disconnect()};
}
