// What the page knows about attributes: labels, units, how to show a value,
// which devices are lights, and an icon per kind of device.

import {clock} from './dom.js';

export const ICONS = {
  light: 'M9 18h6M10 21h4M12 3a6 6 0 0 0-3.6 10.8c.7.6 1.1 1.3 1.1 2.2h5c0-.9.4-1.6 1.1-2.2A6 6 0 0 0 12 3z',
  motion: 'M13.5 4.5a1.5 1.5 0 1 1-3 0 1.5 1.5 0 0 1 3 0zM8 21l2.5-6.5M13 21v-4l-2.5-2.5 1-5.5M7 12l2-3.5h3.5l2 3 3 1',
  contact: 'M6 21V4.5A1.5 1.5 0 0 1 7.5 3h9A1.5 1.5 0 0 1 18 4.5V21M3 21h18M14.5 12.5v.01',
  temperature: 'M14 14.8V5a2 2 0 1 0-4 0v9.8a4 4 0 1 0 4 0zM12 9v8',
  illuminance: 'M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4',
  device: 'M7 7h10v10H7zM9.5 3v4M14.5 3v4M9.5 17v4M14.5 17v4M3 9.5h4M3 14.5h4M17 9.5h4M17 14.5h4',
  flame: 'M12 21.5c3.9 0 6.5-2.6 6.5-6.3 0-3.6-2.7-5.8-4.1-8.6-.5 2.1-1.5 3.3-2.8 3.9.3-2.8-.9-5.6-3.3-8 0 3.8-3.8 6-3.8 10.9 0 4.9 3.3 8.1 7.5 8.1z',
  back: 'M15 18l-6-6 6-6',
  alarm: 'M12 3l7 3v5c0 4.6-3 8.5-7 10-4-1.5-7-5.4-7-10V6zM9.5 12l2 2 3.5-4',
  select: 'M3 11l9-7 9 7M5 10v10h5v-6h4v6h5V10',
  lock: 'M7 11V8a5 5 0 0 1 10 0v3M5 11h14v10H5zM12 15v2',
  cover: 'M4 4h16M5 4v16h14V4M5 9h14M5 14h14',
};

const LABELS = {
  state: 'Power', brightness: 'Brightness', occupancy: 'Motion', illuminance: 'Light level',
  temperature: 'Temperature', humidity: 'Humidity', battery: 'Battery', linkquality: 'Signal',
  contact: 'Door', power: 'Power use', energy: 'Energy', voltage: 'Voltage', pressure: 'Pressure',
  co2: 'CO₂', color_temp: 'Colour temperature', water_leak: 'Water leak', smoke: 'Smoke',
  mode: 'Mode', presence: 'Presence', changed_by: 'Changed by', attempts: 'Wrong codes',
  position: 'Position', current_heating_setpoint: 'Heating setpoint', local_temperature: 'Temperature',
};

/**
 * isAlarm: the alarm panel, whose state is what its card is for; its other
 * attributes are details for its device page.
 */
export const isAlarm = (d) => d.kind === 'alarm_control_panel' || (d.id === 'alarm' && typeof (d.state || {}).state === 'string' && !/^(ON|OFF)$/i.test(d.state.state));

/** choice is the attribute of a device to pick a value of (the house mode), or null. */
export const choice = (d) => (d.kind === 'select' && d.choices && Object.keys(d.choices)[0]) || null;

const UNITS = {
  temperature: '°C', humidity: '%', illuminance: 'lx', illuminance_lux: 'lx', battery: '%', power: 'W', energy: 'kWh',
  voltage: 'V', pressure: 'hPa', co2: 'ppm', linkquality: 'LQI',
};

// Booleans that read better as words, as [true, false]; ALERTS says which
// value asks for attention.
const WORDS = {
  occupancy: ['Motion', 'Clear'],
  contact: ['Closed', 'Open'],
  water_leak: ['Leak', 'Dry'],
  smoke: ['Smoke', 'Clear'],
};
const ALERTS = {occupancy: true, contact: false, water_leak: true, smoke: true};

/** alert reports whether a value asks for attention (motion, an open door). */
export const alert = (attr, v) => attr in ALERTS && v === ALERTS[attr];

// The attribute a sensor's card shows large, in order of preference: what
// a sensor is for before what it measures on the side (many motion sensors
// report the light level, many door contacts the temperature).
const PRIMARY = ['mode', 'presence', 'occupancy', 'contact', 'water_leak', 'smoke', 'temperature', 'local_temperature', 'illuminance', 'power', 'co2', 'humidity', 'pressure'];

// Attributes about the radio, not the room: shown small, never charted on
// the home page.
export const TECHNICAL = new Set(['linkquality', 'battery', 'voltage', 'update', 'last_seen', 'attempts']);

