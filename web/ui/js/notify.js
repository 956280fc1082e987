// Notifications: a bell in the top bar with the count of those not seen
// yet, the list of those sent to the page (read from the hub, so a page
// opened later shows what it missed, and kept live by the stream), a toast
// for each new one, and the browser's own notifications once the person
// allows them: asked on a click, never on load, and only for notifications
// that arrive while the page is open.

import {api, enc} from './api.js';
import {h, s, timeEl, refreshTimes, announce} from './dom.js';

// SEEN keeps, in this browser, the newest notification shown in the open list.
const SEEN = 'hearth:notifications-seen';
const TOAST_FOR = 8000;
// Priorities worth a word; normal says nothing.
const PRIORITY = {low: 'Low', high: 'High', urgent: 'Urgent'};
const BELL = 'M6 9a6 6 0 0 1 12 0c0 6 2.5 8 2.5 8h-17S6 15 6 9M10 20.5a2.2 2.2 0 0 0 4 0';

function seenSeq() {
  try { return Number(localStorage.getItem(SEEN)) || 0; } catch { return 0; }
}

/** mountNotifications puts the bell after the element after, and the list in the page. */
export function mountNotifications(live, after) {
  let items = []; // newest first
  let channels = ['page'];
  let seen = seenSeq();
  let unreadAtOpen = 0; // the seen mark when the list was opened: newer ones stand out
  let toastTimer = 0, ticker = 0;

  const badge = h('span', {class: 'badge', 'aria-hidden': 'true', hidden: true});
  const bell = h('button', {type: 'button', class: 'bell', 'aria-expanded': 'false', 'aria-controls': 'notes', 'aria-label': 'Notifications'},
    s('svg', {class: 'bell-icon', viewBox: '0 0 24 24', 'aria-hidden': 'true'}, s('path', {d: BELL})), badge);
  const list = h('ol', {class: 'notes-list'});
  const allow = h('button', {type: 'button', class: 'button subtle notes-allow', hidden: true}, 'Notify this browser too');
  const older = h('button', {type: 'button', class: 'button subtle notes-older', hidden: true}, 'Older notifications');
  const panel = h('section', {id: 'notes', class: 'notes', hidden: true, 'aria-labelledby': 'notes-title'},
    h('div', {class: 'notes-head'}, h('h2', {id: 'notes-title'}, 'Notifications'), allow), list, older);
  const toast = h('button', {type: 'button', class: 'toast', hidden: true});
  after.after(bell);
  document.body.append(panel, toast);

  function unread() {
    return items.filter((n) => n.seq > seen).length;
  }

  function render() {
    const n = unread();
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? '99+' : String(n);
    bell.setAttribute('aria-label', n ? `Notifications, ${n} new` : 'Notifications');
    list.replaceChildren(...items.map(row));
    if (!items.length) list.append(h('li', {class: 'muted notes-empty'}, 'No notifications yet.'));
    allow.hidden = !('Notification' in window) || Notification.permission !== 'default';
  }

  function row(n) {
    const prio = PRIORITY[n.priority];
    return h('li', {class: `note prio-${n.priority || 'normal'}${n.seq > unreadAtOpen ? ' unread' : ''}`, 'data-seq': n.seq},
      h('div', {class: 'note-head'},
        h('strong', {class: 'note-title'}, n.title || 'Hearth'),
        prio ? h('span', {class: 'chip note-prio'}, prio) : '',
        timeEl(n.time, 'note-time')),
      n.message ? h('p', {class: 'note-text'}, n.message) : '',
      n.automation ? h('a', {class: 'note-from', href: `#/automations/${enc(n.automation)}`}, `From ${n.automation}`) : '');
  }

  // merge adds notifications, once each, newest first.
  function merge(more) {
    const bySeq = new Map(items.map((n) => [n.seq, n]));
    for (const n of more) bySeq.set(n.seq, n);
    items = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
  }

  async function load(before) {
    try {
      const res = await api(`/api/notifications${before ? `?before=${before}` : ''}`);
      channels = res.channels;
      merge(res.notifications);
      older.hidden = !res.more;
    } catch (e) {
      list.replaceChildren(h('li', {class: 'error'}, `Notifications could not be read: ${e.message}`));
      return;
    }
    if (!panel.hidden) markSeen();
    render();
  }

  function markSeen() {
    if (!items.length || items[0].seq <= seen) return;
    seen = items[0].seq;
    try { localStorage.setItem(SEEN, String(seen)); } catch { /* private mode: counted per visit */ }
  }

  function open(show) {
    panel.hidden = !show;
    bell.setAttribute('aria-expanded', String(show));
    clearInterval(ticker);
    if (show) {
      unreadAtOpen = seen;
      markSeen();
      hideToast();
      ticker = setInterval(() => refreshTimes(list), 30e3);
      refreshTimes(list);
    }
    render();
  }

  function hideToast() {
    clearTimeout(toastTimer);
    toast.hidden = true;
  }

  // arrived tells of a notification that came while the page is open.
  function arrived(n) {
    const text = n.message ? `${n.title ? n.title + ': ' : ''}${n.message}` : n.title;
    announce(`Notification: ${text}`);
    if (panel.hidden) {
      toast.className = `toast prio-${n.priority || 'normal'}`;
      toast.replaceChildren(h('strong', {}, n.title || 'Hearth'), ' ', n.message || '');
      toast.hidden = false;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(hideToast, TOAST_FOR);
    }
    if ('Notification' in window && Notification.permission === 'granted') {
      try {
        new Notification(n.title || 'Hearth', {body: n.message || '', tag: `hearth-${n.seq}`, requireInteraction: n.priority === 'urgent'});
      } catch {
        // Some browsers (Chrome on Android) show them only from a service worker.
      }
    }
  }

  bell.addEventListener('click', () => open(panel.hidden));
  toast.addEventListener('click', () => open(true));
  older.addEventListener('click', () => load(items.length ? items[items.length - 1].seq : 0));
  allow.addEventListener('click', async () => {
    try {
      await Notification.requestPermission();
    } finally {
      render();
    }
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !panel.hidden) {
      open(false);
      bell.focus();
    }
  });
  document.addEventListener('click', (ev) => {
    if (!panel.hidden && !panel.contains(ev.target) && !bell.contains(ev.target) && !toast.contains(ev.target)) open(false);
  });

  // The list is (re)read whenever the stream starts afresh or fell behind.
  live.addEventListener('reload', () => load());
  live.addEventListener('event', (ev) => {
    const e = ev.detail.event;
    if (e.kind !== 'notification' || e.topic !== '$hearth/notify' || !e.payload || typeof e.payload !== 'object') return;
    if (!(e.payload.channels || []).some((c) => channels.includes(c)) || items.some((n) => n.seq === e.seq)) return;
    merge([{...e.payload, seq: e.seq, time: e.time}]);
    if (!panel.hidden) markSeen();
    render();
    arrived(items.find((n) => n.seq === e.seq));
  });
  render();
}
