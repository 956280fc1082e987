// Device: its state, history charts, the causes of its latest change, its
// recent events, and its name and room.

import {api, enc} from './api.js';
import {h, icon, clock, timeEl, refreshTimes, announce} from './dom.js';
import {ICONS, alarmKeys, alarmValue, displayName, isAlarm, isLight, kind, label, numeric, show, unit, withUnit} from './format.js';
import {lightControls} from './controls.js';
import {settings} from './settings.js';
import {chart} from './chart.js';
import {eventRow, describe} from './eventview.js';
import {filter as eventsFilter} from './events.js';

const RANGES = [['hour', 'Hour', '-1h'], ['day', 'Day', '-24h'], ['week', 'Week', '-168h']];
const RECENT = 12;
let range = 'day';

/** mount draws the device page of id into main. */
export function mount(main, live, id) {
  let d = live.devices.get(id);
  const title = h('h1', {tabindex: -1});
  if (!d) {
    title.textContent = 'Device not found';
    main.replaceChildren(backLink(), title, h('p', {}, `No device "${id}" is known to the hub.`));
    return {title, unmount() {}};
  }

  const where = h('p', {class: 'muted device-where'});
  const head = h('div', {class: 'device-head'}, icon(ICONS[kind(d)]), h('div', {}, title, where));
  const stateList = h('dl', {class: 'state'});
  const controls = isLight(d) ? lightControls(d) : null;
  // The alarm is set with its code, on its card.
  const more = isAlarm(d) ? null : settings(d, controls ? ['state', 'brightness'] : []);
  const charts = h('div', {class: 'charts'});
  const why = h('ol', {class: 'chain'});
  const recent = h('ol', {class: 'log log-wide'});
  const picker = h('div', {class: 'segmented', role: 'radiogroup', 'aria-label': 'Time range'});
  for (const [key, text] of RANGES) {
    const b = h('button', {type: 'button', role: 'radio', 'aria-checked': String(key === range), 'data-range': key}, text);
    b.addEventListener('click', () => { range = key; markRange(); loadCharts(); });
    picker.append(b);
  }
  // Arrow keys move within the radio group, as a radio group should.
  picker.addEventListener('keydown', (ev) => {
    const i = RANGES.findIndex(([k]) => k === range);
    const j = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? i + 1 : ev.key === 'ArrowLeft' || ev.key === 'ArrowUp' ? i - 1 : -1;
    if (j < 0 || j >= RANGES.length || i === j) return;
    ev.preventDefault();
    range = RANGES[j][0];
    markRange();
    picker.querySelector(`[data-range="${range}"]`).focus();
    loadCharts();
  });
  function markRange() {
    for (const b of picker.children) {
      b.setAttribute('aria-checked', String(b.dataset.range === range));
      b.tabIndex = b.dataset.range === range ? 0 : -1;
    }
  }
  markRange();

  const form = metaForm(d, live);
  main.replaceChildren(
    backLink(),
    head,
    h('div', {class: 'device-grid'},
      h('section', {class: 'panel', 'aria-labelledby': 'sec-state'},
        h('h2', {id: 'sec-state'}, 'State'), controls ? controls.el : '', more ? more.el : '', stateList,
        h('details', {class: 'meta'}, h('summary', {}, 'Name and room'), form)),
      h('section', {class: 'panel', 'aria-labelledby': 'sec-why'},
        h('h2', {id: 'sec-why'}, 'Why did it change?'), why),
      h('section', {class: 'panel wide', 'aria-labelledby': 'sec-history'},
        h('div', {class: 'panel-head'}, h('h2', {id: 'sec-history'}, 'History'), picker), charts),
      h('section', {class: 'panel wide', 'aria-labelledby': 'sec-recent'},
        h('div', {class: 'panel-head'}, h('h2', {id: 'sec-recent'}, 'Recent events'),
          h('a', {href: '#/events', class: 'more-link', 'data-device': id}, 'All events')),
        recent)));
  // The events page opens filtered on this device.
  main.querySelector('.more-link').addEventListener('click', () => { eventsFilter.device = id; });

  function drawState() {
    title.textContent = displayName(d);
    document.title = `${displayName(d)} · Hearth`;
    const bits = [d.room || 'No room', d.id];
    where.replaceChildren(bits.join(' · '), ' · ',
      d.availability === 'offline' ? h('span', {class: 'chip bad'}, 'Offline') : d.availability === 'online' ? h('span', {class: 'chip ok'}, 'Online') : '',
      ' ', h('span', {}, 'updated '), timeEl(d.updated));
    const st = d.state || {};
    // The alarm's state is not a light's power, and its details are said
    // in words, without the fields it keeps for keypads.
    const alarm = isAlarm(d);
    stateList.replaceChildren(...(alarm ? alarmKeys(st) : Object.keys(st).sort()).flatMap((k) => {
      if (alarm) return [h('dt', {}, k === 'state' ? 'State' : label(k)), h('dd', {}, alarmValue(k, st[k], live.nameOf))];
      const [text, u] = show(k, st[k], d);
      return [h('dt', {}, label(k, d)), h('dd', {}, withUnit(text, u))];
    }));
    if (controls) controls.update(d);
    if (more) more.update(d);
  }

  let disposers = [];
  let chartsAbort = null;
  async function loadCharts() {
    if (chartsAbort) chartsAbort.abort();
    const ctrl = new AbortController();
    chartsAbort = ctrl;
    const attrs = numeric(d);
    if (!attrs.length) {
      charts.replaceChildren(h('p', {class: 'muted'}, 'This device reports no numbers to chart.'));
      return;
    }
    charts.setAttribute('aria-busy', 'true');
    const from = RANGES.find(([k]) => k === range)[2];
    try {
      const all = await Promise.all(attrs.map((a) => api(`/api/devices/${enc(id)}/history?attr=${enc(a)}&from=${from}`, {signal: ctrl.signal})));
      disposers.forEach((f) => f());
      const made = all.map((data, i) => {
        const a = attrs[i];
        // Brightness reads as per cent, as on the slider.
        const pct = a === 'brightness';
        return chart(data, {label: label(a), unit: pct ? '%' : unit(a, d), current: (d.state || {})[a], scale: pct ? (v) => (v / 254) * 100 : undefined});
      });
      disposers = made.map((c) => c.dispose);
      charts.replaceChildren(...made.map((c) => c.el));
    } catch (e) {
      if (e.name !== 'AbortError') charts.replaceChildren(h('p', {class: 'error'}, `History could not be read: ${e.message}`));
    } finally {
      charts.removeAttribute('aria-busy');
    }
  }

  async function loadEvents() {
    try {
      const events = await api(`/api/events?device=${enc(id)}&limit=${RECENT}`);
      recent.replaceChildren(...events.map((e) => eventRow(e, {device: false, nameOf: live.nameOf})));
      if (!events.length) recent.append(h('li', {class: 'muted'}, 'No events yet.'));
      const change = events.find((e) => e.kind === 'state' || e.kind === 'availability');
      if (change) loadWhy(Math.max(change.seq, whyWant)); // a change the stream showed may not be listed yet
      else why.replaceChildren(h('li', {class: 'muted'}, 'Nothing has changed yet.'));
    } catch (e) {
      recent.replaceChildren(h('li', {class: 'error'}, `Events could not be read: ${e.message}`));
    }
  }

  // One question at a time, for the newest change: the hub answers once
  // the log holds the change (within a second), and a device that changes
  // fast would otherwise hold many requests open.
  let whyWant = 0, whyAsking = false, whyTimer = 0;
  function loadWhy(seq) {
    whyWant = seq;
    clearTimeout(whyTimer);
    if (!whyAsking) askWhy();
  }

  async function askWhy() {
    const seq = whyWant;
    whyAsking = true;
    try {
      const res = await api(`/api/events/${seq}/causes`);
      if (seq !== whyWant) return;
      why.replaceChildren(...res.chain.map((link, i) => h('li', {class: `why why-${link.via}`},
        h('span', {class: 'why-step'}, i === 0 ? 'Latest change' : link.via === 'inferred' ? 'Most likely after' : 'Caused by'),
        h('span', {class: 'why-text'}, describe(link.event, live.nameOf)),
        h('span', {class: 'why-meta'}, `#${link.event.seq} · ${clock(link.event.time)}`))));
      if (res.missing) why.append(h('li', {class: 'why muted'}, `Earlier causes (#${res.missing}) are no longer in the log.`));
    } catch (e) {
      if (seq !== whyWant) return;
      why.replaceChildren(h('li', {class: 'error'}, `Causes could not be read: ${e.message}`));
      // 503: the log cannot take the change now (a disk in trouble). Ask
      // again rather than keep the error until the device changes again.
      if (e.status === 503) whyTimer = setTimeout(() => loadWhy(seq), 5000);
    } finally {
      whyAsking = false;
      if (seq !== whyWant) askWhy();
    }
  }

  let chartTimer = 0;
  const onDevice = (ev) => {
    if (ev.detail.id !== id) return;
    d = live.devices.get(id);
    drawState();
    loadWhy(ev.detail.event.seq);
    // Charts follow the device, at most every half minute.
    if (!chartTimer) chartTimer = setTimeout(() => { chartTimer = 0; loadCharts(); }, 30e3);
  };
  const onEvent = (ev) => {
    const e = ev.detail.event;
    if (e.device !== id) return;
    recent.prepend(eventRow(e, {device: false, nameOf: live.nameOf}));
    while (recent.children.length > RECENT) recent.lastChild.remove();
  };
  const onReload = () => {
    d = live.devices.get(id) || d;
    drawState();
    loadCharts();
    loadEvents();
  };
  const onDevices = () => {
    d = live.devices.get(id) || d;
    drawState();
  };
  // Back after an outage: what was read while the hub was away failed.
  const onResumed = () => {
    loadCharts();
    loadEvents();
  };
  live.addEventListener('device', onDevice);
  live.addEventListener('devices', onDevices);
  live.addEventListener('event', onEvent);
  live.addEventListener('reload', onReload);
  live.addEventListener('resumed', onResumed);
  const ticker = setInterval(() => refreshTimes(main), 30e3);
  drawState();
  loadCharts();
  loadEvents();
  return {
    title,
    unmount() {
      live.removeEventListener('device', onDevice);
      live.removeEventListener('devices', onDevices);
      live.removeEventListener('event', onEvent);
      live.removeEventListener('reload', onReload);
      live.removeEventListener('resumed', onResumed);
      clearInterval(ticker);
      clearTimeout(chartTimer);
      clearTimeout(whyTimer);
      if (chartsAbort) chartsAbort.abort();
      disposers.forEach((f) => f());
    },
  };
}

