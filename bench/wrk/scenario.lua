-- bench/wrk/scenario.lua - one wrk script for every bench/run scenario.
--
-- Configured through the environment (bench/run sets it):
--   BENCH_METHOD   GET (default) or POST
--   BENCH_BODY     request body (sent with Content-Type: application/json)
--   BENCH_BEARER   access token for Authorization: Bearer
--   BENCH_MODE     "static" (default): one fixed request, no Lua per request,
--                  so wrk stays as cheap as possible;
--                  "refresh": each thread follows its own rotating chain of
--                  refresh tokens, starting from line N of BENCH_TOKENS
--                  (thread N); run with -t N -c N (one connection per thread)
--                  so a thread's next request is only built after the
--                  response carrying the token it will present.
--   BENCH_OUT      file the done() summary is written to as one JSON object.
--
-- done() reports requests, duration, latency percentiles (microseconds),
-- socket errors and non-2xx (wrk counts status > 399); in refresh mode also
-- 200s, 401s, other statuses, and "reused": requests that presented a token
-- this thread had already had an answer for (must be 0; the service runs with
-- REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=0, so a reuse would also be a 401).

local mode = os.getenv("BENCH_MODE") or "static"
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. bearer
end

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("idx", counter)
   table.insert(threads, thread)
end

if mode == "refresh" then
   local token = nil
   local spent = {}     -- tokens this thread presented and got an answer for
   local waiting = false
   ok200, n401, other, reused, rebuilt, broken = 0, 0, 0, 0, 0, 0

   function init(args)
      local f = assert(io.open(os.getenv("BENCH_TOKENS"), "r"))
      local i = 0
      for line in f:lines() do
         i = i + 1
         if i == idx then token = line end
      end
      f:close()
      assert(token, "no refresh token for thread " .. tostring(idx))
   end

   function request()
      if waiting then
         -- wrk asks again before any response (a write that must be retried
         -- or a reconnect): the token has not been answered, so it cannot
         -- have been spent by this client; counted for information.
         rebuilt = rebuilt + 1
      end
      if spent[token] then reused = reused + 1 end -- must stay 0
      waiting = true
      return wrk.format("POST", "/api/v1/auth/refresh",
                        {["Content-Type"] = "application/json"},
                        '{"refresh_token":"' .. token .. '"}')
   end

   function response(status, headers, resp_body)
      waiting = false
      spent[token] = true
      if status == 200 then
         local t = string.match(resp_body, '"refresh_token"%s*:%s*"([^"]+)"')
         if t then
            ok200 = ok200 + 1
            token = t
         else
            broken = broken + 1
         end
      elseif status == 401 then
         n401 = n401 + 1
      else
         other = other + 1
      end
   end
end

local function esc(s) return (tostring(s):gsub('\\', '\\\\'):gsub('"', '\\"')) end

function done(summary, latency, requests)
   local out = {}
   local function add(k, v) table.insert(out, string.format('"%s": %s', k, v)) end
   add("mode", '"' .. esc(mode) .. '"')
   add("requests", summary.requests)
   add("duration_us", summary.duration)
   add("bytes", summary.bytes)
   add("errors_connect", summary.errors.connect)
   add("errors_read", summary.errors.read)
   add("errors_write", summary.errors.write)
   add("errors_timeout", summary.errors.timeout)
   add("non2xx", summary.errors.status)
   add("lat_mean_us", string.format("%.1f", latency.mean))
   add("lat_max_us", latency.max)
   for _, p in ipairs({50, 90, 99, 99.9}) do
      add("lat_p" .. tostring(p):gsub("%.", "_") .. "_us", latency:percentile(p))
   end
   if mode == "refresh" then
      local t = {ok200 = 0, n401 = 0, other = 0, reused = 0, rebuilt = 0, broken = 0}
      for _, th in ipairs(threads) do
         for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
      end
      for k, v in pairs(t) do add("refresh_" .. k, v) end
      add("chains", #threads)
   end
   local s = "{" .. table.concat(out, ", ") .. "}\n"
   local path = os.getenv("BENCH_OUT")
   if path and path ~= "" then
      local f = assert(io.open(path, "w"))
      f:write(s)
      f:close()
   else
      io.write(s)
   end
end
