// Automation runs as people read them: outcomes, durations, a run's trace
// as a timeline (trigger, conditions with their values, actions with their
// times, commands sent), near misses and the mistakes of a load. Shared by
// the automations list, an automation's page and what-if results.

import {h, clock, timeEl} from './dom.js';
import {humanize, phrase} from './format.js';

const enc = encodeURIComponent;

/** autoName is an automation's id in words: hall_light_on_motion → Hall light on motion. */
export const autoName = humanize;

/** autoLink links an automation's page. */
export const autoLink = (id, text = autoName(id)) => h('a', {href: `#/automations/${enc(id)}`}, text);

/** eventLink links an event of the log: "event #40". */
export const eventLink = (seq, text = `event #${seq}`) => h('a', {href: `#/event/${seq}`, class: 'event-link'}, text);

/** runNumber is the number of a run: hall_light_on_motion#12 → 12. */
export const runNumber = (run) => (/#(\d+)$/.exec(run || '') || [])[1] || '';

const OUTCOMES = {
  done: 'ok', running: 'info', failed: 'bad', 'stopped: loop': 'bad', 'stopped: storm': 'bad',
  interrupted: 'warn', cancelled: '', stopped: '',
};

/** outcomeChip shows a run's outcome, coloured by what it means. */
export function outcomeChip(outcome) {
  const cls = OUTCOMES[outcome] ?? '';
  return h('span', {class: `chip outcome ${cls}`}, outcome.charAt(0).toUpperCase() + outcome.slice(1));
}

const two = new Intl.NumberFormat(undefined, {maximumSignificantDigits: 2});
const one = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});

/** duration says how long ms milliseconds are: 0.17 ms, 12 ms, 1.4 s, 5 min 3 s, 2 h 5 min. */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10) return `${two.format(ms)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60e3) return `${one.format(ms / 1000)} s`;
  if (ms < 3600e3) {
    const m = Math.floor(ms / 60e3), s = Math.round((ms % 60e3) / 1000);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const hrs = Math.floor(ms / 3600e3), m = Math.round((ms % 3600e3) / 60e3);
  return m ? `${hrs} h ${m} min` : `${hrs} h`;
}

/** ns is duration for nanoseconds, as the API gives latencies. */
export const ns = (v) => duration(v / 1e6);

/** runLength says how long a run took, or has been going. */
export function runLength(tr) {
  const end = tr.ended ? Date.parse(tr.ended) : Date.now();
  const ms = end - Date.parse(tr.started);
  // Dates here count whole milliseconds: most runs end within the one
  // they started in.
  return tr.ended && ms < 1 ? 'under 1 ms' : duration(ms);
}

const KINDS = {trigger: 'Trigger', condition: 'Condition', action: 'Action', command: 'Command'};

// A result that means "it did not go on" is marked as such.
const STOPPED = new Set(['false', 'failed', 'cancelled', 'stopped', 'timed out', 'error']);

/**
 * timeline draws a run's steps, read from the top down. opts.nameOf names
 * devices; opts.inLog(seq) says whether an event is in the log (a what-if
 * run's own commands are not), to link it.
 */
export function timeline(tr, opts = {}) {
  const start = Date.parse(tr.started);
  const steps = tr.steps || [];
  return h('ol', {class: 'timeline', 'aria-label': `Steps of run ${runNumber(tr.run)}`},
    steps.map((s, i) => step(tr, s, i, start, opts)));
}

function step(tr, s, i, start, opts) {
  const res = s.result || '';
  const bad = Boolean(s.error) || STOPPED.has(res);
  const off = Date.parse(s.time) - start;
  const when = i === 0 ? clock(s.time) : `+${duration(off)}`;
  const inLog = opts.inLog || (() => true);
  const seq = s.kind === 'trigger' ? tr.trigger : s.seq;
  return h('li', {class: `step step-${s.kind}${bad ? ' step-bad' : ''}`, 'data-kind': s.kind},
    h('div', {class: 'step-head'},
      h('span', {class: 'step-kind'}, KINDS[s.kind] || humanize(s.kind)),
      h('time', {class: 'step-time', datetime: s.time, title: new Date(s.time).toLocaleString()}, when),
      res ? h('span', {class: `chip step-result${bad ? ' bad' : res === 'true' || res === 'fired' || res === 'sent' || res === 'done' ? ' ok' : ''}`}, res) : ''),
    h('div', {class: 'step-text'}, stepText(s, opts)),
    values(s.values),
    s.error ? h('p', {class: 'step-error'}, s.error) : '',
    seq && inLog(seq) ? h('p', {class: 'step-meta'}, eventLink(seq, s.kind === 'trigger' ? `the event, #${seq}` : `its event, #${seq}`)) : '');
}

