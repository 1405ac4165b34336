<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{title}}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/sessions.css">
<script src="/static/sessions.js" defer></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="/account/sessions"><span class="brand-mark" aria-hidden="true"></span>Sessions</a>
  <div class="account" id="account" hidden>
    <span class="account-email" id="account-email"></span>
    <button type="button" class="btn btn-small btn-invisible" id="logout">Log out</button>
  </div>
</header>
<main class="container">
{{!base}}
</main>
</body>
</html>
