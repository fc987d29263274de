-- qxt.report: one self-contained HTML page from a run's summary (the table
-- written as summary.json): inline SVG charts, no script, no network.
--   local html = require("qxt.report").html(summary_table)
local codes = require("qxt.codes")
local html = require("qxt.html")
local route = require("qxt.step.route")
local thresholds = require("qxt.thresholds")

local _M = {}

local concat, format = table.concat, string.format
local esc = html.esc

local COLORS = { consistent = "#2e7d32", inconsistent = "#c62828", invalid = "#ef6c00",
                 unverified = "#607d8b" }
local PALETTE = { "#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#283593" }

-- Sorted {label, value} pairs of a count table, largest first.
local function pairs_by_value(t, limit)
  local list = {}
  for k, v in pairs(t or {}) do
    if type(v) == "number" then list[#list + 1] = { tostring(k), v } end
  end
  table.sort(list, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  if limit and #list > limit then
    local rest = 0
    for i = limit + 1, #list do rest = rest + list[i][2] end
    for i = #list, limit + 1, -1 do list[i] = nil end
    list[#list + 1] = { "other", rest }
  end
  return list
end

-- A horizontal bar chart: one row per {label, value}.
local function bars(title, items, color_of)
  local w, row, label_w = 640, 24, 170
  local max = 0
  for _, it in ipairs(items) do if it[2] > max then max = it[2] end end
  local h = math.max(1, #items) * row + 10
  local out = { format('<figure class="chart" data-chart="%s"><figcaption>%s</figcaption>', esc(title), esc(title)),
                format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">', w, h) }
  if #items == 0 then
    out[#out + 1] = '<text x="10" y="20" class="none">nothing to show</text>'
  end
  for i, it in ipairs(items) do
    local y = (i - 1) * row + 5
    local bw = max > 0 and math.max(1, (w - label_w - 70) * it[2] / max) or 0
    local color = color_of and color_of(it[1], i) or PALETTE[(i - 1) % #PALETTE + 1]
    out[#out + 1] = format('<text x="%d" y="%d" text-anchor="end" class="label">%s</text>',
      label_w - 8, y + 16, esc(it[1]))
    out[#out + 1] = format('<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>',
      label_w, y + 3, bw, row - 6, color)
    out[#out + 1] = format('<text x="%.1f" y="%d" class="value">%s</text>', label_w + bw + 6, y + 16, esc(it[2]))
  end
  out[#out + 1] = "</svg></figure>"
  return concat(out, "\n")
end

-- A line chart of one or more series over the run's seconds.
local function lines(title, series_list, unit)
  local w, h, pad = 640, 200, 40
  local n, max = 0, 0
  for _, s in ipairs(series_list) do
    n = math.max(n, #s.points)
    for _, v in ipairs(s.points) do if v > max then max = v end end
  end
  local out = { format('<figure class="chart" data-chart="%s"><figcaption>%s</figcaption>', esc(title), esc(title)),
                format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">', w, h),
                format('<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>', pad, h - pad, w - 10, h - pad),
                format('<line x1="%d" y1="10" x2="%d" y2="%d" class="axis"/>', pad, pad, h - pad),
                format('<text x="4" y="18" class="value">%s</text>', esc(format("%.0f%s", max, unit or ""))),
                format('<text x="%d" y="%d" class="value">%ds</text>', w - 40, h - pad + 16, n) }
  for _, s in ipairs(series_list) do
    local pts = {}
    for i, v in ipairs(s.points) do
      local x = pad + (n > 1 and (i - 1) * (w - pad - 10) / (n - 1) or 0)
      local y = h - pad - (max > 0 and v * (h - pad - 10) / max or 0)
      pts[#pts + 1] = format("%.1f,%.1f", x, y)
    end
    if #pts == 1 then pts[2] = pts[1] end
    out[#out + 1] = format('<polyline class="series" fill="none" stroke="%s" stroke-width="2" points="%s"/>',
      s.color, concat(pts, " "))
    if #s.points <= 60 then          -- short runs: mark each second
      for _, p in ipairs(pts) do
        local x, y = p:match("([^,]+),(.+)")
        out[#out + 1] = format('<circle cx="%s" cy="%s" r="3" fill="%s"/>', x, y, s.color)
      end
    end
  end
  local lx = pad + 10
  for _, s in ipairs(series_list) do
    out[#out + 1] = format('<text x="%d" y="%d" fill="%s" class="legend">%s</text>', lx, h - 8, s.color, esc(s.name))
    lx = lx + 160
  end
  out[#out + 1] = "</svg></figure>"
  return concat(out, "\n")
end

-- At most `max` points: long runs are averaged into wider buckets.
local function downsample(points, max)
  if #points <= max then return points end
  local per = math.ceil(#points / max)
  local out = {}
  for i = 1, #points, per do
    local sum, k = 0, 0
    for j = i, math.min(#points, i + per - 1) do sum = sum + points[j]; k = k + 1 end
    out[#out + 1] = sum / k
  end
  return out
end

local CSS = [[
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:120px}
.kpi b{display:block;font-size:20px}.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr))}
figure{margin:8px}figcaption{font-weight:600;margin-bottom:4px}.label,.value,.legend{font-size:12px}
.axis{stroke:#999}.halted{color:#c62828;font-weight:600}
table.limits{border-collapse:collapse;margin:8px 0}
.limits td,.limits th{border:1px solid #ddd;padding:4px 10px}
.limits .crossed{background:#c62828;color:#fff;font-weight:600}.limits .fine{color:#2e7d32}
]]

local STATE_CLASS = { holds = "fine", CROSSED = "crossed", ["not judged"] = "none",
                      ["crosses (not enforced)"] = "crossed" }

-- Each threshold of the run (qxt.thresholds), its value at the end and whether it stopped the run.
local function threshold_table(s)
  if type(s.thresholds) ~= "table" or #s.thresholds == 0 then return "" end
  local out = { '<h2>Thresholds</h2><table class="limits"><tr><th>condition</th><th>value</th>'
                .. "<th>state</th></tr>" }
  for _, t in ipairs(s.thresholds) do
    local state, value, when = t.state, t.value_text, t.value_when_crossed_text
    if state == nil then state, value, when = thresholds.settle(t) end   -- a summary.json from before them
    local text = state
    if state == "CROSSED" then
      text = format("CROSSED at %s after %s answers: the run stopped", esc(when), esc(t.answers_when_crossed))
    elseif state == "not judged" then
      text = format("not judged (fewer than %s answers)", esc(s.min_samples))
    end
    out[#out + 1] = format('<tr><td>%s</td><td>%s</td><td class="%s">%s</td></tr>', esc(t.condition),
                           esc(value), STATE_CLASS[state] or "none", esc(text))
  end
  out[#out + 1] = "</table>"
  return concat(out, "\n")
end

--- The page for a summary table (as written to summary.json).
function _M.html(s)
  local o = s.outcomes or {}
  local kpi = {}
  local function add(label, value)
    kpi[#kpi + 1] = format('<div class="kpi">%s<b>%s</b></div>', esc(label), esc(value))
  end
  add("records", s.records or 0)
  for _, k in ipairs(route.OUTCOMES) do add(k, o[k] or 0) end
  add("queries sent", s.queries_sent or 0)
  add("charged", s.charged or 0)
  add("possibly charged", s.possibly_charged or 0)
  add("retries", s.retries or 0)
  local lat = s.latency_ms or {}
  if lat.p50 then add("latency p50/p95/p99", format("%.0f / %.0f / %.0f ms", lat.p50, lat.p95, lat.p99)) end
  if s.wall_seconds then add("wall time", format("%.1f s", s.wall_seconds)) end
  if s.records_per_second then add("throughput", format("%.0f /s", s.records_per_second)) end

  local code_items = {}
  for _, kv in ipairs(pairs_by_value(s.codes)) do
    local c = tonumber(kv[1])
    code_items[#code_items + 1] = { kv[1] .. (c and (" " .. codes.class(c))
      or kv[1] == "mismatch" and " (about someone else)" or " (no answer)"), kv[2] }
  end
  local hist = {}
  for _, b in ipairs(s.latency_histogram or {}) do
    hist[#hist + 1] = { format("%.3g-%.3g ms", b[1], b[2]), b[3] }
  end
  local done, errs = {}, {}
  for i, p in ipairs(s.per_second or {}) do
    done[i] = p[1] or 0
    errs[i] = (p[2] or 0) > 0 and 100 * (p[3] or 0) / p[2] or 0
  end

  local charts = {
    bars("Outcomes", (function()
      local t = {}
      for _, k in ipairs(route.OUTCOMES) do t[#t + 1] = { k, o[k] or 0 } end
      return t
    end)(), function(label) return COLORS[label] end),
    bars("Provider codes", code_items),
    bars("Carriers", pairs_by_value(s.carriers, 8)),
    bars("Provinces", pairs_by_value(s.provinces, 15)),
    bars("Latency histogram", hist, function() return "#1565c0" end),
    lines("Throughput (records/s)", { { name = "records/s", color = "#2e7d32", points = downsample(done, 300) } }),
    lines("Error rate (-8 and transport, % of attempts)",
          { { name = "% failed attempts", color = "#c62828", points = downsample(errs, 300) } }, "%"),
    bars("Retries by code", pairs_by_value(s.retries_by_code)),
  }
  return concat({
    html.head("qxtv run report", CSS),
    format("<h1>qxtv run report</h1><p>started %s</p>", esc(s.started_at or "?")),
    s.halted and format('<p class="halted">HALTED: %s</p>', esc(s.halted)) or "",
    s.threshold_crossed and format('<p class="halted">THRESHOLD crossed: %s</p>', esc(s.threshold_crossed)) or "",
    type(s.offline) == "table" and format("<p>Offline replay: nothing was sent; %s records had no stored answer.</p>",
      esc(s.offline.no_stored_answer)) or "",
    '<div class="kpis">', concat(kpi, "\n"), "</div>",
    threshold_table(s),
    '<div class="charts">', concat(charts, "\n"), "</div>",
    "</body></html>", "",
  }, "\n")
end

--- Writes the page for summary s to path; returns true or nil, err (a
-- write or the close failing, as on a full disk, names the file).
function _M.write(s, path)
  return html.write(path, _M.html(s))
end

return _M
