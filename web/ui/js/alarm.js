// The alarm panel on its card: what it is doing, the countdown of its exit
// or entry delay, who changed it last, and a keypad: the code, then arm
// away, home or night, or disarm. A command goes to POST /api/alarm, which
// answers once the alarm has checked the code; the card shows the new state
// when the alarm publishes it (a state event on the stream).

import {api} from './api.js';
import {h, clock, announce} from './dom.js';
import {changedBy, words} from './format.js';

const ARM = [['arm_away', 'Away'], ['arm_home', 'Home'], ['arm_night', 'Night']];
const ARMED = {armed_away: 'away', armed_home: 'home', armed_night: 'night'};

/** alarmControls returns {el, update(device)} for the alarm panel. */
export function alarmControls(d, live) {
  let dev = d, lockedFor = 0, lockEnd = 0, lockTimer = 0, tick = 0, busy = false, shown = '';
  const note = h('p', {class: 'alarm-note'});
  const by = h('p', {class: 'alarm-by'});
  const code = h('input', {id: 'alarm-code', class: 'keypad-code', name: 'code', type: 'password', inputmode: 'numeric',
    autocomplete: 'off', maxlength: 64, 'aria-describedby': 'alarm-error'});
  const actions = h('div', {class: 'keypad-actions'});
  const err = h('p', {id: 'alarm-error', class: 'control-error', role: 'alert'});
  const form = h('form', {class: 'keypad'}, h('label', {for: 'alarm-code', class: 'keypad-label'}, 'Code'), code, actions, err);
  const el = h('div', {class: 'alarm-controls'}, note, by, form);

  // buttons draws arm buttons when disarmed, a disarm button otherwise;
  // the first is what Enter in the code field does.
  function buttons(disarmed) {
    const want = disarmed ? 'arm' : 'disarm';
    if (shown === want) return;
    shown = want;
    actions.replaceChildren(...(disarmed
      ? ARM.map(([v, text]) => h('button', {type: 'submit', class: 'button', value: v, 'aria-label': `Arm ${text.toLowerCase()}`}, text))
      : [h('button', {type: 'submit', class: 'button disarm', value: 'disarm'}, 'Disarm')]));
    enable();
  }

  function enable() {
    for (const b of actions.children) b.disabled = busy || lockedFor > 0;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const action = (ev.submitter && ev.submitter.value) || actions.firstChild.value;
    busy = true;
    enable();
    err.textContent = '';
    try {
      await api('/api/alarm', {method: 'POST', body: {action, code: code.value}});
      code.value = ''; // the new state arrives on the stream, and is announced then
    } catch (e) {
      err.textContent = sentence(e.message);
      if (e.status === 429 && e.body && e.body.retry_after) lockout(Date.now() + e.body.retry_after * 1000);
      code.select();
    } finally {
      busy = false;
      enable();
    }
  });

  // lockout counts down the seconds codes are refused, until end on this
  // clock, with the buttons off meanwhile.
  function lockout(end) {
    if (Math.abs(end - lockEnd) < 1000) return; // counting down already
    lockEnd = end;
    clearInterval(lockTimer);
    const step = (first) => {
      lockedFor = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if ((!first && !el.isConnected) || !lockedFor) {
        clearInterval(lockTimer);
        lockEnd = 0;
        if (lockedFor === 0) err.textContent = '';
      } else {
        err.textContent = `Too many wrong codes. Try again in ${lockedFor} s.`;
      }
      enable();
    };
    lockTimer = setInterval(step, 1000);
    step(true);
  }

  // countdown shows what the running delay leads to and when.
  function countdown() {
    const st = dev.state || {};
    const left = st.until ? Math.max(0, Math.ceil((Date.parse(st.until) - live.hubNow()) / 1000)) : -1;
    const sensor = st.sensor ? live.nameOf(st.sensor) : '';
    let text = '';
    switch (st.state) {
      case 'arming':
        text = `Arms ${ARMED[st.target] || ''} in ${left} s: time to leave`;
        break;
      case 'pending':
        text = `${sensor || 'A sensor'} tripped it. It goes off in ${left} s unless disarmed.`;
        break;
      case 'triggered':
        text = `Going off${sensor ? `: ${sensor}` : ''}.${left >= 0 ? ` Stops at ${clock(st.until)}.` : ' Until disarmed.'}`;
        break;
    }
    note.textContent = text;
    note.hidden = !text;
    if (left < 0 || !el.isConnected) {
      clearInterval(tick);
      tick = 0;
    }
  }

  function update(next) {
    const changed = (next.state || {}).state !== (dev.state || {}).state;
    if (changed) announce(`Alarm ${words((next.state || {}).state)}`);
    // A new state makes an old error stale; a lockout stays until it ends.
    if (changed && !lockedFor) err.textContent = '';
    dev = next;
    const st = dev.state || {};
    buttons(st.state === 'disarmed');
    // The delays and sensors are said by the note; who acted, here.
    const who = /^(sensor |exit delay|entry delay|trigger time)/.test(st.changed_by || '') ? '' : changedBy(st.changed_by || '', live.nameOf);
    const did = st.state === 'disarmed' ? 'Disarmed' : st.state === 'triggered' ? 'Set off' : 'Armed';
    by.textContent = who ? `${did} by ${who}${st.user ? ` (code of ${st.user})` : ''}` : '';
    by.hidden = !who;
    countdown();
    if (st.until && !tick) tick = setInterval(countdown, 1000);
    // Codes refused after wrong ones, here or on another page or keypad.
    const locked = Date.parse(st.locked_until) - live.hubNow();
    if (locked > 0) lockout(Date.now() + locked);
  }
  update(d);
  return {el, update};
}

// sentence makes an API error read as one: "wrong code" → "Wrong code.".
function sentence(msg) {
  const t = String(msg).trim();
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}
