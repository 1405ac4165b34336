#!/usr/bin/env node
// A second, independent implementation of the session-management API
// (docs/sessions-api.md), in JavaScript on Node.js 20 with no npm dependencies.
//
// THIS IS A DEMONSTRATION, NOT A PRODUCTION SERVER. It exists to show that the
// conformance suite (conformance/) checks a server written in another language
// as well as the reference. Everything lives in memory (Maps): a restart forgets
// every account and session, and one process is all there can be.
//
// It implements every CORE rule, and leaves out some HARD (hardening) rules on
// purpose, as a typical first implementation would (see expected-failures.txt
// and README.md beside this file):
//   - no cross-site (Origin / Sec-Fetch-Site) check on state-changing requests (HARD-CSRF);
//   - no `Cache-Control: no-store` on authenticated answers (HARD-NO-STORE);
//   - no idle or absolute timeout: a session lives until logout or revoke
//     (HARD-IDLE, HARD-ABSOLUTE);
//   - raw tokens are the keys of the session Map, not hashes of them (the
//     unobservable half of HARD-PUBLIC-ID);
//   - device names come from a small hand-written User-Agent matcher, where the
//     contract asks for a real UA parser (CORE-LIST).
// It implements none of the extensions (EXT-*, MAY). Failed logins are throttled
// per (email, client address), in memory (HARD-THROTTLE).
//
// Usage: node server.js [--host 127.0.0.1] [--port 3001] [--touch-interval 60] [--scrypt-cost 16384]
// The first line on stdout is `listening on http://HOST:PORT`, once the port accepts connections.

"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { parseArgs } = require("node:util");

// --- settings ---------------------------------------------------------------------

const USAGE = `usage: node server.js [--host HOST] [--port PORT] [--touch-interval S] [--scrypt-cost N]

  --host HOST          address to listen on (default 127.0.0.1)
  --port PORT          port; 0 picks a free one (default 3001, beside the reference on 3000)
  --touch-interval S   at most one lastActiveAt refresh per session per S seconds (default 60)
  --scrypt-cost N      scrypt N (power of two) for new password hashes (default 16384)

Not implemented in this demonstration: --idle-timeout, --absolute-timeout
(sessions live until logout or revoke; see README.md).`;

function fail(message) {
  process.stderr.write(`server.js: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function readSettings(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "3001" },
        "touch-interval": { type: "string", default: "60" },
        "scrypt-cost": { type: "string", default: "16384" },
        "idle-timeout": { type: "string" },
        "absolute-timeout": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    fail(err.message);
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  for (const name of ["idle-timeout", "absolute-timeout"]) {
    if (values[name] !== undefined) {
      // Accepting the flag and ignoring it would let a checker believe the
      // timeout is enforced; refusing it is honest.
      fail(`--${name} is not implemented: this demonstration enforces no session timeouts`);
    }
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${values.port}`);
  const touchInterval = Number(values["touch-interval"]);
  if (!Number.isFinite(touchInterval) || touchInterval < 0) {
    fail(`--touch-interval must be a number of seconds >= 0, got ${values["touch-interval"]}`);
  }
  const scryptCost = Number(values["scrypt-cost"]);
  if (!Number.isInteger(scryptCost) || scryptCost < 2 || (scryptCost & (scryptCost - 1)) !== 0 || scryptCost > 1 << 20) {
    fail(`--scrypt-cost must be a power of two from 2 to 2^20, got ${values["scrypt-cost"]}`);
  }
  return { host: values.host, port, touchIntervalMs: touchInterval * 1000, scryptCost };
}

const SETTINGS = readSettings(process.argv.slice(2));

const COOKIE_NAME = "session";
const COOKIE_MAX_AGE = 24 * 60 * 60; // seconds; the contract's example value
const MAX_BODY = 64 * 1024; // bytes; larger bodies get 413 (HARD-BAD-INPUT)
const MAX_DRAIN = 1024 * 1024; // an oversized body is read (and dropped) up to this, then the connection is cut
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024; // an upper bound keeps a huge "password" from being a cheap way to make us hash for long
const MAX_EMAIL = 254;
const MAX_USER_AGENT = 512;

