// What if: automations written on the page, run against what the house
// did (the log), on a virtual clock, without sending anything. The answer
// lists the commands they would have sent, when, and after which event,
// with each run's trace and the near misses.

import {api} from './api.js';
import {h, clock, announce} from './dom.js';
import {phrase} from './format.js';
import {autoName, eventLink, nearMiss, outcomeChip, problemList, runNumber, timeline} from './trace.js';

const SINCE = [['1h', 'The last hour'], ['6h', 'The last 6 hours'], ['24h', 'The last day'], ['168h', 'The last week']];
const SHOWN = 100;
let counter = 0;

/**
 * whatIfPanel is a form to test automations: o.heading, o.intro, o.yaml
 * (the text to start from), o.nameOf (names devices), o.open.
 */
export function whatIfPanel(o) {
  const n = ++counter;
  const ids = {yaml: `wi-yaml-${n}`, since: `wi-since-${n}`, intro: `wi-intro-${n}`, head: `wi-head-${n}`};
  const text = h('textarea', {id: ids.yaml, class: 'yaml-input', rows: 12, wrap: 'off', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off',
    'aria-describedby': ids.intro, placeholder: '- id: porch_light_at_dusk\n  triggers:\n    - device: porch_lux\n      when: illuminance < 20\n  actions:\n    - set: porch_light\n      state: {state: "ON"}', value: o.yaml || ''});
  const since = h('select', {id: ids.since}, SINCE.map(([v, label]) => h('option', {value: v, selected: v === '24h'}, label)));
  const go = h('button', {type: 'submit', class: 'button'}, 'Test against the log');
  const status = h('p', {class: 'form-status', role: 'status'});
  const out = h('div', {class: 'whatif-out'});
  const form = h('form', {class: 'whatif-form'},
    h('label', {for: ids.yaml}, 'Automations (YAML)'), text,
    h('div', {class: 'whatif-row'},
      h('div', {class: 'field'}, h('label', {for: ids.since}, 'Replay'), since),
      h('div', {class: 'form-actions'}, go, status)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    go.disabled = true;
    status.textContent = 'Replaying the log…';
    out.replaceChildren();
    out.setAttribute('aria-busy', 'true');
    try {
      const r = await api('/api/automations/whatif', {method: 'POST', body: {yaml: text.value, since: since.value}});
      const cmds = r.commands || [];
      const warns = (r.warnings || []).length;
      status.textContent = `Done: ${cmds.length} command${cmds.length === 1 ? '' : 's'} would have been sent` +
        (warns ? `, with ${warns} warning${warns === 1 ? '' : 's'} about the automations.` : '.');
      out.replaceChildren(...result(r, o.nameOf));
    } catch (e) {
      status.textContent = e.status === 422 && e.body && e.body.problems ? 'The automations have mistakes:' : `Not tested: ${e.message}`;
      if (e.body && e.body.problems) out.replaceChildren(h('div', {class: 'notice notice-bad'}, problemList(e.body.problems)));
    } finally {
      go.disabled = false;
      out.removeAttribute('aria-busy');
      announce(status.textContent);
    }
  });
  return h('section', {class: 'panel whatif', 'aria-labelledby': ids.head},
    h('details', {open: Boolean(o.open)},
      h('summary', {}, h('h2', {id: ids.head}, o.heading)),
      h('p', {id: ids.intro, class: 'muted'}, o.intro),
      form, out));
}

// result draws a what-if answer: a summary, the commands, the runs and the
// near misses.
function result(r, nameOf) {
  const cmds = r.commands || [];
  const traces = r.traces || [];
  // The run's own commands are numbered after the log's last event; they
  // exist only in this answer, so they are not linked.
  const firstOwn = cmds.length ? Math.min(...cmds.map((c) => c.seq)) : Infinity;
  const inLog = (seq) => seq < firstOwn;
  const span = r.events ? `${r.events} event${r.events === 1 ? '' : 's'} from ${clock(r.from)} to ${clock(r.to)}` : 'no events (the log has none in that time)';
  const parts = [h('p', {class: 'whatif-summary'}, `Replayed ${span}: ${cmds.length} command${cmds.length === 1 ? '' : 's'} from ${traces.length} run${traces.length === 1 ? '' : 's'}.`)];
  // What the load doubted (a likely typo makes a "when" that never holds):
  // first, since it may be why nothing would have been sent.
  const warns = r.warnings || [];
  if (warns.length) {
    parts.unshift(h('div', {class: 'notice notice-warn'},
      h('h3', {}, `${warns.length} warning${warns.length === 1 ? '' : 's'}`),
      h('p', {}, 'They did not stop the automations from loading, but may be mistakes.'),
      problemList(warns)));
  }
  if (cmds.length) {
    parts.push(h('h3', {}, 'Commands it would have sent'),
      h('ol', {class: 'planned'}, cmds.slice(0, SHOWN).map((c) => h('li', {},
        h('time', {class: 'ev-time', datetime: c.time}, clock(c.time)),
        h('span', {class: 'planned-text'}, says(c, nameOf)),
        h('span', {class: 'step-meta'}, `${autoName(c.automation)}, run ${runNumber(c.run)}`,
          c.cause && inLog(c.cause) ? [' · after ', eventLink(c.cause)] : c.cause ? '' : ' · on a timer')))));
    if (cmds.length > SHOWN) parts.push(h('p', {class: 'muted'}, `…and ${cmds.length - SHOWN} more.`));
  }
  if (traces.length) {
    parts.push(h('details', {class: 'whatif-runs'}, h('summary', {}, `Runs (${traces.length})`),
      h('ol', {class: 'runs'}, traces.slice(0, SHOWN).map((tr) => h('li', {class: 'run'},
        h('details', {},
          h('summary', {class: 'run-summary'}, outcomeChip(tr.outcome), ' ', h('strong', {}, `${autoName(tr.automation)}, run ${runNumber(tr.run)}`), ' ', h('span', {class: 'muted'}, clock(tr.started))),
          timeline(tr, {nameOf, inLog})))))));
  }
  const misses = Object.entries(r.near_misses || {});
  if (misses.length) {
    const count = misses.reduce((n, [, l]) => n + l.length, 0);
    parts.push(h('details', {class: 'whatif-misses'}, h('summary', {}, `Near misses (${count})`),
      misses.flatMap(([id, l]) => [h('h4', {}, autoName(id)), h('ol', {class: 'misses'}, l.map((m) => nearMiss(m)))])));
  }
  return parts;
}

// says is what a planned command asks, in words.
function says(c, nameOf) {
  const p = c.payload;
  if (c.device && p && typeof p === 'object' && !Array.isArray(p)) {
    const asks = Object.entries(p).sort(([a], [b]) => (b === 'state') - (a === 'state')).map(([k, v]) => phrase(k, v, true));
    return [`Ask ${nameOf(c.device)} to `, asks.join(', ')];
  }
  return ['Publish to ', h('code', {}, c.topic), ' ', h('code', {class: 'payload'}, typeof p === 'string' ? p : JSON.stringify(p))];
}
