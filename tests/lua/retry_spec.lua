-- qxt.retry: which answers are asked again, how often, after how long.
local retry = require("qxt.step.retry")

local TRANSIENT = { code = -8, reason = "系统错误", class = "transient" }
local TRANSPORT = { code = nil, reason = "timeout", class = "transport" }

local function fixed(r)
  return function() return r end
end

describe("retry.policy", function()
  it("backs off exponentially without jitter", function()
    local p = retry.policy{ attempts = 5, backoff = 0.2, factor = 2, jitter = 0 }
    assert.are.equal(0.2, p(TRANSIENT, 1))
    assert.are.equal(0.4, p(TRANSIENT, 2))
    assert.are.equal(0.8, p(TRANSIENT, 3))
    assert.are.equal(1.6, p(TRANSIENT, 4))
  end)

  it("counts the first attempt: attempts = 5 means 4 retries", function()
    local p = retry.policy{ attempts = 5, jitter = 0 }
    local retries, attempt = 0, 1
    while p(TRANSIENT, attempt) do
      retries, attempt = retries + 1, attempt + 1
    end
    assert.are.equal(4, retries)
    assert.are.equal(5, attempt)
    assert.is_nil(retry.policy{ attempts = 1 }(TRANSIENT, 1))
  end)

  it("caps the delay at max_delay", function()
    local p = retry.policy{ attempts = 20, backoff = 1, factor = 10, max_delay = 3, jitter = 0 }
    assert.are.equal(1, p(TRANSIENT, 1))
    assert.are.equal(3, p(TRANSIENT, 2))
    assert.are.equal(3, p(TRANSIENT, 10))
  end)

  it("applies jitter as a fraction, from an injectable random source", function()
    local low = retry.policy{ backoff = 1, jitter = 0.1, random = fixed(0) }
    local high = retry.policy{ backoff = 1, jitter = 0.1, random = fixed(0.999999) }
    local mid = retry.policy{ backoff = 1, jitter = 0.1, random = fixed(0.5) }
    assert.is_true(math.abs(low(TRANSIENT, 1) - 0.9) < 1e-9)
    assert.is_true(math.abs(high(TRANSIENT, 1) - 1.1) < 1e-5)
    assert.is_true(math.abs(mid(TRANSIENT, 1) - 1.0) < 1e-9)
  end)

  it("keeps jittered delays within bounds with the real random source", function()
    local p = retry.policy{ backoff = 0.2, jitter = 0.1 }
    for _ = 1, 200 do
      local d = p(TRANSIENT, 1)
      assert.is_true(d >= 0.18 - 1e-12 and d <= 0.22 + 1e-12)
    end
  end)

  it("retries by code and by class, as listed in `on`", function()
    local by_code = retry.policy{ on = { -8 }, jitter = 0 }
    assert.is_number(by_code(TRANSIENT, 1))
    assert.is_nil(by_code(TRANSPORT, 1))
    local by_class = retry.policy{ on = { "transport" }, jitter = 0 }
    assert.is_nil(by_class(TRANSIENT, 1))
    assert.is_number(by_class(TRANSPORT, 1))
    local no_record = retry.policy{ on = { "no_record" }, jitter = 0 }
    assert.is_number(no_record({ code = -4, class = "no_record" }, 1))
  end)

  it("accepts a code given as a string in the result", function()
    local p = retry.policy{ jitter = 0 }
    assert.is_number(p({ code = "-8", class = "transient" }, 1))
  end)

  it("follows docs/codes.md by default: -8 and transport, 5 attempts, 0.2 s doubling", function()
    local p = retry.policy{ random = fixed(0.5) }
    assert.is_true(math.abs(p(TRANSIENT, 1) - 0.2) < 1e-9)
    assert.is_true(math.abs(p(TRANSPORT, 2) - 0.4) < 1e-9)
    assert.is_nil(p(TRANSIENT, 5))
    assert.are.same({ -8, "transport" }, retry.defaults.on)
  end)

  it("never retries final answers, even when a class is listed", function()
    local p = retry.policy{ on = { "transient", "transport" }, jitter = 0 }
    for _, r in ipairs({
      { code = 0, class = "ok" }, { code = 1, class = "input" }, { code = -2, class = "input" },
      { code = -3, class = "input" }, { code = -1, class = "account" },
      { code = -5, class = "account" }, { code = -9, class = "account" },
      { code = -8, class = "account" }, -- a class the engine calls final wins over the code
    }) do
      assert.is_nil(p(r, 1), "retried code " .. tostring(r.code))
    end
  end)

  it("raises when a final code or class is listed (a programming mistake)", function()
    for _, entry in ipairs({ 0, 1, -1, -2, -3, -5, -9, "ok", "input", "account" }) do
      assert.has_error(function() retry.policy{ on = { entry } } end)
    end
    local ok, err = pcall(retry.policy, { on = { -8, -5 } })
    assert.is_false(ok)
    assert.matches("code %-5 %(class account%) is final", err)
  end)

  it("is also reachable by calling the module, as qxt.retry{...}", function()
    local p = retry{ attempts = 2, backoff = 1, jitter = 0 }
    assert.are.equal(1, p(TRANSIENT, 1))
    assert.is_nil(p(TRANSIENT, 2))
  end)

  it("raises on unknown options and bad values", function()
    assert.has_error(function() retry.policy{ attemps = 3 } end)
    assert.has_error(function() retry.policy{ attempts = 0 } end)
    assert.has_error(function() retry.policy{ attempts = 2.5 } end)
    assert.has_error(function() retry.policy{ backoff = -1 } end)
    assert.has_error(function() retry.policy{ factor = 0.5 } end)
    assert.has_error(function() retry.policy{ jitter = 2 } end)
    assert.has_error(function() retry.policy{ on = { "sometimes" } } end)
    assert.has_error(function() retry.policy{ on = -8 } end)
  end)
end)

