// Browser test of the gateway's shop console and API reference (make
// test-ui; tests/ui/run.sh starts the stack and sets SHOP_URL). Debian's
// chromium, driven by playwright-core, does what the seed's failure flow
// does: user 2 (10,000 won) orders the monitor (300,000) with user coupon 2,
// pays, gets 402, and the order ends CANCELLED with its stock and coupon
// restored; the saga diagram must show both restorations as compensations.
// A paid order whose hand-over to the data platform is held back must be
// refreshed by the console until it is delivered. Then /docs must list the
// orders and payments operations. Screenshots:
// $UI_SHOT_DIR/console.png and docs.png. Ends with "ui: N passed, M failed".
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.SHOP_URL;
const SHOTS = process.env.UI_SHOT_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SAGA_WAIT_MS = Number(process.env.UI_SAGA_WAIT_MS || 30000);
if (!BASE || !SHOTS) {
  console.error('console.test.mjs: SHOP_URL and UI_SHOT_DIR must be set (tests/ui/run.sh sets them)');
  process.exit(2);
}

let passed = 0;
let failed = 0;
let skipping = null; // the failed check that ends the flow it belongs to

/* Runs one named check; after a failure in a flow, the rest of that flow
 * is reported as not run (and counts as failed). */
async function check(name, fn) {
  if (skipping) {
    failed++;
    console.log(`not run  ${name} (after: ${skipping})`);
    return;
  }
  try {
    await fn();
    passed++;
    console.log(`ok       ${name}`);
  } catch (err) {
    failed++;
    skipping = name;
    console.log(`FAILED   ${name}\n         ${String(err && err.message ? err.message : err).split('\n').join('\n         ')}`);
  }
}

