// Dialplan: the active rules, reload, validation of a candidate file, and the route simulator.
import { api } from './api.js';
import { $, el, fillTable, flash } from './ui.js';

function actionDetails(action) {
  return Object.entries(action || {})
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('; ');
}

function ruleRows(rules) {
  return rules.map((r, i) => el('tr', { dataset: { rule: r.name } },
    el('td', {}, String(i + 1)),
    el('th', { scope: 'row', dataset: { field: 'name' } }, r.name),
    el('td', { dataset: { field: 'action' } }, r.action ? r.action.kind : '–'),
    el('td', {}, actionDetails(r.action) || '–')));
}

function showPlan(plan) {
  $('dialplan-file').textContent = plan.file || '(inline in the server config)';
  fillTable($('rules-table').tBodies[0], ruleRows(plan.rules), 'The dialplan has no rules.');
}

async function load() {
  try {
    showPlan(await api('GET', '/dialplan'));
  } catch (e) {
    flash(`Could not read the dialplan: ${e.message}`, true);
  }
}

async function reload() {
  const out = $('reload-result');
  out.className = '';
  out.textContent = 'Reloading…';
  try {
    const plan = await api('POST', '/dialplan/reload');
    showPlan(plan);
    out.className = 'ok';
    out.textContent = `Reloaded: ${plan.rules.length} rules active.`;
  } catch (e) {
    out.className = 'error';
    out.textContent = `Reload refused (the running plan is unchanged): ${e.message}`;
  }
}

async function validate(ev) {
  ev.preventDefault();
  const out = $('validate-result');
  try {
    const r = await api('POST', '/dialplan/validate', $('validate-text').value);
    out.dataset.valid = String(r.valid);
    if (r.valid) {
      out.replaceChildren(el('p', { class: 'ok' }, `Valid: ${r.rules.length} rules (${r.rules.map((x) => x.name).join(', ') || 'none'}). Not installed.`));
    } else {
      out.replaceChildren(
        el('p', { class: 'error' }, `${r.errors.length} error${r.errors.length === 1 ? '' : 's'}:`),
        el('ul', { class: 'errors', id: 'validate-errors' },
          r.errors.map((e) => el('li', { dataset: { path: e.path } }, el('code', {}, e.path || '(file)'), ': ', e.message))));
    }
  } catch (e) {
    out.dataset.valid = 'false';
    out.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

function simulateBody() {
  const body = { called: $('sim-called').value.trim() };
  for (const [key, id] of [['calling', 'sim-calling'], ['domain', 'sim-domain'], ['source_ip', 'sim-source-ip'], ['trunk', 'sim-trunk']]) {
    const v = $(id).value.trim();
    if (v) body[key] = v;
  }
  const headers = {};
  for (const line of $('sim-headers').value.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  if (Object.keys(headers).length) body.headers = headers;
  return body;
}

async function simulate(ev) {
  ev.preventDefault();
  const out = $('sim-result');
  try {
    const r = await api('POST', '/dialplan/simulate', simulateBody());
    const item = (label, field, value) => [el('dt', {}, label), el('dd', { dataset: { field } }, value)];
    out.replaceChildren(el('dl', { class: 'fields' },
      item('Matched rule', 'rule', r.rule || '(none)'),
      item('Called', 'called', r.called || '–'),
      item('Calling', 'calling', r.calling || '–'),
      item('Action', 'action', r.action ? `${r.action.kind} ${actionDetails(r.action)}`.trim() : '–'),
      item('Targets', 'targets', r.targets.length
        ? el('ol', {}, r.targets.map((t) => el('li', {}, `${t.request_uri} via ${t.next_hop}`))) : 'none'),
      item('Refusal', 'refusal', r.refusal ? `${r.refusal.code} ${r.refusal.reason}` : 'none')));
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error' }, e.field ? `${e.field}: ${e.message}` : e.message));
  }
}

let wired = false;
export default {
  start() {
    if (!wired) {
      wired = true;
      $('reload-button').addEventListener('click', reload);
      $('validate-form').addEventListener('submit', validate);
      $('simulate-form').addEventListener('submit', simulate);
    }
    load();
  },
  stop() {},
};
