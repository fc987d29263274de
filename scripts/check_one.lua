-- check_one.lua: one query, the smallest flow there is.  qxtv run scripts/check_one.lua 13972565391 张三
local r = verify(arg[1], arg[2])
print(r.code, r.reason, r.status, r.area, r.isp)
