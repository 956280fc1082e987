// Events: the log as it happens, filtered by device, topic and kind, with
// pause and resume and paging back into older events.

import {api, enc} from './api.js';
import {h} from './dom.js';
import {displayName} from './format.js';
import {eventRow} from './eventview.js';

const PAGE = 100;
const KEEP = 500;
// Every kind the API filters by (docs/api.md).
const KINDS = ['message', 'state', 'availability', 'command', 'run', 'notification', 'gap'];

/** filter is the events page's filter; it survives leaving the page, and the device page sets it. */
export const filter = {device: '', topic: '', kind: ''};

/** mount draws the events page into main. */
export function mount(main, live) {
  const title = h('h1', {tabindex: -1}, 'Events');
  const device = h('select', {id: 'f-device', name: 'device'});
  const kind = h('select', {id: 'f-kind', name: 'kind'},
    h('option', {value: ''}, 'All kinds'), KINDS.map((k) => h('option', {value: k}, k)));
  const topic = h('input', {id: 'f-topic', name: 'topic', type: 'search', placeholder: 'home/hall_motion', autocomplete: 'off', spellcheck: 'false'});
  const pause = h('button', {type: 'button', class: 'button', 'aria-pressed': 'false'}, 'Pause');
  const status = h('p', {class: 'live-status', role: 'status'});
  const list = h('ol', {class: 'log log-full', 'aria-label': 'Events, newest first'});
  const older = h('button', {type: 'button', class: 'button subtle'}, 'Load older events');
  const form = h('form', {class: 'filters', role: 'search'},
    h('div', {class: 'field'}, h('label', {for: 'f-device'}, 'Device'), device),
    h('div', {class: 'field'}, h('label', {for: 'f-kind'}, 'Kind'), kind),
    h('div', {class: 'field grow'}, h('label', {for: 'f-topic'}, 'Topic'), topic));
  main.replaceChildren(
    h('div', {class: 'page-head'}, title, h('div', {class: 'head-actions'}, status, pause)),
    form, list, h('div', {class: 'more'}, older));

  let paused = false, held = [], overflow = false, oldest = 0, loading = null, arriving = null;

  function fillDevices() {
    const ids = [...live.devices.values()].sort((a, b) => displayName(a).localeCompare(displayName(b)));
    device.replaceChildren(h('option', {value: ''}, 'All devices'), ids.map((d) => h('option', {value: d.id}, displayName(d))));
    device.value = filter.device;
  }
  fillDevices();
  kind.value = filter.kind;
  topic.value = filter.topic;

  const matches = (e) => (!filter.device || e.device === filter.device) && (!filter.kind || e.kind === filter.kind) && (!filter.topic || e.topic === filter.topic);
  const query = (before) => {
    const q = new URLSearchParams({limit: PAGE});
    for (const k of ['device', 'topic', 'kind']) if (filter[k]) q.set(k, filter[k]);
    if (before) q.set('before', before);
    return `/api/events?${q}`;
  };

  async function load() {
    if (loading) loading.abort();
    const ctrl = new AbortController();
    loading = ctrl;
    held = [];
    overflow = false;
    arriving = []; // events that come while the page is read
    list.setAttribute('aria-busy', 'true');
    try {
      const events = await api(query(0), {signal: ctrl.signal});
      list.replaceChildren(...events.map((e) => eventRow(e, {nameOf: live.nameOf})));
      const newest = events.length ? events[0].seq : 0;
      const late = arriving.filter((e) => e.seq > newest);
      arriving = null;
      if (paused) held.push(...late);
      else add(late);
      oldest = events.length ? events[events.length - 1].seq : 0;
      older.hidden = events.length < PAGE;
      if (!events.length) list.append(h('li', {class: 'muted empty-row'}, 'No events match.'));
      showStatus();
    } catch (e) {
      if (e.name !== 'AbortError') {
        arriving = null;
        list.replaceChildren(h('li', {class: 'error'}, `Events could not be read: ${e.message}`));
      }
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  older.addEventListener('click', async () => {
    if (!oldest) return;
    older.disabled = true;
    try {
      const events = await api(query(oldest));
      list.append(...events.map((e) => eventRow(e, {nameOf: live.nameOf})));
      if (events.length) oldest = events[events.length - 1].seq;
      older.hidden = events.length < PAGE;
    } catch (e) {
      list.append(h('li', {class: 'error'}, `Older events could not be read: ${e.message}`));
    } finally {
      older.disabled = false;
    }
  });

  function showStatus() {
    if (!paused) status.textContent = 'Live';
    else status.textContent = held.length ? `Paused · ${overflow ? `${KEEP}+` : held.length} new` : 'Paused';
    status.classList.toggle('paused', paused);
  }

  function add(events) {
    const empty = list.querySelector('.empty-row');
    if (empty) empty.remove();
    // events are oldest first; the list is newest first.
    for (const e of events) list.prepend(eventRow(e, {nameOf: live.nameOf}));
    while (list.children.length > KEEP) list.lastChild.remove();
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      if (overflow) load(); // too many to hold: read them again
      else add(held);
      held = [];
      overflow = false;
    }
    showStatus();
  });

  form.addEventListener('submit', (ev) => ev.preventDefault());
  const apply = () => {
    filter.device = device.value;
    filter.kind = kind.value;
    filter.topic = topic.value.trim();
    load();
  };
  device.addEventListener('change', apply);
  kind.addEventListener('change', apply);
  let typing = 0;
  topic.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(apply, 400);
  });

  const onEvent = (ev) => {
    const e = ev.detail.event;
    if (!matches(e)) return;
    if (arriving) {
      arriving.push(e);
      return;
    }
    if (paused) {
      if (held.length < KEEP) held.push(e);
      else overflow = true; // the count says "500+"; resume re-reads
      showStatus();
      return;
    }
    add([e]);
  };
  live.addEventListener('event', onEvent);
  live.addEventListener('devices', fillDevices);
  live.addEventListener('reload', load);
  load();
  return {
    title,
    unmount() {
      live.removeEventListener('event', onEvent);
      live.removeEventListener('devices', fillDevices);
      live.removeEventListener('reload', load);
      clearTimeout(typing);
      if (loading) loading.abort();
    },
  };
}
