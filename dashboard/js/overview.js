// Overview: live numbers from /stats, /media-nodes and the call events, with 5-minute charts.
import { api, eventStream } from './api.js';
import { $, Series, drawChart, fmtDuration, fmtNumber, pill, poll } from './ui.js';

const WINDOW_MS = 5 * 60 * 1000;
const RATIO_WINDOW_MS = 15 * 60 * 1000;
const BUCKET_MS = 10 * 1000;
const series = { calls: new Series(400), regs: new Series(400), media: new Series(400), lag: new Series(400) };
let created = [];
let ended = [];
const answered = new Set();
let stream = null, stopPoll = null;

function onCallEvent(type, e) {
  const t = Date.parse(e.timestamp) || Date.now();
  if (type === 'call_created') created.push(t);
  else if (type === 'call_answered') answered.add(e.call_uuid);
  else if (type === 'call_ended') {
    const talk = typeof e.talk_ms === 'number' ? e.talk_ms : 0;
    ended.push({ t, answered: answered.has(e.call_uuid) || talk > 0, talk });
    answered.delete(e.call_uuid);
  }
}

function callFigures(now) {
  created = created.filter((t) => t >= now - RATIO_WINDOW_MS);
  ended = ended.filter((c) => c.t >= now - RATIO_WINDOW_MS);
  const lastMinute = created.filter((t) => t >= now - 60000).length;
  $('stat-calls-per-sec').textContent = fmtNumber(lastMinute / 60, 2);
  const ok = ended.filter((c) => c.answered);
  $('stat-asr').textContent = ended.length ? `${Math.round((100 * ok.length) / ended.length)} %` : '–';
  $('stat-asr-basis').textContent = `${ok.length} answered of ${ended.length} calls ended in the last 15 minutes`;
  $('stat-acd').textContent = ok.length ? fmtDuration(ok.reduce((s, c) => s + c.talk, 0) / ok.length / 1000) : '–';
  const cps = new Series(64);
  for (let b = now - WINDOW_MS; b < now; b += BUCKET_MS) {
    cps.push(b + BUCKET_MS, created.filter((t) => t >= b && t < b + BUCKET_MS).length / (BUCKET_MS / 1000));
  }
  drawChart($('chart-cps'), cps, WINDOW_MS);
}

function mediaFigures(nodes) {
  const live = nodes.filter((n) => n.status === 'up' || n.status === 'draining');
  const used = live.reduce((s, n) => s + n.sessions, 0);
  const max = live.reduce((s, n) => s + n.max_sessions, 0);
  const ports = live.reduce((s, n) => s + n.free_ports, 0);
  const up = nodes.filter((n) => n.status === 'up').length;
  $('stat-media-capacity').textContent = max ? `${Math.round((100 * used) / max)} %` : '–';
  $('stat-media-detail').textContent =
    `${used} of ${max} sessions, ${ports} free ports; ${up} of ${nodes.length} nodes up`;
  return used;
}

async function tick() {
  const [stats, nodes] = await Promise.all([api('GET', '/stats'), api('GET', '/media-nodes')]);
  const now = Date.now();
  $('stat-calls-active').textContent = stats.calls_active;
  $('stat-registrations').textContent = stats.registrations;
  $('stat-transactions').textContent = stats.transactions;
  $('stat-events').textContent =
    `${stats.events_published} events published, ${stats.events_refused} refused`;
  const sinks = stats.event_sinks || [];
  const lag = sinks.reduce((s, k) => s + k.lag, 0);
  $('stat-sink-lag').textContent = sinks.length ? String(lag) : '–';
  $('stat-sink-detail').textContent = sinks.length
    ? sinks.map((k) => `${k.name}: ${k.lag}${k.last_error ? ` (${k.last_error})` : ''}`).join(', ')
    : 'no event sinks configured';
  series.calls.push(now, stats.calls_active);
  series.regs.push(now, stats.registrations);
  series.media.push(now, mediaFigures(nodes));
  series.lag.push(now, lag);
  drawChart($('chart-calls'), series.calls, WINDOW_MS);
  drawChart($('chart-registrations'), series.regs, WINDOW_MS);
  drawChart($('chart-media'), series.media, WINDOW_MS);
  drawChart($('chart-lag'), series.lag, WINDOW_MS);
  callFigures(now);
  if (!stream) {
    // Replay recent call events (the journal's last few thousand) so the ratios start filled.
    created = []; ended = []; answered.clear();
    stream = eventStream({
      query: { type: 'call_' },
      after: Math.max(0, (stats.events_journaled_seq || 0) - 5000),
      onEvent: onCallEvent,
      onStatus: (s, d) => pill($('overview-stream-status'), s, d),
    });
  }
}

export default {
  start() { stopPoll = poll(tick, 2000); },
  stop() {
    if (stopPoll) stopPoll();
    if (stream) stream.close();
    stream = null;
  },
};
