// Calls: the live table (polled every second and on every call event), filters, and a call's
// detail with its event timeline, hang-up and DTMF.
import { api, eventStream } from './api.js';
import { $, el, confirmAction, fillTable, flash, fmtDuration, fmtTime, pill, poll } from './ui.js';

let calls = [];
let selected = null;
let transferredTo = null; // the selected call's last transfer target, from its timeline
let stopPoll = null, stream = null, timeline = null, refreshTimer = null;

function legText(leg) {
  if (!leg) return '–';
  const total = leg.packets + leg.packets_lost;
  const pct = total ? ((100 * leg.packets_lost) / total).toFixed(1) : '0.0';
  const jitter = typeof leg.jitter_ms === 'number' ? leg.jitter_ms.toFixed(1) : '–';
  return `${leg.packets_lost} lost (${pct} %) / ${jitter} ms`;
}

function matches(c) {
  const text = $('calls-filter-text').value.trim().toLowerCase();
  const state = $('calls-filter-state').value;
  if (state && c.state !== state) return false;
  return !text || [c.from, c.to, c.uuid].some((v) => String(v || '').toLowerCase().includes(text));
}

function row(c) {
  const legs = c.legs || {};
  const cell = (field, ...content) => el('td', { dataset: { field } }, ...content);
  return el('tr', { dataset: { callUuid: c.uuid, state: c.state }, 'aria-selected': c.uuid === selected ? 'true' : null },
    cell('from', c.from), cell('to', c.to),
    cell('state', el('span', { class: `pill state-${c.state}` }, c.state.replace('_', ' '))),
    cell('duration', fmtDuration(c.duration_secs)),
    cell('media_node', c.media_node || '–'),
    cell('codec', c.codec || '–'),
    cell('leg_a', legText(legs.a)), cell('leg_b', legText(legs.b)),
    el('td', {}, el('button', {
      type: 'button', class: 'secondary', dataset: { action: 'details', callUuid: c.uuid },
      'aria-label': `Details of the call from ${c.from} to ${c.to}`, onclick: () => openDetail(c.uuid),
    }, 'Details')));
}

function render() {
  const shown = calls.filter(matches);
  fillTable($('calls-table').tBodies[0], shown.map(row), calls.length ? 'No call matches the filters.' : 'No calls in progress.');
  $('calls-count').textContent = String(shown.length);
  if (selected) renderDetail();
}

async function refresh() {
  try {
    calls = await api('GET', '/calls');
    $('calls-status').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  } catch (e) {
    if (e.status !== 404) throw e;
    $('calls-status').textContent = 'This server has no calls API (GET /api/v1/calls).';
    calls = [];
  }
  render();
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch((e) => flash(e.message, true)), 100);
}

function renderDetail() {
  const c = calls.find((x) => x.uuid === selected);
  const dl = $('call-detail-fields');
  if (!c) {
    dl.replaceChildren(el('dt', {}, 'State'), el('dd', { dataset: { field: 'state' } }, 'ended (no longer in progress)'));
    $('call-hangup').disabled = true;
    $('dtmf-send').disabled = true;
    $('transfer-send').disabled = true;
    return;
  }
  const items = [
    ['From', 'from', c.from], ['To', 'to', c.to], ['State', 'state', c.state],
    ['Started', 'started_at', fmtTime(c.started_at)], ['Answered', 'answered_at', fmtTime(c.answered_at)],
    ['Duration', 'duration', fmtDuration(c.duration_secs)], ['Media node', 'media_node', c.media_node || '–'],
    ['A-leg Call-ID', 'a_call_id', c.a_call_id || '–'], ['B-leg Call-ID', 'b_call_id', c.b_call_id || '–'],
    ['A leg', 'leg_a', legText(c.legs && c.legs.a)], ['B leg', 'leg_b', legText(c.legs && c.legs.b)],
  ];
  if (transferredTo) items.splice(2, 0, ['Transferred to', 'transferred_to', transferredTo]);
  dl.replaceChildren(...items.flatMap(([label, field, value]) => [el('dt', {}, label), el('dd', { dataset: { field } }, value)]));
  $('call-hangup').disabled = c.state === 'ending';
  $('dtmf-send').disabled = c.state !== 'answered';
  $('transfer-send').disabled = c.state !== 'answered';
}