// --- storage: in-memory Maps ----------------------------------------------------------

/** email (lower-cased) -> {id, email, passwordHash} */
const usersByEmail = new Map();
/** user id -> the same user object */
const usersById = new Map();
/** raw cookie token -> session. A real server would key on a hash of the token (HARD-PUBLIC-ID). */
const sessionsByToken = new Map();
/** public session id -> the same session object */
const sessionsById = new Map();

function newId(bytes) {
  return crypto.randomBytes(bytes).toString("base64url");
}

// --- passwords: scrypt with a per-user salt ---------------------------------------------

const SCRYPT_R = 8;
const SCRYPT_P = 1;
const HASH_BYTES = 32;

function hashPassword(password, cost = SETTINGS.scryptCost) {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, HASH_BYTES, { N: cost, r: SCRYPT_R, p: SCRYPT_P, maxmem: 256 * cost * SCRYPT_R });
  // The parameters are stored beside the hash, so the cost can change later.
  return `scrypt$${cost}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

function verifyPassword(password, stored) {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt") return false;
  const expected = Buffer.from(hash, "base64url");
  const N = Number(n);
  const got = crypto.scryptSync(password, Buffer.from(salt, "base64url"), expected.length, {
    N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r),
  });
  return crypto.timingSafeEqual(got, expected);
}

// An unknown email costs one scrypt too, so that timing tells no more than the
// answer does (HARD-ENUM).
const DUMMY_HASH = hashPassword("not a real password");

// --- device names: a small hand-written User-Agent matcher ---------------------------------
//
// The contract asks for a real UA parser (e.g. ua-parser-js or the uap-core
// regexes). This matcher knows a few browsers and five systems, in the order
// that matters (Opera, Samsung Internet and Edge all say "Chrome"; Edge and
// Chrome both say "Safari"; iPhones say "like Mac OS X"; Android says "Linux"),
// and calls everything else unknown. A matcher that only asks "contains
// Chrome?" names Opera "Chrome", and the suite's CORE-LIST check catches that.

function browserOf(ua) {
  if (/\bOPR\//.test(ua)) return "Opera";
  if (/\bSamsungBrowser\//.test(ua)) return "Samsung Internet";
  if (/\bEdg(e|A|iOS)?\//.test(ua)) return "Edge";
  if (/\b(Chrome|CriOS)\//.test(ua)) return "Chrome";
  if (/\b(Firefox|FxiOS)\//.test(ua)) return "Firefox";
  if (/\bSafari\//.test(ua) && /\bVersion\//.test(ua)) return /\bMobile\b/.test(ua) ? "Mobile Safari" : "Safari";
  return "Unknown browser";
}

function osOf(ua) {
  if (/\b(iPhone|iPad|iPod)\b/.test(ua)) return "iOS";
  if (/\bAndroid\b/.test(ua)) return "Android";
  if (/\bWindows\b/.test(ua)) return "Windows";
  if (/\b(Macintosh|Mac OS X)\b/.test(ua)) return "macOS";
  if (/\bLinux\b/.test(ua)) return "Linux";
  return "Unknown OS";
}

function deviceName(userAgent) {
  const ua = userAgent || "";
  return `${browserOf(ua)} on ${osOf(ua)}`;
}

// --- HTTP helpers -----------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message, headers = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

function send(res, status, body, extraHeaders = {}) {
  if (res.headersSent) return;
  const data = Buffer.from(JSON.stringify(body), "utf8");
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": data.length,
    "X-Content-Type-Options": "nosniff",
    ...extraHeaders,
  });
  res.end(data);
}

function sessionCookie(token) {
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${COOKIE_MAX_AGE}`;
}

