// Trunks: OPTIONS keepalive state (up, down, unprobed), probe counters, last answer, and our
// registration to the carrier; polled every 2 s.
import { api } from './api.js';
import { $, el, fillTable, fmtDuration, fmtNumber, fmtTime, poll } from './ui.js';

let stopPoll = null;

function lastAnswer(t) {
  if (t.last_status === null || t.last_status === undefined) return '–';
  const rtt = typeof t.last_rtt_ms === 'number' ? ` in ${fmtNumber(t.last_rtt_ms, 1)} ms` : '';
  return `${t.last_status}${rtt}`;
}

function registration(r) {
  if (!r) return [el('span', { class: 'note' }, 'not registering')];
  const detail = [];
  if (r.status === 'registered' && r.expires_at) {
    const left = (Date.parse(r.expires_at) - Date.now()) / 1000;
    detail.push(el('div', { class: 'note', title: r.expires_at }, `expires in ${fmtDuration(left)}`));
  }
  if (r.status === 'failed') {
    detail.push(el('div', { class: 'note' }, r.last_failure ? `refused: ${r.last_failure}` : 'no answer'));
  }
  return [el('span', { class: `pill reg-${r.status}` }, r.status), ...detail];
}

function row(t) {
  const reg = t.registration;
  const address = t.address ? `${t.address}${t.transport ? ` (${t.transport})` : ''}` : '–';
  return el('tr', { dataset: { trunk: t.name, status: t.status, registration: reg ? reg.status : 'none' } },
    el('th', { scope: 'row', dataset: { field: 'name' } }, t.name),
    el('td', { dataset: { field: 'address' } }, el('code', {}, address)),
    el('td', { dataset: { field: 'status' } }, el('span', { class: `pill status-${t.status}` }, t.status),
      t.changed ? el('div', { class: 'note', title: t.changed }, `since ${fmtTime(t.changed)}`) : null),
    el('td', { dataset: { field: 'probes' } }, `${t.probes} / ${t.probes_failed ?? 0}`),
    el('td', { dataset: { field: 'failures_in_row' } }, String(t.failures_in_row ?? 0)),
    el('td', { dataset: { field: 'last_answer' } }, lastAnswer(t)),
    el('td', { dataset: { field: 'registration' } }, ...registration(reg)));
}

async function refresh() {
  const trunks = await api('GET', '/trunks');
  fillTable($('trunks-table').tBodies[0], trunks.map(row), 'No trunk is configured.');
  const down = trunks.filter((t) => t.status === 'down').length;
  $('trunks-summary').textContent = `${trunks.length} trunk${trunks.length === 1 ? '' : 's'}, ${down} down.`;
}

export default {
  start() { stopPoll = poll(refresh, 2000); },
  stop() { if (stopPoll) stopPoll(); },
};
