// Home: every device as a card, grouped by room, kept live. The hub's own
// devices (the house mode, the alarm) come first, unless given a room.

import {api, enc} from './api.js';
import {h, icon, timeEl, refreshTimes} from './dom.js';
import {ICONS, alert, withUnit, choice, displayName, isAlarm, isLight, isOn, kind, label, primary, repeats, show, words, TECHNICAL} from './format.js';
import {capControl, choiceControls, lightControls} from './controls.js';
import {alarmControls} from './alarm.js';
import {sparkline} from './chart.js';

const NO_ROOM = 'Other devices';
const HOUSE = 'House';
const own = (d) => !d.room && (isAlarm(d) || (d.id === 'house' && choice(d)));
const SPARK_STEP = '15m';
const SPARK_REFRESH = 10 * 60e3;

let firstRender = true;

/** mount draws the home page into main and returns its unmount. */
export function mount(main, live) {
  const cards = new Map(); // id → card
  const summary = h('p', {class: 'summary'});
  const body = h('div', {class: 'rooms'});
  const title = h('h1', {tabindex: -1}, 'Home');
  main.replaceChildren(h('div', {class: 'page-head'}, title, summary), body);

  function render() {
    cards.clear();
    const rooms = new Map();
    for (const d of live.devices.values()) {
      const room = own(d) ? HOUSE : d.room || NO_ROOM;
      if (!rooms.has(room)) rooms.set(room, []);
      rooms.get(room).push(d);
    }
    const rank = (r) => (r === HOUSE ? -1 : r === NO_ROOM ? 1 : 0);
    const names = [...rooms.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (!names.length) {
      body.replaceChildren(h('div', {class: 'empty-state'},
        h('p', {}, 'No devices yet.'),
        h('p', {class: 'muted'}, 'Devices appear here as soon as they publish their state to the hub.')));
    } else {
      body.replaceChildren(...names.map((room, i) => {
        const id = `room-${i}`;
        const list = rooms.get(room).sort((a, b) => displayName(a).localeCompare(displayName(b)));
        return h('section', {class: 'room', 'aria-labelledby': id},
          h('h2', {id}, room),
          h('ul', {class: 'cards'}, list.map((d) => {
            const c = card(d, live);
            cards.set(d.id, c);
            return c.el;
          })));
      }));
    }
    updateSummary();
    if (firstRender && live.devices.size) {
      firstRender = false;
      performance.mark('hearth:first-render');
    }
  }

  function updateSummary() {
    const all = [...live.devices.values()];
    const lights = all.filter(isLight);
    const on = lights.filter(isOn).length;
    const offline = all.filter((d) => d.availability === 'offline').length;
    const parts = [`${all.length} device${all.length === 1 ? '' : 's'}`];
    if (lights.length) parts.push(`${on} of ${lights.length} light${lights.length === 1 ? '' : 's'} on`);
    if (offline) parts.push(`${offline} offline`);
    const alarm = all.find(isAlarm);
    if (alarm && alarm.state && alarm.state.state) parts.push(`alarm ${words(alarm.state.state)}`);
    summary.textContent = parts.join(' · ');
  }

  const onDevices = () => render();
  const onDevice = (ev) => {
    const c = cards.get(ev.detail.id);
    if (c) c.update(live.devices.get(ev.detail.id));
    updateSummary();
  };
  const onReload = () => { for (const c of cards.values()) c.refreshSpark(); };
  live.addEventListener('devices', onDevices);
  live.addEventListener('device', onDevice);
  live.addEventListener('reload', onReload);
  live.addEventListener('resumed', onReload); // sparklines read while the hub was away failed
  const ticker = setInterval(() => refreshTimes(body), 30e3);
  const sparkTimer = setInterval(onReload, SPARK_REFRESH);
  render();
  return {
    title,
    unmount() {
      live.removeEventListener('devices', onDevices);
      live.removeEventListener('device', onDevice);
      live.removeEventListener('reload', onReload);
      live.removeEventListener('resumed', onReload);
      clearInterval(ticker);
      clearInterval(sparkTimer);
    },
  };
}

/** card builds one device's card; update redraws its values in place. */
function card(d, live) {
  const alarm = isAlarm(d);
  const pick = alarm ? null : choice(d);
  const light = !alarm && !pick && isLight(d);
  const nameLink = h('a', {href: `#/device/${enc(d.id)}`, class: 'card-name'});
  const avail = h('span', {class: 'avail'});
  const head = h('div', {class: 'card-head'}, icon(ICONS[kind(d)]), h('h3', {}, nameLink), avail);
  const el = h('li', {class: 'card', 'data-device': d.id, 'data-kind': kind(d)}, head);
  const updated = h('p', {class: 'updated'});
  let controls = null, big = null, facts = null, spark = null;
  const attr = light ? null : pick || primary(d);
  // A cover's or a lock's state is set on the card too (open, close, stop;
  // lock, unlock); its switch says a lock's state, with no big value.
  const main = !light && !alarm && !pick && (d.capabilities || []).find((c) => c.attr === 'state' && c.set);
  if (main) controls = capControl(d, main);

  if (light) {
    controls = lightControls(d);
    el.append(controls.el);
  } else if (alarm || pick) {
    // The alarm's and the house's other attributes are for their device page.
    big = h('p', {class: 'big'});
    controls = alarm ? alarmControls(d, live) : choiceControls(d, pick);
    el.append(big, controls.el);
  } else {
    big = controls && !attr ? null : h('p', {class: 'big'});
    facts = h('ul', {class: 'facts'});
    spark = h('div', {class: 'spark-holder'});
    el.append(big || '', controls ? controls.el : '', facts, spark);
  }
  el.append(updated);

  function update(next) {
    d = next;
    const st = d.state || {};
    nameLink.textContent = displayName(d);
    el.classList.toggle('offline', d.availability === 'offline');
    el.classList.toggle('on', light && isOn(d));
    avail.textContent = d.availability === 'offline' ? 'Offline' : '';
    avail.hidden = d.availability !== 'offline';
    if (controls) controls.update(d);
    if (alarm) el.dataset.alarm = st.state || '';
    if (big) {
      if (attr && attr in st) {
        const [text, u] = show(attr, st[attr], d);
        big.replaceChildren(h('span', {class: 'value'}, text), u ? h('span', {class: 'unit'}, u) : '', alarm ? '' : h('span', {class: 'sr-only'}, ` ${label(attr, d)}`));
        big.classList.toggle('alert', alert(attr, st[attr]));
      } else {
        big.replaceChildren(h('span', {class: 'value muted'}, '—'));
      }
    }
    if (facts) {
      const rest = Object.keys(st).filter((k) => k !== attr && !repeats(k, attr) && !(controls && k === 'state')).sort((a, b) => TECHNICAL.has(a) - TECHNICAL.has(b) || a.localeCompare(b));
      facts.replaceChildren(...rest.slice(0, 4).map((k) => {
        const [text, u] = show(k, st[k], d);
        return h('li', {class: TECHNICAL.has(k) ? 'tech' : ''}, h('span', {class: 'fact-label'}, label(k, d)), ' ', h('span', {class: 'fact-value'}, withUnit(text, u)));
      }));
    }
    updated.replaceChildren(d.availability === 'offline' ? 'Last seen ' : 'Updated ', timeEl(d.updated));
  }

  async function refreshSpark() {
    if (!spark || !attr || typeof (d.state || {})[attr] !== 'number') return;
    try {
      const data = await queue(() => api(`/api/devices/${enc(d.id)}/history?attr=${enc(attr)}&from=-24h&step=${SPARK_STEP}`));
      spark.replaceChildren(sparkline(data, (d.state || {})[attr], `${label(attr)} over the last 24 hours`));
    } catch {
      // A sparkline is a nicety: the card works without it.
    }
  }

  update(d);
  refreshSpark();
  return {el, update, refreshSpark};
}

// queue runs at most two history requests at once, so a big house does not
// open dozens of connections to a small hub at the same time.
const waiting = [];
let running = 0;
function queue(fn) {
  return new Promise((resolve, reject) => {
    waiting.push(() => fn().then(resolve, reject).finally(() => { running--; next(); }));
    next();
  });
}
function next() {
  while (running < 2 && waiting.length) {
    running++;
    waiting.shift()();
  }
}
