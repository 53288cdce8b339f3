/* Shop console: items and stock, a user's balance and coupons, placing,
 * paying and cancelling orders through the public API of this gateway, and
 * any order's saga drawn as a sequence diagram. Plain browser JavaScript,
 * no build step. Everything shown is put in with textContent or as SVG
 * attributes, never parsed as HTML: item and coupon names are user data. */
'use strict';

(function () {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const POLL_MS = 1000;

  /* The lanes of the seed's diagram, left to right. Step services and
   * peers are matched by these keys (a "-service" suffix is ignored). */
  const LANES = [
    { key: 'client', label: 'User' },
    { key: 'gateway', label: 'API Gateway' },
    { key: 'order', label: 'Order' },
    { key: 'payment', label: 'Payment' },
    { key: 'item', label: 'Item' },
    { key: 'user', label: 'User service' },
    { key: 'coupon', label: 'Coupon' },
    { key: 'data-platform', label: 'Data platform' },
  ];
  const LANE_ALIASES = { 'api-gateway': 'gateway', dataplatform: 'data-platform', data_platform: 'data-platform' };

  const state = {
    userId: null,
    orderId: null,
    order: null,
    pollTimer: null,
    generation: 0, /* bumps when another order is opened: late replies are dropped */
    sent: loadSent(), /* X-Request-Id -> this page's request, for the diagram */
    sessionOrders: [],
  };

  /* ----------------------------------------------------------- helpers */

  function $(id) {
    return document.getElementById(id);
  }

  /* An HTML element with attributes and children (strings become text). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return node;
  }

  /* An SVG element with attributes; text (if any) as textContent. */
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function won(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') + ' won' : '–';
  }

  function randomHex(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function positiveId(text) {
    const n = Number(text);
    return Number.isInteger(n) && n >= 1 && n <= 999999999999999 ? n : null;
  }

  /* What this page sent, by request id, kept for the tab's life so a reload
   * still draws the page's own requests in the diagram. */
  function loadSent() {
    try {
      const v = JSON.parse(sessionStorage.getItem('shop-console-sent') || '{}');
      return v && typeof v === 'object' ? v : {};
    } catch (e) {
      return {};
    }
  }

  function rememberSent(rid, entry) {
    state.sent[rid] = entry;
    const keys = Object.keys(state.sent);
    for (const k of keys.slice(0, Math.max(0, keys.length - 200))) delete state.sent[k];
    try {
      sessionStorage.setItem('shop-console-sent', JSON.stringify(state.sent));
    } catch (e) {
      /* storage full or disabled: the diagram just lacks the page's arrows */
    }
  }

  /* Calls the gateway. Resolves to {status, body, problem, rid, ms}:
   * status 0 when nothing came back. Writes are tagged with a fresh
   * X-Request-Id (and Idempotency-Key) so the saga can be matched. */
  async function api(method, path, body, record) {
    const rid = 'console-' + randomHex(8);
    const headers = { 'X-Request-Id': rid, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method === 'POST') headers['Idempotency-Key'] = 'console-' + randomHex(12);
    const started = performance.now();
    let status = 0;
    let parsed = null;
    let problem = null;
    try {
      const res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
      status = res.status;
      const type = res.headers.get('Content-Type') || '';
      const text = await res.text();
      if (type.includes('json') && text !== '') {
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          parsed = null;
        }
      }
      if (type.startsWith('application/problem+json')) problem = parsed;
    } catch (e) {
      problem = { code: 'NETWORK', detail: String(e && e.message ? e.message : e) };
    }
    const ms = Math.round(performance.now() - started);
    const result = { method, path, status, body: parsed, problem, rid, ms };
    if (record) {
      rememberSent(rid, { method, path, status, ms, code: problem ? problem.code || null : null });
      showResult(result);
    }
    return result;
  }

  /* Shows a write's outcome in "Last response". */
  function showResult(r) {
    const box = $('last-result');
    const ok = r.status >= 200 && r.status < 300;
    box.className = 'result ' + (ok ? 'ok' : 'error');
    box.dataset.status = String(r.status);
    box.dataset.code = r.problem && r.problem.code ? r.problem.code : '';
    const line = el('p', { class: 'result-line' },
      el('code', {}, r.method + ' ' + r.path), ' → ',
      el('strong', { class: 'result-status' }, r.status === 0 ? 'no answer' : String(r.status)),
      r.problem && r.problem.code ? el('span', { class: 'result-code' }, ' ' + r.problem.code) : null,
      el('span', { class: 'hint' }, ' in ' + r.ms + ' ms'));
    const parts = [line];
    if (r.problem && r.problem.detail) parts.push(el('p', { class: 'result-detail' }, r.problem.detail));
    parts.push(el('p', { class: 'hint' }, 'X-Request-Id ' + r.rid));
    box.replaceChildren(...parts);
  }

  function showLocalError(text) {
    const box = $('last-result');
    box.className = 'result error';
    box.dataset.status = '';
    box.dataset.code = '';
    box.replaceChildren(el('p', {}, text));
  }

  /* ------------------------------------------------------------- items */

  async function loadItems() {
    const r = await api('GET', '/api/items');
    const tbody = $('items').tBodies[0];
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.items)) {
      tbody.replaceChildren(el('tr', {}, el('td', { colspan: 5 }, 'Items could not be loaded (' + describe(r) + ').')));
      return;
    }
    const kept = currentQuantities();
    tbody.replaceChildren(...r.body.items.map((item) => {
      const qty = el('input', {
        type: 'number', min: 0, max: 1000, step: 1, value: kept.get(item.id) || 0,
        'data-item-id': item.id, 'aria-label': 'quantity of item ' + item.id,
      });
      qty.addEventListener('input', renderOrderLines);
      return el('tr', { 'data-item-id': item.id },
        el('td', {}, String(item.id)),
        el('td', { class: 'item-name' }, item.name),
        el('td', { class: 'num' }, won(item.price)),
        el('td', { class: 'num item-stock' }, String(item.stock)),
        el('td', { class: 'num' }, qty));
    }));
    renderOrderLines();
  }

  function currentQuantities() {
    const m = new Map();
    for (const input of document.querySelectorAll('#items input[data-item-id]')) {
      const q = Number(input.value);
      if (Number.isInteger(q) && q > 0) m.set(Number(input.dataset.itemId), q);
    }
    return m;
  }

  function renderOrderLines() {
    const lines = [];
    for (const [itemId, quantity] of currentQuantities()) {
      const row = document.querySelector('#items tr[data-item-id="' + itemId + '"] .item-name');
      lines.push((row ? row.textContent : 'item ' + itemId) + ' × ' + quantity);
    }
    $('order-lines').textContent = lines.length ? lines.join(', ') : 'No items chosen.';
  }

  /* -------------------------------------------------------------- user */

  async function loadUser() {
    const id = positiveId($('user-id').value);
    if (id === null) {
      showLocalError('A user id is an integer from 1.');
      return;
    }
    state.userId = id;
    const [bal, cps] = await Promise.all([
      api('GET', '/api/users/' + id + '/balance'),
      api('GET', '/api/users/' + id + '/coupons'),
    ]);
    $('balance').textContent = bal.status === 200 && bal.body ? won(bal.body.balance) : describe(bal);
    const coupons = cps.status === 200 && cps.body && Array.isArray(cps.body.coupons) ? cps.body.coupons : [];
    const tbody = $('coupons').tBodies[0];
    tbody.replaceChildren(...coupons.map((c) => el('tr', { 'data-user-coupon-id': c.id },
      el('td', {}, String(c.id)),
      el('td', {}, c.name),
      el('td', {}, c.discountType === 'PERCENT' ? c.discountValue + '%' : won(c.discountValue)),
      el('td', {}, c.isUsed ? 'used (order ' + c.usedOrderId + ')' : 'no'),
      el('td', {}, c.expiresAt || ''))));
    if (!coupons.length) tbody.replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'hint' }, cps.status === 200 ? 'No coupons.' : describe(cps))));
    const select = $('order-coupon');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '' }, 'none'),
      ...coupons.filter((c) => !c.isUsed).map((c) => el('option', { value: c.id }, '#' + c.id + ' ' + c.name)));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  async function charge() {
    if (state.userId === null) await loadUser();
    const amount = Number($('charge-amount').value);
    if (state.userId === null) return;
    await api('POST', '/api/users/' + state.userId + '/balance/charge', { amount }, true);
    await loadUser();
  }

  /* ------------------------------------------------------------ orders */

  async function placeOrder() {
    if (state.userId === null || positiveId($('user-id').value) !== state.userId) await loadUser();
    if (state.userId === null) return;
    const items = [...currentQuantities()].map(([itemId, quantity]) => ({ itemId, quantity }));
    if (!items.length) {
      showLocalError('Choose a quantity for at least one item first.');
      return;
    }
    const body = { userId: state.userId, items };
    const coupon = $('order-coupon').value;
    if (coupon !== '') body.userCouponId = Number(coupon);
    const r = await api('POST', '/api/orders', body, true);
    if (r.status === 201 && r.body) {
      addSessionOrder(r.body.id);
      for (const input of document.querySelectorAll('#items input[data-item-id]')) input.value = 0;
      await openOrder(r.body.id);
    }
    await Promise.all([loadItems(), loadUser()]);
  }

  async function pay() {
    const o = state.order;
    if (!o) return;
    await api('POST', '/api/payments', { orderId: o.id, userId: o.userId }, true);
    await afterWrite();
  }

  async function cancelOrder() {
    const o = state.order;
    if (!o) return;
    await api('PATCH', '/api/payments', { orderId: o.id, userId: o.userId, status: 'CANCELLED' }, true);
    await afterWrite();
  }

  async function afterWrite() {
    await refreshOrder(state.generation);
    await Promise.all([loadItems(), state.userId !== null ? loadUser() : null]);
  }

  function addSessionOrder(id) {
    if (state.sessionOrders.includes(id)) return;
    state.sessionOrders.push(id);
    const button = el('button', { type: 'button', class: 'chip', 'data-order-id': id }, '#' + id);
    button.addEventListener('click', () => openOrder(id));
    $('session-orders').append(el('li', {}, button));
  }

  async function openOrder(id) {
    stopPolling();
    state.generation += 1;
    state.orderId = id;
    state.order = null;
    $('open-order-id').value = String(id);
    $('order-view').hidden = false;
    await refreshOrder(state.generation);
  }

  function stopPolling() {
    if (state.pollTimer !== null) clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  /* Reads the order, its payment and its saga, draws them, and polls again
   * while anything is still moving. */
  async function refreshOrder(generation) {
    stopPolling();
    const id = state.orderId;
    if (id === null) return;
    const [or, sr] = await Promise.all([api('GET', '/api/orders/' + id), api('GET', '/api/orders/' + id + '/saga')]);
    let payment = null;
    const paymentId = or.body && typeof or.body.paymentId === 'number' ? or.body.paymentId : null;
    if (paymentId !== null) {
      const pr = await api('GET', '/api/payments/' + paymentId);
      payment = pr.status === 200 ? pr.body : null;
    }
    if (generation !== state.generation) return; /* another order was opened meanwhile */
    state.order = or.status === 200 ? or.body : null;
    renderOrder(or, payment);
    renderSaga(sr);
    const moving = (s) => s === 'PENDING' || s === 'CANCELLING';
    const running = (state.order && moving(state.order.status)) ||
      (sr.status === 200 && sr.body && moving(sr.body.status)) ||
      (payment && (payment.status === 'PENDING' || (payment.delivery && payment.delivery.status === 'PENDING')));
    $('poll-state').textContent = running ? 'saga running: refreshing every second' : '';
    if (running) state.pollTimer = setTimeout(() => refreshOrder(generation), POLL_MS);
  }

  function renderOrder(or, payment) {
    const o = or.status === 200 ? or.body : null;
    $('order-id').textContent = '#' + state.orderId;
    const status = $('order-status');
    status.textContent = o ? o.status : describe(or);
    status.dataset.status = o ? o.status : '';
    $('order-user').textContent = o ? String(o.userId) : '–';
    $('order-items').textContent = o && Array.isArray(o.items)
      ? o.items.map((l) => 'item ' + l.itemId + ' × ' + l.quantity + ' at ' + won(l.unitPrice)).join(', ')
      : '–';
    $('order-amount').textContent = o
      ? won(o.totalAmount) + ' − ' + won(o.discountAmount) + ' = ' + won(o.finalAmount) +
        (o.userCouponId ? ' (user coupon ' + o.userCouponId + ')' : '')
      : '–';
    $('order-payment').textContent = payment
      ? '#' + payment.id + ' ' + payment.status + ', ' + won(payment.amount) +
        (payment.delivery ? '; data platform: ' + payment.delivery.status + ' after ' + payment.delivery.attempts + ' attempt(s)' : '')
      : '–';
    $('pay').disabled = !(o && o.status === 'CREATED');
    $('cancel').disabled = !(o && (o.status === 'CREATED' || o.status === 'CANCELLING'));
  }

  function describe(r) {
    if (r.status === 0) return 'no answer' + (r.problem && r.problem.detail ? ': ' + r.problem.detail : '');
    return String(r.status) + (r.problem && r.problem.code ? ' ' + r.problem.code : '');
  }

  /* -------------------------------------------------------------- saga */

  function laneOf(name) {
    if (typeof name !== 'string' || name === '') return null;
    let key = name.toLowerCase().replace(/-service$/, '');
    key = LANE_ALIASES[key] || key;
    return LANES.some((l) => l.key === key) ? key : null;
  }

  /* A step without a peer is the service's own state change (no HTTP). */
  function isLocal(s) {
    return typeof s.peer !== 'string' || s.peer === '';
  }

  function stepFailed(s) {
    if (s.error !== null && s.error !== undefined && s.error !== '') return true;
    if (isLocal(s)) return false;
    return typeof s.httpStatus !== 'number' || s.httpStatus === 0 || s.httpStatus >= 400;
  }

  function timeOf(at) {
    if (typeof at !== 'string') return '';
    const m = /T(\d\d:\d\d:\d\d)(\.\d{1,3})?/.exec(at);
    return m ? m[1] + (m[2] || '') : at;
  }

  function renderSaga(sr) {
    const box = $('saga');
    const badge = $('saga-status');
    if (sr.status !== 200 || !sr.body || !Array.isArray(sr.body.steps)) {
      badge.textContent = '';
      badge.dataset.status = '';
      box.dataset.available = 'false';
      box.replaceChildren(el('p', { class: 'hint' }, 'The saga view is not available: ' + describe(sr) +
        (sr.problem && sr.problem.detail ? ' (' + sr.problem.detail + ')' : '') + '.'));
      return;
    }
    badge.textContent = sr.body.status || '';
    badge.dataset.status = sr.body.status || '';
    box.dataset.available = 'true';
    box.replaceChildren(drawSaga(sr.body.steps), stepTable(sr.body.steps));
  }

  /* The rows of the diagram: for each run of steps under one request id, the
   * page's own request into the gateway (when this page sent it), the steps,
   * and the reply the page got. */
  function sagaRows(steps) {
    const rows = [];
    let i = 0;
    while (i < steps.length) {
      const rid = steps[i].requestId;
      let j = i;
      while (j < steps.length && steps[j].requestId === rid) j++;
      const group = steps.slice(i, j);
      const mine = typeof rid === 'string' && Object.prototype.hasOwnProperty.call(state.sent, rid) ? state.sent[rid] : undefined;
      const entry = laneOf(group[0].service) || 'order';
      if (mine) {
        rows.push({ kind: 'request', from: 'client', to: 'gateway', label: mine.method + ' ' + mine.path, rid });
        rows.push({ kind: 'request', from: 'gateway', to: entry, label: 'forwarded', rid });
      } else {
        rows.push({ kind: 'divider', label: typeof rid === 'string' && rid ? 'request ' + rid : 'no request id' });
      }
      for (const s of group) rows.push({ kind: 'step', step: s });
      if (mine) {
        const failed = mine.status >= 400 || mine.status === 0;
        const status = mine.status === 0 ? 'no answer' : String(mine.status);
        rows.push({ kind: 'reply', from: entry, to: 'gateway', label: status + (mine.code ? ' ' + mine.code : ''), failed, rid });
        rows.push({ kind: 'reply', from: 'gateway', to: 'client', label: status + ' · ' + mine.ms + ' ms', failed, rid });
      }
      i = j;
    }
    return rows;
  }

  function drawSaga(steps) {
    const gutter = 92;
    const laneW = 128;
    const headH = 44;
    const rowH = 36;
    const rows = sagaRows(steps);
    const width = gutter + laneW * LANES.length;
    const height = headH + rowH * Math.max(rows.length, 1) + 16;
    const x = (key) => gutter + laneW * LANES.findIndex((l) => l.key === key) + laneW / 2;
    const root = svg('svg', {
      xmlns: SVG_NS, class: 'saga-diagram', width, height, viewBox: '0 0 ' + width + ' ' + height,
      role: 'img', 'aria-label': 'saga sequence diagram, ' + steps.length + ' steps',
    });
    const defs = svg('defs');
    for (const kind of ['call', 'fail', 'comp', 'reply', 'state']) {
      const marker = svg('marker', {
        id: 'arrow-' + kind, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
      });
      marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'head ' + kind }));
      defs.append(marker);
    }
    root.append(defs);
    for (const lane of LANES) {
      const cx = x(lane.key);
      root.append(svg('line', { x1: cx, y1: headH - 6, x2: cx, y2: height - 4, class: 'lifeline' }));
      root.append(svg('rect', { x: cx - laneW / 2 + 6, y: 4, width: laneW - 12, height: headH - 14, rx: 5, class: 'lane-head', 'data-lane': lane.key }));
      root.append(svg('text', { x: cx, y: 4 + (headH - 14) / 2 + 4, class: 'lane-label' }, lane.label));
    }
    if (!rows.length) {
      root.append(svg('text', { x: width / 2, y: headH + 20, class: 'empty' }, 'no steps recorded yet'));
    }
    rows.forEach((row, n) => {
      const y = headH + rowH * n + rowH / 2 + 8;
      if (row.kind === 'divider') {
        root.append(svg('line', { x1: gutter - 4, y1: y, x2: width - 4, y2: y, class: 'divider' }));
        const t = svg('text', { x: gutter, y: y - 4, class: 'divider-label' }, row.label);
        root.append(t);
        return;
      }
      if (row.kind === 'request' || row.kind === 'reply') {
        const kind = row.kind === 'request' ? 'call' : row.failed ? 'fail' : 'reply';
        root.append(arrow(x(row.from), x(row.to), y, row.label, kind, {
          class: 'page-' + row.kind, 'data-kind': row.kind, 'data-request-id': row.rid,
        }));
        return;
      }
      const s = row.step;
      const failed = stepFailed(s);
      const comp = s.compensation === true;
      const from = laneOf(s.service) || 'order';
      const to = laneOf(s.peer) || from;
      const local = isLocal(s);
      const ms = typeof s.durationMs === 'number' ? s.durationMs : null;
      const label = local
        ? (s.step || '?') + (ms ? ' · ' + ms + ' ms' : '')
        : (s.step || '?') + ' · ' + (typeof s.httpStatus === 'number' && s.httpStatus ? s.httpStatus : 'no reply') +
          ' · ' + (ms === null ? '?' : ms) + ' ms';
      const kind = failed ? 'fail' : comp ? 'comp' : local ? 'state' : 'call';
      const g = arrow(x(from), x(to), y, label, kind, {
        class: 'step' + (failed ? ' failed' : '') + (comp ? ' compensation' : ''),
        'data-kind': 'step', 'data-step': s.step, 'data-service': s.service, 'data-peer': s.peer,
        'data-status': s.httpStatus, 'data-compensation': comp ? 'true' : 'false', 'data-failed': failed ? 'true' : 'false',
      });
      if (comp && failed) g.classList.add('comp-failed');
      const tip = [s.at, s.service + (local ? ': ' : ' → ' + s.peer + ': ') + s.step, local ? 'state change' : 'HTTP ' + s.httpStatus,
        s.durationMs + ' ms', comp ? 'compensation' : null, s.error ? 'error: ' + s.error : null, 'request ' + s.requestId]
        .filter(Boolean).join('\n');
      g.append(svg('title', {}, tip));
      root.append(g);
      root.append(svg('text', { x: 6, y: y + 4, class: 'time' }, timeOf(s.at)));
    });
    return root;
  }

  /* One arrow from x1 to x2 at height y, its label above; a self-call is a
   * small loop. */
  function arrow(x1, x2, y, label, kind, attrs) {
    const g = svg('g', attrs);
    if (x1 === x2) {
      g.append(svg('path', { d: 'M' + x1 + ',' + (y - 8) + ' h28 v14 h-26', class: 'arrow ' + kind, 'marker-end': 'url(#arrow-' + kind + ')' }));
      g.append(svg('text', { x: x1 + 32, y: y + 2, class: 'arrow-label self ' + kind }, label));
      return g;
    }
    g.append(svg('line', { x1, y1: y, x2: x2 + (x2 > x1 ? -2 : 2), y2: y, class: 'arrow ' + kind, 'marker-end': 'url(#arrow-' + kind + ')' }));
    g.append(svg('text', { x: (x1 + x2) / 2, y: y - 5, class: 'arrow-label ' + kind }, label));
    return g;
  }

  /* The same steps as a table, for reading and copying. */
  function stepTable(steps) {
    const table = el('table', { class: 'grid steps' },
      el('thead', {}, el('tr', {}, ...['at', 'service', 'step', 'peer', 'HTTP', 'ms', 'compensation', 'error', 'request id'].map((h) => el('th', {}, h)))));
    const tbody = el('tbody');
    for (const s of steps) {
      tbody.append(el('tr', { class: (stepFailed(s) ? 'failed ' : '') + (s.compensation === true ? 'compensation' : '') },
        el('td', {}, s.at || ''), el('td', {}, s.service || ''), el('td', {}, s.step || ''), el('td', {}, s.peer || ''),
        el('td', {}, s.httpStatus === null || s.httpStatus === undefined ? '' : String(s.httpStatus)),
        el('td', {}, s.durationMs === null || s.durationMs === undefined ? '' : String(s.durationMs)),
        el('td', {}, s.compensation === true ? 'yes' : ''), el('td', {}, s.error || ''), el('td', {}, s.requestId || '')));
    }
    table.append(tbody);
    return el('details', { class: 'step-table' }, el('summary', {}, steps.length + ' steps as a table'), table);
  }

  /* ------------------------------------------------------------ health */

  async function loadHealth() {
    const r = await api('GET', '/health');
    const h = $('health');
    const services = r.body && r.body.services ? r.body.services : {};
    const down = Object.keys(services).filter((k) => services[k] !== 'ok');
    h.className = 'health ' + (r.status === 200 ? 'ok' : 'down');
    h.textContent = r.status === 200 ? 'all services up' : down.length ? 'down: ' + down.join(', ') : describe(r);
  }

  /* ------------------------------------------------------------- wiring */

  function on(id, event, handler) {
    $(id).addEventListener(event, (e) => {
      e.preventDefault();
      handler().catch((err) => showLocalError('The console failed: ' + String(err)));
    });
  }

  function start() {
    on('items-refresh', 'click', loadItems);
    on('user-form', 'submit', loadUser);
    on('charge-form', 'submit', charge);
    on('order-form', 'submit', placeOrder);
    on('pay', 'click', pay);
    on('cancel', 'click', cancelOrder);
    on('open-form', 'submit', async () => {
      const id = positiveId($('open-order-id').value);
      if (id === null) showLocalError('An order id is an integer from 1.');
      else await openOrder(id);
    });
    const fromHash = /^#order=(\d+)$/.exec(location.hash);
    Promise.all([loadHealth(), loadItems(), loadUser()])
      .then(() => (fromHash && positiveId(fromHash[1]) !== null ? openOrder(Number(fromHash[1])) : null))
      .catch((err) => showLocalError('The console failed: ' + String(err)));
  }

  start();
})();
