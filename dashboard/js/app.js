// The dashboard shell: hash routing between views, login/logout, one view running at a time.
import { api, token, setUnauthorizedHandler } from './api.js';
import { $, flash } from './ui.js';
import overview from './overview.js';
import calls from './calls.js';
import registrations from './registrations.js';
import media from './media.js';
import trunks from './trunks.js';
import dialplan from './dialplan.js';
import events from './events.js';

const views = { overview, calls, registrations, media, trunks, dialplan, events };
let current = null;

function route() {
  if (current) { current.stop(); current = null; }
  const loggedIn = Boolean(token.get());
  const wanted = location.hash.slice(1);
  const name = !loggedIn ? 'login' : (views[wanted] ? wanted : 'overview');
  for (const s of document.querySelectorAll('[data-page]')) s.hidden = s.dataset.page !== name;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  $('nav').hidden = !loggedIn;
  $('logout').hidden = !loggedIn;
  document.body.dataset.view = name;
  document.title = `Switchboard · ${name === 'media' ? 'media nodes' : name}`;
  if (name === 'login') { $('token-input').focus(); return; }
  current = views[name];
  current.start();
}

async function login(ev) {
  ev.preventDefault();
  const err = $('login-error');
  err.hidden = true;
  const value = $('token-input').value.trim();
  token.set(value);
  try {
    await api('GET', '/stats');
  } catch (e) {
    token.clear();
    err.textContent = e.status === 401 ? 'That token is not valid.' : `Cannot reach the API: ${e.message}`;
    err.hidden = false;
    return;
  }
  $('token-input').value = '';
  flash('');
  route();
}

setUnauthorizedHandler((message) => {
  token.clear();
  flash(message, true);
  route();
});

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => { token.clear(); flash('Logged out.'); route(); });
  window.addEventListener('hashchange', () => { flash(''); route(); });
  route();
});
