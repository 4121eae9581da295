// The live event log: the event stream with type and call filters, newest first. Reconnects
// resume from the last event id, so nothing is missed; pausing buffers instead of dropping.
import { api, eventStream } from './api.js';
import { $, el, fmtTime, pill } from './ui.js';

const LIMIT = 500;
const BACKLOG = 100;
let stream = null, paused = false, queue = [], shown = 0, reconnects = 0;

function details(e) {
  const skip = new Set(['id', 'seq', 'call_uuid', 'call_seq', 'timestamp', 'node_id', 'type']);
  return Object.entries(e).filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
}

function add(type, e) {
  const body = $('events-table').tBodies[0];
  const callCell = e.call_uuid
    ? el('a', { href: '#events', title: 'Show only this call', dataset: { callUuid: e.call_uuid },
      onclick: (ev) => { ev.preventDefault(); $('events-call').value = e.call_uuid; restart(); } }, e.call_uuid)
    : '–';
  body.prepend(el('tr', { dataset: { type, seq: e.seq } },
    el('td', {}, e.seq ?? '–'), el('td', {}, el('time', { datetime: e.timestamp }, fmtTime(e.timestamp))),
    el('td', { dataset: { field: 'type' } }, type), el('td', { dataset: { field: 'call_uuid' } }, callCell),
    el('td', {}, type === 'lagged' ? `missed events ${e.missed_from}…${e.resumed_at - 1}` : details(e))));
  while (body.rows.length > LIMIT) body.deleteRow(body.rows.length - 1);
  shown = body.rows.length;
  $('events-count').textContent = String(shown);
}

function onEvent(type, e, id) {
  $('events-last-id').textContent = id || '–';
  if (paused) queue.push([type, e]);
  else add(type, e);
}

async function restart() {
  if (stream) stream.close();
  stream = null;
  $('events-table').tBodies[0].replaceChildren();
  $('events-count').textContent = '0';
  queue = [];
  let after = null;
  try {
    const stats = await api('GET', '/stats');
    after = Math.max(0, (stats.events_journaled_seq || 0) - BACKLOG);
  } catch (e) {
    if (e.code === 'no_token' || e.status === 401) return;
  }
  if (document.body.dataset.view !== 'events') return;
  stream = eventStream({
    query: { type: $('events-type').value.trim(), call_uuid: $('events-call').value.trim() },
    after,
    onEvent,
    onStatus: (s, d) => {
      pill($('events-status'), s, d);
      if (s === 'reconnecting') {
        reconnects += 1;
        $('events-reconnects').textContent = String(reconnects);
      }
    },
  });
}

function togglePause() {
  paused = !paused;
  $('events-pause').textContent = paused ? 'Resume' : 'Pause';
  $('events-pause').setAttribute('aria-pressed', String(paused));
  if (!paused) { for (const [t, e] of queue) add(t, e); queue = []; }
}

let wired = false;
export default {
  start() {
    if (!wired) {
      wired = true;
      $('events-filters').addEventListener('submit', (e) => { e.preventDefault(); restart(); });
      $('events-pause').addEventListener('click', togglePause);
      $('events-reconnect').addEventListener('click', () => { if (stream) stream.reconnect(); });
      $('events-clear').addEventListener('click', () => {
        $('events-table').tBodies[0].replaceChildren();
        $('events-count').textContent = '0';
      });
    }
    restart();
  },
  stop() {
    if (stream) stream.close();
    stream = null;
    pill($('events-status'), 'idle');
  },
};