function eventText(type, e) {
  const skip = new Set(['id', 'seq', 'call_uuid', 'call_seq', 'timestamp', 'node_id', 'type']);
  const rest = Object.entries(e).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`);
  return rest.join(' ');
}

function openDetail(uuid) {
  closeTimeline();
  selected = uuid;
  transferredTo = null;
  $('call-detail').hidden = false;
  $('call-detail-uuid').textContent = uuid;
  $('call-timeline').replaceChildren();
  renderDetail();
  render();
  timeline = eventStream({
    query: { call_uuid: uuid },
    after: 0,
    onEvent: (type, e) => {
      $('call-timeline').append(el('li', { dataset: { type, seq: e.seq } },
        el('time', { datetime: e.timestamp }, fmtTime(e.timestamp)), ' ', el('strong', {}, type), ' ', eventText(type, e)));
      if (type === 'call_transferred' && e.call_uuid === selected) {
        transferredTo = `${e.target} (by ${e.by})`;
        renderDetail();
      }
    },
    onStatus: (s, d) => pill($('call-timeline-status'), s, d),
  });
  $('call-detail').scrollIntoView({ block: 'nearest' });
}

function closeTimeline() {
  if (timeline) timeline.close();
  timeline = null;
}

function closeDetail() {
  closeTimeline();
  selected = null;
  $('call-detail').hidden = true;
  render();
}

async function hangUp() {
  const c = calls.find((x) => x.uuid === selected);
  const who = c ? `${c.from} → ${c.to}` : selected;
  if (!(await confirmAction(`Hang up the call ${who}? Both legs get a BYE.`, 'Hang up'))) return;
  try {
    await api('DELETE', `/calls/${encodeURIComponent(selected)}`);
    flash(`Hung up ${who}.`);
    refreshSoon();
  } catch (e) {
    flash(`Hang-up failed: ${e.message}`, true);
  }
}

async function sendDtmf(ev) {
  ev.preventDefault();
  const digits = $('dtmf-digits').value.trim();
  const leg = $('dtmf-leg').value;
  try {
    await api('POST', `/calls/${encodeURIComponent(selected)}/dtmf`, { leg, digits });
    flash(`Sent DTMF ${digits} to the ${leg.toUpperCase()} leg.`);
    $('dtmf-digits').value = '';
  } catch (e) {
    flash(`DTMF failed: ${e.message}`, true);
  }
}

async function transfer(ev) {
  ev.preventDefault();
  const target = $('transfer-target').value.trim();
  const c = calls.find((x) => x.uuid === selected);
  const who = c ? c.from : 'the caller';
  if (!(await confirmAction(`Transfer ${who} to ${target}? The callee is hung up.`, 'Transfer'))) return;
  try {
    const r = await api('POST', `/calls/${encodeURIComponent(selected)}/transfer`, { target });
    flash(`Transferring ${who} to ${r.request_uri}.`);
    $('transfer-target').value = '';
    refreshSoon();
  } catch (e) {
    flash(`Transfer failed: ${e.message}`, true);
  }
}

let wired = false;
function wire() {
  if (wired) return;
  wired = true;
  $('calls-filters').addEventListener('submit', (e) => e.preventDefault());
  $('calls-filter-text').addEventListener('input', render);
  $('calls-filter-state').addEventListener('change', render);
  $('call-hangup').addEventListener('click', hangUp);
  $('dtmf-form').addEventListener('submit', sendDtmf);
  $('transfer-form').addEventListener('submit', transfer);
  $('call-detail-close').addEventListener('click', closeDetail);
}

export default {
  start() {
    wire();
    stopPoll = poll(refresh, 1000);
    stream = eventStream({ query: { type: 'call_' }, onEvent: refreshSoon, onStatus: () => {} });
    if (selected) openDetail(selected);
  },
  stop() {
    if (stopPoll) stopPoll();
    if (stream) stream.close();
    stream = null;
    closeTimeline();
    clearTimeout(refreshTimer);
  },
};
