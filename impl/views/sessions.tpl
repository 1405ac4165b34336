% rebase('layout', title='Sessions')
<p class="loading" id="loading">Loading…</p>
<noscript>
  <p class="flash flash-error">This page needs JavaScript. Without it, the same actions are available from the JSON API (see the README).</p>
</noscript>
<div class="flash" id="flash" role="status" aria-live="polite" hidden></div>

<section class="auth" id="signed-out" aria-labelledby="auth-title" hidden>
  <h1 class="auth-title" id="auth-title">Sign in</h1>
  <p class="auth-lead" id="auth-lead">to see where your account is signed in.</p>
  <form class="auth-form" id="auth-form" method="post" novalidate>
    <label for="email">Email address</label>
    <input id="email" name="email" type="email" autocomplete="username" required>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <p class="hint" id="password-hint" hidden>At least 8 characters.</p>
    <!-- EXT-RECOVER: sign in and end every other session in one step, which
         someone holding a stolen cookie cannot undo. -->
    <div class="check-row" id="end-others-row">
      <input id="end-others" name="endOtherSessions" type="checkbox" aria-describedby="end-others-hint">
      <label for="end-others">Sign out everywhere else</label>
      <p class="hint check-hint" id="end-others-hint">Ends every other session of this account as you sign in. Use it if someone else may be signed in.</p>
    </div>
    <button type="submit" class="btn btn-primary btn-block" id="auth-submit">Sign in</button>
  </form>
  <p class="auth-switch">
    <span id="auth-switch-text">New here?</span>
    <button type="button" class="btn-link" id="auth-switch">Create an account</button>
  </p>
</section>

<section class="account-page" id="signed-in" aria-labelledby="page-title" hidden>
  <h1 class="page-title" id="page-title">Account security</h1>
  <div class="tabs" role="tablist" aria-label="Account security">
    <button type="button" class="tab" role="tab" id="tab-sessions" aria-controls="panel-sessions" aria-selected="true">Sessions</button>
    <button type="button" class="tab" role="tab" id="tab-log" aria-controls="panel-log" aria-selected="false" tabindex="-1">Security log</button>
    <button type="button" class="tab" role="tab" id="tab-password" aria-controls="panel-password" aria-selected="false" tabindex="-1">Password</button>
  </div>

  <div class="panel" role="tabpanel" id="panel-sessions" aria-labelledby="tab-sessions">
    <p class="lead">These are the devices signed in to your account. Revoke any session you do not recognize: that device is signed out at its next request. Rename one to tell it apart.</p>
    <div class="box">
      <h2 class="box-header" id="sessions-title">Web sessions <span class="counter" id="session-count"></span></h2>
      <ul class="session-list" id="session-list" aria-labelledby="sessions-title"></ul>
    </div>
    <div class="box box-danger">
      <div class="danger-row">
        <div>
          <h2 class="danger-title">Sign out everywhere else</h2>
          <p class="danger-text" id="revoke-all-text">Every session except this one ends at once. This device stays signed in.</p>
        </div>
        <button type="button" class="btn btn-danger" id="revoke-all">Sign out of all other sessions</button>
      </div>
    </div>
  </div>

  <div class="panel" role="tabpanel" id="panel-log" aria-labelledby="tab-log" hidden>
    <p class="lead">What happened on your account, newest first: sign-ins, failed attempts, sign-outs, renames and password changes, with the device and address each came from.</p>
    <div class="box">
      <h2 class="box-header" id="log-title">Security log</h2>
      <ol class="event-list" id="event-list" aria-labelledby="log-title"></ol>
      <p class="box-empty" id="log-status" role="status" aria-live="polite"></p>
      <div class="box-footer" id="log-more-row" hidden>
        <button type="button" class="btn btn-small" id="log-more">Show older events</button>
      </div>
    </div>
  </div>

  <div class="panel" role="tabpanel" id="panel-password" hidden>
    <p class="lead">Changing your password signs out every other session at once. This device stays signed in.</p>
    <div class="box">
      <h2 class="box-header">Change password</h2>
      <div class="box-body" id="password-slot"></div>
    </div>
  </div>
</section>

<!-- The password form (and the label of its panel) enter the page only while
     signed in, so that a signed-out page has one thing labelled "Password":
     the sign-in form's field. -->
<template id="password-form-template">
  <form class="stacked-form" id="password-form" method="post" novalidate>
    <label for="current-password">Current password</label>
    <input id="current-password" name="current-password" type="password" autocomplete="current-password" required>
    <label for="new-password">New password</label>
    <input id="new-password" name="new-password" type="password" autocomplete="new-password" minlength="8" required aria-describedby="new-password-hint">
    <p class="hint" id="new-password-hint">At least 8 characters.</p>
    <button type="submit" class="btn btn-primary" id="password-submit">Change password</button>
  </form>
</template>