// stepText turns the engine's text of a step into words, keeping the
// expressions as written.
function stepText(s, opts) {
  const nameOf = opts.nameOf || humanize;
  const t = s.text || '';
  let m;
  if (s.kind === 'command' && (m = /^set (\S+) (\{[\s\S]*\})$/.exec(t))) {
    let asks = [];
    try {
      asks = Object.entries(JSON.parse(m[2])).sort(([a], [b]) => (b === 'state') - (a === 'state')).map(([k, v]) => phrase(k, v, true));
    } catch {
      asks = [m[2]];
    }
    return ['Asked ', h('a', {href: `#/device/${enc(m[1])}`}, nameOf(m[1])), ` to ${asks.join(', ')}`];
  }
  if (s.kind === 'command' && (m = /^publish (\S+) ([\s\S]*)$/.exec(t))) {
    return ['Published to ', h('code', {}, m[1]), ' ', h('code', {class: 'payload'}, m[2])];
  }
  if (s.kind === 'trigger' && (m = /^device (\S+) when ([\s\S]+)$/.exec(t))) {
    return [h('a', {href: `#/device/${enc(m[1])}`}, nameOf(m[1])), ' changed and ', h('code', {}, m[2]), ' became true'];
  }
  if (s.kind === 'trigger' && (m = /^device (\S+)$/.exec(t))) {
    return [h('a', {href: `#/device/${enc(m[1])}`}, nameOf(m[1])), ' changed'];
  }
  if (s.kind === 'trigger' && (m = /^mqtt (\S+) when ([\s\S]+)$/.exec(t))) {
    return ['A message on ', h('code', {}, m[1]), ' with ', h('code', {}, m[2])];
  }
  if (s.kind === 'trigger' && t === 'run by hand') return 'Run by hand, from the page';
  if (s.kind === 'condition') return h('code', {}, t);
  return t;
}

/** values lists the inputs a step or a near miss saw: name = value. */
export function values(v) {
  const keys = Object.keys(v || {}).sort();
  if (!keys.length) return '';
  return h('dl', {class: 'values'}, keys.flatMap((k) => [
    h('dt', {}, h('code', {}, k)),
    h('dd', {}, h('code', {}, v[k] === undefined ? 'undefined' : JSON.stringify(v[k]))),
  ]));
}

const REASONS = {
  when: 'Its “when” was false',
  condition: 'A condition was false',
  dropped: 'Dropped by its mode',
  disabled: 'It was disabled',
  loop: 'Stopped as a loop',
  storm: 'Stopped as a storm',
};

/** nearMiss is one "why didn't it fire?" entry. */
export function nearMiss(m) {
  const times = (m.repeats || 0) + 1;
  return h('li', {class: 'miss'},
    h('div', {class: 'miss-head'},
      h('span', {class: 'chip warn'}, REASONS[m.reason] || humanize(m.reason)),
      timeEl(m.time, 'miss-time'),
      times > 1 ? h('span', {class: 'miss-repeats'}, `${times} times in a row`) : ''),
    m.text ? h('p', {class: 'miss-text'}, h('code', {}, m.text)) : '',
    values(m.values),
    h('p', {class: 'step-meta'},
      m.trigger ? `Trigger: ${m.trigger}` : '',
      m.trigger && m.seq ? ' · ' : '',
      m.seq ? eventLink(m.seq, times > 1 ? `the latest event, #${m.seq}` : `the event, #${m.seq}`) : ''));
}

/** where says where a problem is: file:line:column, the file by its name alone. */
export const where = (p) => [(p.file || '').split('/').pop(), p.line || '', p.line ? p.column : ''].filter(Boolean).join(':');

/** problemList lists mistakes or warnings of a load, each with where it is. */
export function problemList(ps) {
  return h('ul', {class: 'problem-list'}, ps.map((p) => h('li', {},
    where(p) ? h('code', {class: 'problem-where', title: p.file}, where(p)) : '',
    h('span', {class: 'problem-text'}, p.automation ? [h('strong', {}, p.automation), ': '] : '', p.message))));
}

/** lastRun says how the newest run went: outcome chip, when, how long. */
export function lastRun(r) {
  if (!r) return [h('span', {class: 'muted'}, 'Has not run since the hub started')];
  return [outcomeChip(r.outcome), ' ', timeEl(r.started), r.outcome === 'running' ? '' : ` · took ${runLength(r)}`];
}
