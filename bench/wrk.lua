-- wrk script of bench/run.py: builds the request from its arguments and
-- reports the run as one JSON line, so nothing depends on wrk's text output.
--
-- Arguments after wrk's "--":
--   header NAME VALUE [header NAME VALUE]...   one fixed request (GET unless a body is given)
--   body TEXT                                  POST this JSON body
--   cookies FILE                               GET with the session cookie of FILE's next line,
--                                              one line per request, round robin
-- Fixed requests are pre-built once per thread (wrk's fastest path); the
-- cookie rotation pre-builds one request per line and only indexes into them.

local next_thread = 0

function setup(thread)
   -- Give each thread its own starting point in the cookie list.
   thread:set("thread_index", next_thread)
   next_thread = next_thread + 1
end

function init(args)
   local i = 1
   local cookie_file = nil
   while i <= #args do
      local key = args[i]
      if key == "header" then
         wrk.headers[args[i + 1]] = args[i + 2]
         i = i + 3
      elseif key == "body" then
         wrk.method = "POST"
         wrk.body = args[i + 1]
         wrk.headers["Content-Type"] = "application/json"
         i = i + 2
      elseif key == "cookies" then
         cookie_file = args[i + 1]
         i = i + 2
      else
         error("wrk.lua: unknown argument " .. tostring(key))
      end
   end
   if cookie_file then
      local requests = {}
      for line in io.lines(cookie_file) do
         if #line > 0 then
            local headers = {}
            for name, value in pairs(wrk.headers) do headers[name] = value end
            headers["Cookie"] = "session=" .. line
            requests[#requests + 1] = wrk.format(nil, nil, headers)
         end
      end
      local n = #requests
      if n == 0 then error("wrk.lua: no cookies in " .. cookie_file) end
      local at = ((thread_index or 0) * 7919) % n
      -- A global `request` makes wrk call it for every request.
      request = function()
         at = at % n + 1
         return requests[at]
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH-JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
      '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
