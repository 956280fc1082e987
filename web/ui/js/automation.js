// One automation: its switch and run-now, what it is (mode, file, reaction
// time), its runs as timelines, why it did not fire, its YAML, and a
// what-if test of a change. Kept current by the live stream.

import {api, enc} from './api.js';
import {h, icon, timeEl, refreshTimes} from './dom.js';
import {autoName, lastRun, nearMiss, ns, outcomeChip, runLength, runNumber, timeline} from './trace.js';
import {BOLT, enabledSwitch, runButton} from './automations.js';
import {whatIfPanel} from './whatif.js';
import {ICONS} from './format.js';

const TRACES = 20;

/** mount draws the page of automation id into main. */
export function mount(main, live, id) {
  const title = h('h1', {tabindex: -1}, autoName(id));
  document.title = `${autoName(id)} · Hearth`;
  const back = h('a', {href: '#/automations', class: 'back'}, icon(ICONS.back), 'Automations');
  const desc = h('p', {class: 'muted device-where'});
  const err = h('p', {class: 'control-error', role: 'alert'});
  const status = h('p', {class: 'form-status', role: 'status'});
  const controls = h('div', {class: 'auto-controls'});
  const facts = h('dl', {class: 'state pairs'});
  const runs = h('ol', {class: 'runs', 'aria-label': 'Runs, newest first'});
  const misses = h('ol', {class: 'misses'});
  const yaml = h('pre', {class: 'yaml', tabindex: 0, 'aria-labelledby': 'sec-yaml'});
  const yamlWhere = h('p', {class: 'muted yaml-where'});
  const body = h('div', {class: 'device-grid', 'aria-busy': 'true'});
  main.replaceChildren(back, h('div', {class: 'device-head auto-head'}, icon(BOLT), h('div', {class: 'auto-title'}, title, desc), controls), status, err, body);
  const ctrl = new AbortController();
  let sw = null, whatIf = null, info = null;
  const traceEls = new Map(); // run → {el, sig}

  async function load() {
    try {
      const [a, traces] = await Promise.all([
        api(`/api/automations/${enc(id)}`, {signal: ctrl.signal}),
        api(`/api/automations/${enc(id)}/traces?limit=${TRACES}`, {signal: ctrl.signal}),
      ]);
      info = a;
      drawInfo(a);
      drawRuns(traces);
      drawMisses(a.near_misses || []);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (!info) {
        body.replaceChildren(h('div', {class: 'empty-state'},
          h('p', {}, e.status === 404 ? `No automation "${id}" is loaded.` : e.status === 503 ? 'Automations are not connected to the page on this hub.' : `This automation could not be read: ${e.message}`),
          h('p', {}, h('a', {href: '#/automations'}, 'All automations'))));
      } else {
        err.textContent = `Could not read it again: ${e.message}`;
      }
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function drawInfo(a) {
    if (!sw) {
      sw = enabledSwitch(a, () => load(), err);
      controls.replaceChildren(h('label', {class: 'switch-label'}, h('span', {}, 'Enabled'), sw.el), runButton(id, status, () => (info ? info.mode : ''), () => soon()));
      whatIf = whatIfPanel({
        heading: 'Test a change against the log',
        intro: 'Edit it and see what it would have done: it runs against what the house did, on a clock of its own, and nothing is sent to any device.',
        yaml: a.yaml || '',
        nameOf: live.nameOf,
      });
      body.replaceChildren(
        h('section', {class: 'panel wide', 'aria-labelledby': 'sec-runs'}, h('h2', {id: 'sec-runs'}, 'Runs'), runs),
        h('section', {class: 'panel', 'aria-labelledby': 'sec-about'}, h('h2', {id: 'sec-about'}, 'About'), facts),
        h('section', {class: 'panel', 'aria-labelledby': 'sec-misses'},
          h('h2', {id: 'sec-misses'}, 'Why didn’t it fire?'),
          h('p', {class: 'muted panel-intro'}, 'Events that reached its triggers without starting a run, and why.'), misses),
        h('section', {class: 'panel wide', 'aria-labelledby': 'sec-yaml'}, h('h2', {id: 'sec-yaml'}, 'YAML'), yamlWhere, yaml),
        h('div', {class: 'wide'}, whatIf));
    }
    sw.set(a.enabled);
    sw.el.setAttribute('aria-label', 'Enabled');
    desc.textContent = a.description || '';
    const l = a.latency;
    const rows = [
      ['Mode', [h('strong', {}, a.mode), ' ', h('span', {class: 'muted'}, MODES[a.mode] || '')]],
      ['Last run', lastRun(a.last_run)],
      ['Reacts in', reaction(l)],
      ['After a restart', a.missed === 'skip' ? 'Timers that came due while the hub was down are skipped' : 'Timers that came due while the hub was down fire at once'],
      ['Defined in', a.file ? [h('code', {}, a.file), a.line ? `, line ${a.line}` : ''] : '—'],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    yaml.textContent = a.yaml || '(not available)';
    yamlWhere.textContent = a.file ? `As written in ${a.file}${a.line ? `, from line ${a.line}` : ''}.` : '';
  }

  function drawRuns(traces) {
    if (!traces.length) {
      traceEls.clear();
      runs.replaceChildren(h('li', {class: 'muted empty-row'}, 'No runs yet. Each run shows here as it happens, step by step.'));
      return;
    }
    runs.querySelector('.empty-row')?.remove();
    const seen = new Set();
    const els = traces.map((tr, i) => {
      seen.add(tr.run);
      const sig = `${tr.outcome}|${tr.steps.length}|${tr.ended || ''}`;
      let t = traceEls.get(tr.run);
      if (!t || t.sig !== sig) {
        const open = t ? t.el.querySelector('details').open : i === 0;
        const el = runItem(tr, open, live.nameOf);
        if (t) t.el.replaceWith(el);
        t = {el, sig};
        traceEls.set(tr.run, t);
      }
      return t.el;
    });
    for (const run of [...traceEls.keys()]) if (!seen.has(run)) { traceEls.get(run).el.remove(); traceEls.delete(run); }
    els.forEach((el, i) => { if (runs.children[i] !== el) runs.insertBefore(el, runs.children[i] || null); });
    while (runs.children.length > els.length) runs.lastChild.remove();
  }

  function drawMisses(list) {
    misses.replaceChildren(...(list.length ? list.map((m) => nearMiss(m)) :
      [h('li', {class: 'muted'}, 'Nothing reached its triggers without starting a run since the hub started.')]));
  }

  // This automation's commands and traces come on the stream: read again
  // soon. A near miss leaves no event of its own (any change of a device
  // could be one): those are read again at most every 5 s.
  let timer = 0, due = 0;
  const after = (ms) => {
    const at = Date.now() + ms;
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(() => { timer = 0; load(); }, ms);
  };
  const soon = () => after(300);
  const onEvent = (ev) => {
    const e = ev.detail.event;
    const run = (e.cause && e.cause.run) || '';
    if ((e.kind === 'run' && e.topic === `$hearth/automations/${id}`) || run.startsWith(`${id}#`)) soon();
    else if (e.kind === 'state' && info) after(5000);
  };
  live.addEventListener('event', onEvent);
  live.addEventListener('reload', soon);
  const ticker = setInterval(() => refreshTimes(main), 30e3);
  load();
  return {
    title,
    unmount() {
      ctrl.abort();
      live.removeEventListener('event', onEvent);
      live.removeEventListener('reload', soon);
      clearTimeout(timer);
      clearInterval(ticker);
    },
  };
}

// reaction says how fast runs reacted: from the event in to the last
// command out before the run first waited.
function reaction(l) {
  if (!l || !l.count) return h('span', {class: 'muted'}, 'Not measured yet');
  const runs = `${l.count} run${l.count === 1 ? '' : 's'} since the hub started`;
  if (l.count < 10) return `${ns(l.p50_ns)} typically, ${ns(l.max_ns)} at the slowest (${runs})`;
  return `${ns(l.p50_ns)} typically; 90% within ${ns(l.p90_ns)}, 99% within ${ns(l.p99_ns)}, ${ns(l.max_ns)} at the slowest (${runs})`;
}

const MODES = {
  single: '(a trigger while it runs is dropped)',
  restart: '(a trigger while it runs starts it again)',
  queued: '(a trigger while it runs waits its turn)',
  parallel: '(a trigger while it runs starts another run beside it)',
};

// runItem is one run: a summary that opens onto its timeline.
function runItem(tr, open, nameOf) {
  const n = runNumber(tr.run);
  return h('li', {class: `run run-${tr.outcome.replace(/\W+/g, '-')}`, 'data-run': tr.run},
    h('details', {open},
      h('summary', {class: 'run-summary'},
        outcomeChip(tr.outcome), ' ',
        h('strong', {}, `Run ${n}`), ' ',
        h('span', {class: 'run-when'}, timeEl(tr.started, 'run-time'),
          h('span', {class: 'muted run-length'}, tr.outcome === 'running' ? ` · going for ${runLength(tr)}` : ` · took ${runLength(tr)}`))),
      tr.error ? h('p', {class: 'step-error'}, tr.error) : '',
      timeline(tr, {nameOf})));
}