function endFlow() {
  skipping = null;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function equal(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function get(path) {
  const res = await fetch(BASE + path, { redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/* Waits until fn() is truthy (polling), or throws what describe() says. */
async function waitFor(fn, ms, describe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(await describe());
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ------------------------------------------------------------- over HTTP

const served = [
  ['/', 'text/html; charset=utf-8', 'no-cache'],
  ['/docs', 'text/html; charset=utf-8', 'no-cache'],
  ['/console.js', 'application/javascript', 'public, max-age=300'],
  ['/console.css', 'text/css', 'public, max-age=300'],
  ['/docs.js', 'application/javascript', 'public, max-age=300'],
  ['/docs.css', 'text/css', 'public, max-age=300'],
  ['/vendor/redoc.standalone.js', 'application/javascript', 'public, max-age=86400'],
  ['/api/openapi.yaml', 'application/yaml', 'no-cache'],
];
for (const [path, type, cache] of served) {
  await check(`GET ${path}: 200 ${type}, Cache-Control ${cache}`, async () => {
    const r = await get(path);
    equal(r.status, 200, 'status');
    equal(r.headers.get('content-type'), type, 'Content-Type');
    equal(r.headers.get('cache-control'), cache, 'Cache-Control');
    equal(r.headers.get('x-content-type-options'), 'nosniff', 'X-Content-Type-Options');
    assert(r.text.length > 0, 'empty body');
  });
  endFlow();
}

await check('the pages allow no other host (Content-Security-Policy)', async () => {
  for (const path of ['/', '/docs']) {
    const csp = (await get(path)).headers.get('content-security-policy') || '';
    assert(csp.includes("default-src 'none'") && csp.includes("connect-src 'self'") && csp.includes("script-src 'self'"),
      `${path}: Content-Security-Policy is "${csp}"`);
    assert(!/https?:/.test(csp), `${path}: the policy names another host: ${csp}`);
  }
});
endFlow();

await check('the served openapi.yaml is an OpenAPI 3.1 document with the saga route', async () => {
  const r = await get('/api/openapi.yaml');
  assert(r.text.startsWith('openapi: 3.1.'), 'does not start with "openapi: 3.1."');
  assert(r.text.includes('\n  /api/orders/{orderId}/saga:\n'), 'no /api/orders/{orderId}/saga path');
});
endFlow();

for (const path of ['/nothing', '/vendor/', '/vendor', '/docs/', '/index.html', '/console.js/x', '/api/openapi.json']) {
  await check(`GET ${path}: 404 problem+json, no listing`, async () => {
    const r = await get(path);
    equal(r.status, 404, 'status');
    equal(r.headers.get('content-type'), 'application/problem+json', 'Content-Type');
    equal(JSON.parse(r.text).code, 'NOT_FOUND', 'code');
  });
  endFlow();
}

await check('POST /: 405 with Allow: GET', async () => {
  const res = await fetch(BASE + '/', { method: 'POST', body: '' });
  equal(res.status, 405, 'status');
  equal(res.headers.get('allow'), 'GET', 'Allow');
});
endFlow();

// ------------------------------------------------------------ in chromium

const profile = mkdtempSync(join(tmpdir(), 'shop-ui-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 1000 },
});
// Requests for another host: the pages' Content-Security-Policy must stop
// each before it is sent (Chromium still reports the attempt).
const foreign = new Map(); // url -> 'attempted' | 'blocked by CSP' | 'sent'
const isForeign = (url) => !url.startsWith(BASE + '/') && !url.startsWith('data:') && !url.startsWith('blob:');
context.on('request', (req) => { if (isForeign(req.url())) foreign.set(req.url(), 'attempted'); });
context.on('requestfailed', (req) => {
  if (isForeign(req.url())) foreign.set(req.url(), /^csp$|ERR_BLOCKED_BY_CSP/.test(req.failure()?.errorText || '') ? 'blocked by CSP' : 'failed: ' + req.failure()?.errorText);
});
context.on('response', (res) => { if (isForeign(res.url())) foreign.set(res.url(), 'sent'); });
const leaks = () => [...foreign].filter(([, what]) => what !== 'blocked by CSP').map(([url, what]) => `${url} (${what})`).join(' ');
// Chromium logs every 4xx/5xx answer as a console error; the console gets
// some on purpose (the 402), so only script errors count.
const scriptError = (text) => !/^Failed to load resource: the server responded with a status of \d+/.test(text);

try {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && scriptError(m.text())) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  let orderId = null;

  await check('the console lists the seed items with their stock', async () => {
    await page.goto(BASE + '/');
    await page.waitForSelector('#items tbody tr[data-item-id="4"]');
    equal(await page.locator('#items tbody tr[data-item-id]').count(), 4, 'item rows');
    equal(await page.textContent('#items tr[data-item-id="3"] .item-name'), 'Monitor', 'item 3 name');
    equal(await page.textContent('#items tr[data-item-id="3"] .item-stock'), '5', 'item 3 stock');
  });
  await check('picking user 2 shows 10,000 won and user coupon 2 unused', async () => {
    await page.fill('#user-id', '2');
    await page.click('#user-form button[type="submit"]');
    await page.waitForFunction(() => document.getElementById('balance').textContent === '10,000 won', null, { timeout: 5000 });
    await page.waitForSelector('#coupons tr[data-user-coupon-id="2"]');
    equal(await page.textContent('#coupons tr[data-user-coupon-id="2"] td:nth-child(4)'), 'no', 'coupon 2 used');
    assert(await page.locator('#order-coupon option[value="2"]').count() === 1, 'coupon 2 is not offered for the order');
  });
  await check('ordering the monitor with coupon 2 answers 201 CREATED and takes the stock', async () => {
    await page.fill('#items input[data-item-id="3"]', '1');
    await page.selectOption('#order-coupon', '2');
    await page.click('#place-order');
    await page.waitForSelector('#last-result[data-status]:not([data-status=""])', { timeout: 15000 });
    const status = await page.getAttribute('#last-result', 'data-status');
    equal(status, '201', `POST /api/orders status (${await page.textContent('#last-result')})`);
    await page.waitForFunction(() => document.getElementById('order-status').textContent === 'CREATED', null, { timeout: 5000 });
    orderId = Number((await page.textContent('#order-id')).replace('#', ''));
    assert(Number.isInteger(orderId) && orderId > 0, 'no order id shown');
    await page.waitForFunction(() => document.querySelector('#items tr[data-item-id="3"] .item-stock').textContent === '4', null, { timeout: 5000 });
    equal(await page.textContent('#order-amount'), '300,000 won − 30,000 won = 270,000 won (user coupon 2)', 'amounts');
  });
  await check('paying with 10,000 won shows 402 INSUFFICIENT_BALANCE', async () => {
    await page.click('#pay');
    await page.waitForSelector('#last-result[data-status="402"]', { timeout: 15000 }).catch(async () => {
      throw new Error(`Last response: ${await page.textContent('#last-result')}`);
    });
    equal(await page.getAttribute('#last-result', 'data-code'), 'INSUFFICIENT_BALANCE', 'problem code');
    assert((await page.textContent('#last-result')).includes('402'), 'the 402 is not shown');
  });
  await check('the order is CANCELLED, its stock and coupon restored', async () => {
    await page.waitForFunction(() => document.getElementById('order-status').textContent === 'CANCELLED', null, { timeout: 10000 })
      .catch(async () => { throw new Error(`order status: ${await page.textContent('#order-status')}`); });
    await page.waitForFunction(() => document.querySelector('#items tr[data-item-id="3"] .item-stock').textContent === '5', null, { timeout: 5000 });
    equal(await page.textContent('#coupons tr[data-user-coupon-id="2"] td:nth-child(4)'), 'no', 'coupon 2 used');
    equal(await page.textContent('#balance'), '10,000 won', 'balance');
    assert(await page.isDisabled('#pay'), 'Pay is still enabled');
  });
  await check('the saga diagram shows stock.restore and coupon.restore as compensations', async () => {
    // The console polls only while a saga runs; reopen the order until the
    // saga view has the compensation steps (or give up, saying why).
    const want = ['stock.restore', 'coupon.restore'];
    await waitFor(async () => {
      const found = await page.evaluate((steps) => steps.every((s) =>
        document.querySelector(`#saga svg g[data-step="${s}"][data-compensation="true"]`) !== null), want);
      if (!found) await page.click(`#session-orders button[data-order-id="${orderId}"]`);
      return found;
    }, SAGA_WAIT_MS, async () => {
      const available = await page.getAttribute('#saga', 'data-available');
      const text = (await page.textContent('#saga')).slice(0, 400);
      if (available !== 'true') return `blocked on the saga view (GET /api/orders/${orderId}/saga; issue #8 parts 1-2): ${text}`;
      const steps = await page.evaluate(() => [...document.querySelectorAll('#saga svg g[data-step]')]
        .map((g) => `${g.dataset.step}(comp=${g.dataset.compensation})`).join(' '));
      return `no ${want.join(' and ')} with compensation=true within ${SAGA_WAIT_MS} ms; steps drawn: ${steps}`;
    });
    equal(await page.textContent('#saga-status'), 'CANCELLED', 'saga status');
    // Compensations are drawn dashed and in their own colour.
    const dash = await page.evaluate(() => getComputedStyle(document.querySelector('#saga g[data-step="stock.restore"] .arrow')).strokeDasharray);
    assert(dash && dash !== 'none', `stock.restore is not dashed (${dash})`);
    // The page's own payment request and its 402 reply, in red.
    const reply = await page.evaluate(() => [...document.querySelectorAll('#saga g.page-reply')].map((g) => g.textContent).join(' | '));
    assert(/402 INSUFFICIENT_BALANCE/.test(reply), `no 402 reply arrow in the diagram (replies: ${reply})`);
    // State changes (no peer) are not failures: nothing is red but the debit's refusal and the reply.
    const red = await page.evaluate(() => [...document.querySelectorAll('#saga g[data-kind="step"][data-failed="true"]')].map((g) => g.dataset.step));
    assert(!red.some((st) => /^(order|payment)\.(pending|created|cancelling|cancelled)$/.test(st)), `state changes drawn as failures: ${red.join(', ')}`);
    const replyColour = await page.evaluate(() => {
      const g = [...document.querySelectorAll('#saga g.page-reply')].find((x) => x.textContent.includes('402'));
      return getComputedStyle(g.querySelector('.arrow')).stroke;
    });
    equal(replyColour, 'rgb(207, 34, 46)', 'colour of the 402 reply');
  });
  endFlow();
  await check('console: no request to another host, no script error', async () => {
    equal([...foreign.keys()].join(' '), '', 'requests to other hosts');
    equal(errors.join(' | '), '', 'console errors');
  });
  endFlow();
  await page.screenshot({ path: join(SHOTS, 'console.png'), fullPage: true });

  // The diagram from a fixed saga log (served by the test, not the stack):
  // lanes, colours, dashes, a self-step, and data shown as text only.
  await check('a fixed saga log is drawn: lanes, failures red, compensations dashed, data as text', async () => {
    const fixture = JSON.parse(readFileSync(join(HERE, 'saga-fixture.json'), 'utf8'));
    const order = { id: 999, userId: 2, status: 'CANCELLED', items: [{ itemId: 3, quantity: 1, unitPrice: 300000 }], userCouponId: 2,
      totalAmount: 300000, discountAmount: 30000, finalAmount: 270000, paymentId: null, createdAt: '2026-11-24T12:00:00Z', updatedAt: '2026-11-24T12:00:01Z' };
    const fixed = await context.newPage();
    fixed.on('pageerror', (e) => errors.push(String(e)));
    await fixed.route(BASE + '/api/orders/999/saga', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fixture) }));
    await fixed.route(BASE + '/api/orders/999', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(order) }));
    // As if this tab had sent the payment itself: its request and reply are drawn.
    await fixed.addInitScript(() => sessionStorage.setItem('shop-console-sent', JSON.stringify({
      'fixture-pay-1': { method: 'POST', path: '/api/payments', status: 402, ms: 15, code: 'INSUFFICIENT_BALANCE' },
    })));
    await fixed.goto(BASE + '/#order=999');
    await fixed.waitForSelector('#saga svg g[data-step]');
    const lanes = await fixed.evaluate(() => [...document.querySelectorAll('#saga svg .lane-label')].map((t) => t.textContent));
    equal(lanes.join(','), 'User,API Gateway,Order,Payment,Item,User service,Coupon,Data platform', 'lanes');
    equal(await fixed.locator('#saga svg g[data-kind="step"]').count(), fixture.steps.length, 'arrows');
    const style = (sel) => fixed.evaluate((q) => {
      const a = document.querySelector(q + ' .arrow');
      const cs = getComputedStyle(a);
      return `${cs.stroke} ${cs.strokeDasharray}`;
    }, sel);
    equal(await style('#saga g[data-step="stock.deduct"]'), 'rgb(29, 36, 48) none', 'a call');
    equal(await style('#saga g[data-step="balance.debit"]'), 'rgb(207, 34, 46) none', 'a failed call');
    equal(await style('#saga g[data-step="stock.restore"]'), 'rgb(130, 80, 223) 6px, 4px', 'a compensation');
    equal(await style('#saga g[data-step="coupon.restore"][data-failed="true"]'), 'rgb(207, 34, 46) 6px, 4px', 'a failed compensation');
    const page402 = await fixed.evaluate(() => [...document.querySelectorAll('#saga g[data-request-id="fixture-pay-1"]')]
      .map((g) => `${g.dataset.kind}:${g.textContent}`).join(' | '));
    equal(page402, 'request:POST /api/payments | request:forwarded | reply:402 INSUFFICIENT_BALANCE | reply:402 · 15 ms',
      "the page's own request and reply");
    equal(await style('#saga g.page-reply[data-request-id="fixture-pay-1"]'), 'rgb(207, 34, 46) 2px, 3px', 'a failed reply');
    const label = await fixed.textContent('#saga g[data-step="stock.deduct"] text');
    equal(label, 'stock.deduct · 200 · 3 ms', 'label');
    // The hostile step name is text in the SVG, not markup.
    const hostile = fixture.steps.find((x) => x.step.includes('<')).step;
    equal(await fixed.evaluate(() => window.__pwned === undefined), true, 'markup from the saga log ran');
    equal(await fixed.locator('#saga img').count(), 0, 'an <img> from the saga log');
    assert((await fixed.textContent('#saga svg')).includes(hostile), 'the hostile step name is not shown as text');
    await fixed.screenshot({ path: join(SHOTS, 'console-fixture.png'), fullPage: true });
    await fixed.close();
  });
  endFlow();

  await check('item names are shown as text, not markup', async () => {
    const name = '<img src=x onerror="window.__pwned=1"><b>Webcam</b>';
    const res = await fetch(BASE + '/api/admin/items', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Admin-Token': 'dev-admin-token' },
      body: JSON.stringify({ name, price: 70000, stock: 3 }),
    });
    equal(res.status, 201, 'POST /api/admin/items');
    const id = (await res.json()).id;
    await page.click('#items-refresh');
    await page.waitForSelector(`#items tr[data-item-id="${id}"]`);
    equal(await page.textContent(`#items tr[data-item-id="${id}"] .item-name`), name, 'the name as shown');
    equal(await page.locator('#items img, #items b').count(), 0, 'elements made from the name');
    equal(await page.evaluate(() => window.__pwned === undefined), true, 'markup from the name ran');
  });
  endFlow();

  await check('a paid order is refreshed while its delivery to the data platform is PENDING', async () => {
    const platform = `http://127.0.0.1:${Number(new URL(BASE).port) + 6}`; // SHOP_PORT_BASE + 6
    const faults = (failRate) => fetch(platform + '/faults', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ failRate, delayMs: 0 }),
    });
    equal((await faults(1.0)).status, 200, 'PUT /faults failRate 1.0');
    try {
      await page.fill('#user-id', '1');
      await page.click('#user-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById('balance').textContent === '1,000,000 won', null, { timeout: 5000 });
      await page.fill('#items input[data-item-id="2"]', '1');
      await page.selectOption('#order-coupon', '');
      await page.click('#place-order');
      await page.waitForFunction(() => document.getElementById('last-result').textContent.startsWith('POST /api/orders') &&
        document.getElementById('order-status').textContent === 'CREATED', null, { timeout: 15000 });
      await page.click('#pay');
      await page.waitForFunction(() => document.getElementById('last-result').textContent.startsWith('POST /api/payments'), null, { timeout: 15000 });
      equal(await page.getAttribute('#last-result', 'data-status'), '201', `POST /api/payments (${await page.textContent('#last-result')})`);
      await page.waitForFunction(() => document.getElementById('order-status').textContent === 'PAID', null, { timeout: 5000 });
      const payment = await page.textContent('#order-payment');
      assert(/COMPLETED.*data platform: PENDING/.test(payment), `payment: ${payment}`);
      assert((await page.textContent('#poll-state')) !== '', 'the console does not say it refreshes');
    } finally {
      equal((await faults(0.0)).status, 200, 'PUT /faults failRate 0.0');
    }
    // No click from here on: the console's own polling must show the delivery.
    await page.waitForFunction(() => /data platform: DELIVERED/.test(document.getElementById('order-payment').textContent), null, { timeout: 20000 })
      .catch(async () => { throw new Error(`payment: ${await page.textContent('#order-payment')}`); });
    await page.waitForFunction(() => document.getElementById('poll-state').textContent === '', null, { timeout: 3000 });
  });
  endFlow();

  const docsErrors = [];
  const docs = await context.newPage();
  docs.on('console', (m) => { if (m.type() === 'error' && scriptError(m.text())) docsErrors.push(m.text()); });
  docs.on('pageerror', (e) => docsErrors.push(String(e)));
  await check('/docs renders the reference with the orders and payments operations', async () => {
    await docs.goto(BASE + '/docs');
    await docs.waitForSelector('.menu-content', { timeout: 20000 });
    await docs.waitForSelector('.api-content h2', { timeout: 20000 });
    const tags = ['Orders', 'Payments'];
    const ops = ['Place an order', 'Get one order', "Get an order's saga log", 'Pay for an order', 'Cancel an order', 'Get one payment'];
    const menu = await docs.innerText('.menu-content');
    for (const t of tags) assert(menu.split('\n').includes(t), `the menu lacks the tag ${t}: ${menu.slice(0, 300)}`);
    // Each operation is a heading of the reference, under its tag.
    const headings = await docs.evaluate(() => [...document.querySelectorAll('.api-content h2')].map((h) => h.textContent.trim()));
    for (const op of ops) assert(headings.includes(op), `no operation "${op}" (headings: ${headings.join('; ')})`);
    // And the menu lists them once the tag is opened.
    await docs.click('.menu-content label:has-text("Orders")');
    await waitFor(() => docs.evaluate(() => document.querySelector('.menu-content').innerText.includes('Place an order')), 5000,
      async () => `opening Orders in the menu shows no "Place an order": ${(await docs.innerText('.menu-content')).slice(0, 400)}`);
  });
  await check('/docs: nothing sent to another host (the Redocly logo is refused), no script error', async () => {
    await docs.waitForTimeout(500); // let the logo's load fail
    equal(leaks(), '', 'requests to other hosts that were not blocked');
    const real = docsErrors.filter((e) => !/Content Security Policy/.test(e) || !/cdn\.redoc\.ly/.test(e));
    equal(real.join(' | '), '', 'console errors');
  });
  endFlow();
  await docs.screenshot({ path: join(SHOTS, 'docs.png') });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`screenshots: ${join(SHOTS, 'console.png')}, ${join(SHOTS, 'docs.png')}`);
console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
