// The tutorial's four pages (Registration, Login, Main, Unauthorized) as one
// page that talks only to its own origin, the gateway:
//   POST /signup  consumer-signup creates a consumer      -> 201 {username}
//   POST /login   password-login checks the password      -> 200 {token, expires_in}
//   GET  /ip      jwt-auth checks the token               -> 200 {origin} | 401 {message}
//   POST /logout  jwt-logout revokes the token everywhere -> 200
// The token lives in sessionStorage: it goes away with the tab. Nothing here
// writes HTML from data; every message is set with textContent.

const TOKEN = 'tollgate-demo.token';
const USER = 'tollgate-demo.user';
const EXPIRES = 'tollgate-demo.expires-at';
const PAGES = ['register', 'login', 'main', 'unauthorized'];

const $ = (id) => document.getElementById(id);

// --- the gateway ---------------------------------------------------------

/** Calls the gateway; resolves to {status, data, retryAfter}, status 0 when unreachable. */
async function api(method, path, { body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { status: 0, data: {}, retryAfter: null };
  }
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = {};
  }
  return { status: res.status, data, retryAfter: res.headers.get('retry-after') };
}

/** The message to show for a failed call, preferring the gateway's own words. */
function explain({ status, data, retryAfter }) {
  if (status === 0) {
    return 'The gateway could not be reached. Is the demo still running?';
  }
  if (status === 429) {
    const wait = Number(retryAfter);
    return Number.isFinite(wait) && wait > 0
      ? `Too many attempts. Try again in ${Math.ceil(wait)} seconds.`
      : 'Too many attempts. Try again in a moment.';
  }
  const said = data && (data.message ?? data.error_msg);
  return typeof said === 'string' && said
    ? capitalise(said)
    : `The request failed (HTTP ${status}).`;
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// --- the session ---------------------------------------------------------

const session = {
  token: () => sessionStorage.getItem(TOKEN),
  user: () => sessionStorage.getItem(USER),
  expiresAt: () => Number(sessionStorage.getItem(EXPIRES)) || 0,
  save(token, user, expiresIn) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(USER, user);
    if (Number.isFinite(expiresIn) && expiresIn > 0) {
      sessionStorage.setItem(EXPIRES, String(Date.now() + expiresIn * 1000));
    }
  },
  clear() {
    for (const key of [TOKEN, USER, EXPIRES]) {
      sessionStorage.removeItem(key);
    }
  },
};

// --- pages ---------------------------------------------------------------

function show(page) {
  for (const name of PAGES) {
    $(`page-${name}`).hidden = name !== page;
  }
  if (page !== 'login') {
    say('login-notice', '');
  }
  const section = $(`page-${page}`);
  document.title = `${section.dataset.title} · Tollgate demo`;
  const user = session.user();
  $('who').hidden = !user;
  $('who').textContent = user ? `Signed in as ${user}` : '';
  section.querySelector('h1').focus();
}

function say(id, text) {
  const el = $(id);
  el.textContent = text ?? '';
  el.hidden = !text;
}

function go(page) {
  const hash = `#/${page}`;
  if (location.hash === hash) {
    route();
  } else {
    location.hash = hash;
  }
}

/** Shows the Unauthorized page without adding a history entry for it. */
function unauthorized(reason, detail) {
  window.history.replaceState(null, '', '#/unauthorized');
  say('unauthorized-reason', reason);
  say('unauthorized-detail', detail);
  show('unauthorized');
}

function route() {
  const asked = location.hash.replace(/^#\/?/, '');
  const page = PAGES.includes(asked) ? asked : session.token() ? 'main' : 'register';
  if (page === 'main') {
    loadMain();
    return;
  }
  if (page === 'unauthorized') {
    unauthorized('You need to log in to see this page.');
    return;
  }
  show(page);
}

async function loadMain() {
  const token = session.token();
  if (!token) {
    unauthorized('You need to log in to see this page.');
    return;
  }
  show('main');
  say('main-error', '');
  $('main-result').setAttribute('aria-busy', 'true');
  $('main-origin').textContent = 'Loading…';
  $('main-json').hidden = true;

  const res = await api('GET', '/ip', { token });
  $('main-result').setAttribute('aria-busy', 'false');
  if (res.status === 401 || res.status === 403) {
    session.clear();
    const said = res.data.message ?? 'no reason given';
    unauthorized(
      'The gateway refused your token. Log in again.',
      `The gateway answered ${res.status}: ${said}`,
    );
    return;
  }
  if (res.status !== 200) {
    $('main-origin').textContent = '—';
    say('main-error', explain(res));
    return;
  }
  $('main-origin').textContent = String(res.data.origin ?? '(no origin in the answer)');
  $('main-json').textContent = JSON.stringify(res.data, null, 2);
  $('main-json').hidden = false;
  showExpiry();
}

function showExpiry() {
  const minutes = Math.round((session.expiresAt() - Date.now()) / 60000);
  if (minutes <= 0) {
    say('main-expiry', '');
    return;
  }
  const left = minutes < 120 ? `${minutes} minutes` : `${Math.round(minutes / 60)} hours`;
  say('main-expiry', `Your token is valid for about ${left} more.`);
}

// --- actions -------------------------------------------------------------

/** Runs a form's request with its buttons disabled, so a double click sends one request. */
async function busy(form, work) {
  const buttons = [...form.querySelectorAll('button')];
  buttons.forEach((b) => (b.disabled = true));
  form.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.removeAttribute('aria-busy');
  }
}

async function register(event) {
  event.preventDefault();
  const form = event.currentTarget;
  say('register-error', '');
  await busy(form, async () => {
    const body = {
      email: $('register-email').value.trim(),
      username: $('register-username').value.trim(),
      password: $('register-password').value,
    };
    const res = await api('POST', '/signup', { body });
    if (res.status !== 201) {
      say('register-error', explain(res));
      return;
    }
    form.reset();
    $('login-identifier').value = res.data.username ?? body.username;
    say(
      'login-notice',
      `Account ${res.data.username ?? body.username} created. Log in to continue.`,
    );
    go('login');
  });
}

async function login(event) {
  event.preventDefault();
  const form = event.currentTarget;
  say('login-error', '');
  say('login-notice', '');
  await busy(form, async () => {
    const identifier = $('login-identifier').value.trim();
    const password = $('login-password').value;
    const body = identifier.includes('@')
      ? { email: identifier, password }
      : { username: identifier, password };
    const res = await api('POST', '/login', { body });
    if (res.status !== 200 || typeof res.data.token !== 'string') {
      say('login-error', explain(res));
      return;
    }
    $('login-password').value = '';
    session.save(res.data.token, identifier, Number(res.data.expires_in));
    go('main');
  });
}

async function logout() {
  const token = session.token();
  const everywhere = $('logout-everywhere').checked;
  $('logout').disabled = true;
  const res = token
    ? await api('POST', '/logout', { token, body: everywhere ? { everywhere: true } : {} })
    : { status: 200, data: {} };
  $('logout').disabled = false;
  session.clear();
  $('logout-everywhere').checked = false;
  const revoked = everywhere
    ? 'You are logged out. This token and all your others are now refused.'
    : 'You are logged out. This token is now refused on every gateway node.';
  say(
    'login-notice',
    res.status === 200 ? revoked : `You are logged out here; the gateway said: ${explain(res)}`,
  );
  go('login');
}

function start() {
  $('register-form').addEventListener('submit', register);
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('main-refresh').addEventListener('click', loadMain);
  for (const button of document.querySelectorAll('[data-go]')) {
    button.addEventListener('click', () => go(button.dataset.go));
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
