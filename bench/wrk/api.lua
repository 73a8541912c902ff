-- wrk script of bench/cpu_per_request.py: builds each request of one endpoint,
-- counts non-2xx answers by status and prints one machine-readable summary.
--
--   wrk ... -s bench/wrk/api.lua http://127.0.0.1:PORT -- \
--       METHOD PATH KIND TOKEN TAG ID_LO ID_HI [BODY]
--
-- PATH may hold "{id}": each request takes the next id of ID_LO..ID_HI.
-- KIND is the body: "none", "patch" ({"age": n}), "create" (a new user with
-- an email unique per TAG, thread and request) or "json" (BODY as given).
-- TOKEN "-" sends no Authorization header.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   method, template, kind, token, tag = args[1], args[2], args[3], args[4], args[5]
   id_lo, id_hi = tonumber(args[6]), tonumber(args[7])
   fixed_body = args[8]
   counter = 0
   non2xx = 0
   statuses = {}
   sample = ""
   headers = {}
   if token ~= "-" then
      headers["Authorization"] = "Bearer " .. token
   end
   if kind ~= "none" then
      headers["Content-Type"] = "application/json"
   end
end

function request()
   counter = counter + 1
   local path = template
   if string.find(template, "{id}", 1, true) then
      local id = id_lo + counter % (id_hi - id_lo + 1)
      path = (string.gsub(template, "{id}", tostring(id)))
   end
   local body = nil
   if kind == "patch" then
      body = string.format('{"age": %d}', counter % 151)
   elseif kind == "create" then
      body = string.format(
         '{"email": "u-%s-%d-%d@bench.example.com", "name": "Bench User %d", "age": %d}',
         tag, tid, counter, counter, counter % 100)
   elseif kind == "json" then
      body = fixed_body
   end
   return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if sample == "" then
         sample = key .. " " .. string.gsub(string.sub(body or "", 1, 300), "%s+", " ")
      end
   end
end

function done(summary, latency, requests)
   local non, merged, samples = 0, {}, {}
   for _, thread in ipairs(threads) do
      non = non + thread:get("non2xx")
      for status, count in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + count
      end
      local s = thread:get("sample")
      if s ~= "" then
         table.insert(samples, s)
      end
   end
   local parts = {}
   for status, count in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', status, count))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, '
         .. '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f, "mean_us": %.1f, '
         .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
         .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes, non,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, table.concat(parts, ", ")))
   for _, s in ipairs(samples) do
      io.write("WRK_SAMPLE " .. s .. "\n")
   end
end