// Attributes that say again what another says: many Zigbee2MQTT light
// sensors report illuminance_lux beside illuminance. A card showing the
// one leaves the other out.
const SAME = {illuminance_lux: 'illuminance'};

/** repeats reports whether attr says again what shown, already on the card, says. */
export const repeats = (attr, shown) => SAME[attr] === shown;

/**
 * humanize turns an id or attribute into words: hall_light → Hall light;
 * an id of separators alone stays as it is. The alarm names a sensor the
 * same way (devices/alarm.go).
 */
export function humanize(id) {
  const words = String(id).replace(/[_\-.]+/g, ' ').trim();
  if (!words) return String(id);
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** displayName is the name people gave a device, or its id in words. */
export const displayName = (d) => d.name || humanize(d.id);

/** cap is what the hub knows of a device's attribute (type, unit, range, values), or {}. */
export const cap = (d, attr) => ((d && d.capabilities) || []).find((c) => c.attr === attr) || {};

/** label names an attribute; a state is "Power" only for what is switched (a lock's is not). */
export const label = (attr, d) => (attr === 'state' && d && d.kind && !/light|switch|fan/.test(d.kind) ? 'State' : LABELS[attr] || humanize(attr));

/** unit is the device's own unit of attr when it gives one (mV stays mV), else the usual one. */
export const unit = (attr, d) => cap(d, attr).unit || UNITS[attr] || '';

// Words the hub's states are said in, as [asked, done, shown]: "lock",
// "locked", "Locked".
const VERBS = {
  ON: ['turn on', 'turned on', 'On'], OFF: ['turn off', 'turned off', 'Off'], LOCK: ['lock', 'locked', 'Locked'],
  UNLOCK: ['unlock', 'unlocked', 'Unlocked'], OPEN: ['open', 'opened', 'Open'], CLOSE: ['close', 'closed', 'Closed'], STOP: ['stop', 'stopped', 'Stopped'],
};
const verb = (v) => typeof v === 'string' && VERBS[v.toUpperCase()];

/**
 * word says one value of an enum or state: CLOSE → Closed, armed_away →
 * Armed away; asked, it says it as a button would: CLOSE → Close (but
 * off stays Off).
 */
export function word(v, asked) {
  const w = verb(v);
  return w ? (asked && !w[0].includes(' ') ? humanize(w[0]) : w[2]) : /^\w+$/.test(v) ? humanize(String(v).toLowerCase()) : String(v);
}

const num = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});

/** formatNumber shows a number with at most one decimal. */
export const formatNumber = (v) => num.format(v);

/** show formats one attribute's value (of device d, when known) as [text, unit]. */
export function show(attr, v, d) {
  if (typeof v === 'boolean') {
    const w = WORDS[attr];
    return [w ? w[v ? 0 : 1] : (v ? 'Yes' : 'No'), ''];
  }
  if (typeof v === 'number') {
    if (attr === 'brightness') return [String(Math.round((v / 254) * 100)), '%'];
    return [formatNumber(v), unit(attr, d)];
  }
  if (typeof v === 'string' && (/^(state|mode|presence)$/.test(attr) || cap(d, attr).values) && /^\w+$/.test(v)) return [word(v), ''];
  if (v === null || v === undefined) return ['—', ''];
  if (typeof v === 'object') return [JSON.stringify(v), ''];
  return [String(v), ''];
}

// How a change of a boolean reads in a sentence, as [true, false].
const PHRASES = {
  occupancy: ['motion detected', 'motion cleared'],
  contact: ['closed', 'opened'],
  water_leak: ['leak detected', 'dry again'],
  smoke: ['smoke detected', 'smoke cleared'],
};

/** withUnit joins a value and its unit: "21.5 °C", "45%". */
export const withUnit = (text, u) => (!u ? text : u === '%' ? text + u : `${text} ${u}`);

/**
 * phrase says what a new value of an attribute means: "turned on",
 * "opened", "temperature 21.5 °C"; asked, it says what a command asks:
 * "turn on".
 */
export function phrase(attr, v, asked = false) {
  if (attr === 'state' && verb(v)) return verb(v)[asked ? 0 : 1];
  if (typeof v === 'boolean' && PHRASES[attr]) return PHRASES[attr][v ? 0 : 1];
  const [text, u] = show(attr, v);
  return `${label(attr).toLowerCase()} ${withUnit(text, u)}`;
}

/** isLight: a device whose state has "state" ON/OFF or a "brightness". */
export function isLight(d) {
  const st = d.state || {};
  return (typeof st.state === 'string' && /^(ON|OFF)$/i.test(st.state)) || typeof st.brightness === 'number';
}

/** isOn reports whether a light is on. */
export const isOn = (d) => String((d.state || {}).state).toUpperCase() === 'ON';

