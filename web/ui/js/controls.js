// The controls of the home page's cards and the device page: a light's
// switch and brightness, the house mode's choices, and a switch or buttons
// for any attribute a command sets (a lock, a cover). A command goes to the
// hub; a control shows the new state only when the device reports it (a
// state event on the stream), and shows "pending" meanwhile.

import {api, enc} from './api.js';
import {h, announce} from './dom.js';
import {displayName, isOn, label, show, withUnit, word} from './format.js';

const PENDING_FOR = 5000;

/**
 * commander sends a control's commands: el shows "pending" until done()
 * (the device reported) or PENDING_FOR, and err says why one was not sent.
 */
function commander(el, err, name) {
  let timer = 0;
  const done = () => { clearTimeout(timer); el.classList.remove('pending'); el.removeAttribute('aria-busy'); };
  async function send(id, body) {
    done();
    err.textContent = '';
    el.classList.add('pending');
    el.setAttribute('aria-busy', 'true');
    timer = setTimeout(done, PENDING_FOR);
    try {
      await api(`/api/devices/${enc(id)}/set`, {method: 'POST', body});
    } catch (e) {
      done();
      err.textContent = `Not sent: ${e.message}`;
      announce(`${name()}: the command was not sent. ${e.message}`);
    }
  }
  return [send, done];
}

const errorLine = () => h('p', {class: 'control-error', role: 'alert'});
const knob = () => h('span', {class: 'switch-knob', 'aria-hidden': 'true'});

/** lightControls returns {el, update(device)} for a light. */
export function lightControls(d) {
  let dev = d, pending = null;
  const name = () => displayName(dev);
  const sw = h('button', {type: 'button', class: 'switch', role: 'switch', 'aria-checked': 'false'}, knob());
  const swText = h('span', {class: 'switch-text', 'aria-hidden': 'true'});
  const range = h('input', {type: 'range', min: 1, max: 254, step: 1, class: 'range'});
  const out = h('output', {class: 'range-out'});
  const err = errorLine();
  const slider = h('label', {class: 'slider'}, h('span', {class: 'slider-label'}, 'Brightness'), range, out);
  const el = h('div', {class: 'light-controls'}, h('div', {class: 'switch-row'}, swText, sw), slider, err);
  const [post, done] = commander(el, err, name);
  const send = (body, what) => { pending = what; post(dev.id, body); };
  const percent = (v) => `${Math.round((v / 254) * 100)}%`;

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
    range.disabled = sw.disabled = dev.availability === 'offline';
    if (pending) {
      announce(pending === 'brightness' ? `${name()} brightness ${percent(st.brightness || 0)}` : `${name()} is ${on ? 'on' : 'off'}`);
      pending = null;
      done();
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
  let dev = d;
  const err = errorLine();
  const group = h('div', {class: 'segmented choices', role: 'radiogroup', 'aria-label': `${displayName(d)}: ${attr}`, 'data-n': d.choices[attr].length});
  const el = h('div', {class: 'choice-controls'}, group, err);
  const [post, done] = commander(el, err, () => displayName(dev));
  for (const v of d.choices[attr]) {
    group.append(h('button', {type: 'button', role: 'radio', 'data-value': v, onclick: () => pick(v)}, word(v)));
  }
  const pick = (v) => (dev.state || {})[attr] !== v && post(dev.id, {[attr]: v});

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
    if ((next.state || {})[attr] !== (dev.state || {})[attr]) done();
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

/** same says a reported value is a capability's value (ON and on alike). */
const same = (a, b) => a === b || (typeof a === 'string' && typeof b === 'string' && a.toUpperCase() === b.toUpperCase());

/**
 * capControl returns {el, update(device)} for an attribute a command sets,
 * drawn by make(capability, ctl) as {el, draw(value, device)}, or null when
 * make has none for it. ctl.send(v) sets the attribute to v; ctl.what()
 * names it for screen readers.
 */
export function capControl(d, c, make = basic) {
  let dev = d;
  const name = () => displayName(dev);
  const ctl = {what: () => (c.attr === 'state' ? name() : `${label(c.attr, dev)} of ${name()}`), send: (v) => post(dev.id, {[c.attr]: v})};
  const part = make(c, ctl);
  if (!part) return null;
  const err = errorLine();
  const el = h('div', {class: 'cap', 'data-attr': c.attr}, part.el, err);
  const [post, done] = commander(el, err, name);
  function update(next) {
    dev = next;
    const v = (dev.state || {})[c.attr];
    if (el.classList.contains('pending')) {
      done();
      announce(`${ctl.what()}: ${withUnit(...show(c.attr, v, dev))}`);
    }
    part.draw(v, dev);
    for (const x of el.querySelectorAll('button, input, select')) x.disabled = dev.availability === 'offline';
  }
  update(d);
  return {el, update};
}

/**
 * basic draws a binary attribute as a switch between its on and off values
 * (a lock's LOCK and UNLOCK), and an enum of a few values as a button each
 * (a cover's OPEN, CLOSE, STOP), the one the device reports pressed.
 */
export function basic(c, ctl) {
  if (c.type === 'binary') {
    const on = c.on ?? 'ON', off = c.off ?? 'OFF';
    const sw = h('button', {type: 'button', class: 'switch', role: 'switch'}, knob());
    const text = h('span', {class: 'switch-text', 'aria-hidden': 'true'});
    sw.addEventListener('click', () => ctl.send(sw.getAttribute('aria-checked') === 'true' ? off : on));
    return {el: h('div', {class: 'switch-row'}, text, sw), draw(v, d) {
      sw.setAttribute('aria-checked', String(same(v, on)));
      // The switch says what on means: "Front door locked", on or off.
      sw.setAttribute('aria-label', c.attr === 'state' && typeof on === 'string' ? `${ctl.what()} ${word(on).toLowerCase()}` : ctl.what());
      text.textContent = c.attr === 'state' ? word(v ?? off) : label(c.attr, d);
    }};
  }
  if (c.type !== 'enum' || !c.values || c.values.length > 5) return null;
  const el = h('div', {class: 'segmented choices', role: 'group', 'data-n': c.values.length},
    c.values.map((v) => h('button', {type: 'button', 'data-value': v, onclick: () => ctl.send(v)}, word(v, true))));
  return {el, draw(v) {
    el.setAttribute('aria-label', ctl.what());
    // Values the device does not report (an effect) are actions, not toggles.
    for (const b of el.children) v === undefined ? b.removeAttribute('aria-pressed') : b.setAttribute('aria-pressed', String(same(v, b.dataset.value)));
  }};
}
