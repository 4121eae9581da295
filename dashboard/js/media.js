// Media nodes: health, sessions, free ports, load; drain or undrain after confirmation.
import { api } from './api.js';
import { $, el, confirmAction, fillTable, flash, poll } from './ui.js';

let stopPoll = null;

async function setDraining(node, drain) {
  const verb = drain ? 'drain' : 'undrain';
  const message = drain
    ? `Drain ${node.name}? It takes no new calls; its ${node.sessions} session(s) continue.`
    : `Undrain ${node.name}? It takes new calls again.`;
  if (!(await confirmAction(message, drain ? 'Drain' : 'Undrain'))) return;
  try {
    await api('POST', `/media-nodes/${encodeURIComponent(node.name)}/${verb}`);
    flash(`${node.name}: ${drain ? 'draining' : 'taking calls again'}.`);
  } catch (e) {
    flash(`Could not ${verb} ${node.name}: ${e.message}`, true);
  }
  await refresh();
}

function row(n) {
  const draining = n.status === 'draining';
  return el('tr', { dataset: { node: n.name, status: n.status } },
    el('th', { scope: 'row', dataset: { field: 'name' } }, n.name),
    el('td', { dataset: { field: 'status' } }, el('span', { class: `pill status-${n.status}` }, n.status),
      n.last_error ? el('div', { class: 'note' }, n.last_error) : null),
    el('td', { dataset: { field: 'sessions' } }, `${n.sessions} / ${n.max_sessions}`),
    el('td', { dataset: { field: 'free_ports' } }, `${n.free_ports} / ${n.total_ports}`),
    el('td', { dataset: { field: 'load' } }, `${Math.round(100 * (n.load || 0))} %`),
    el('td', {}, String(n.failed_health_checks ?? 0)),
    el('td', {}, el('code', {}, n.grpc_uri)),
    el('td', {}, el('button', {
      type: 'button', class: draining ? 'secondary' : 'danger',
      dataset: { action: draining ? 'undrain' : 'drain', node: n.name },
      'aria-label': `${draining ? 'Undrain' : 'Drain'} ${n.name}`,
      onclick: () => setDraining(n, !draining),
    }, draining ? 'Undrain' : 'Drain')));
}

async function refresh() {
  const nodes = await api('GET', '/media-nodes');
  fillTable($('media-table').tBodies[0], nodes.map(row), 'No media node is configured.');
}

export default {
  start() { stopPoll = poll(refresh, 2000); },
  stop() { if (stopPoll) stopPoll(); },
};