/** primary returns the attribute a sensor's card shows large, or null. */
export function primary(d) {
  const st = d.state || {};
  if (isAlarm(d)) return 'state';
  for (const k of PRIMARY) if (k in st) return k;
  return Object.keys(st).find((k) => typeof st[k] === 'number' && !TECHNICAL.has(k)) || null;
}

/** numeric lists a device's numeric attributes, in a stable order. */
export function numeric(d) {
  const st = d.state || {};
  const keys = Object.keys(st).filter((k) => typeof st[k] === 'number');
  const rank = (k) => (PRIMARY.includes(k) ? PRIMARY.indexOf(k) : TECHNICAL.has(k) ? 100 : 50);
  return keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** kind picks the icon of a device from what it reports. */
export function kind(d) {
  if (isAlarm(d)) return 'alarm';
  if (choice(d)) return 'select';
  if (/^(lock|cover)$/.test(d.kind)) return d.kind;
  if (d.kind === 'climate') return 'temperature';
  if (isLight(d)) return 'light';
  const st = d.state || {};
  for (const k of ['occupancy', 'contact', 'temperature', 'illuminance']) if (k in st) return k === 'occupancy' ? 'motion' : k;
  return 'device';
}

/** words says an alarm state: armed_away → armed away. */
export const words = (state) => String(state || '').replace(/_/g, ' ');

/** changedBy says who changed the alarm, from its changed_by. */
export function changedBy(s, nameOf = humanize) {
  let m;
  if (s === 'web') return 'the page';
  if ((m = /^web user (.+)$/.exec(s))) return `${m[1]} on the page`;
  if ((m = /^automation (.+?)(#\d+)?$/.exec(s))) return `automation ${m[1]}`;
  if ((m = /^mqtt client (.+)$/.exec(s))) return `${m[1]} (MQTT)`;
  return s === 'mqtt' ? 'MQTT' : s === 'hub' ? 'the hub' : nameOf(s);
}

// The alarm's attributes for keypads and the hub's own bookkeeping, not
// for people: whether the last code was right, the command a publication
// answers, the code sent (always "***"), the sensor's name beside its id.
const ALARM_HIDDEN = new Set(['code_ok', 'ref', 'code', 'sensor_name']);
const DELAYS = /^(exit delay|entry delay|trigger time)$/;
// The order they are said in: what it does, who made it, until when.
const ALARM_ORDER = ['state', 'action', 'target', 'changed_by', 'user', 'sensor', 'until', 'locked_until', 'attempts'];

/** alarmKeys lists the alarm's attributes in obj worth saying: set, not internal, its state first. */
export function alarmKeys(obj) {
  const rank = (k) => (ALARM_ORDER.indexOf(k) + ALARM_ORDER.length + 1) % (ALARM_ORDER.length + 1);
  return Object.keys(obj || {}).filter((k) => obj[k] !== null && obj[k] !== undefined && !ALARM_HIDDEN.has(k))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** alarmValue says one of the alarm's attributes: its state in words, a time as the page writes times, who acted by name. */
export function alarmValue(k, v, nameOf = humanize) {
  let m;
  if (k === 'state' || k === 'target') return show('state', v)[0];
  if (k === 'until' || k === 'locked_until') return clock(v);
  if (k === 'sensor') return nameOf(v);
  if (k === 'action') return words(v);
  if (k === 'changed_by') return (m = /^sensor (.+)$/.exec(v)) ? nameOf(m[1]) : DELAYS.test(v) ? `the ${v}` : changedBy(v, nameOf);
  const [text, u] = show(k, v);
  return withUnit(text, u);
}

/**
 * alarmPhrases says what the alarm's attributes keys of obj say, for a
 * sentence: "Triggered (armed away)", "by Hall motion", "until 20:00:30".
 */
export function alarmPhrases(obj, keys, nameOf = humanize) {
  return alarmKeys(obj).filter((k) => keys.includes(k)).flatMap((k) => {
    const v = obj[k], text = alarmValue(k, v, nameOf);
    switch (k) {
      case 'state': return obj.target && obj.target !== v ? `${text} (${words(obj.target)})` : text;
      case 'target': return keys.includes('state') ? [] : `target ${words(v)}`;
      case 'changed_by': return `${DELAYS.test(v) ? 'after' : 'by'} ${text}`;
      case 'sensor': return obj.changed_by === `sensor ${v}` ? [] : `sensor ${text}`;
      case 'user': return `code of ${v}`;
      case 'attempts': return v ? `${v} wrong code${v === 1 ? '' : 's'}` : [];
      case 'until': return `until ${text}`;
      case 'locked_until': return `codes refused until ${text}`;
      case 'action': return text;
      default: return phrase(k, v);
    }
  });
}
