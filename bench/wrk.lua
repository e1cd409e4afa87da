-- wrk script for the yuki-authz bench: cycles over pre-generated request bodies.
-- Arguments after `--`: METHOD PATH TOKEN [BODIES_FILE]  (one JSON body per line)
-- At the end it prints one JSON line starting with "BENCH_RESULT " for bench/http.py.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local method, path, token, file = args[1], args[2], args[3], args[4]
  local headers = {}
  if token ~= nil and token ~= "" and token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  reqs = {}
  if file ~= nil then
    headers["Content-Type"] = "application/json"
    for line in io.lines(file) do
      if #line > 0 then
        table.insert(reqs, wrk.format(method, path, headers, line))
      end
    end
  else
    table.insert(reqs, wrk.format(method, path, headers, nil))
  end
  -- Threads start at different places in the cycle.
  idx = ((tid or 1) - 1) * 997 % #reqs
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
