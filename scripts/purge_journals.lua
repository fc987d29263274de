-- purge_journals.lua: retention. Removes run journals (and their keys)
-- under DIR that nobody has written for DAYS days. A journal holds no
-- mobile and no name, but it records that checks were made and what they
-- found; keep it only as long as a run may need resuming (docs/durability.md).
--
--   qxtv run scripts/purge_journals.lua DIR --older-than DAYS [--dry-run]
local USAGE = "usage: qxtv run scripts/purge_journals.lua DIR --older-than DAYS [--dry-run]"

local dir, days, dry_run
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--older-than" then
    days = tonumber(arg[i + 1])
    if not days or days < 0 then
      io.stderr:write("purge_journals: --older-than wants a number of days\n", USAGE, "\n")
      os.exit(qxt.exit.USAGE)
    end
    i = i + 1
  elseif a == "--dry-run" then
    dry_run = true
  elseif dir == nil and not a:match("^%-%-") then
    dir = a
  else
    io.stderr:write("purge_journals: unexpected '", a, "'\n", USAGE, "\n")
    os.exit(qxt.exit.USAGE)
  end
  i = i + 1
end
if not dir or not days then io.stderr:write(USAGE, "\n"); os.exit(qxt.exit.USAGE) end

local removed, err = qxt.journal.purge(dir, days, dry_run)
if not removed then
  io.stderr:write("purge_journals: ", err, "\n")
  os.exit(qxt.exit.FAILED)
end
for _, path in ipairs(removed) do print((dry_run and "would remove " or "removed ") .. path) end
io.stderr:write(("%d journal(s) %s, older than %g day(s), under %s\n"):format(#removed,
  dry_run and "to remove" or "removed", days, dir))