function backLink() {
  return h('a', {href: '#/', class: 'back'}, icon(ICONS.back), 'Home');
}

// metaForm edits the device's name and room.
function metaForm(d, live) {
  const rooms = [...new Set([...live.devices.values()].map((x) => x.room).filter(Boolean))].sort();
  const name = h('input', {id: 'meta-name', name: 'name', maxlength: 64, value: d.name || '', placeholder: displayName({id: d.id}), autocomplete: 'off'});
  const room = h('input', {id: 'meta-room', name: 'room', maxlength: 64, value: d.room || '', list: 'meta-rooms', autocomplete: 'off'});
  const status = h('p', {class: 'form-status', role: 'status'});
  const form = h('form', {class: 'meta-form'},
    h('label', {for: 'meta-name'}, 'Name'), name,
    h('label', {for: 'meta-room'}, 'Room'), room,
    h('datalist', {id: 'meta-rooms'}, rooms.map((r) => h('option', {value: r}))),
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'button'}, 'Save'), status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = 'Saving…';
    try {
      const saved = await api(`/api/devices/${enc(d.id)}`, {method: 'PUT', body: {name: name.value, room: room.value}});
      live.rename(saved);
      status.textContent = 'Saved.';
      announce(`Saved: ${displayName(saved)}${saved.room ? ' in ' + saved.room : ''}`);
    } catch (e) {
      status.textContent = `Not saved: ${e.message}`;
    }
  });
  return form;
}
