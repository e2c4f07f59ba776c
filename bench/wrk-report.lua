-- wrk script for bench/run.ts: when the run is done, prints one line
-- "BENCH_JSON {...}" with requests/s, errors and latency percentiles in ms.
-- Non-2xx/3xx answers count as errors (wrk's "status" errors).

done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"errors":%d,' ..
      '"status_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f}\n',
    summary.requests, seconds, summary.requests / seconds, errors, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000))
end
