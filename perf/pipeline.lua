-- wrk script: sends `depth` GET requests in one write (HTTP/1.1 pipelining, the TechEmpower plaintext shape).
-- usage: wrk -s perf/pipeline.lua <url> -- <depth>
local depth = 16

function init(args)
  depth = tonumber(args[1]) or 16
  local one = wrk.format(nil)
  local batch = {}
  for i = 1, depth do
    batch[i] = one
  end
  request_batch = table.concat(batch)
end

function request()
  return request_batch
end
