-- wrk script of the GRP benchmark: requests read from a file, latency percentiles as JSON.
--
--   BENCH_REQUESTS=requests.tsv wrk -t2 -c16 -d15s -s bench/wrk_requests.lua http://host:port
--
-- Each line of the file is one request: METHOD<TAB>PATH<TAB>TOKEN<TAB>DEPARTMENT (token
-- and department may be empty). Every thread cycles through the lines from its own
-- starting point, sending `Authorization: Bearer <token>` and `X-GRP-Department`. At the
-- end one line `BENCH-WRK {json}` gives requests, duration and latency percentiles
-- (microseconds) and the errors, for bench/api_phase.py to read.

local prepared = {}
local position = 0

function init(args)
  local file = os.getenv("BENCH_REQUESTS")
  for line in io.lines(file) do
    local method, target, token, department = line:match("^(%S+)\t(%S+)\t(%S*)\t(%S*)$")
    if method then
      local headers = {}
      if token ~= "" then headers["Authorization"] = "Bearer " .. token end
      if department ~= "" then headers["X-GRP-Department"] = department end
      prepared[#prepared + 1] = wrk.format(method, target, headers)
    end
  end
  if #prepared == 0 then
    error("no requests in " .. tostring(file))
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  position = math.random(#prepared)
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH-WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "non_2xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout))
end