describe("retry.from", function()
  it("turns nil and tables into policies", function()
    assert.is_function(retry.from(nil))
    assert.is_number(retry.from(nil)(TRANSIENT, 1))
    assert.is_nil(retry.from{ attempts = 1 }(TRANSIENT, 1))
  end)

  it("accepts a plain function and passes result and attempt through", function()
    local seen = {}
    local p = retry.from(function(r, attempt)
      seen[#seen + 1] = attempt
      if r.code == -8 and attempt < 3 then return 0.01 * attempt end
    end)
    assert.are.equal(0.01, p(TRANSIENT, 1))
    assert.are.equal(0.02, p(TRANSIENT, 2))
    assert.is_nil(p(TRANSIENT, 3))
    assert.are.same({ 1, 2, 3 }, seen)
  end)

  it("guards a plain function: final answers are never retried", function()
    local called = false
    local p = retry.from(function() called = true; return 1 end)
    assert.is_nil(p({ code = 0, class = "ok" }, 1))
    assert.is_nil(p({ code = -5, class = "account" }, 1))
    assert.is_nil(p({ code = -2, class = "input" }, 1))
    assert.is_false(called)
    assert.are.equal(1, p(TRANSIENT, 1))
  end)

  it("raises when a plain function returns something that is not a delay", function()
    assert.has_error(function() retry.from(function() return "soon" end)(TRANSIENT, 1) end)
    assert.has_error(function() retry.from(function() return -1 end)(TRANSIENT, 1) end)
  end)

  it("raises on anything else", function()
    assert.has_error(function() retry.from(42) end)
  end)

  it("says which results are final", function()
    assert.is_true(retry.is_final({ code = 0, class = "ok" }))
    assert.is_false(retry.is_final(TRANSIENT))
  end)
end)

-- Money: a request that went out whole and got no answer (possibly_charged)
-- may have been billed; asking again may bill it again.
describe("retry of possibly charged requests", function()
  local SENT = { code = nil, reason = "timeout", class = "transport", possibly_charged = true }
  local MISMATCH = { reason = "names another mobile", class = "mismatch", possibly_charged = true }

  it("re-sends a possibly charged request once by default, whatever `attempts` says", function()
    local p = retry.policy{ attempts = 5, jitter = 0 }
    assert.is_number(p(SENT, 1, 1))
    assert.is_nil(p(SENT, 2, 2))
    -- never-sent failures still follow `attempts`, around a possibly charged one
    assert.is_number(p(TRANSPORT, 2, 1))
    assert.is_number(p(SENT, 3, 1))
    assert.is_nil(p(TRANSPORT, 5, 1))
    assert.are.equal(1, retry.defaults.resend_possibly_charged)
  end)

  it("without the count, takes every attempt so far as possibly charged", function()
    local p = retry.policy{ jitter = 0 }
    assert.is_number(p(SENT, 1))
    assert.is_nil(p(SENT, 2))
    assert.is_number(p(TRANSPORT, 4))
  end)

  it("re-sends none when set to 0, and never-sent failures stay free", function()
    local p = retry.policy{ attempts = 5, jitter = 0, resend_possibly_charged = 0 }
    assert.is_nil(p(SENT, 1, 1))
    for attempt = 1, 4 do assert.is_number(p(TRANSPORT, attempt, 0)) end
    assert.is_nil(p(TRANSPORT, 5, 0))
  end)

  it("honours an explicit N, within `attempts`", function()
    local p = retry.policy{ attempts = 10, jitter = 0, resend_possibly_charged = 3 }
    for n = 1, 3 do assert.is_number(p(SENT, n, n)) end
    assert.is_nil(p(SENT, 4, 4))
    local short = retry.policy{ attempts = 3, jitter = 0, resend_possibly_charged = 5 }
    assert.is_number(short(SENT, 2, 2))
    assert.is_nil(short(SENT, 3, 3))
  end)

  it("raises on a count that is not a whole number >= 0", function()
    for _, bad in ipairs{ -1, 1.5, "1", true } do
      assert.has_error(function() retry.policy{ resend_possibly_charged = bad } end)
    end
  end)

  it("leaves the final classes final, and never retries a mismatch", function()
    local p = retry.policy{ on = { -8, "transport", "no_record" }, jitter = 0, resend_possibly_charged = 3 }
    assert.is_nil(p(MISMATCH, 1, 1))
    for _, r in ipairs{ { code = 0, class = "ok" }, { code = 1, class = "input" },
                        { code = -5, class = "account" } } do
      assert.is_nil(p(r, 1, 0))
    end
    assert.is_true(retry.is_final(MISMATCH))
    assert.has_error(function() retry.policy{ on = { "mismatch" } } end)
  end)

  it("treats a code the provider never documented as final, as the code table does", function()
    -- class account in src/common/codes.c: listing it raises, and a result that
    -- carries only the code is final (a second copy of the table said not)
    assert.has_error(function() retry.policy{ on = { 42 } } end)
    assert.is_true(retry.is_final({ code = 42 }))
    assert.is_false(retry.is_final({ code = -8 }))
  end)

  it("caps a plain function at the default too, unless told otherwise", function()
    local calls = 0
    local always = function() calls = calls + 1; return 0.01 end
    local p = retry.from(always)
    assert.are.equal(0.01, p(SENT, 1, 1))
    assert.is_nil(p(SENT, 2, 2))
    assert.is_nil(p(SENT, 7))              -- no count: every attempt possibly charged
    assert.is_nil(p(MISMATCH, 1, 1))
    assert.are.equal(1, calls)
    assert.are.equal(0.01, p(TRANSPORT, 9, 1))   -- a plain function decides the rest
    local more = retry.from(always, { resend_possibly_charged = 4 })
    assert.are.equal(0.01, more(SENT, 4, 4))
    assert.is_nil(more(SENT, 5, 5))
    local none = retry.from(always, { resend_possibly_charged = 0 })
    assert.is_nil(none(SENT, 1, 1))
    assert.has_error(function() retry.from(always, { attempts = 3 }) end)
  end)

  it("keeps a policy it made as it is (a flow's explicit count survives)", function()
    local p = retry.policy{ resend_possibly_charged = 3, jitter = 0 }
    assert.are.equal(p, retry.from(p))
    assert.is_number(retry.from(p)(SENT, 3, 3))
    local f = retry.from(function() return 0 end, { resend_possibly_charged = 2 })
    assert.are.equal(f, retry.from(f))
  end)
end)
