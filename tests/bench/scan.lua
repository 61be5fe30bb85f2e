-- wrk script for `python -m tests.bench`: single-read scans, one station per wrk thread.
-- Each thread gets its own station's API key in setup(); every request is a new read (a new
-- event_id and the station's next station_seq; a repeated one would be answered as a replay)
-- of a random carrier's tag. The bare endpoint gets the same requests.
--   MT_BENCH_KEYS      the stations' API keys, comma-separated, one per thread
--   MT_BENCH_CARRIERS  how many carriers are on file (tags 1..N, as tests/bench/bench_service.py)
--   MT_BENCH_RUN       a number that makes this run's event ids its own
-- done() prints one line "MTBENCH {json}" that the benchmark reads.
local keys = {}
for key in string.gmatch(os.getenv("MT_BENCH_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = key
end
local carriers = tonumber(os.getenv("MT_BENCH_CARRIERS"))
local run = tonumber(os.getenv("MT_BENCH_RUN"))
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("key", keys[threads])
  thread:set("station", threads)
  thread:set("carriers", carriers)
  thread:set("run", run)
end

function init(args)
  seq = 0
  math.randomseed(run + station)
end

function request()
  seq = seq + 1
  local body = string.format(
    '{"reads":[{"event_id":"%08x-%04x-4000-8000-%012x","station_seq":%d,'
      .. '"tag_uid":"04%010X80","technology":"iso14443a","read_at":"%s"}]}',
    run, station, seq, seq, math.random(1, carriers), os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'MTBENCH {"requests":%d,"seconds":%.3f,"socket_errors":%d,"non_2xx":%d,'
      .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
