// The device page's controls, one for every attribute a command sets: the
// card's switch and buttons (controls.js) for a binary and an enum of a
// few values, and here a slider with its unit, range and presets for a
// number, a list for an enum of many values and a field for text. Loaded
// with the device page only, so that the home page stays light.

import {h} from './dom.js';
import {basic, capControl} from './controls.js';
import {formatNumber, humanize, label, unit, withUnit, word} from './format.js';

let ids = 0; // ties each label to its field

/**
 * settings returns {el, update(device)} with a control for each attribute
 * of d a command sets, but those in skip (a light's own), or null when
 * there is none.
 */
export function settings(d, skip) {
  const list = (d.capabilities || []).filter((c) => c.set && !skip.includes(c.attr)).map((c) => capControl(d, c, setting)).filter(Boolean);
  return list.length ? {el: h('div', {class: 'settings'}, list.map((x) => x.el)), update: (next) => list.forEach((x) => x.update(next))} : null;
}

function setting(c, ctl) {
  const id = `setting-${++ids}`;
  const name = h('label', {class: 'setting-label', for: id}, label(c.attr));
  if (c.type === 'numeric') {
    // The range, in the label: "Heating setpoint (5–30 °C)".
    if (c.min !== undefined && c.max !== undefined) name.append(` (${formatNumber(c.min)}–${withUnit(formatNumber(c.max), c.unit || unit(c.attr))})`);
    return number(c, ctl, id, name);
  }
  const few = basic(c, ctl);
  if (few) return c.type === 'binary' || c.attr === 'state' ? few : {el: h('div', {class: 'setting'}, h('span', {class: 'setting-label', 'aria-hidden': 'true'}, label(c.attr)), few.el), draw: few.draw};
  if (c.type !== 'text' && !(c.type === 'enum' && c.values)) return null; // an object (a colour) has no control yet
  // A field and a Set button: a list sending as the arrow keys move through
  // it would send every value on the way.
  const field = c.values ? h('select', {id, class: 'field'}, c.values.map((v) => h('option', {value: v}, word(v)))) : h('input', {id, class: 'field', autocomplete: 'off'});
  const form = h('form', {class: 'setting'}, name, h('div', {class: 'field-row'}, field, h('button', {class: 'button subtle'}, 'Set')));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); ctl.send(field.value); });
  return {el: form, draw(v) { if (v !== undefined && typeof v !== 'object' && document.activeElement !== field) field.value = v; }};
}

// number draws a numeric attribute: a slider over its range, or a field
// when it has none, with its unit and a button per preset ("warmest").
function number(c, ctl, id, name) {
  const ranged = c.min !== undefined && c.max !== undefined;
  const u = c.unit || unit(c.attr);
  // The hub does not know a number's step: a narrow range (a setpoint of
  // 5–30 °C) takes halves, a wide one (a colour temperature) whole numbers.
  const input = h('input', {id, type: ranged ? 'range' : 'number', class: ranged ? 'range' : 'field', min: c.min, max: c.max, step: ranged && c.max - c.min <= 50 ? 0.5 : 'any'});
  const out = h('output', {class: 'range-out', for: id});
  const say = (v) => {
    out.value = v === undefined || v === '' ? '—' : withUnit(formatNumber(v), u);
    input.setAttribute('aria-valuetext', out.value);
  };
  input.addEventListener('input', () => say(input.value));
  input.addEventListener('change', () => input.value !== '' && ctl.send(Number(input.value)));
  const presets = (c.presets || []).map((p) => h('button', {type: 'button', class: 'button subtle', onclick: () => ctl.send(p)}, humanize(p)));
  return {
    el: h('div', {class: 'setting'}, name, out, input, presets.length ? h('div', {class: 'presets', role: 'group', 'aria-label': `${label(c.attr)} presets`}, presets) : ''),
    draw(v) {
      // Never move the thumb under a finger that is dragging it.
      if (document.activeElement === input) return;
      if (typeof v === 'number') input.value = v;
      say(typeof v === 'number' ? v : undefined);
    },
  };
}
