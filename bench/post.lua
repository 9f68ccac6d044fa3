-- wrk script (bench only): POST the body in $WRK_BODY_FILE to the URL's path, and at the end print one JSON line
-- with requests/s, latency percentiles (microseconds) and error counts (errors.status: responses with status > 399, counted by wrk itself), for bench/loadgen.py to read.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"mean_us": %.1f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"status_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.timeout, e.status))
end
