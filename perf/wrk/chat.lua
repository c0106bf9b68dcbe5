-- wrk script from the guide: POST a small chat completion with the bearer key (env API_KEY, MODEL, MAX_TOKENS; STREAM=1 asks for a stream).
-- wrk -t12 -c1000 -d30s --timeout 60s -s perf/wrk/chat.lua http://localhost:8000/v1/chat/completions
-- npm run bench's nonstream and stream22 scenarios run it as: wrk -t2 -c50 -dN --latency -s perf/wrk/chat.lua URL
local key = os.getenv("API_KEY") or "linux.do"
local model = os.getenv("MODEL") or "meta-llama/Meta-Llama-3.1-8B-Instruct"
local stream = os.getenv("STREAM") == "1"
local max_tokens = tonumber(os.getenv("MAX_TOKENS") or "16")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = string.format(
  '{"model":"%s","messages":[{"role":"user","content":"Say hi."}],"max_tokens":%d,"stream":%s}', model, max_tokens, tostring(stream))

-- count statuses per thread (a global, so done() can read it with thread:get) to show shed 503s
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do
    io.write(string.format("status %d: %d\n", status, n))
  end
end
