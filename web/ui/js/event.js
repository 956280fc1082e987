// One event of the log: what it records, in words and as sent, and the
// chain of causes that led to it (the page's command, the automation run,
// the sensor's message).

import {api} from './api.js';
import {h, icon, clock} from './dom.js';
import {ICONS, humanize} from './format.js';
import {describe} from './eventview.js';

/** mount draws the page of the event numbered seq into main. */
export function mount(main, live, seq) {
  const title = h('h1', {tabindex: -1}, `Event #${seq}`);
  const back = h('a', {href: '#/events', class: 'back'}, icon(ICONS.back), 'Events');
  const body = h('div', {class: 'device-grid', 'aria-busy': 'true'});
  main.replaceChildren(back, h('div', {class: 'device-head'}, title), body);
  const ctrl = new AbortController();
  if (!/^\d+$/.test(seq)) {
    body.replaceChildren(h('p', {}, `"${seq}" is not an event number.`));
    return {title, unmount() {}};
  }

  const load = () => api(`/api/events/${seq}/causes`, {signal: ctrl.signal}).then((res) => {
    const e = res.chain[0].event;
    const c = e.cause || {};
    const rows = [
      ['What', describe(e, live.nameOf)],
      ['Kind', h('span', {class: `chip kind-${e.kind}`}, e.kind)],
      ['When', `${new Date(e.time).toLocaleString()}`],
      ['Topic', h('code', {}, e.topic)],
      e.device ? ['Device', h('a', {href: `#/device/${encodeURIComponent(e.device)}`}, live.nameOf(e.device))] : null,
      e.client ? ['From client', h('code', {}, e.client)] : null,
      c.run ? ['Automation run', runLink(c.run)] : null,
      c.source ? ['Sent by', c.source === 'web' ? 'the page' : c.source.replace(/^web user (.+)$/, '$1, on the page')] : null,
      e.qos || e.retain ? ['Delivery', `QoS ${e.qos || 0}${e.retain ? ', retained' : ''}`] : null,
    ].filter(Boolean);
    body.replaceChildren(
      h('section', {class: 'panel', 'aria-labelledby': 'sec-event'},
        h('h2', {id: 'sec-event'}, 'What happened'),
        h('dl', {class: 'state pairs'}, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
        h('h3', {class: 'sub'}, 'Payload'), h('pre', {class: 'yaml'}, show(e.payload)),
        e.prev !== undefined ? [h('h3', {class: 'sub'}, 'Before'), h('pre', {class: 'yaml'}, show(e.prev))] : ''),
      h('section', {class: 'panel', 'aria-labelledby': 'sec-why'},
        h('h2', {id: 'sec-why'}, 'Why did it happen?'),
        h('ol', {class: 'chain'}, res.chain.map((link, i) => h('li', {class: `why why-${link.via}`},
          h('span', {class: 'why-step'}, i === 0 ? 'This event' : link.via === 'inferred' ? 'Most likely after' : 'Caused by'),
          h('span', {class: 'why-text'}, i === 0 ? describe(link.event, live.nameOf) : h('a', {href: `#/event/${link.event.seq}`}, describe(link.event, live.nameOf))),
          h('span', {class: 'why-meta'}, `#${link.event.seq} · ${clock(link.event.time)}`,
            link.event.cause && link.event.cause.run && link.event.kind === 'command' ? [' · ', runLink(link.event.cause.run)] : '')))),
        res.missing ? h('p', {class: 'muted'}, `Earlier causes (#${res.missing}) are no longer in the log.`) : ''));
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    body.replaceChildren(h('p', {class: e.status === 404 ? '' : 'error'},
      e.status === 404 ? `Event #${seq} is not in the log (it may be older than the log keeps).` : `This event could not be read: ${e.message}`));
  }).finally(() => body.removeAttribute('aria-busy'));
  load();
  // Back after an outage: a read that failed meanwhile is tried again.
  const onResumed = () => { if (body.querySelector('.error')) load(); };
  live.addEventListener('resumed', onResumed);

  return {title, unmount() {
    ctrl.abort();
    live.removeEventListener('resumed', onResumed);
  }};
}

// runLink links the automation of a run: "Hall light on motion, run 12".
function runLink(run) {
  const [id, n] = run.split('#');
  return h('a', {href: `#/automations/${encodeURIComponent(id)}`}, `${humanize(id)}${n ? `, run ${n}` : ''}`);
}

function show(v) {
  return v === undefined ? '(empty)' : typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}
