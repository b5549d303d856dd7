-- wrk script: each wrk thread POSTs its own file of pre-signed transactions
-- (one sender per file, nonces in order) over its one connection, so every
-- transaction arrives in nonce order. Counts 202 answers and other statuses.
-- Set BENCH_TX_DIR to the directory holding tx_<n>.jsonl (n = thread index).
-- The next body is chosen when a response arrives, not when a request is
-- built: wrk builds one request at start-up that it never sends, and moving
-- on there would skip a nonce and make every later transaction refused.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("BENCH_TX_DIR")
  bodies = {}
  for line in io.lines(dir .. "/tx_" .. id .. ".jsonl") do
    bodies[#bodies + 1] = line
  end
  nxt = 1
  accepted = 0
  refused = 0
  wrk.method = "POST"
  wrk.path = "/api/v1/transactions"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if nxt > #bodies then
    -- Out of transactions: ask for something cheap that is not counted.
    return wrk.format("GET", "/healthz", {}, nil)
  end
  return wrk.format(nil, nil, nil, bodies[nxt])
end

function response(status, headers, body)
  if nxt <= #bodies then
    nxt = nxt + 1
  end
  if status == 202 then
    accepted = accepted + 1
  elseif status ~= 200 then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local a, r = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("refused")
  end
  io.write(string.format("BENCH accepted=%d refused=%d p50_us=%d p99_us=%d duration_us=%d\n",
    a, r, latency:percentile(50), latency:percentile(99), summary.duration))
end
