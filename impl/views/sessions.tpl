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
    <button type="submit" class="btn btn-primary btn-block" id="auth-submit">Sign in</button>
  </form>
  <p class="auth-switch">
    <span id="auth-switch-text">New here?</span>
    <button type="button" class="btn-link" id="auth-switch">Create an account</button>
  </p>
</section>

<section class="sessions" id="signed-in" aria-labelledby="sessions-title" hidden>
  <h1 class="page-title" id="sessions-title">Sessions</h1>
  <p class="lead">These are the devices signed in to your account. Revoke any session you do not recognize: that device is signed out at its next request.</p>
  <div class="box">
    <h2 class="box-header">Web sessions <span class="counter" id="session-count"></span></h2>
    <ul class="session-list" id="session-list"></ul>
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
</section>
