// A light's switch and brightness slider, shared by the home page's cards
// and the device page. A command goes to the hub; the control shows the new
// state only when the light reports it (a state event on the stream), and
// shows "pending" meanwhile.

import {api, enc} from './api.js';
import {h, announce} from './dom.js';
import {displayName, isOn} from './format.js';

const PENDING_FOR = 5000;

/** lightControls returns {el, update(device)} for a light. */
export function lightControls(d) {
  let dev = d, pending = null, timer = 0;
  const name = () => displayName(dev);
  const sw = h('button', {type: 'button', class: 'switch', role: 'switch', 'aria-checked': 'false'},
    h('span', {class: 'switch-knob', 'aria-hidden': 'true'}));
  const swText = h('span', {class: 'switch-text', 'aria-hidden': 'true'});
  const range = h('input', {type: 'range', min: 1, max: 254, step: 1, class: 'range'});
  const out = h('output', {class: 'range-out'});
  const err = h('p', {class: 'control-error', role: 'alert'});
  const slider = h('label', {class: 'slider'}, h('span', {class: 'slider-label'}, 'Brightness'), range, out);
  const el = h('div', {class: 'light-controls'}, h('div', {class: 'switch-row'}, swText, sw), slider, err);

  const percent = (v) => `${Math.round((v / 254) * 100)}%`;

  async function send(body, what) {
    clearTimeout(timer);
    pending = what;
    el.classList.add('pending');
    sw.setAttribute('aria-busy', 'true');
    err.textContent = '';
    timer = setTimeout(() => settle(), PENDING_FOR);
    try {
      await api(`/api/devices/${enc(dev.id)}/set`, {method: 'POST', body});
    } catch (e) {
      settle();
      err.textContent = `Not sent: ${e.message}`;
      announce(`${name()}: the command was not sent. ${e.message}`);
    }
  }

  function settle() {
    clearTimeout(timer);
    pending = null;
    el.classList.remove('pending');
    sw.removeAttribute('aria-busy');
  }

  sw.addEventListener('click', () => {
    const on = !isOn(dev);
    send({state: on ? 'ON' : 'OFF'}, on ? 'on' : 'off');
  });
  range.addEventListener('input', () => { out.value = percent(range.value); });
  range.addEventListener('change', () => send({state: 'ON', brightness: Number(range.value)}, 'brightness'));

  function update(next) {
    dev = next;
    const st = dev.state || {};
    const on = isOn(dev);
    sw.setAttribute('aria-checked', String(on));
    sw.setAttribute('aria-label', name());
    swText.textContent = on ? 'On' : 'Off';
    range.setAttribute('aria-label', `Brightness of ${name()}`);
    const hasBrightness = typeof st.brightness === 'number';
    slider.hidden = !hasBrightness;
    // Never move the thumb under a finger that is dragging it.
    if (hasBrightness && document.activeElement !== range) {
      range.value = st.brightness;
      out.value = percent(st.brightness);
    }
    range.disabled = dev.availability === 'offline';
    sw.disabled = dev.availability === 'offline';
    if (pending) {
      announce(pending === 'brightness' ? `${name()} brightness ${percent(st.brightness || 0)}` : `${name()} is ${on ? 'on' : 'off'}`);
      settle();
    }
  }
  update(d);
  return {el, update};
}

/**
 * choiceControls returns {el, update(device)} for an attribute with a few
 * values to pick from (the house mode): a row of radio buttons; the one
 * picked shows once the device reports it.
 */
export function choiceControls(d, attr) {
  let dev = d, timer = 0;
  const err = h('p', {class: 'control-error', role: 'alert'});
  const group = h('div', {class: 'segmented choices', role: 'radiogroup', 'aria-label': `${displayName(d)}: ${attr}`, 'data-n': d.choices[attr].length});
  const el = h('div', {class: 'choice-controls'}, group, err);
  for (const v of d.choices[attr]) {
    const b = h('button', {type: 'button', role: 'radio', 'data-value': v}, v.charAt(0).toUpperCase() + v.slice(1).replace(/_/g, ' '));
    b.addEventListener('click', () => pick(v));
    group.append(b);
  }

  async function pick(v) {
    if ((dev.state || {})[attr] === v) return;
    err.textContent = '';
    el.classList.add('pending');
    clearTimeout(timer);
    timer = setTimeout(() => el.classList.remove('pending'), PENDING_FOR);
    try {
      await api(`/api/devices/${enc(dev.id)}/set`, {method: 'POST', body: {[attr]: v}});
    } catch (e) {
      el.classList.remove('pending');
      err.textContent = `Not sent: ${e.message}`;
    }
  }

  // Arrow keys move within the radio group, as a radio group should.
  group.addEventListener('keydown', (ev) => {
    const all = [...group.children];
    const i = all.findIndex((b) => b.getAttribute('aria-checked') === 'true');
    const j = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? i + 1 : ev.key === 'ArrowLeft' || ev.key === 'ArrowUp' ? i - 1 : -1;
    if (j < 0 || j >= all.length || i === j) return;
    ev.preventDefault();
    all[j].focus();
    pick(all[j].dataset.value);
  });

  function update(next) {
    if ((next.state || {})[attr] !== (dev.state || {})[attr]) {
      clearTimeout(timer);
      el.classList.remove('pending');
    }
    dev = next;
    const cur = (dev.state || {})[attr];
    for (const b of group.children) {
      const on = b.dataset.value === cur;
      b.setAttribute('aria-checked', String(on));
      b.tabIndex = on || (cur === undefined && b === group.firstChild) ? 0 : -1;
    }
  }
  update(d);
  return {el, update};
}