const CLEARING_COOKIE = `${COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;

/** Return the value of the first `session` cookie in the Cookie header, or null. */
function sessionTokenOf(req) {
  const header = req.headers.cookie;
  if (typeof header !== "string") return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === COOKIE_NAME) return part.slice(eq + 1).trim();
  }
  return null;
}

const MAX_TEXT = 4096; // characters in any string of a body; every field is far shorter
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Say what in a parsed body no database could store (HARD-BAD-INPUT): a NUL,
 * a lone surrogate (JSON can carry both as \u escapes) or a very long string,
 * in any key or value at any depth; null when there is none. Memory would
 * take them, but a server that moves to a database must not change answers.
 */
function unstorable(value) {
  const stack = [value];
  while (stack.length) {
    const item = stack.pop();
    const texts = typeof item === "string" ? [item] : [];
    if (item !== null && typeof item === "object") {
      for (const [key, inner] of Object.entries(item)) {
        if (!Array.isArray(item)) texts.push(key);
        stack.push(inner);
      }
    }
    for (const text of texts) {
      if (text.length > MAX_TEXT) return `holds a string longer than ${MAX_TEXT} characters`;
      if (text.includes("\u0000")) return "holds a NUL character";
      if (LONE_SURROGATE.test(text)) return "holds a lone surrogate";
    }
  }
  return null;
}

/** Read the whole body (at most MAX_BODY bytes) and parse it as a JSON object. */
function readJsonObject(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        tooLarge = true;
        chunks.length = 0;
        // Keep reading (and dropping) so the client can finish sending and read our
        // answer; a client that sends on and on is cut off.
        if (size > MAX_DRAIN) {
          reject(new HttpError(413, "Request body too large (64 KiB at most)."));
          req.socket.destroy();
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (tooLarge) return reject(new HttpError(413, "Request body too large (64 KiB at most)."));
      let text;
      try {
        // fatal: invalid UTF-8 is refused, not silently replaced by U+FFFD.
        text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
      } catch {
        return reject(new HttpError(400, "Request body is not valid UTF-8."));
      }
      if (text.trim() === "") return reject(new HttpError(400, "Request body must be a JSON object."));
      let value;
      try {
        value = JSON.parse(text);
      } catch {
        return reject(new HttpError(400, "Request body is not valid JSON."));
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return reject(new HttpError(400, "Request body must be a JSON object."));
      }
      const problem = unstorable(value);
      if (problem) return reject(new HttpError(400, `Request body ${problem}.`));
      resolve(value);
    });
  });
}

/** Return {email, password} from a body, or throw 400 when a field is missing or not a string. */
function credentials(body) {
  const { email, password } = body;
  if (typeof email !== "string" || typeof password !== "string") {
    throw new HttpError(400, "Both \"email\" and \"password\" are required strings.");
  }
  if (!email.isWellFormed() || !password.isWellFormed()) {
    throw new HttpError(400, "Strings must be valid Unicode.");
  }
  return { email: email.trim(), password };
}

// What <input type=email> accepts (WHATWG HTML).
const EMAIL_RE = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function clientIp(req) {
  // The socket's address only: X-Forwarded-For is not believed (no trusted proxy).
  const address = req.socket.remoteAddress || "0.0.0.0";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

function iso(ms) {
  return new Date(ms).toISOString(); // "2026-11-27T02:28:00.123Z": UTC, millisecond resolution
}

// --- authentication -------------------------------------------------------------------------

/** Return the request's live session (refreshing lastActiveAt), or null. */
function currentSession(req) {
  const token = sessionTokenOf(req);
  if (!token) return null;
  const session = sessionsByToken.get(token);
  if (!session) return null;
  const now = Date.now();
  // CORE-LAST-ACTIVE: at most one refresh per touch interval, and only forwards.
  if (now - session.lastActiveAt >= SETTINGS.touchIntervalMs && now > session.lastActiveAt) {
    session.lastActiveAt = now;
  }
  return session;
}

function requireSession(req) {
  const session = currentSession(req);
  if (!session) throw new HttpError(401, "Not authenticated.");
  return session;
}

function endSession(session) {
  sessionsByToken.delete(session.token);
  sessionsById.delete(session.id);
}

// --- password guessing (HARD-THROTTLE) ------------------------------------------------------

// Consecutive failed logins per (email as compared, client address): past the limit,
// every login for that pair, with any password, gets 429 until the lockout has passed.
// Keyed on the address too, so nobody can lock a user out from elsewhere; an email
// with no account is counted like one with an account, so a 429 tells nothing (HARD-ENUM).
const THROTTLE_LIMIT = 10;
const THROTTLE_LOCKOUT_MS = 5 * 60 * 1000;
const MAX_THROTTLE_ENTRIES = 100000;
const failedLogins = new Map(); // "email\nip" -> { failures, lockedUntil, lastAt }

function refuseIfLocked(key, now) {
  const entry = failedLogins.get(key);
  if (entry && entry.lockedUntil > now) {
    const seconds = Math.max(1, Math.ceil((entry.lockedUntil - now) / 1000));
    throw new HttpError(429, "Too many failed attempts. Try again later.", { "Retry-After": String(seconds) });
  }
}

function countFailure(key, now) {
  let entry = failedLogins.get(key);
  if (!entry || entry.lockedUntil || now - entry.lastAt > THROTTLE_LOCKOUT_MS) {
    entry = { failures: 0, lockedUntil: 0, lastAt: now }; // a lock served, or a quiet spell: start afresh
  }
  entry.failures += 1;
  entry.lastAt = now;
  if (entry.failures >= THROTTLE_LIMIT) entry.lockedUntil = now + THROTTLE_LOCKOUT_MS;
  failedLogins.set(key, entry);
  if (failedLogins.size > MAX_THROTTLE_ENTRIES) {
    for (const [k, e] of failedLogins) {
      if (e.lockedUntil <= now && now - e.lastAt > THROTTLE_LOCKOUT_MS) failedLogins.delete(k);
    }
  }
}

// --- routes ---------------------------------------------------------------------------------

async function signup(req, res) {
  const { email, password } = credentials(await readJsonObject(req));
  if (email.length > MAX_EMAIL || !EMAIL_RE.test(email)) throw new HttpError(400, "That is not an email address.");
  if ([...password].length < MIN_PASSWORD) {
    throw new HttpError(400, `Password must be at least ${MIN_PASSWORD} characters.`);
  }
  if ([...password].length > MAX_PASSWORD) {
    throw new HttpError(400, `Password must be at most ${MAX_PASSWORD} characters.`);
  }
  const key = email.toLowerCase();
  if (usersByEmail.has(key)) throw new HttpError(409, "An account with that email already exists.");
  const user = { id: newId(16), email, passwordHash: hashPassword(password) };
  usersByEmail.set(key, user);
  usersById.set(user.id, user);
  send(res, 201, { id: user.id, email: user.email });
}

async function login(req, res) {
  const { email, password } = credentials(await readJsonObject(req));
  const throttleKey = `${email.toLowerCase()}\n${clientIp(req)}`;
  refuseIfLocked(throttleKey, Date.now());
  const user = usersByEmail.get(email.toLowerCase());
  const tooLong = [...password].length > MAX_PASSWORD;
  // Hash even for an unknown email, and answer both cases with one body (HARD-ENUM).
  const ok = !tooLong && verifyPassword(password, user ? user.passwordHash : DUMMY_HASH) && user !== undefined;
  if (!ok) {
    countFailure(throttleKey, Date.now());
    throw new HttpError(401, "Invalid email or password.");
  }
  failedLogins.delete(throttleKey); // a success resets the count
  // A fresh token on every login; a session cookie sent with the request is never adopted.
  const now = Date.now();
  const userAgent = String(req.headers["user-agent"] || "").slice(0, MAX_USER_AGENT);
  const session = {
    id: newId(16), // public id, shown in the list and used to revoke; not the token
    token: crypto.randomBytes(32).toString("base64url"), // 256 bits, 43 characters
    userId: user.id,
    ip: clientIp(req),
    userAgent,
    deviceName: deviceName(userAgent),
    createdAt: now,
    lastActiveAt: now,
  };
  sessionsByToken.set(session.token, session);
  sessionsById.set(session.id, session);
  send(res, 200, { message: "Logged in." }, { "Set-Cookie": sessionCookie(session.token) });
}

function logout(req, res) {
  // Deliberately no Origin check here (HARD-CSRF not met).
  const session = currentSession(req);
  if (session) endSession(session);
  send(res, 200, { message: "Logged out." }, { "Set-Cookie": CLEARING_COOKIE });
}

function me(req, res) {
  const session = requireSession(req);
  const user = usersById.get(session.userId);
  send(res, 200, { id: user.id, email: user.email });
}

function listSessions(req, res) {
  const current = requireSession(req);
  const mine = [...sessionsById.values()]
    .filter((session) => session.userId === current.userId)
    .sort((a, b) => b.lastActiveAt - a.lastActiveAt || b.createdAt - a.createdAt);
  send(
    res,
    200,
    mine.map((session) => ({
      id: session.id,
      deviceName: session.deviceName,
      ip: session.ip,
      lastActiveAt: iso(session.lastActiveAt),
      createdAt: iso(session.createdAt),
      isCurrent: session === current,
    })),
  );
}

function revoke(req, res, rawId) {
  const current = requireSession(req);
  let id;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    id = null; // "%ZZ": cannot be one of our ids
  }
  if (id === current.id) throw new HttpError(400, "Use POST /logout to end your current session.");
  const target = id === null ? undefined : sessionsById.get(id);
  // Unknown, already ended, or another user's: one identical answer (no IDOR, no oracle).
  if (!target || target.userId !== current.userId) throw new HttpError(404, "Session not found");
  endSession(target);
  send(res, 200, { message: "Session revoked." });
}

function revokeAll(req, res) {
  const current = requireSession(req);
  let revoked = 0;
  for (const session of [...sessionsById.values()]) {
    if (session.userId === current.userId && session !== current) {
      endSession(session);
      revoked += 1;
    }
  }
  send(res, 200, { message: "All other sessions have been revoked.", revoked });
}

function healthz(req, res) {
  send(res, 200, { status: "ok" });
}

const ROUTES = {
  "/signup": { POST: signup },
  "/login": { POST: login },
  "/logout": { POST: logout },
  "/me": { GET: me },
  "/me/sessions": { GET: listSessions },
  "/me/sessions/revoke-all": { POST: revokeAll },
  "/healthz": { GET: healthz },
};

async function handle(req, res) {
  const path = (req.url || "/").split("?", 1)[0];
  const methods = ROUTES[path];
  if (methods) {
    const handler = methods[req.method];
    if (!handler) throw new HttpError(405, `Method ${req.method} not allowed on ${path}.`);
    return handler(req, res);
  }
  // /me/sessions/{id}: one segment, still percent-encoded.
  const match = /^\/me\/sessions\/([^/]+)$/.exec(path);
  if (match) {
    if (req.method !== "DELETE") throw new HttpError(405, `Method ${req.method} not allowed on this session.`);
    return revoke(req, res, match[1]);
  }
  throw new HttpError(404, "Not found.");
}

const server = http.createServer(
  // Cookie headers up to 64 KiB reach the app (and fail to authenticate) rather
  // than being cut off by Node's default 16 KiB limit.
  { maxHeaderSize: 64 * 1024 },
  (req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof HttpError) {
        send(res, err.status, { error: err.message }, { ...(err.status === 413 ? { Connection: "close" } : {}), ...err.headers });
      } else {
        process.stderr.write(`error on ${req.method} ${req.url}: ${err && err.stack}\n`);
        send(res, 500, { error: "Internal server error." });
      }
    });
  },
);

// Requests that are not valid HTTP still get a JSON error, never a bare close.
server.on("clientError", (err, socket) => {
  if (!socket.writable || err.code === "ECONNRESET") return socket.destroy();
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const body = JSON.stringify({ error: status === 431 ? "Request headers too large." : "Bad request." });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
});

server.on("error", (err) => {
  const why = err.code === "EADDRINUSE" ? `port ${SETTINGS.port} is already in use` : err.message;
  process.stderr.write(`server.js: cannot listen on ${SETTINGS.host}:${SETTINGS.port}: ${why}\n`);
  process.exit(1);
});

server.listen(SETTINGS.port, SETTINGS.host, () => {
  const { address, port } = server.address();
  const host = address.includes(":") ? `[${address}]` : address;
  process.stdout.write(`listening on http://${host}:${port}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
