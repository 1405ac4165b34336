// The Sessions page: everything it shows comes from the JSON API, and
// everything it does goes through it (same origin, the session cookie).
// Data is written with textContent and createElement only, never parsed as HTML:
// device names come from User-Agent headers, which anyone can write.
(function () {
  'use strict';

  var KIND_LABELS = { desktop: 'Desktop', mobile: 'Mobile', tablet: 'Tablet', unknown: 'Unknown device' };
  // How far the server's clock is ahead of this browser's, in ms, from the
  // Date header of its last answer: "3 minutes ago" is measured on the
  // server's clock, whatever this machine's says.
  var clockOffset = 0;
  var signingUp = false;
  var busy = false;

  function $(id) { return document.getElementById(id); }

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  // Call the API; resolve to the JSON answer, or reject with an ApiError
  // carrying the server's own `error` text.
  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      var date = Date.parse(res.headers.get('Date') || '');
      if (!isNaN(date)) clockOffset = date - Date.now();
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var message = data && typeof data.error === 'string' && data.error
          ? data.error : 'The server answered ' + res.status + '.';
        throw new ApiError(res.status, message);
      });
    }, function () {
      throw new ApiError(0, 'Could not reach the server. Check your connection and try again.');
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- messages ----------------------------------------------------------

  function flash(text, kind) {
    var box = $('flash');
    box.textContent = text;
    box.className = 'flash flash-' + kind;
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    box.hidden = false;
  }

  function clearFlash() {
    $('flash').hidden = true;
    $('flash').textContent = '';
  }

  // ---- time --------------------------------------------------------------

  // The API sends RFC 3339 ("2026-11-27T02:12:19Z"); SQLite's
  // "2026-11-27 02:12:19" is read as UTC too.
  function parseTime(text) {
    var iso = String(text).replace(' ', 'T');
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(iso)) iso += 'Z';
    return Date.parse(iso);
  }

  var relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  var UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];

  function ago(ms) {
    var seconds = Math.max(0, (Date.now() + clockOffset - ms) / 1000);
    if (seconds < 60) return 'just now';
    for (var i = 0; i < UNITS.length; i++) {
      if (seconds >= UNITS[i][1]) return relative.format(-Math.floor(seconds / UNITS[i][1]), UNITS[i][0]);
    }
    return 'just now';
  }

  var absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function timeElement(text, render) {
    var ms = parseTime(text);
    var node = el('time');
    if (isNaN(ms)) {
      node.textContent = String(text);
      return node;
    }
    node.dateTime = new Date(ms).toISOString();
    node.title = absolute.format(ms);
    node.dataset.ms = String(ms);
    node.dataset.render = render;
    node.textContent = render === 'ago' ? ago(ms) : absolute.format(ms);
    return node;
  }

  function refreshRelativeTimes() {
    var nodes = document.querySelectorAll('time[data-render="ago"]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = ago(Number(nodes[i].dataset.ms));
  }

  // ---- devices -----------------------------------------------------------

  // deviceName is "<browser> on <OS or device>"; the part after the last
  // " on " says what kind of device it is.
  function deviceKind(deviceName) {
    var at = deviceName.lastIndexOf(' on ');
    var where = at >= 0 ? deviceName.slice(at + 4) : deviceName;
    if (/\b(iPad|Kindle|Tablet)\b/i.test(where)) return 'tablet';
    if (/^(iOS|iPhone|iPod|Android|Windows Phone|BlackBerry|KaiOS|Firefox OS|Symbian|Tizen|Sailfish|webOS)\b/i.test(where)) return 'mobile';
    if (where === 'Unknown OS' || where === '') return 'unknown';
    return 'desktop';
  }

  // ---- views -------------------------------------------------------------

  function showSignedOut() {
    $('loading').hidden = true;
    $('signed-in').hidden = true;
    $('account').hidden = true;
    $('account-email').textContent = '';
    $('session-list').textContent = '';
    $('signed-out').hidden = false;
    $('password').value = '';
    setAuthMode(signingUp);
  }

  function setAuthMode(signUp) {
    signingUp = signUp;
    $('auth-title').textContent = signUp ? 'Create an account' : 'Sign in';
    $('auth-lead').textContent = signUp
      ? 'then manage every device signed in to it.'
      : 'to see where your account is signed in.';
    $('auth-submit').textContent = signUp ? 'Create account' : 'Sign in';
    $('auth-switch-text').textContent = signUp ? 'Already have an account?' : 'New here?';
    $('auth-switch').textContent = signUp ? 'Sign in' : 'Create an account';
    $('password').autocomplete = signUp ? 'new-password' : 'current-password';
    $('password-hint').hidden = !signUp;
  }

  function sessionItem(session) {
    var kind = deviceKind(session.deviceName);
    var item = el('li', 'session' + (session.isCurrent ? ' session-current' : ''));
    item.dataset.sessionId = session.id;

    var icon = el('span', 'device-icon device-' + kind);
    icon.title = KIND_LABELS[kind];
    icon.setAttribute('aria-hidden', 'true');

    var body = el('div', 'session-body');
    var title = el('div', 'session-title');
    title.appendChild(el('span', 'device-name', session.deviceName));
    if (session.isCurrent) title.appendChild(el('span', 'badge', 'This device'));

    var where = el('div', 'session-meta');
    where.appendChild(el('span', 'device-kind', KIND_LABELS[kind]));
    where.appendChild(el('span', 'sep', '·'));
    where.appendChild(el('span', 'session-ip', session.ip));

    var when = el('div', 'session-meta');
    var active = el('span', 'last-active');
    if (session.isCurrent) {
      active.textContent = 'Active now';
    } else {
      active.appendChild(document.createTextNode('Last active '));
      active.appendChild(timeElement(session.lastActiveAt, 'ago'));
    }
    var signedIn = el('span', 'signed-in-at');
    signedIn.appendChild(document.createTextNode('Signed in '));
    signedIn.appendChild(timeElement(session.createdAt, 'absolute'));
    when.appendChild(active);
    when.appendChild(el('span', 'sep', '·'));
    when.appendChild(signedIn);

    body.appendChild(title);
    body.appendChild(where);
    body.appendChild(when);
    item.appendChild(icon);
    item.appendChild(body);

    if (!session.isCurrent) {
      var button = el('button', 'btn btn-danger btn-small revoke', 'Revoke');
      button.type = 'button';
      button.setAttribute('aria-label', 'Revoke ' + session.deviceName);
      button.addEventListener('click', function () { revoke(session); });
      item.appendChild(button);
    }
    return item;
  }

  function showSignedIn(me, sessions) {
    $('loading').hidden = true;
    $('signed-out').hidden = true;
    $('account-email').textContent = me.email;
    $('account').hidden = false;

    var list = $('session-list');
    var items = sessions.map(sessionItem);
    list.textContent = '';
    items.forEach(function (item) { list.appendChild(item); });
    $('session-count').textContent = String(sessions.length);

    var others = sessions.filter(function (s) { return !s.isCurrent; }).length;
    $('revoke-all').disabled = others === 0;
    $('revoke-all-text').textContent = others === 0
      ? 'This is your only session: there is nothing else to sign out.'
      : 'Ends the ' + (others === 1 ? 'other session' : others + ' other sessions') + ' at once. This device stays signed in.';
    $('signed-in').hidden = false;
  }

  // Show whatever the API says now: the list when signed in, the form when
  // not. Outside an action, finding the session gone is news worth a word.
  function load(afterAction) {
    return Promise.all([api('GET', '/me'), api('GET', '/me/sessions')]).then(function (answers) {
      showSignedIn(answers[0], answers[1]);
    }, function (err) {
      if (err.status === 401) {
        var wasSignedIn = !$('signed-in').hidden;
        showSignedOut();
        if (wasSignedIn && !afterAction) flash('This session has ended. Sign in again to manage your sessions.', 'error');
      } else {
        $('loading').hidden = true;
        flash(err.message, 'error');
      }
    });
  }

  // Run one action at a time; whatever happens, show the state that results.
  function act(action) {
    if (busy) return;
    busy = true;
    document.body.classList.add('busy');
    clearFlash();
    action().then(function (message) {
      return load(true).then(function () { if (message) flash(message, 'success'); });
    }, function (err) {
      return load(true).then(function () { flash(err.message, 'error'); });
    }).then(function () {
      busy = false;
      document.body.classList.remove('busy');
    });
  }

  function revoke(session) {
    act(function () {
      return api('DELETE', '/me/sessions/' + encodeURIComponent(session.id)).then(function (answer) {
        return answer.message;
      });
    });
  }

  function revokeAll() {
    act(function () {
      return api('POST', '/me/sessions/revoke-all').then(function (answer) { return answer.message; });
    });
  }

  function logOut() {
    act(function () {
      return api('POST', '/logout').then(function (answer) { return answer.message; });
    });
  }

  function submitAuth(event) {
    event.preventDefault();
    var credentials = { email: $('email').value, password: $('password').value };
    var created = false;
    act(function () {
      // The API's signup does not log in; the page does both for a person.
      var first = signingUp
        ? api('POST', '/signup', credentials).then(function () { created = true; signingUp = false; })
        : Promise.resolve();
      return first.then(function () { return api('POST', '/login', credentials); }).then(function () {
        $('password').value = '';
        return created ? 'Account created. You are signed in.' : null;
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('auth-form').addEventListener('submit', submitAuth);
    $('auth-switch').addEventListener('click', function () {
      clearFlash();
      setAuthMode(!signingUp);
      $('email').focus();
    });
    $('logout').addEventListener('click', logOut);
    $('revoke-all').addEventListener('click', revokeAll);
    // Coming back to the tab shows what changed meanwhile (a revoke elsewhere).
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && !busy && !$('signed-in').hidden) load();
    });
    setInterval(refreshRelativeTimes, 30000);
    load();
  });
}());
