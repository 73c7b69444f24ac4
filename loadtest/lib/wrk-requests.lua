-- wrk script: sends the requests of a file, one per line ("<header>\t<value>\t<body>"), each once, in order, and
-- prints a JSON summary. Used with ONE wrk thread (-t1), so no line is sent twice: every request of the ingest
-- benchmark is a new event with its own signature, made before the run so the generator does no hashing.
--   wrk -t1 -c100 -d10s -s wrk-requests.lua <url> -- <file> <path>
local requests = {}
local next_index = 0
local count = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  local path = args[2]
  for line in file:lines() do
    local name, value, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = { ["Content-Type"] = "application/json" }
    if name ~= "" then headers[name] = value end
    count = count + 1
    requests[count] = wrk.format("POST", path, headers, body)
  end
  file:close()
end

function request()
  next_index = next_index + 1
  if next_index > count then next_index = 1 end
  return requests[next_index]
end

function done(summary, latency, requests_)
  local errors = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
