-- gen_input.lua: a CSV of N applicants with distinct valid mobiles and
-- names: qxtv run tests/bench/gen_input.lua N OUT.csv
local n, path = tonumber(arg[1]), arg[2]
local f = assert(io.open(path, "w"))
f:write("id,mobile,name\n")
local given = { "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋" }
local buf = {}
for i = 1, n do
  buf[#buf + 1] = ("%d,139%08d,王%s%s\n"):format(i, i, given[i % 10 + 1], given[(i // 10) % 10 + 1])
  if #buf == 1000 then f:write(table.concat(buf)); buf = {} end
end
f:write(table.concat(buf))
f:close()
