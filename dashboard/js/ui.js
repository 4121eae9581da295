// Small DOM helpers: elements built with textContent (never innerHTML with data), formatting,
// the confirmation dialog, the status line and the canvas charts.

export const $ = (id) => document.getElementById(id);

/** `el('td', {class: 'x', dataset: {field: 'state'}}, 'text', childNode)` */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Replaces a table body's rows; shows `empty` in one cell when there are none. */
export function fillTable(tbody, rows, empty) {
  const cols = tbody.closest('table').querySelectorAll('thead th').length;
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: cols, class: 'empty' }, empty))]));
}

export function fmtDuration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(secs)) return '–';
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0'), ss = String(r).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

export function fmtNumber(n, digits = 0) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '–';
}

/** Shows a status message at the top of the page (error styling when `error`). */
export function flash(message, error = false) {
  const f = $('flash');
  f.textContent = message;
  f.className = error ? 'error' : '';
  f.hidden = !message;
}

/** The modal confirmation dialog; resolves true when the operator confirms. */
export function confirmAction(message, confirmLabel = 'Confirm') {
  const dialog = $('confirm-dialog');
  $('confirm-message').textContent = message;
  $('confirm-ok').textContent = confirmLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

/** A rolling series of samples for a chart. */
export class Series {
  constructor(limit) { this.limit = limit; this.points = []; }
  push(t, v) {
    this.points.push([t, v]);
    while (this.points.length > this.limit) this.points.shift();
  }
}

/** Draws `series` as a line with a filled area over the last `windowMs`, scaled to its maximum. */
export function drawChart(canvas, series, windowMs) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(document.documentElement);
  const now = Date.now();
  const pts = series.points.filter(([t]) => t >= now - windowMs);
  canvas.dataset.samples = String(pts.length);
  ctx.strokeStyle = style.getPropertyValue('--line');
  ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
  if (!pts.length) return;
  const max = Math.max(1, ...pts.map(([, v]) => v));
  const x = (t) => ((t - (now - windowMs)) / windowMs) * w;
  const y = (v) => h - 2 - (v / max) * (h - 14);
  ctx.beginPath();
  pts.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
  const accent = style.getPropertyValue('--accent').trim() || '#1f6feb';
  ctx.strokeStyle = accent; ctx.lineWidth = 1.5; ctx.stroke();
  ctx.lineTo(x(pts[pts.length - 1][0]), h); ctx.lineTo(x(pts[0][0]), h); ctx.closePath();
  ctx.globalAlpha = 0.15; ctx.fillStyle = accent; ctx.fill(); ctx.globalAlpha = 1;
  ctx.fillStyle = style.getPropertyValue('--muted'); ctx.font = '10px system-ui, sans-serif';
  ctx.fillText(`max ${max % 1 ? max.toFixed(2) : max}`, 4, 10);
}

/** Sets a status pill's text and class. */
export function pill(node, state, detail) {
  node.textContent = detail ? `${state} (${detail})` : state;
  node.className = `pill ${state}`;
}

/**
 * Runs `f` now and then every `ms` (never two at once) until the returned function is called.
 * Errors go to `onError` (default: the status line).
 */
export function poll(f, ms, onError = (e) => flash(e.message, true)) {
  let stopped = false, timer = null;
  const run = async () => {
    try { await f(); } catch (e) { if (!stopped && e.code !== 'no_token') onError(e); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}
