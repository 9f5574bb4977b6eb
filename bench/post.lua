-- wrk script: POST the body in the file $BENCH_BODY, with $BENCH_AUTH as Authorization,
-- and the "Name: value" lines of $BENCH_BODY.headers, if there is one, as more headers.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local extra = io.open(os.getenv("BENCH_BODY"):gsub("%.body$", ".headers"), "r")
if extra then
  for line in extra:lines() do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
  extra:close()
end
