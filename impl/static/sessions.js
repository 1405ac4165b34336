// The Sessions page: everything it shows comes from the JSON API, and
// everything it does goes through it (same origin, the session cookie).
// Data is written with textContent and createElement only, never parsed as HTML:
// device names come from User-Agent headers and session names from their
// owners, which anyone can write.
(function () {
  'use strict';

  var KIND_LABELS = { desktop: 'Desktop', mobile: 'Mobile', tablet: 'Tablet', unknown: 'Unknown device' };
  // Why a 401 happened (EXT-REASON), in the words the page says it.
  var REASONS = {
    revoked: 'This device was signed out from another session.',
    password_changed: 'This device was signed out because the password was changed.',
    expired: 'Your session expired.',
    logged_out: 'You signed out.'
  };
  var TABS = ['sessions', 'log', 'password'];
  var LOG_PAGE = 20;
  var ENDED = 'a session that has since ended';
  // How far the server's clock is ahead of this browser's, in ms, from the
  // Date header of its last answer: "3 minutes ago" is measured on the
  // server's clock, whatever this machine's says.
  var clockOffset = 0;
  var signingUp = false;
  var busy = false;
  // The list as last loaded, and the security log's events loaded so far.
  var sessions = [];
  var events = [];

  function $(id) { return document.getElementById(id); }

  function ApiError(status, message, reason) {
    this.status = status;
    this.message = message;
    this.reason = reason;
  }

  // Call the API; resolve to the JSON answer, or reject with an ApiError
  // carrying the server's own `error` text (and a 401's `reason`).
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
        var reason = data && typeof data.reason === 'string' ? data.reason : null;
        throw new ApiError(res.status, message, reason);
      });
    }, function () {
      throw new ApiError(0, 'Could not reach the server. Check your connection and try again.', null);
    });
  }

  // A 401 that says the session is gone (a bad login's 401 says no reason).
  function signedOutError(err) {
    return err instanceof ApiError && err.status === 401 && err.reason !== null;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  // ---- messages ----------------------------------------------------------

  function flash(text, kind) {
    var box = $('flash');
    box.textContent = text;
    box.className = 'flash flash-' + kind;
    box.setAttribute('role', kind === 'success' ? 'status' : 'alert');
    box.hidden = false;
    // Acting at the foot of a long page on a phone: bring the result into view.
    var top = box.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight) box.scrollIntoView({ block: 'nearest' });
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

  // What a person calls a session: the name its owner gave it, else its device.
  function sessionLabel(session) {
    return session.name || session.deviceName;
  }

  // ---- signed out --------------------------------------------------------

  function showSignedOut() {
    $('loading').hidden = true;
    $('signed-in').hidden = true;
    $('account').hidden = true;
    $('account-email').textContent = '';
    $('session-list').textContent = '';
    $('event-list').textContent = '';
    $('log-status').textContent = '';
    $('log-more-row').hidden = true;
    $('password-slot').textContent = '';
    $('panel-password').removeAttribute('aria-labelledby');
    sessions = [];
    events = [];
    // The address keeps its #view: signing in again returns there.
    selectTab('sessions', false, true);
    $('signed-out').hidden = false;
    $('password').value = '';
    setAuthMode(signingUp);
  }

  // Show the sign-in form, saying why this device is no longer signed in
  // when the API said so (EXT-REASON). A plain "unauthenticated" is news
  // only to a page that was signed in a moment ago.
  function signedOut(reason, wasSignedIn) {
    showSignedOut();
    // The reason alone, in one sentence: the sign-in form below says the rest.
    var why = REASONS[reason] || (wasSignedIn ? 'This session has ended. Sign in again to manage your sessions.' : '');
    if (why) flash(why, 'warning');
    return Boolean(why);
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
    // A new account has no other session to end.
    $('end-others-row').hidden = signUp;
    if (signUp) $('end-others').checked = false;
  }

  // ---- tabs --------------------------------------------------------------

  function currentTab() {
    for (var i = 0; i < TABS.length; i++) {
      if ($('tab-' + TABS[i]).getAttribute('aria-selected') === 'true') return TABS[i];
    }
    return 'sessions';
  }

  function selectTab(name, focus, keepAddress) {
    TABS.forEach(function (tab) {
      var selected = tab === name;
      var button = $('tab-' + tab);
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      $('panel-' + tab).hidden = !selected;
    });
    if (focus) $('tab-' + name).focus();
    // The address remembers the view, so a reload or a link opens it again.
    var hash = name === 'sessions' ? '' : '#' + name;
    if (!keepAddress && window.location.hash !== hash && window.history.replaceState) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search + hash);
    }
    if (name === 'log' && !$('signed-in').hidden) loadLog();
  }

  // Arrow keys move between tabs, as the ARIA tabs pattern has it.
  function tabKeys(event) {
    var at = TABS.indexOf(currentTab());
    var next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(TABS[(next + TABS.length) % TABS.length], true);
  }

  // ---- the session list --------------------------------------------------

  function sessionItem(session) {
    var kind = deviceKind(session.deviceName);
    var item = el('li', 'session' + (session.isCurrent ? ' session-current' : ''));
    item.dataset.sessionId = session.id;

    var icon = el('span', 'device-icon device-' + kind);
    icon.title = KIND_LABELS[kind];
    icon.setAttribute('aria-hidden', 'true');

    var body = el('div', 'session-body');
    var title = el('div', 'session-title');
    // A named session shows its name above, and its device name beneath.
    if (session.name) {
      title.appendChild(el('span', 'session-name', session.name));
    } else {
      title.appendChild(el('span', 'device-name', session.deviceName));
    }
    if (session.isCurrent) title.appendChild(el('span', 'badge', 'This device'));
    if (session.newDevice) {
      var flag = el('span', 'flag flag-new', 'New device');
      flag.title = 'The first sign-in to this account from this browser and address';
      title.appendChild(flag);
    }

    var where = el('div', 'session-meta');
    if (session.name) {
      where.appendChild(el('span', 'device-name', session.deviceName));
      where.appendChild(el('span', 'sep', '·'));
    }
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

    var label = session.name ? session.name + ' (' + session.deviceName + ')' : session.deviceName;
    var actions = el('div', 'session-actions');
    var rename = el('button', 'btn btn-small rename', 'Rename');
    rename.type = 'button';
    rename.setAttribute('aria-label', 'Rename ' + label);
    rename.addEventListener('click', function () { startRename(item, session); });
    actions.appendChild(rename);
    if (!session.isCurrent) {
      var button = el('button', 'btn btn-danger btn-small revoke', 'Revoke');
      button.type = 'button';
      button.setAttribute('aria-label', 'Revoke ' + label);
      button.addEventListener('click', function () { revoke(session); });
      actions.appendChild(button);
    }
    item.appendChild(actions);
    return item;
  }

  function showSignedIn(me, list) {
    $('loading').hidden = true;
    $('signed-out').hidden = true;
    $('account-email').textContent = me.email;
    $('account').hidden = false;
    sessions = list;

    var items = list.map(sessionItem);
    var ul = $('session-list');
    ul.textContent = '';
    items.forEach(function (item) { ul.appendChild(item); });
    $('session-count').textContent = String(list.length);

    var others = list.filter(function (s) { return !s.isCurrent; }).length;
    $('revoke-all').disabled = others === 0;
    $('revoke-all-text').textContent = others === 0
      ? 'This is your only session: there is nothing else to sign out.'
      : 'Ends the ' + (others === 1 ? 'other session' : others + ' other sessions') + ' at once. This device stays signed in.';
    if (!$('password-form')) {
      $('password-slot').appendChild(document.importNode($('password-form-template').content, true));
      $('password-form').addEventListener('submit', changePassword);
      $('panel-password').setAttribute('aria-labelledby', 'tab-password');
    }
    var wasHidden = $('signed-in').hidden;
    $('signed-in').hidden = false;
    if (wasHidden) {
      var wanted = window.location.hash.slice(1);
      selectTab(TABS.indexOf(wanted) >= 0 ? wanted : 'sessions', false);
    } else if (currentTab() === 'log') {
      loadLog();
    }
  }

  // Show whatever the API says now: the list when signed in, the form when
  // not. Resolve to 'in', 'out', or 'explained' (signed out, and the page
  // has said why). Outside an action, finding the session gone is news.
  function load(afterAction) {
    var wasSignedIn = !$('signed-in').hidden;
    return Promise.all([api('GET', '/me'), api('GET', '/me/sessions')]).then(function (answers) {
      showSignedIn(answers[0], answers[1]);
      return 'in';
    }, function (err) {
      if (err.status === 401) {
        var reason = err.reason === 'unauthenticated' && afterAction ? null : err.reason;
        return signedOut(reason, wasSignedIn && !afterAction) ? 'explained' : 'out';
      }
      $('loading').hidden = true;
      flash(err.message, 'error');
      return wasSignedIn ? 'in' : 'out';
    });
  }

  function setBusy(on) {
    busy = on;
    document.body.classList.toggle('busy', on);
  }

  // Run one action at a time; whatever happens, show the state that results.
  // A 401 with a reason means this device is signed out: say why, show the form.
  function act(action) {
    if (busy) return;
    setBusy(true);
    clearFlash();
    action().then(function (message) {
      return load(true).then(function (state) {
        if (message && state !== 'explained') flash(message, 'success');
      });
    }, function (err) {
      if (signedOutError(err)) {
        signedOut(err.reason, true);
        return null;
      }
      return load(true).then(function (state) {
        if (state !== 'explained') flash(err.message, 'error');
      });
    }).then(function () { setBusy(false); });
  }

  // No confirmation: revoking is what a person does when a device should not
  // be signed in, and every second counts; it loses nothing that signing in
  // again on that device does not bring back. The result names the device.
  function revoke(session) {
    act(function () {
      return api('DELETE', '/me/sessions/' + encodeURIComponent(session.id)).then(function () {
        return 'Signed out ' + sessionLabel(session) + ': that device has to sign in again.';
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
    // EXT-RECOVER: the login itself ends the other sessions, in the same
    // step; a sign-in followed by "sign out of all other sessions" could
    // lose to someone looping on that button with a stolen cookie.
    var endOthers = !signingUp && $('end-others').checked;
    var login = endOthers
      ? { email: credentials.email, password: credentials.password, endOtherSessions: true }
      : credentials;
    act(function () {
      // The API's signup does not log in; the page does both for a person.
      var first = signingUp
        ? api('POST', '/signup', credentials).then(function () { created = true; signingUp = false; })
        : Promise.resolve();
      return first.then(function () { return api('POST', '/login', login); }).then(function (answer) {
        $('password').value = '';
        $('end-others').checked = false;
        if (created) return 'Account created. You are signed in.';
        if (!endOthers) return null;
        var n = answer && typeof answer.revoked === 'number' ? answer.revoked : null;
        if (n === null) return 'Signed in. Every other session was signed out.';
        return 'Signed in. ' + n + (n === 1 ? ' other session was' : ' other sessions were') + ' signed out.';
      });
    });
  }

  // ---- renaming in place (EXT-RENAME) ------------------------------------

  // Replace the row's title with a small form; Save sends the trimmed name
  // (an empty one removes the name), Cancel or Escape puts the row back.
  function startRename(item, session) {
    if (busy || item.querySelector('.rename-form')) return;
    var body = item.querySelector('.session-body');
    var title = body.querySelector('.session-title');
    var form = el('form', 'rename-form');
    form.noValidate = true;
    var inputId = 'rename-' + session.id;
    var errorId = inputId + '-error';
    var label = el('label', 'visually-hidden', 'Session name');
    label.htmlFor = inputId;
    var input = el('input', 'rename-input');
    input.id = inputId;
    input.type = 'text';
    // No maxlength: a pasted name too long is the API's to refuse, in its words.
    input.autocomplete = 'off';
    input.value = session.name || '';
    input.placeholder = session.deviceName;
    input.setAttribute('aria-describedby', errorId);
    var save = el('button', 'btn btn-primary btn-small', 'Save');
    save.type = 'submit';
    var cancel = el('button', 'btn btn-small', 'Cancel');
    cancel.type = 'button';
    var error = el('p', 'field-error');
    error.id = errorId;
    error.setAttribute('role', 'alert');
    error.hidden = true;
    var hint = el('p', 'field-hint', 'Leave it empty to remove the name.');
    var row = el('div', 'rename-row');
    row.appendChild(input);
    row.appendChild(save);
    row.appendChild(cancel);
    form.appendChild(label);
    form.appendChild(row);
    form.appendChild(error);
    form.appendChild(hint);
    title.hidden = true;
    body.insertBefore(form, title);
    item.querySelector('.rename').hidden = true;
    input.focus();
    input.select();

    function close() {
      form.remove();
      title.hidden = false;
      var button = item.querySelector('.rename');
      button.hidden = false;
      button.focus();
    }

    cancel.addEventListener('click', close);
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') { event.preventDefault(); close(); }
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (busy) return;
      var name = input.value.trim();
      setBusy(true);
      clearFlash();
      save.disabled = true;
      api('PATCH', '/me/sessions/' + encodeURIComponent(session.id), { name: name === '' ? null : name })
        .then(function (renamed) {
          return load(true).then(function (state) {
            if (state === 'explained') return;
            var what = renamed.name ? 'Renamed to “' + renamed.name + '”.' : 'Name removed.';
            flash(what, 'success');
          });
        }, function (err) {
          if (signedOutError(err)) {
            signedOut(err.reason, true);
          } else if (err.status === 404) {
            // Ended meanwhile: the fresh list shows it gone.
            return load(true).then(function (state) { if (state !== 'explained') flash(err.message, 'error'); });
          } else {
            // The API's words beside the field; the name stays for a fix.
            error.textContent = err.message;
            error.hidden = false;
            input.setAttribute('aria-invalid', 'true');
            save.disabled = false;
            input.focus();
          }
          return null;
        })
        .then(function () { setBusy(false); });
    });
  }

  // ---- the security log (EXT-ACTIVITY) -----------------------------------

  // What to call each session id the log mentions: the list's names first,
  // then what the events themselves tell (a login names the device it
  // created; any other event names the device of the session that acted).
  function knownSessions() {
    var names = {};
    for (var i = events.length - 1; i >= 0; i--) {
      var e = events[i];
      if (e.type === 'login' && e.sessionId) names[e.sessionId] = e.deviceName;
      if (e.actorSessionId && !names[e.actorSessionId]) names[e.actorSessionId] = e.deviceName;
    }
    sessions.forEach(function (s) { names[s.id] = sessionLabel(s); });
    return names;
  }

  function capitalize(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // The newest rename event of each session (events are newest first). An
  // event does not carry the name it gave; the list carries the name now,
  // which is the name the newest rename gave.
  function latestRenames() {
    var latest = {};
    events.forEach(function (e) {
      if (e.type === 'session_renamed' && e.sessionId && !(e.sessionId in latest)) latest[e.sessionId] = e.id;
    });
    return latest;
  }

  // "Firefox on Windows renamed Mobile Safari on iOS to “Ann's iPhone”".
  function describeRename(e, actor, subject, latest) {
    var listed = sessions.filter(function (s) { return s.id === e.sessionId; })[0];
    var what = '';
    if (listed) {
      subject = listed.deviceName;
      if (latest[e.sessionId] !== e.id) what = ' (renamed again since)';
      else what = listed.name ? ' to “' + listed.name + '”' : ' (name removed)';
    }
    return e.sessionId === e.actorSessionId
      ? capitalize(subject) + ' was renamed' + what
      : capitalize(actor) + ' renamed ' + subject + what;
  }

  // One event as a sentence: "Firefox on Windows signed out Mobile Safari on iOS".
  function describe(e, names, latest) {
    function who(id) { return (id && names[id]) || ENDED; }
    var actor = who(e.actorSessionId);
    var subject = who(e.sessionId);
    switch (e.type) {
      case 'login':
        return capitalize(subject) + ' signed in';
      case 'login_failed':
        // Failures from one address within an hour are one event with a count.
        return (e.count > 1 ? capitalize(plural(e.count, 'failed sign-in', 'failed sign-ins')) : 'Failed sign-in') +
          ' (wrong password) from ' + e.deviceName;
      case 'logout':
        return capitalize(subject) + ' signed out';
      case 'session_revoked':
        return capitalize(actor) + ' signed out ' + subject;
      case 'sessions_revoked_all':
        return capitalize(actor) + ' signed out ' + (e.count ? plural(e.count, 'other session', 'other sessions') : 'everywhere else (no other sessions)');
      case 'password_changed':
        return capitalize(actor) + ' changed the password' +
          (e.revoked ? ' and signed out ' + plural(e.revoked, 'other session', 'other sessions') : '');
      case 'session_renamed':
        return describeRename(e, actor, subject, latest);
      default:
        return capitalize(String(e.type).replace(/_/g, ' '));
    }
  }

  var EVENT_KINDS = {
    login: 'good', logout: 'neutral', session_renamed: 'neutral', login_failed: 'bad',
    session_revoked: 'bad', sessions_revoked_all: 'bad', password_changed: 'bad'
  };

  function eventItem(e, names, latest) {
    var item = el('li', 'event event-' + (EVENT_KINDS[e.type] || 'neutral'));
    item.dataset.type = String(e.type);
    var title = el('div', 'event-title');
    title.appendChild(el('span', 'event-text', describe(e, names, latest)));
    if (e.type === 'login' && e.newDevice) title.appendChild(el('span', 'flag flag-new', 'New device'));
    // When, from which device, from which address; the dots come from the stylesheet.
    var meta = el('div', 'event-meta');
    meta.appendChild(timeElement(e.at, 'absolute'));
    if (e.type === 'login_failed' && e.count > 1 && e.lastAt) {
      var last = el('span', 'event-last', 'last ');
      last.appendChild(timeElement(e.lastAt, 'absolute'));
      meta.appendChild(last);
    }
    meta.appendChild(el('span', 'event-device', e.deviceName));
    meta.appendChild(el('span', 'event-ip', e.ip));
    item.appendChild(title);
    item.appendChild(meta);
    return item;
  }

  function renderLog(more) {
    var names = knownSessions();
    var latest = latestRenames();
    var list = $('event-list');
    list.textContent = '';
    events.forEach(function (e) { list.appendChild(eventItem(e, names, latest)); });
    $('log-more-row').hidden = !more;
    $('log-status').textContent = events.length === 0 ? 'Nothing has happened on this account yet.'
      : (more ? '' : 'That is everything in the log.');
  }

  // Fetch a page of events: the newest, or those older than the last shown.
  function fetchEvents(older) {
    var path = '/me/activity?limit=' + LOG_PAGE;
    if (older && events.length) path += '&before=' + encodeURIComponent(events[events.length - 1].id);
    return api('GET', path).then(function (page) {
      events = older ? events.concat(page) : page;
      renderLog(page.length === LOG_PAGE);
      return page.length;
    }, function (err) {
      if (signedOutError(err)) {
        signedOut(err.reason, true);
      } else {
        $('log-status').textContent = '';
        flash(err.message, 'error');
      }
      return -1;
    });
  }

  function loadLog() {
    if (!events.length) $('log-status').textContent = 'Loading…';
    return fetchEvents(false);
  }

  function loadOlder() {
    if (busy) return;
    setBusy(true);
    var button = $('log-more');
    button.disabled = true;
    var before = events.length;
    fetchEvents(true).then(function (added) {
      button.disabled = false;
      setBusy(false);
      // Keep the keyboard where the reader is: on the first of the new events.
      var first = $('event-list').children[before];
      if (added > 0 && first) {
        first.tabIndex = -1;
        first.focus();
      }
    });
  }

  // ---- password change (EXT-PASSWORD) ------------------------------------

  function changePassword(event) {
    event.preventDefault();
    var body = { currentPassword: $('current-password').value, newPassword: $('new-password').value };
    act(function () {
      // The answer sets this device's new cookie; the page goes on with it.
      return api('POST', '/me/password', body).then(function (answer) {
        $('password-form').reset();
        var n = answer.revoked;
        return 'Password changed. ' + (n === 0 ? 'No other sessions were signed out.'
          : plural(n, 'other session was', 'other sessions were') + ' signed out.');
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
    $('log-more').addEventListener('click', loadOlder);
    TABS.forEach(function (tab) {
      $('tab-' + tab).addEventListener('click', function () {
        if (currentTab() !== tab) clearFlash();
        selectTab(tab, false);
      });
      $('tab-' + tab).addEventListener('keydown', tabKeys);
    });
    // Coming back to the tab shows what changed meanwhile (a revoke elsewhere).
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && !busy && !$('signed-in').hidden) load();
    });
    setInterval(refreshRelativeTimes, 30000);
    load();
  });
}());
