// The agents dashboard: logs in (with the second factor when asked), then
// follows every user the viewer may see over the websocket, grouped by
// division, with counters per division and in total.
//
// Live state comes only from the subscriptions userStatusChanged and
// userChanged, both with snapshot: true, so that every (re)connection
// starts from the true state: no polling, no reload. Each event carries
// the user's version; an event is applied only when newer than what the
// page holds (status fields and profile fields each keep their own, as the
// two subscriptions are not ordered with each other). When userChanged's
// snapshot ends (SNAPSHOT_END), the users it did not send are dropped:
// they went away, or out of the viewer's sight, while the page was
// disconnected.
//
// Rendering is incremental: events are applied to the model at once, and
// the rows of the users they changed, and the counters, are updated once
// per animation frame, within a time budget, the rest left to the next
// frame; nothing else is touched.
//
// The token is kept in sessionStorage: it lives as long as the tab (a
// reload keeps the session, closing the tab forgets it, and other tabs and
// windows never see it), which suits an admin page opened on shared desks;
// the invitation page stores it there too.
(function () {
  'use strict';

  var app = document.getElementById('app');
  var endpoint = app.getAttribute('data-endpoint') || '/graphql';
  var TOKEN = 'roster.token';
  var CATEGORIES = ['online', 'busy', 'away', 'offline'];
  var AVAILABILITIES = ['ONLINE', 'BUSY', 'AWAY', 'OFFLINE'];
  var LABEL = { ONLINE: 'Online', BUSY: 'Busy', AWAY: 'Away', OFFLINE: 'Offline', online: 'Online', busy: 'Busy', away: 'Away', offline: 'Offline' };
  var NO_DIVISION = 'none';
  var FRAME_BUDGET_MS = 8;

  function token() { return sessionStorage.getItem(TOKEN) || ''; }

  // el builds an element: el('div', {class: 'x'}, child, 'text', …).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] == null) continue;
        if (k === 'text') e.textContent = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  // gql sends one operation over HTTP and resolves to {data, errors}.
  function gql(query, variables) {
    var headers = { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json' };
    if (token()) headers.Authorization = 'Bearer ' + token();
    return fetch(endpoint, { method: 'POST', headers: headers, body: JSON.stringify({ query: query, variables: variables || {} }) })
      .then(function (r) { return r.json(); });
  }

  function errorText(errors) {
    var e = errors && errors[0];
    if (!e) return '';
    var msg = e.message;
    if (e.extensions && e.extensions.code === 'RATE_LIMITED' && e.extensions.retryAfter) {
      msg += ' (try again in ' + e.extensions.retryAfter + ' s)';
    }
    return msg;
  }

  function errorCode(errors) {
    return errors && errors[0] && errors[0].extensions ? errors[0].extensions.code : '';
  }

  // ---- Log in -----------------------------------------------------------

  function showLogin(note, isError) {
    teardown();
    var email = el('input', { type: 'email', name: 'email', autocomplete: 'username', required: '' });
    var password = el('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: '' });
    var org = el('input', { type: 'text', name: 'organization', inputmode: 'numeric' });
    var msg = el('p', { class: 'message' + (isError ? ' error' : ''), role: 'status', text: note || '' });
    var submit = el('button', { type: 'submit', class: 'primary', text: 'Log in' });
    var form = el('form', { class: 'auth', id: 'login', novalidate: '' },
      el('h1', { text: 'roster' }),
      el('p', { class: 'lead', text: 'Log in to see your agents live.' }),
      el('label', null, 'Email', email),
      el('label', null, 'Password', password),
      el('label', null, 'Organization ID ', el('small', { text: '(only if your email has accounts in several)' }), org),
      el('div', { class: 'actions' }, submit),
      msg);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submit.disabled = true;
      msg.className = 'message';
      msg.textContent = 'Logging in…';
      var input = { email: email.value.trim(), password: password.value };
      if (org.value.trim()) input.organizationID = org.value.trim();
      gql('mutation Login($i: LoginInput!) { login(input: $i) { token challenge { id methods sentTo } } }', { i: input })
        .then(function (res) {
          submit.disabled = false;
          if (res.errors) return say(msg, errorText(res.errors), true);
          loggedIn(res.data.login);
        }, function () {
          submit.disabled = false;
          say(msg, 'The server could not be reached: try again.', true);
        });
    });
    replace(form);
    email.focus();
  }

  function showMfa(challenge) {
    var code = el('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: '' });
    var msg = el('p', { class: 'message', role: 'status' });
    var submit = el('button', { type: 'submit', class: 'primary', text: 'Verify' });
    var resend = el('button', { type: 'button', text: 'Send a new code' });
    var where = challenge.methods.indexOf('TOTP') >= 0
      ? 'Enter the 6-digit code sent to ' + challenge.sentTo + ', or the one your authenticator app shows.'
      : 'Enter the 6-digit code sent to ' + challenge.sentTo + '.';
    var form = el('form', { class: 'auth', id: 'mfa', novalidate: '' },
      el('h1', { text: 'Second factor' }),
      el('p', { class: 'lead', text: where }),
      el('label', null, 'Code', code),
      el('div', { class: 'actions' }, submit, resend, el('button', { type: 'button', id: 'back', text: 'Back' })),
      msg);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submit.disabled = true;
      gql('mutation Verify($c: String!, $code: String!) { verifyMfa(challengeID: $c, code: $code) { token challenge { id methods sentTo } } }',
        { c: challenge.id, code: code.value.trim() })
        .then(function (res) {
          submit.disabled = false;
          if (res.errors) return say(msg, errorText(res.errors), true);
          loggedIn(res.data.verifyMfa);
        }, function () {
          submit.disabled = false;
          say(msg, 'The server could not be reached: try again.', true);
        });
    });
    resend.addEventListener('click', function () {
      gql('mutation Resend($c: String!) { resendMfaCode(challengeID: $c) { id sentTo } }', { c: challenge.id })
        .then(function (res) {
          if (res.errors) return say(msg, errorText(res.errors), true);
          say(msg, 'A new code was sent to ' + res.data.resendMfaCode.sentTo + '.');
        }, function () { say(msg, 'The server could not be reached: try again.', true); });
    });
    form.querySelector('#back').addEventListener('click', function () { showLogin(); });
    replace(form);
    code.focus();
  }

  function loggedIn(payload) {
    if (payload.token) {
      sessionStorage.setItem(TOKEN, payload.token);
      return boot();
    }
    if (payload.challenge) return showMfa(payload.challenge);
    showLogin('The server answered without a token.', true);
  }

  function say(node, text, isError) {
    node.textContent = text;
    node.className = node.className.replace(/ ?error/, '') + (isError ? ' error' : '');
  }

  function replace(node) {
    app.textContent = '';
    app.appendChild(node);
  }

  // boot shows the dashboard for the stored token, or the login form.
  function boot() {
    if (!token()) return showLogin();
    gql('query Me { me { id displayName role { name permissions } } }').then(function (res) {
      if (res.errors || !res.data) {
        sessionStorage.removeItem(TOKEN);
        return showLogin(errorCode(res.errors) === 'UNAUTHENTICATED' ? 'Your session ended: log in again.' : errorText(res.errors), true);
      }
      startDashboard(res.data.me);
    }, function () {
      // The server is unreachable: try again shortly.
      replace(el('p', { class: 'loading', text: 'The server could not be reached; trying again…' }));
      setTimeout(boot, 2000);
    });
  }

  // ---- The live view ------------------------------------------------------

  var view = null; // the running dashboard, or null

  function teardown() {
    if (!view) return;
    view.stopped = true;
    if (view.client) view.client.dispose();
    view = null;
  }

  var USER_FIELDS = 'id displayName email status availability online connections lastSeenAt role { id name } divisions { id name }';
  var STATUS_SUB = 'subscription Status { userStatusChanged(snapshot: true) { kind user { id lastSeenAt } availability online devices version } }';
  var CHANGES_SUB = 'subscription Users { userChanged(snapshot: true) { kind userID version user { ' + USER_FIELDS + ' } } }';

  var timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function startDashboard(me) {
    teardown();
    var v = view = {
      me: me,
      canManage: me.role.permissions.indexOf('MANAGE_USERS') >= 0,
      users: new Map(),      // id -> user model
      groups: new Map(),     // division id (or NO_DIVISION) -> group
      divisions: new Map(),  // id -> name
      roles: new Map(),      // id -> name
      pending: [],           // events received, not yet applied
      dirty: new Set(),      // users whose rows must be rendered
      dirtyGroups: new Set(),
      totals: { online: 0, busy: 0, away: 0, offline: 0, all: 0 },
      totalsDirty: true,
      optionsDirty: false,
      filter: { q: [], division: '', role: '', state: '' },
      epoch: 0,
      snapshotsDone: 0,
      scheduled: false,
      flushing: false,
      stopped: false,
      client: null,
      panelUser: null,
      panelEls: null,
    };
    buildShell(v);
    connect(v);
  }

  function buildShell(v) {
    v.conn = el('span', { class: 'conn', id: 'connection', text: 'Connecting…' });
    var logout = el('button', { type: 'button', id: 'logout', text: 'Log out' });
    logout.addEventListener('click', function () { logOut(v); });
    var top = el('header', { class: 'top' },
      el('h1', null, 'roster ', el('span', { text: 'agents' })),
      v.conn,
      el('span', { class: 'who', text: v.me.displayName + ' · ' + v.me.role.name }),
      logout);

    v.totalEls = {};
    var totals = el('section', { class: 'totals', id: 'totals' });
    CATEGORIES.concat('all').forEach(function (c) {
      var b = el('b', { 'data-total': c, text: '0' });
      v.totalEls[c] = b;
      totals.appendChild(el('div', { class: 'total ' + c }, b, el('span', { text: c === 'all' ? 'Total' : LABEL[c] })));
    });

    v.search = el('input', { type: 'search', id: 'search', placeholder: 'Search name or email', 'aria-label': 'Search' });
    v.divisionSelect = el('select', { id: 'division', 'aria-label': 'Division' }, el('option', { value: '', text: 'All divisions' }));
    v.roleSelect = el('select', { id: 'role', 'aria-label': 'Role' }, el('option', { value: '', text: 'All roles' }));
    v.stateSelect = el('select', { id: 'availability', 'aria-label': 'Availability' }, el('option', { value: '', text: 'Any availability' }));
    CATEGORIES.forEach(function (c) { v.stateSelect.appendChild(el('option', { value: c, text: LABEL[c] })); });
    v.shown = el('span', { class: 'shown', id: 'shown' });
    var searchTimer = 0;
    v.search.addEventListener('input', function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { setFilter(v, 'q', words(v.search.value)); }, 120);
    });
    v.divisionSelect.addEventListener('change', function () { setFilter(v, 'division', v.divisionSelect.value); });
    v.roleSelect.addEventListener('change', function () { setFilter(v, 'role', v.roleSelect.value); });
    v.stateSelect.addEventListener('change', function () { setFilter(v, 'state', v.stateSelect.value); });
    var filters = el('section', { class: 'filters' }, v.search, v.divisionSelect, v.roleSelect, v.stateSelect, v.shown);

    v.notice = el('div', { class: 'notice', id: 'notice', role: 'alert', hidden: '' });
    v.list = el('main', { id: 'groups' });
    v.empty = el('p', { class: 'empty', id: 'empty', text: 'Waiting for the first users…' });
    v.list.addEventListener('click', function (e) {
      var b = e.target.closest && e.target.closest('button.manage');
      if (b) openPanel(v, b.getAttribute('data-user'));
    });
    v.panel = el('aside', { class: 'panel', id: 'panel', hidden: '' });

    v.root = el('div', { class: v.canManage ? '' : 'no-manage' }, top,
      el('div', { class: 'wrap' }, totals, filters, v.notice, v.empty, v.list), v.panel);
    replace(v.root);
    rowTemplate = buildRowTemplate();
  }

  function plural(n, what) { return n + ' ' + what + (n === 1 ? '' : 's'); }

  function words(s) { return s.toLowerCase().split(/\s+/).filter(Boolean); }

  function notice(v, text, isError) {
    v.notice.textContent = text || '';
    v.notice.className = 'notice' + (isError ? ' error' : '');
    v.notice.hidden = !text;
  }

  function connect(v) {
    var url = new URL(endpoint, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    var socket = null;
    var pongTimer = 0;
    var client = graphqlWs.createClient({
      url: url.toString(),
      connectionParams: function () { return { authorization: 'Bearer ' + token() }; },
      lazy: false,
      keepAlive: 10000,
      retryAttempts: Infinity,
      // Refused and dropped connections are retried; 4403 means the
      // session ended or its authority shrank.
      shouldRetry: function (e) { return !(e && e.code === 4403); },
      retryWait: function (n) {
        var wait = Math.min(10000, 500 * Math.pow(2, n));
        return new Promise(function (r) { setTimeout(r, wait / 2 + Math.random() * wait / 2); });
      },
      on: {
        connecting: function () {
          if (v.epoch) setConn(v, 'Reconnecting…', 'down');
          else setConn(v, 'Connecting…', '');
        },
        connected: function (s) {
          socket = s;
          v.epoch++;
          v.snapshotsDone = 0;
          setConn(v, 'Loading…', '');
        },
        // A ping the server does not answer within 5 s means the network
        // dropped without closing the socket: close it, and reconnect.
        ping: function (received) {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(function () {
            if (socket && socket.readyState === WebSocket.OPEN) socket.close(4408, 'Request Timeout');
          }, 5000);
        },
        pong: function (received) { if (received) clearTimeout(pongTimer); },
        closed: function (e) {
          clearTimeout(pongTimer);
          socket = null;
          if (v.stopped) return;
          if (e && e.code === 4403) return forbidden(v);
          setConn(v, 'Reconnecting…', 'down');
        },
      },
    });
    v.client = client;
    follow(v, STATUS_SUB, function (d) { receive(v, 's', d.userStatusChanged); });
    follow(v, CHANGES_SUB, function (d) { receive(v, 'c', d.userChanged); });
  }

  // follow runs a subscription for as long as the view lives.
  function follow(v, query, onData) {
    v.client.subscribe({ query: query }, {
      next: function (res) {
        if (res.errors) notice(v, errorText(res.errors), true);
        if (res.data) onData(res.data);
      },
      error: function (err) {
        if (v.stopped) return;
        if (Array.isArray(err)) notice(v, errorText(err), true);
        // A close (4403) is handled by the client's closed listener.
      },
      complete: function () {
        // The server ended it (it does on its own only when stopping):
        // subscribe again, with a snapshot.
        if (!v.stopped) setTimeout(function () { if (!v.stopped) follow(v, query, onData); }, 1000);
      },
    });
  }

  function setConn(v, text, cls) {
    v.conn.textContent = text;
    v.conn.className = 'conn ' + cls;
  }

  // forbidden handles a 4403 close: with the session over, log in again;
  // with it alive (the viewer's authority shrank), start over with the
  // authority they have now.
  function forbidden(v) {
    teardown();
    gql('query Me { me { id displayName role { name permissions } } }').then(function (res) {
      if (res.errors || !res.data) {
        sessionStorage.removeItem(TOKEN);
        return showLogin('Your session ended: log in again.', true);
      }
      startDashboard(res.data.me);
      notice(view, 'Your permissions changed: the view was reloaded.');
    }, function () { showLogin('Your session ended: log in again.', true); });
  }

  function logOut(v) {
    // Stopped first: the server closes the socket of the ended session
    // (4403), which is no news here.
    teardown();
    gql('mutation Logout { logout }').catch(function () {}).then(function () {
      sessionStorage.removeItem(TOKEN);
      showLogin('You are logged out.');
    });
  }

  // ---- The model ----------------------------------------------------------

  function receive(v, kind, ev) {
    v.pending.push({ kind: kind, ev: ev, epoch: v.epoch });
    schedule(v);
  }

  function userOf(v, id) {
    var u = v.users.get(id);
    if (!u) {
      u = {
        id: id, pv: 0, sv: 0, gone: false, seen: 0,
        name: '', email: '', status: '', roleID: '', divisions: [],
        availability: 'OFFLINE', online: false, devices: 0, lastSeenAt: null,
        rows: new Map(), counted: null,
      };
      v.users.set(id, u);
    }
    return u;
  }

  function markDirty(v, u) {
    v.dirty.add(u.id);
    schedule(v);
  }

  // snapshotEnded counts the snapshots over since the last connection:
  // with both, the page shows the true state.
  function snapshotEnded(v, epoch) {
    if (epoch !== v.epoch) return;
    v.snapshotsDone++;
    if (v.snapshotsDone === 2) setConn(v, 'Live', 'live');
  }

  function applyStatus(v, ev, epoch) {
    if (ev.kind === 'SNAPSHOT_END') return snapshotEnded(v, epoch);
    var u = userOf(v, ev.user.id);
    if (ev.version <= u.sv) return;
    u.sv = ev.version;
    u.availability = ev.availability;
    u.online = ev.online;
    u.devices = ev.devices;
    u.lastSeenAt = ev.user.lastSeenAt;
    markDirty(v, u);
  }

  function applyChange(v, ev, epoch) {
    if (ev.kind === 'SNAPSHOT_END') {
      // Those the snapshot of this connection did not send are gone.
      if (epoch === v.epoch) {
        v.users.forEach(function (u) {
          if (u.seen !== epoch && u.pv && !u.gone) {
            u.gone = true;
            markDirty(v, u);
          }
        });
      }
      return snapshotEnded(v, epoch);
    }
    var u = userOf(v, ev.userID);
    u.seen = epoch;
    if (ev.version <= u.pv) return;
    u.pv = ev.version;
    if (!ev.user || ev.kind === 'DELETED' || ev.kind === 'REMOVED') {
      u.gone = true;
      u.sv = Math.max(u.sv, ev.version);
      return markDirty(v, u);
    }
    var x = ev.user;
    u.gone = false;
    u.name = x.displayName;
    u.email = x.email;
    u.status = x.status;
    u.roleID = x.role.id;
    if (x.role.name && v.roles.get(x.role.id) !== x.role.name) {
      v.roles.set(x.role.id, x.role.name);
      v.optionsDirty = true;
    }
    u.divisions = (x.divisions || []).map(function (d) {
      if (d.name && v.divisions.get(d.id) !== d.name) {
        v.divisions.set(d.id, d.name);
        v.optionsDirty = true;
        var g = v.groups.get(d.id);
        if (g) renameGroup(v, g, d.name);
      }
      return d.id;
    });
    u.search = (x.displayName + ' ' + x.email).toLowerCase();
    if (ev.version > u.sv) {
      u.sv = ev.version;
      u.availability = x.availability;
      u.online = x.online;
      u.devices = x.connections;
      u.lastSeenAt = x.lastSeenAt;
    }
    markDirty(v, u);
  }

  function category(u) { return u.online ? u.availability.toLowerCase() : 'offline'; }

  // groupsOf returns the groups the user's rows belong in under the
  // current filters (none when hidden).
  function groupsOf(v, u) {
    if (u.gone || !u.pv || u.status !== 'ACTIVE') return [];
    var f = v.filter;
    if (f.role && u.roleID !== f.role) return [];
    if (f.state && category(u) !== f.state) return [];
    for (var i = 0; i < f.q.length; i++) if (u.search.indexOf(f.q[i]) < 0) return [];
    var keys = u.divisions.length ? u.divisions : [NO_DIVISION];
    if (f.division) return keys.indexOf(f.division) >= 0 ? [f.division] : [];
    return keys;
  }

  function setFilter(v, key, value) {
    v.filter[key] = value;
    v.users.forEach(function (u) { v.dirty.add(u.id); });
    schedule(v);
  }

  // ---- Rendering ----------------------------------------------------------

  function schedule(v) {
    if (v.scheduled || v.flushing || v.stopped) return;
    v.scheduled = true;
    requestAnimationFrame(function () { flush(v); });
  }

  // flush applies the events received, then renders the users they
  // changed for at most FRAME_BUDGET_MS, leaving the rest to the next
  // frame, then the counters that changed.
  function flush(v) {
    v.scheduled = false;
    if (v.stopped) return;
    v.flushing = true;
    try {
      render(v);
    } finally {
      v.flushing = false;
    }
    if (v.dirty.size || v.pending.length) schedule(v);
  }

  function render(v) {
    var start = performance.now();
    var events = v.pending;
    v.pending = [];
    for (var i = 0; i < events.length; i++) {
      var p = events[i];
      if (p.kind === 's') applyStatus(v, p.ev, p.epoch);
      else applyChange(v, p.ev, p.epoch);
    }
    if (v.optionsDirty) renderOptions(v);
    var it = v.dirty.values();
    for (var n = it.next(); !n.done; n = it.next()) {
      v.dirty.delete(n.value);
      renderUser(v, v.users.get(n.value));
      if (performance.now() - start > FRAME_BUDGET_MS) break;
    }
    renderCounters(v);
  }

  var rowTemplate = null;

  function buildRowTemplate() {
    return el('div', { class: 'row' },
      el('div', { class: 'name' }, el('i', { class: 'dot' }), el('span', null, el('b'), el('small'))),
      el('span', { class: 'role' }),
      el('span', { class: 'avail' }),
      el('span', { class: 'presence' }),
      el('span', { class: 'seen' }),
      el('button', { type: 'button', class: 'manage', text: 'Manage' }));
  }

  function newRow(u) {
    var e = rowTemplate.cloneNode(true);
    e.setAttribute('data-user', u.id);
    e.lastChild.setAttribute('data-user', u.id);
    var c = e.children;
    return {
      el: e, sortKey: '',
      nameEl: c[0].children[1].firstChild, emailEl: c[0].children[1].lastChild,
      roleEl: c[1], availEl: c[2], presenceEl: c[3], seenEl: c[4],
      shown: {},
    };
  }

  // set changes a row's text or attribute only when it differs.
  function set(row, key, value, apply) {
    if (row.shown[key] === value) return;
    row.shown[key] = value;
    apply(value);
  }

  function renderUser(v, u) {
    if (!u) return;
    uncount(v, u);
    var want = groupsOf(v, u);
    u.rows.forEach(function (row, key) {
      if (want.indexOf(key) < 0) {
        removeRow(v, v.groups.get(key), row);
        u.rows.delete(key);
      }
    });
    if (!want.length) return;
    var cat = category(u);
    var sortKey = u.name.toLowerCase() + '\u0000' + u.id;
    var presence = u.online ? 'Connected · ' + plural(u.devices, 'device') : 'Not connected';
    var seen = u.online ? 'now' : u.lastSeenAt ? timeFormat.format(new Date(u.lastSeenAt)) : 'never';
    var role = v.roles.get(u.roleID) || '';
    for (var i = 0; i < want.length; i++) {
      var key = want[i];
      var g = groupOf(v, key);
      var row = u.rows.get(key);
      if (!row) {
        row = newRow(u);
        u.rows.set(key, row);
      }
      if (row.sortKey !== sortKey) {
        if (row.sortKey) removeRow(v, g, row);
        row.sortKey = sortKey;
        insertRow(v, g, row);
      }
      set(row, 'state', cat, function (x) { row.el.setAttribute('data-state', x); });
      set(row, 'online', u.online, function (x) { row.el.setAttribute('data-online', String(x)); });
      set(row, 'name', u.name, function (x) { row.nameEl.textContent = x; });
      set(row, 'email', u.email, function (x) { row.emailEl.textContent = x; });
      set(row, 'role', role, function (x) { row.roleEl.textContent = x; });
      set(row, 'avail', u.availability, function (x) {
        row.availEl.textContent = LABEL[x] || x;
        row.availEl.className = 'avail ' + x;
      });
      set(row, 'presence', presence, function (x) { row.presenceEl.textContent = x; });
      set(row, 'seen', seen, function (x) { row.seenEl.textContent = x; });
    }
    count(v, u, want, cat);
    if (v.panelUser === u.id) renderPanel(v);
  }

  // count adds the user to the counters of their groups and the totals;
  // uncount takes back what was added.
  function count(v, u, keys, cat) {
    u.counted = { keys: keys, cat: cat };
    for (var i = 0; i < keys.length; i++) {
      var g = v.groups.get(keys[i]);
      g.counts[cat]++;
      g.counts.all++;
      v.dirtyGroups.add(g);
    }
    v.totals[cat]++;
    v.totals.all++;
    v.totalsDirty = true;
  }

  function uncount(v, u) {
    var c = u.counted;
    if (!c) return;
    u.counted = null;
    for (var i = 0; i < c.keys.length; i++) {
      var g = v.groups.get(c.keys[i]);
      g.counts[c.cat]--;
      g.counts.all--;
      v.dirtyGroups.add(g);
    }
    v.totals[c.cat]--;
    v.totals.all--;
    v.totalsDirty = true;
  }

  function groupOf(v, key) {
    var g = v.groups.get(key);
    if (g) return g;
    var name = key === NO_DIVISION ? 'No division' : v.divisions.get(key) || 'Division ' + key;
    g = {
      key: key, name: name, rows: [],
      counts: { online: 0, busy: 0, away: 0, offline: 0, all: 0 },
      shown: {},
      countEls: {},
    };
    var counts = el('span', { class: 'gcounts' });
    CATEGORIES.forEach(function (c) {
      var s = el('span', { class: 'c ' + c, 'data-count': c, title: LABEL[c], text: '0' });
      g.countEls[c] = s;
      counts.appendChild(s);
    });
    g.countEls.all = el('span', { 'data-count': 'all', class: 'gtotal', text: '0 users' });
    counts.appendChild(g.countEls.all);
    g.nameEl = el('span', { class: 'gname', text: name });
    g.rowsEl = el('div', { class: 'rows' });
    g.el = el('section', { class: 'group', 'data-division': key, hidden: '' }, el('h2', null, g.nameEl, counts), g.rowsEl);
    v.groups.set(key, g);
    placeGroup(v, g);
    return g;
  }

  function groupOrder(g) { return (g.key === NO_DIVISION ? '\uffff' : g.name.toLowerCase()) + '\u0000' + g.key; }

  function placeGroup(v, g) {
    var mine = groupOrder(g);
    var next = null;
    v.groups.forEach(function (o) {
      if (o !== g && groupOrder(o) > mine && (!next || groupOrder(o) < groupOrder(next))) next = o;
    });
    v.list.insertBefore(g.el, next ? next.el : null);
  }

  function renameGroup(v, g, name) {
    g.name = name;
    g.nameEl.textContent = name;
    placeGroup(v, g);
  }

  // insertRow places a row in its group in name order (binary search).
  function insertRow(v, g, row) {
    var lo = 0, hi = g.rows.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (g.rows[mid].sortKey < row.sortKey) lo = mid + 1; else hi = mid;
    }
    g.rows.splice(lo, 0, row);
    g.rowsEl.insertBefore(row.el, lo + 1 < g.rows.length ? g.rows[lo + 1].el : null);
    v.dirtyGroups.add(g);
  }

  function removeRow(v, g, row) {
    var i = g.rows.indexOf(row);
    if (i >= 0) g.rows.splice(i, 1);
    row.el.remove();
    v.dirtyGroups.add(g);
  }

  function renderCounters(v) {
    v.dirtyGroups.forEach(function (g) {
      CATEGORIES.concat('all').forEach(function (c) {
        if (g.shown[c] !== g.counts[c]) {
          g.shown[c] = g.counts[c];
          g.countEls[c].textContent = c === 'all' ? plural(g.counts[c], 'user') : String(g.counts[c]);
        }
      });
      var hide = g.rows.length === 0;
      if (g.el.hidden !== hide) g.el.hidden = hide;
    });
    v.dirtyGroups.clear();
    if (!v.totalsDirty) return;
    v.totalsDirty = false;
    CATEGORIES.concat('all').forEach(function (c) {
      var t = String(v.totals[c]);
      if (v.totalEls[c].textContent !== t) v.totalEls[c].textContent = t;
    });
    var shown = plural(v.totals.all, 'user') + ' shown';
    if (v.shown.textContent !== shown) v.shown.textContent = shown;
    var filtered = v.filter.q.length || v.filter.division || v.filter.role || v.filter.state;
    var empty = v.totals.all ? '' : filtered ? 'No user matches these filters.' : v.epoch ? 'No users to show.' : 'Waiting for the first users…';
    v.empty.textContent = empty;
    v.empty.hidden = !empty;
  }

  function renderOptions(v) {
    v.optionsDirty = false;
    fill(v.divisionSelect, 'All divisions', v.divisions, [[NO_DIVISION, 'No division']]);
    fill(v.roleSelect, 'All roles', v.roles, []);
  }

  function fill(select, all, names, extra) {
    var value = select.value;
    var entries = [];
    names.forEach(function (name, id) { entries.push([id, name]); });
    entries.sort(function (a, b) { return a[1].localeCompare(b[1]); });
    entries = entries.concat(extra);
    select.textContent = '';
    select.appendChild(el('option', { value: '', text: all }));
    entries.forEach(function (e) { select.appendChild(el('option', { value: e[0], text: e[1] })); });
    select.value = value;
  }

  // ---- Actions on one user (admins) ---------------------------------------

  function openPanel(v, id) {
    v.panelUser = id;
    v.panelMessage = '';
    v.panelConfirm = false;
    v.panelEls = null;
    renderPanel(v);
  }

  // renderPanel shows the panel of v.panelUser. It is built once for the
  // user opened, then updated in place as their events arrive: rebuilt
  // under the pointer, a button loses the click it was getting (and the
  // keyboard focus).
  function renderPanel(v) {
    var u = v.users.get(v.panelUser);
    var p = v.panel;
    if (!u || !v.canManage) {
      p.textContent = '';
      p.hidden = true;
      v.panelUser = null;
      v.panelEls = null;
      return;
    }
    var e = v.panelEls;
    if (!e || e.id !== u.id) e = v.panelEls = buildPanel(v, u.id);
    e.name.textContent = u.name;
    e.info.textContent = u.email + ' · ' + (u.online ? 'connected on ' + plural(u.devices, 'device') : 'not connected');
    e.avails.forEach(function (b) { b.setAttribute('aria-pressed', String(u.availability === b.getAttribute('data-availability'))); });
    e.end.textContent = v.panelConfirm ? 'Confirm: end every session of ' + u.name : 'End sessions';
    e.message.className = 'message' + (v.panelError ? ' error' : '');
    e.message.textContent = v.panelMessage || '';
    p.hidden = false;
  }

  function buildPanel(v, id) {
    var p = v.panel;
    p.textContent = '';
    var user = function () { return v.users.get(id); };
    var e = { id: id, avails: [] };
    var close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close', text: '×' });
    close.addEventListener('click', function () { v.panelUser = null; v.panelEls = null; p.hidden = true; });
    var avails = el('div', { class: 'avails', role: 'group', 'aria-label': 'Set availability' });
    AVAILABILITIES.forEach(function (a) {
      var b = el('button', { type: 'button', 'data-availability': a, text: LABEL[a] });
      b.addEventListener('click', function () { if (user()) setAvailability(v, user(), a); });
      avails.appendChild(b);
      e.avails.push(b);
    });
    e.end = el('button', { type: 'button', class: 'danger', id: 'end-sessions' });
    e.end.addEventListener('click', function () {
      if (!user()) return;
      if (!v.panelConfirm) {
        v.panelConfirm = true;
        return renderPanel(v);
      }
      endSessions(v, user());
    });
    e.name = el('h3', {});
    e.info = el('p', {});
    e.message = el('p', { id: 'panel-message', role: 'status' });
    [close, e.name, e.info, avails, e.end, e.message].forEach(function (x) { p.appendChild(x); });
    return e;
  }

  function panelSay(v, text, isError) {
    v.panelMessage = text;
    v.panelError = !!isError;
    renderPanel(v);
  }

  // refused handles an answer the API refused: a FORBIDDEN one hides the
  // admin actions for good (the API decides), with its message.
  function refused(v, errors) {
    if (errorCode(errors) === 'FORBIDDEN') {
      v.canManage = false;
      v.root.className = 'no-manage';
      v.panelUser = null;
      v.panelEls = null;
      v.panel.hidden = true;
      notice(v, errorText(errors), true);
      return;
    }
    panelSay(v, errorText(errors), true);
  }

  function setAvailability(v, u, availability) {
    panelSay(v, 'Setting ' + LABEL[availability] + '…');
    gql('mutation SetAvailability($id: ID!, $a: Availability!) { setUserAvailability(id: $id, availability: $a) { id availability } }', { id: u.id, a: availability })
      .then(function (res) {
        if (res.errors) return refused(v, res.errors);
        panelSay(v, u.name + ' is now ' + LABEL[res.data.setUserAvailability.availability] + '.');
      }, function () { panelSay(v, 'The server could not be reached: try again.', true); });
  }

  function endSessions(v, u) {
    v.panelConfirm = false;
    panelSay(v, 'Ending sessions…');
    gql('mutation EndSessions($id: ID!) { revokeUserSessions(userID: $id) }', { id: u.id })
      .then(function (res) {
        if (res.errors) return refused(v, res.errors);
        var n = res.data.revokeUserSessions;
        panelSay(v, n === 1 ? '1 session ended.' : n + ' sessions ended.');
      }, function () { panelSay(v, 'The server could not be reached: try again.', true); });
  }

  boot();
})();
