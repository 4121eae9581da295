// Registrations: every address of record with its contacts; remove one after confirmation.
import { api } from './api.js';
import { $, el, confirmAction, fillTable, flash, fmtDuration, poll } from './ui.js';

let regs = [];
let stopPoll = null;

function matches(r) {
  const text = $('regs-filter-text').value.trim().toLowerCase();
  if (!text) return true;
  const hay = [r.aor, ...r.contacts.flatMap((c) => [c.uri, c.user_agent])];
  return hay.some((v) => String(v || '').toLowerCase().includes(text));
}

async function remove(r) {
  const n = r.contacts.length;
  const ok = await confirmAction(
    `Remove the registration of ${r.aor} (${n} contact${n === 1 ? '' : 's'})? Calls to it fail until it registers again.`,
    'Remove');
  if (!ok) return;
  try {
    await api('DELETE', `/registrations/${encodeURIComponent(`${r.user}@${r.domain}`)}`);
    flash(`Removed the registration of ${r.aor}.`);
  } catch (e) {
    flash(`Could not remove ${r.aor}: ${e.message}`, true);
  }
  await refresh();
}

function rows(r) {
  const contacts = r.contacts.length ? r.contacts : [{}];
  return contacts.map((c, i) => {
    const cells = [
      el('td', { dataset: { field: 'uri' } }, c.uri || '–'),
      el('td', { dataset: { field: 'user_agent' } }, c.user_agent || '–'),
      el('td', { dataset: { field: 'expires_in' } }, c.expires_in === undefined ? '–' : fmtDuration(c.expires_in)),
      el('td', {}, c.q === undefined || c.q === null ? '–' : String(c.q)),
      el('td', {}, c.received || '–'),
    ];
    if (i === 0) {
      const span = contacts.length;
      cells.unshift(el('th', { scope: 'row', rowspan: span, dataset: { field: 'aor' } }, r.aor));
      cells.push(el('td', { rowspan: span }, el('button', {
        type: 'button', class: 'danger', dataset: { action: 'remove', aor: r.aor },
        'aria-label': `Remove the registration of ${r.aor}`, onclick: () => remove(r),
      }, 'Remove')));
    }
    return el('tr', { dataset: { aor: r.aor } }, ...cells);
  });
}

function render() {
  const shown = regs.filter(matches);
  fillTable($('registrations-table').tBodies[0], shown.flatMap(rows),
    regs.length ? 'No registration matches the filter.' : 'Nobody is registered.');
}

async function refresh() {
  regs = await api('GET', '/registrations');
  render();
}

let wired = false;
export default {
  start() {
    if (!wired) {
      wired = true;
      $('regs-filters').addEventListener('submit', (e) => e.preventDefault());
      $('regs-filter-text').addEventListener('input', render);
    }
    stopPoll = poll(refresh, 5000);
  },
  stop() { if (stopPoll) stopPoll(); },
};
