-- One table of provider codes (src/common/codes.c, through qxt.core): retry,
-- journal, route and summary read it, and agree with it for every code.
local codes = require("qxt.codes")
local journal = require("qxt.journal")
local retry = require("qxt.step.retry")
local route = require("qxt.step.route")
local summary = require("qxt.summary")

-- Every documented code and one the provider never documented.
local ALL = { -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 42 }
local DOCUMENTED = { [0] = true, [1] = true, [-1] = true, [-2] = true, [-3] = true, [-4] = true,
                     [-5] = true, [-8] = true, [-9] = true }

describe("the code table", function()
  it("gives each code its class, meaning, reason, billing and finality", function()
    for _, code in ipairs(ALL) do
      local info = codes.info(code)
      assert.are.equal(code, info.code)
      assert.are.equal(codes.class(code), info.class)
      assert.is_string(info.meaning)
      assert.are.equal(DOCUMENTED[code] == true, info.reason ~= nil, "reason of " .. code)
      assert.are.equal(code == 0, info.charged, "charged " .. code)
      assert.are.equal(codes.CLASSES[info.class], info.final, "final " .. code)
    end
    assert.are.equal("account", codes.class(42))       -- undocumented: stop spending
    assert.are.equal("transient", codes.class(-8))
    assert.are.equal("no_record", codes.class(-4))
  end)

  it("says, per class, whether it is final, an answer the journal keeps, and its outcome", function()
    local want = {
      ok = { true, true, "unverified" }, input = { true, true, "invalid" },
      no_record = { false, true, "unverified" }, account = { true, false, "unverified" },
      transient = { false, false, "unverified" }, transport = { false, false, "unverified" },
      mismatch = { true, false, "unverified" },
    }
    local n = 0
    for class, info in pairs(codes.CLASS) do
      n = n + 1
      assert.are.same(want[class], { info.final, info.answer, info.outcome }, class)
      assert.are.equal(info.final, codes.CLASSES[class])
    end
    assert.are.equal(7, n)
  end)

  it("retry agrees: a final code is never retried and cannot be listed in `on`", function()
    for _, code in ipairs(ALL) do
      local info = codes.info(code)
      local result = { code = code, class = info.class }
      assert.are.equal(info.final, retry.is_final(result), "is_final " .. code)
      -- the class alone, and the code alone, say the same
      assert.are.equal(info.final, retry.is_final({ code = code }), "is_final by code " .. code)
      if info.final then
        assert.has_error(function() retry.policy{ on = { code } } end, nil, "on = {" .. code .. "}")
        assert.is_nil(retry.policy{ on = { "transient", "transport", "no_record" } }(result, 1))
      else
        assert.is_number(retry.policy{ on = { code }, jitter = 0 }(result, 1), "retries " .. code)
      end
    end
  end)

  it("the journal agrees: it keeps the answers of classes the table calls answers", function()
    for _, code in ipairs(ALL) do
      local info = codes.info(code)
      local result = { code = code, class = info.class }
      assert.are.equal(codes.CLASS[info.class].answer, journal.is_answer(result), "is_answer " .. code)
      result.possibly_charged = true
      assert.is_false(journal.is_answer(result))
    end
  end)

  it("route agrees: the default outcome of each code is its class's", function()
    for _, code in ipairs(ALL) do
      local info = codes.info(code)
      local outcome, rule = route.outcome({ code = code, class = info.class })
      assert.are.equal(codes.CLASS[info.class].outcome, outcome, "outcome " .. code)
      assert.are.equal(info.class, rule)
    end
    assert.are.equal("consistent", route.outcome({ code = 0, class = "ok", consistent = true }))
    assert.are.equal("inconsistent", route.outcome({ code = 0, class = "ok", consistent = false }))
    assert.are.same({ "unverified", "other_person" }, { route.outcome({ class = "mismatch" }) })
  end)

  it("the summary counts as charged exactly the codes the table bills", function()
    local s = summary.new()
    for _, code in ipairs(ALL) do s:query({ code = code, class = codes.class(code) }) end
    local charged = 0
    for _, code in ipairs(ALL) do if codes.info(code).charged then charged = charged + 1 end end
    assert.are.equal(charged, s:to_table().charged)
  end)
end)

describe("the verdict of a stored answer", function()
  it("is derived as the decoder derives it (consistent, province, city)", function()
    local cases = {
      { "一致", "湖北-宜昌", true, "湖北", "宜昌" },
      { "不一致", "广东", false, "广东", nil },
      { "未知", "-深圳", nil, nil, "深圳" },
      { "一致", "a-b-c", true, "a", "b-c" },
      { nil, "", nil, nil, nil },
      { "一致", nil, true, nil, nil },
    }
    for _, c in ipairs(cases) do
      assert.are.same({ c[3], c[4], c[5] }, { codes.verdict(c[1], c[2]) }, tostring(c[2]))
    end
  end)
end)
