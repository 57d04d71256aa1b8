-- wrk script of the benchmark: one exec, POST, as a caller sends it.  The
-- same request every time (eci_exec_guard is off in the gateway).
-- BENCH_STOP_AFTER=N: the thread stops after N responses and creates the
-- file BENCH_STOP_FILE; wrk itself waits out -d, so run.pl sends it SIGINT
-- (the memory run and the profile).
wrk.method = "POST"
wrk.path   = "/api/v202106/reportdistribution/42/exec"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-ECI-Caller"] = "svc-bench"

local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")

if stop_after then
    local n = 0
    function response(status, headers, body)
        n = n + 1
        if n == stop_after then
            wrk.thread:stop()
            local f = io.open(os.getenv("BENCH_STOP_FILE"), "w")
            if f then f:close() end
        end
    end
end
