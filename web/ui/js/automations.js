// Automations: the list, each with its enabled switch, last run, reaction
// time and a run-now button; the mistakes and warnings of the last load at
// the top; a Reload button; and a what-if test of new automations. Kept
// current by the live stream (a run's commands and its trace are events).

import {api, enc} from './api.js';
import {h, icon, timeEl, refreshTimes, announce} from './dom.js';
import {autoName, lastRun, ns, problemList} from './trace.js';
import {whatIfPanel} from './whatif.js';

/** BOLT is the icon of an automation. */
export const BOLT = 'M13 3L5 14h6l-1 7 8-11h-6z';

// A warning that a device "has not been seen yet" is stale once the page
// knows the device: the hub checked when it loaded the automations.
const UNSEEN = /^device "([^"]+)" has not been seen yet/;

/** mount draws the automations page into main. */
export function mount(main, live) {
  const title = h('h1', {tabindex: -1}, 'Automations');
  const summary = h('p', {class: 'summary'});
  const reload = h('button', {type: 'button', class: 'button subtle', 'aria-describedby': 'reload-status', hidden: true}, 'Reload');
  const status = h('p', {id: 'reload-status', class: 'form-status', role: 'status'});
  const notices = h('div', {class: 'notices'});
  const list = h('ul', {class: 'cards auto-list', 'aria-label': 'Automations'});
  const body = h('div', {class: 'automations', 'aria-busy': 'true'}, notices, list);
  main.replaceChildren(
    h('div', {class: 'page-head'}, h('div', {}, title, summary), h('div', {class: 'head-actions'}, status, reload)),
    body,
    whatIfPanel({
      heading: 'Test new automations against the log',
      intro: 'Paste automations as a file holds them: they run against what the house did, on a clock of their own, and nothing is sent to any device.',
      yaml: '',
      nameOf: live.nameOf,
    }));
  const ctrl = new AbortController();
  const cards = new Map(); // id → {el, update}
  let lastList = null;

  async function load() {
    try {
      const l = await api('/api/automations', {signal: ctrl.signal});
      lastList = l;
      draw(l);
    } catch (e) {
      if (e.name === 'AbortError') return;
      cards.clear();
      notices.replaceChildren();
      list.replaceChildren();
      list.hidden = true;
      notices.append(h('div', {class: 'empty-state'},
        h('p', {}, e.status === 503 ? 'Automations are not connected to the page on this hub.' : `Automations could not be read: ${e.message}`),
        h('p', {class: 'muted'}, 'Runs still happen: their commands show on the Events page, with the automation that sent them.')));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function draw(l) {
    const autos = l.automations || [];
    // A hub without an automations file (the demo) has nothing to reload.
    reload.hidden = !l.can_reload;
    const problems = l.problems || [];
    const warnings = (l.warnings || []).filter((w) => {
      const m = UNSEEN.exec(w.message);
      return !(m && live.devices.has(m[1]));
    });
    const on = autos.filter((a) => a.enabled).length;
    summary.replaceChildren(`${autos.length} automation${autos.length === 1 ? '' : 's'}`,
      autos.length ? ` · ${on === autos.length ? 'all' : on} on` : '',
      ...(l.loaded ? [' · loaded ', timeEl(l.loaded)] : []));
    notices.replaceChildren(
      problems.length ? h('section', {class: 'notice notice-bad', role: 'alert', 'aria-labelledby': 'sec-problems'},
        h('h2', {id: 'sec-problems'}, `The last reload found ${problems.length} mistake${problems.length === 1 ? '' : 's'}`),
        h('p', {}, autos.length ? 'The file was not loaded: the automations below are those of the last good load, and they keep running. Fix the file and reload.' :
          'The file was not loaded. Fix it and reload.'),
        problemList(problems)) : '',
      warnings.length ? warningsPanel(warnings) : '');
    list.hidden = !autos.length;
    if (!autos.length && !problems.length) {
      notices.append(h('div', {class: 'empty-state'}, h('p', {}, 'No automations are loaded.'),
        h('p', {class: 'muted'}, 'Start the hub with --automations FILE to load some, or try some below against the log.')));
    }
    const seen = new Set();
    const els = autos.map((a) => {
      seen.add(a.id);
      let c = cards.get(a.id);
      if (!c) {
        c = card(a);
        cards.set(a.id, c);
      }
      c.update(a);
      return c.el;
    });
    for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
    // Keep the cards that stay where they are (and the focus in them).
    els.forEach((el, i) => { if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null); });
    while (list.children.length > els.length) list.lastChild.remove();
  }

  reload.addEventListener('click', async () => {
    reload.disabled = true;
    status.textContent = 'Reloading…';
    try {
      const res = await api('/api/automations/reload', {method: 'POST'});
      status.textContent = `Reloaded: ${res.summary}.`;
    } catch (e) {
      status.textContent = e.status === 422 ? 'Not reloaded: the file has mistakes (listed above).' : `Not reloaded: ${e.message}`;
    } finally {
      reload.disabled = false;
      await load();
      announce(status.textContent);
    }
  });

  // A run's commands and its trace come on the stream: read the list again,
  // at most every half second.
  let timer = 0;
  const soon = () => { if (!timer) timer = setTimeout(() => { timer = 0; load(); }, 500); };
  const onEvent = (ev) => {
    const e = ev.detail.event;
    if (e.kind === 'run' || (e.kind === 'command' && e.cause && e.cause.run)) soon();
  };
  const onDevices = () => { if (lastList) draw(lastList); };
  live.addEventListener('event', onEvent);
  live.addEventListener('reload', soon);
  live.addEventListener('devices', onDevices);
  const ticker = setInterval(() => refreshTimes(main), 30e3);
  load();
  return {
    title,
    unmount() {
      ctrl.abort();
      live.removeEventListener('event', onEvent);
      live.removeEventListener('reload', soon);
      live.removeEventListener('devices', onDevices);
      clearTimeout(timer);
      clearInterval(ticker);
    },
  };
}

function warningsPanel(warnings) {
  const n = warnings.length;
  return h('section', {class: 'notice notice-warn', 'aria-labelledby': 'sec-warnings'},
    h('details', {open: n <= 3},
      h('summary', {}, h('h2', {id: 'sec-warnings'}, `${n} warning${n === 1 ? '' : 's'} from the last load`)),
      h('p', {}, 'They did not stop the automations from loading, but may be mistakes.'),
      problemList(warnings)));
}

/**
 * enabledSwitch is an automation's on/off switch; it asks the hub and shows
 * the answer. onChange(enabled) follows a change the hub accepted.
 */
export function enabledSwitch(a, onChange, errorEl) {
  let id = a.id, enabled = a.enabled;
  const sw = h('button', {type: 'button', class: 'switch', role: 'switch', 'aria-checked': String(enabled), 'aria-label': `${autoName(id)} enabled`},
    h('span', {class: 'switch-knob', 'aria-hidden': 'true'}));
  sw.addEventListener('click', async () => {
    const want = !enabled;
    sw.disabled = true;
    sw.setAttribute('aria-busy', 'true');
    errorEl.textContent = '';
    try {
      await api(`/api/automations/${enc(id)}/${want ? 'enable' : 'disable'}`, {method: 'POST'});
      set(want);
      announce(`${autoName(id)} ${want ? 'enabled' : 'disabled'}`);
      onChange(want);
    } catch (e) {
      errorEl.textContent = `Not ${want ? 'enabled' : 'disabled'}: ${e.message}`;
    } finally {
      sw.disabled = false;
      sw.removeAttribute('aria-busy');
    }
  });
  function set(on) {
    enabled = on;
    sw.setAttribute('aria-checked', String(on));
  }
  return {el: sw, set};
}

/**
 * runButton starts a run now and says what happened in statusEl; mode()
 * is the automation's mode, to say why a run was refused.
 */
export function runButton(id, statusEl, mode, after) {
  const b = h('button', {type: 'button', class: 'button subtle run-now'}, 'Run now');
  b.setAttribute('aria-label', `Run ${autoName(id)} now`);
  b.addEventListener('click', async () => {
    b.disabled = true;
    statusEl.textContent = 'Starting…';
    statusEl.classList.remove('error');
    try {
      const res = await api(`/api/automations/${enc(id)}/run`, {method: 'POST'});
      statusEl.textContent = `Started run ${(/#(\d+)$/.exec(res.run) || [])[1] || res.run}.`;
      if (after) after();
    } catch (e) {
      statusEl.textContent = e.status !== 409 ? `Not started: ${e.message}` : mode() === 'single' ?
        'Not started: a run is still going, and its mode, single, runs one at a time.' :
        `Not started: its mode, ${mode()}, has as many runs going or waiting as it allows.`;
      statusEl.classList.add('error');
    } finally {
      b.disabled = false;
      announce(statusEl.textContent);
    }
  });
  return b;
}

/** card is one automation in the list; update redraws it in place. */
function card(a) {
  const id = a.id;
  const name = h('a', {href: `#/automations/${enc(id)}`, class: 'card-name'}, autoName(id));
  const err = h('p', {class: 'control-error', role: 'alert'});
  const sw = enabledSwitch(a, (on) => el.classList.toggle('disabled', !on), err);
  const desc = h('p', {class: 'auto-desc'});
  const last = h('p', {class: 'auto-last'});
  const latency = h('p', {class: 'auto-latency muted'});
  const status = h('p', {class: 'form-status auto-status', role: 'status'});
  const mode = h('span', {class: 'chip'});
  const el = h('li', {class: 'card auto', 'data-automation': id},
    h('div', {class: 'card-head'}, icon(BOLT), h('h3', {}, name), sw.el),
    desc, last, latency, err,
    h('div', {class: 'auto-foot'}, runButton(id, status, () => a.mode), status, mode));
  function update(next) {
    a = next;
    el.classList.toggle('disabled', !a.enabled);
    sw.set(a.enabled);
    desc.textContent = a.description || '';
    desc.hidden = !a.description;
    last.replaceChildren(...(a.last_run ? [h('span', {class: 'muted'}, 'Last run '), ...lastRun(a.last_run)] : lastRun(null)));
    const l = a.latency;
    latency.textContent = l && l.count ? `Reacts in ${ns(l.p50_ns)} typically · ${l.count} run${l.count === 1 ? '' : 's'} measured` : '';
    latency.hidden = !(l && l.count);
    mode.textContent = a.mode;
    mode.title = `Mode ${a.mode}: what a trigger does while a run is going`;
  }
  return {el, update};
}
