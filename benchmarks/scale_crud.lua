-- wrk script for benchmarks/scale.py: the CRUD half of its API-process load, alternating
-- "create a message" (POST) and "list 20 messages" (GET) on each connection.
--   wrk -t1 -c16 -d5s -s benchmarks/scale_crud.lua http://127.0.0.1:8000 -- WRITE_THREAD READ_THREAD
local body = '{"role": "user", "content": "Hello, how are you today?"}'
local headers = {["Content-Type"] = "application/json"}
local create, list
local n = 0

function init(args)
  create = "/v1/threads/" .. args[1] .. "/messages"
  list = "/v1/threads/" .. args[2] .. "/messages?limit=20"
end

function request()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("POST", create, headers, body)
  end
  return wrk.format("GET", list)
end
