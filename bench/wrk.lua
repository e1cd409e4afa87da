-- wrk script for the yuki-authz bench: sends a pre-generated stream of requests, in order.
-- Arguments after `--`: METHOD PATH TOKEN [STREAM_FILE [START [ADMIN_TOKEN]]]
--   STREAM_FILE: one request per line, either a JSON body for METHOD PATH, or a governed write
--     "!METHOD PATH ACTING_USER JSON" sent with ADMIN_TOKEN and the header X-Acting-User.
--   START: the line to begin at (0-based), so that each run continues the stream where the
--     previous one stopped instead of replaying its beginning.
-- Every request is formatted once in init(); request() only hands out the next string.
-- At the end it prints one JSON line starting with "BENCH_RESULT " for bench/http.py, with the
-- requests handed out ("sent", completed or not) and how many of them were writes.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local function auth(token)
  if token ~= nil and token ~= "" and token ~= "-" then
    return "Bearer " .. token
  end
  return nil
end

function init(args)
  local method, path, token, file = args[1], args[2], args[3], args[4]
  local start, admin = tonumber(args[5] or "0") or 0, args[6]
  local headers = {Authorization = auth(token)}
  reqs = {}
  is_write = {}
  if file ~= nil then
    headers["Content-Type"] = "application/json"
    for line in io.lines(file) do
      if line:sub(1, 1) == "!" then
        local wmethod, wpath, acting, body = line:match("^!(%S+) (%S+) (%S+) (.*)$")
        local wheaders = {
          Authorization = auth(admin),
          ["Content-Type"] = "application/json",
          ["X-Acting-User"] = acting,
        }
        table.insert(reqs, wrk.format(wmethod, wpath, wheaders, body))
        is_write[#reqs] = true
      elseif #line > 0 then
        table.insert(reqs, wrk.format(method, path, headers, line))
      end
    end
  else
    table.insert(reqs, wrk.format(method, path, headers, nil))
  end
  -- One thread (the bench's setting) starts at START; further threads start further on.
  idx = (start + ((tid or 1) - 1) * 997) % #reqs
  sent = 0
  writes = 0
end

function request()
  idx = idx % #reqs + 1
  sent = sent + 1
  if is_write[idx] then
    writes = writes + 1
  end
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  local sent_total, writes_total = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + (thread:get("sent") or 0)
    writes_total = writes_total + (thread:get("writes") or 0)
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "sent": %d, "writes_sent": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes, sent_total, writes_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
