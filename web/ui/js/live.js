// The live connection: one EventSource on /api/events/stream for the whole
// page, and the devices as the page knows them, kept current by it.
//
// Events it dispatches:
//   status  {state: 'connecting' | 'live' | 'offline'}: offline once the
//           hub refused the stream or a few attempts in a row failed
//   devices the device list was (re)read: views redraw
//   device  {id, event}: one device changed (state, availability, name)
//   event   {event}: any event of the log, as it happens
//   reload  the page fell behind or reconnected without a replay: views
//           re-read what they show
//   resumed the page reconnected and was replayed what it missed: views
//           re-read what they read on their own (history, causes), which
//           may have failed while the hub was away

import {api} from './api.js';
import {displayName, humanize} from './format.js';

const MAX_MARKS = 200;
// Attempts in a row that may fail before the page says the hub cannot be
// reached: one failure is a restart under way; three (some six seconds at
// the hub's retry of 3 s) is a hub that is down.
const OFFLINE_AFTER = 3;

export class Live extends EventTarget {
  constructor() {
    super();
    this.nameOf = this.nameOf.bind(this);
    this.devices = new Map();
    this.state = 'connecting';
    this.loaded = null; // a promise for the first load of the devices
    this.es = null;
    // How far the hub's clock is ahead of this one, in ms, read from live
    // events' times: countdowns (the alarm's delays) use the hub's time.
    this.skew = 0;
    this.liveFrom = Infinity; // the first seq of this connection that is live, not replayed
    this.failures = 0; // connection attempts in a row that failed
  }

  /** hubNow is the hub's time now, in ms since the epoch. */
  hubNow() {
    return Date.now() + this.skew;
  }

  /** start opens the stream; the first hello (re)reads the devices. */
  start() {
    this.loaded = new Promise((resolve) => { this.resolveLoaded = resolve; });
    this.connect();
    // A page kept in the back-forward cache must not hold its stream: the
    // browser allows only six connections to the hub, and the hub would
    // keep streaming to a page nobody sees.
    window.addEventListener('pagehide', () => this.es && this.es.close());
    window.addEventListener('pageshow', (ev) => { if (ev.persisted) this.connect(); });
    return this.loaded;
  }

  connect() {
    if (this.es) this.es.close();
    const es = new EventSource('/api/events/stream');
    this.es = es;
    es.addEventListener('hello', (m) => {
      this.failures = 0;
      this.setState('live');
      const hello = JSON.parse(m.data);
      this.liveFrom = hello.next_seq;
      // Resumed: the hub replayed what was missed from its log. Otherwise
      // (first connection, or too far behind) everything is read afresh.
      if (!hello.resumed || !this.devices.size) this.reload();
      else this.dispatchEvent(new Event('resumed'));
    });
    es.addEventListener('gap', () => this.reload());
    es.addEventListener('message', (m) => this.apply(JSON.parse(m.data)));
    es.addEventListener('error', () => {
      // EventSource reconnects by itself (with Last-Event-ID) unless the
      // hub answered with an error; then try again from scratch.
      const closed = es.readyState === EventSource.CLOSED;
      this.failures++;
      this.setState(closed || this.failures >= OFFLINE_AFTER ? 'offline' : 'connecting');
      if (closed) setTimeout(() => this.connect(), 5000);
    });
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', {detail: {state}}));
  }

  /** reload reads every device and tells the views to re-read. */
  async reload() {
    try {
      const list = await api('/api/devices');
      const next = new Map();
      for (const d of list) {
        // An event applied while the list was on its way may be newer.
        const had = this.devices.get(d.id);
        next.set(d.id, had && had.seq > d.seq ? {...had, name: d.name, room: d.room} : d);
      }
      this.devices = next;
      this.dispatchEvent(new Event('devices'));
      this.dispatchEvent(new Event('reload'));
      this.resolveLoaded();
    } catch (err) {
      this.dispatchEvent(new CustomEvent('error', {detail: err}));
      setTimeout(() => this.reload(), 5000);
    }
  }

  /** apply folds one event of the stream into the devices. */
  apply(e) {
    if (e.seq >= this.liveFrom) this.skew = Date.parse(e.time) - Date.now() || 0;
    const id = e.device;
    if (id && (e.kind === 'state' || e.kind === 'availability')) {
      // A device's seq is that of the message that changed it, which is
      // the cause of the state or availability event.
      const seq = (e.cause && e.cause.seq) || e.seq;
      const d = this.devices.get(id) || {id, state: {}, seq: 0, name: '', room: ''};
      if (seq > d.seq) {
        const next = {...d, seq, updated: e.time};
        if (e.kind === 'state') next.state = e.payload || {};
        else next.availability = e.payload;
        const added = !this.devices.has(id);
        this.devices.set(id, next);
        if (added) this.dispatchEvent(new Event('devices'));
        else this.dispatchEvent(new CustomEvent('device', {detail: {id, event: e}}));
        mark(e);
      }
    }
    this.dispatchEvent(new CustomEvent('event', {detail: {event: e}}));
  }

  /** nameOf returns the name a device is shown by. */
  nameOf(id) {
    const d = this.devices.get(id);
    return d ? displayName(d) : humanize(id);
  }

  /** rename records a device's new name and room after a PUT. */
  rename(d) {
    const had = this.devices.get(d.id);
    this.devices.set(d.id, {...(had || d), name: d.name, room: d.room});
    this.dispatchEvent(new Event('devices'));
  }
}

// mark records when the page showed an event (User Timing), so that the
// browser tests can measure the delay from the hub to the screen.
function mark(e) {
  if (performance.getEntriesByName('hearth:applied').length >= MAX_MARKS) performance.clearMarks('hearth:applied');
  performance.mark('hearth:applied', {detail: {seq: e.seq, device: e.device}});
}
