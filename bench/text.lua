-- wrk script: POST the bodies of the file $BENCH_BODY (one JSON body a line) in turn, with
-- $BENCH_AUTH as Authorization: each connection sends one sentence a request.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODY")) do
  bodies[#bodies + 1] = line
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = os.getenv("BENCH_AUTH")}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
