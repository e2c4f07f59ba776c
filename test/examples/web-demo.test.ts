/**
 * Runs the web demo (examples/demo.mjs serving examples/web through Tollgate)
 * and drives its pages in Debian's chromium with playwright-core: sign up,
 * log in, call /ip, log out, and the errors the gateway answers. Screenshots
 * of each page land in .tmp/screenshots/.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import got from 'got';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

import { eventually } from '../helpers/data-plane.js';
import { closedPort } from '../helpers/upstream.js';

const CHROMIUM = process.env.TOLLGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = join('.tmp', 'screenshots');
// Rewritten only when missing or asked for, so a test run leaves the tree clean.
const DOC_IMAGE = join('docs', 'images', 'web-demo-main.png');
const TOKEN_KEY = 'tollgate-demo.token';
const PASSWORD = 'correct horse battery staple';

interface Demo {
  child: ChildProcess;
  output(): string;
  gateway: string;
  webPort: number;
  adminKey: string;
}

async function startDemo(): Promise<Demo> {
  const [gateway, admin, status, web] = [
    await closedPort(),
    await closedPort(),
    await closedPort(),
    await closedPort(),
  ];
  const adminKey = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, ['examples/demo.mjs', '--from-source'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DEMO_GATEWAY_PORT: String(gateway),
      DEMO_ADMIN_PORT: String(admin),
      DEMO_STATUS_PORT: String(status),
      DEMO_WEB_PORT: String(web),
      TOLLGATE_ADMIN_KEY: adminKey,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const demo = { child, output: () => out, gateway: `http://127.0.0.1:${gateway}`, webPort: web };

  await eventually(async () => {
    if (child.exitCode !== null) {
      throw new Error(`the demo exited with ${child.exitCode}:\n${out}`);
    }
    return out.includes('Tollgate demo: open');
  }, 60_000);
  return { ...demo, adminKey };
}

function stopDemo(demo: Demo | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!demo || demo.child.exitCode !== null) {
      resolve();
      return;
    }
    demo.child.once('exit', () => resolve());
    demo.child.kill('SIGTERM');
  });
}

function checkChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium is needed for the web demo test and was not found at ${CHROMIUM}: ` +
        'install it with `sudo apt-get install chromium` (Debian) or set ' +
        'TOLLGATE_TEST_CHROMIUM to its path',
    );
  }
}

/** A raw GET to the static file server, with the path sent exactly as written. */
function rawGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web demo in examples/', function () {
  this.timeout(120_000);
  let demo: Demo | undefined;
  let browser: BrowserContext;
  let profile: string;
  let page: Page;

  before(async function () {
    checkChromium();
    mkdirSync(SHOTS, { recursive: true });
    demo = await startDemo();
    profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 960, height: 720 },
    });
  });
  after(async function () {
    await browser?.close();
    await stopDemo(demo);
    if (profile) {
      rmSync(profile, { recursive: true, force: true });
    }
  });
  beforeEach(async function () {
    page = await browser.newPage();
  });
  afterEach(async function () {
    await page.close();
  });

  const url = (hash = '') => `${demo?.gateway}/${hash}`;
  const shot = (name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const section = (name: string) => page.locator(`#page-${name}`);
  const button = (name: string) => page.getByRole('button', { name, exact: true });

  async function register(username: string, password = PASSWORD): Promise<void> {
    await page.goto(url('#/register'));
    const form = section('register');
    await form.getByLabel('Email').fill(`${username}@example.com`);
    await form.getByLabel('Username').fill(username);
    await form.getByLabel('Password').fill(password);
    await button('Register').click();
  }

  async function logIn(identifier: string, password = PASSWORD): Promise<void> {
    await page.goto(url('#/login'));
    const form = section('login');
    await form.getByLabel('Username or email').fill(identifier);
    await form.getByLabel('Password').fill(password);
    await button('Log in').click();
  }

  async function signUpByApi(username: string): Promise<void> {
    const res = await got.post(`${demo?.gateway}/signup`, {
      json: { username, email: `${username}@example.com`, password: PASSWORD },
      throwHttpErrors: false,
    });
    assert.equal(res.statusCode, 201, res.body);
  }

  it('should sign up, log in, show /ip on the main page and log out', async function () {
    await page.goto(url());
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await shot('register');

    await register('ada');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByText('Account ada created').waitFor();
    assert.equal(await section('login').getByLabel('Username or email').inputValue(), 'ada');
    await section('login').getByLabel('Password').fill(PASSWORD);
    await shot('login');
    await button('Log in').click();

    await page.getByRole('heading', { name: 'Main' }).waitFor();
    await page.locator('#main-origin', { hasText: '127.0.0.1' }).waitFor();
    await page.getByText('Signed in as ada').waitFor();
    await shot('main');
    if (!existsSync(DOC_IMAGE) || process.env.TOLLGATE_UPDATE_DOCS_IMAGES === '1') {
      mkdirSync(join('docs', 'images'), { recursive: true });
      copyFileSync(join(SHOTS, 'main.png'), DOC_IMAGE);
    }
    const token = await page.evaluate(`sessionStorage.getItem(${JSON.stringify(TOKEN_KEY)})`);
    assert.equal(typeof token, 'string');

    await button('Logout').click();
    await page.getByText('You are logged out').waitFor();
    assert.equal(await page.evaluate(`sessionStorage.length`), 0);

    await page.goto(url('#/main'));
    await page.getByRole('heading', { name: 'Unauthorized' }).waitFor();
    await page.getByText('You need to log in to see this page.').waitFor();
    await shot('unauthorized');
  });

  it('should refuse a token after logout, in the browser and everywhere else', async function () {
    await signUpByApi('grace');
    await logIn('grace@example.com');
    await page.getByRole('heading', { name: 'Main' }).waitFor();
    const token = String(
      await page.evaluate(`sessionStorage.getItem(${JSON.stringify(TOKEN_KEY)})`),
    );
    await button('Logout').click();
    await page.getByText('You are logged out').waitFor();

    // The old token put back, as a thief who copied it would.
    await page.evaluate(
      `sessionStorage.setItem(${JSON.stringify(TOKEN_KEY)}, ${JSON.stringify(token)})`,
    );
    await page.goto(url('#/main'));
    await page.getByRole('heading', { name: 'Unauthorized' }).waitFor();
    await page.getByText('The gateway refused your token').waitFor();
    await shot('unauthorized-revoked');

    const direct = await got(`${demo?.gateway}/ip`, {
      headers: { authorization: `Bearer ${token}` },
      throwHttpErrors: false,
    });
    assert.equal(direct.statusCode, 401, direct.body);
  });

  it('should show the error of a wrong password', async function () {
    await signUpByApi('linus');
    await logIn('linus', 'not the right password');
    const alert = section('login').getByRole('alert');
    await alert.waitFor();
    assert.equal(await alert.textContent(), 'Invalid username or password');
    assert.equal(await page.evaluate(`sessionStorage.length`), 0);
    await shot('login-wrong-password');
  });

  it('should show the 409 message when the username is taken', async function () {
    await signUpByApi('margaret');
    await register('margaret');
    const alert = section('register').getByRole('alert');
    await alert.waitFor();
    const direct = await got.post(`${demo?.gateway}/signup`, {
      json: { username: 'margaret', email: 'other@example.com', password: PASSWORD },
      throwHttpErrors: false,
    });
    assert.equal(direct.statusCode, 409);
    const said = (JSON.parse(direct.body) as { message: string }).message;
    assert.equal((await alert.textContent())?.toLowerCase(), said.toLowerCase());
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await shot('register-taken');
  });

  it('should show the 400 message for a weak password', async function () {
    await register('barbara', 'short');
    const alert = section('register').getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /password/i);
  });

  it('should offer login and sign-up on the unauthorized page', async function () {
    await page.goto(url('#/main'));
    await page.getByRole('heading', { name: 'Unauthorized' }).waitFor();
    await button('Sign up').click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await page.goto(url('#/unauthorized'));
    await button('Log in').click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
  });

  it('should never send the admin key to the browser', async function () {
    for (const path of ['/', '/web/app.js', '/web/app.css', '/web/favicon.svg']) {
      const res = await got(`${demo?.gateway}${path}`, { throwHttpErrors: false });
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.body.includes(demo?.adminKey ?? ''), false, path);
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
    }
    const admin = await got(`${demo?.gateway}/apisix/admin/routes`, {
      headers: { 'x-api-key': demo?.adminKey },
      throwHttpErrors: false,
    });
    assert.equal(admin.statusCode, 404);
  });

  it('should serve only the files inside examples/web', async function () {
    const port = demo?.webPort ?? 0;
    assert.equal(await rawGet(port, '/web/app.js'), 200);
    for (const path of [
      '/web/../package.json',
      '/web/%2e%2e/package.json',
      '/web/..%2fpackage.json',
      '/../package.json',
      '/web/',
      '/web',
      '/examples/demo.mjs',
      '/web/.gitignore',
      '/web/app.js/',
    ]) {
      assert.equal(await rawGet(port, path), 404, path);
    }
  });
});
