// How an event of the log reads to a person, as a sentence and as a row.

import {h, clock} from './dom.js';
import {alarmPhrases, humanize, isAlarm, phrase} from './format.js';

const MAX_TEXT = 120;

function short(text) {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

function asks(obj) {
  // "turn on" first, then the rest.
  return Object.entries(obj || {}).sort(([a], [b]) => (b === 'state') - (a === 'state')).map(([k, v]) => phrase(k, v, true));
}

/** who says who acted, from an event's cause. */
function who(e) {
  const c = e.cause || {};
  if (c.run) return ` (automation ${c.run.replace(/#(\d+)$/, ', run $1')})`;
  if (c.source === 'web') return ' (from the page)';
  if (c.source && c.source.startsWith('web user ')) return ` (${c.source.slice(9)}, on the page)`;
  if (c.source) return ` (from ${c.source})`;
  return '';
}

// The alarm's keypad commands.
const ACTIONS = /^(arm_away|arm_home|arm_night|disarm)$/;

/** alarmEvent tells an event of the alarm: its state or a keypad's command. */
function alarmEvent(e) {
  const p = e.payload;
  return Boolean(p && typeof p === 'object' && (isAlarm({id: e.device, state: p}) || ACTIONS.test(p.action)));
}

/** describe says what an event records, in a sentence; nameOf names devices. */
export function describe(e, nameOf = humanize) {
  const dev = e.device ? nameOf(e.device) : '';
  const alarm = alarmEvent(e);
  switch (e.kind) {
    case 'state': {
      const prev = e.prev || {}, now = e.payload || {};
      const keys = Object.keys(now).filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(now[k]));
      if (alarm) {
        const parts = alarmPhrases(now, keys, nameOf);
        return short(`${dev}: ${parts.length ? parts.join(', ') : 'no change'}`);
      }
      // What people care about first; the radio's numbers last.
      keys.sort((a, b) => (a === 'linkquality') - (b === 'linkquality'));
      const parts = keys.map((k) => phrase(k, now[k])).concat(Object.keys(prev).filter((k) => !(k in now)).map((k) => `${k} cleared`));
      return short(`${dev}: ${parts.length ? parts.join(', ') : 'no change'}`);
    }
    case 'availability':
      return `${dev} went ${e.payload}`;
    case 'command': {
      // The alarm publishes its own state as a command on its state topic.
      if (alarm && !/\/set$/.test(e.topic)) return short(`${dev} published: ${alarmPhrases(e.payload, Object.keys(e.payload), nameOf).join(', ')}`);
      if (alarm) return short(`Asked ${dev} to ${alarmPhrases(e.payload, Object.keys(e.payload), nameOf).join(', ')}${who(e)}`);
      const p = e.payload && typeof e.payload === 'object' ? asks(e.payload).join(', ') : JSON.stringify(e.payload);
      return short(`Asked ${dev || e.topic} to ${p}${who(e)}`);
    }
    case 'run':
      return short(`Automation run ${(e.cause && e.cause.run) || ''}`);
    case 'notification': {
      const p = e.payload || {};
      if (e.topic === '$hearth/notify') return short(`Told people: ${[p.title, p.message].filter(Boolean).join(': ')}${who(e)}`);
      return short(`Notification ${p.outcome || ''} through ${p.channel || e.topic}${p.error ? `: ${p.error}` : ''}`);
    }
    default: {
      const p = e.payload === undefined ? '(empty)' : typeof e.payload === 'string' ? e.payload : JSON.stringify(e.payload);
      return short(`${e.topic} ${p}${e.client ? ` · from ${e.client}` : ''}`);
    }
  }
}

/**
 * eventRow is one event as a list item; opts.nameOf names devices and
 * opts.device false leaves out the link to the event's device.
 */
export function eventRow(e, opts = {}) {
  const c = e.cause || {};
  const meta = [h('a', {href: `#/event/${e.seq}`, title: 'This event and why it happened'}, `#${e.seq}`)];
  if (c.seq) meta.push(' ← ', h('a', {href: `#/event/${c.seq}`, title: 'The event that caused it'}, `#${c.seq}`));
  return h('li', {class: `ev ev-${e.kind}`, 'data-seq': e.seq},
    h('time', {datetime: e.time, class: 'ev-time'}, clock(e.time)),
    h('span', {class: `chip kind-${e.kind}`}, e.kind),
    h('span', {class: 'ev-text'}, describe(e, opts.nameOf)),
    h('span', {class: 'ev-meta'},
      opts.device !== false && e.device ? h('a', {href: `#/device/${encodeURIComponent(e.device)}`}, e.device) : '',
      opts.device !== false && e.device ? ' · ' : '',
      meta));
}
