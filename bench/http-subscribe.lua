-- wrk script of bench/http.sh: POST /subscribe with a distinct address per
-- request (bench-RUN-T-N@example.org: RUN per wrk run, T the wrk thread, N
-- its request count), the form token and its cookie given once:
--   wrk ... -s bench/http-subscribe.lua URL -- FORM_TOKEN COOKIE LIST_SLUG

local next_thread = 0
local run = os.time()

function setup(thread)
	thread:set("tid", next_thread)
	thread:set("run", run)
	next_thread = next_thread + 1
end

function init(args)
	token = args[1]
	cookie = args[2]
	slug = args[3] or "news"
	n = 0
	headers = {
		["Content-Type"] = "application/x-www-form-urlencoded",
		["Cookie"] = cookie,
	}
end

function request()
	n = n + 1
	local body = string.format("email=bench-%d-%d-%d%%40example.org&list=%s&form_token=%s&website=",
		run, tid, n, slug, token)
	return wrk.format("POST", "/subscribe", headers, body)
end
