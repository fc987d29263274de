-- Inputs the fuzzers (tests/fuzz, tests/tools/fuzz.sh) found breaking a
-- promise, kept as plain specs so `scripts/test.sh` replays them on every
-- run. The crashing inputs themselves are in tests/fuzz/corpus/.
local clean = require("qxt.step.clean")
local sim = require("tests.helpers.sim")

describe("fuzz regressions: qxt.clean", function()
  it("a rejection reason is valid UTF-8 even when the bad byte starts a broken sequence", function()
    -- fuzz_clean: 'a' followed by a stray continuation byte was quoted as
    -- 'a\x95', putting invalid UTF-8 into invalid.csv.
    local m, why = clean.mobile("a\x95\xff.\0b")
    assert.is_nil(m)
    assert.are.equal("mobile contains a letter 'a'", why)
    assert.is_truthy(utf8.len(why))
    local _, why2 = clean.mobile("139\x95")
    assert.are.equal("mobile contains an unexpected character '\\x95'", why2)
    local _, why3 = clean.mobile("139\0")
    assert.are.equal("mobile contains an unexpected character '\\x00'", why3)
  end)

  it("cleaning a name is idempotent with repeated full stops between characters", function()
    -- fuzz_clean: "欳．．娜" cleaned to "欳·．娜", and that again to "欳·娜".
    local once = clean.name("欳．．娜")
    assert.are.equal("欳·娜", once)
    assert.are.equal(once, clean.name(once))
    assert.are.equal("张·三", clean.name("张. ．三"))
  end)
end)

describe("fuzz regressions: qxt-sim", function()
  it("survives a multipart part without a name (strcmp(NULL) in cb_post_field)", function()
    -- fuzz_sim_http: `Content-Disposition: formapikey"` has no name=, and
    -- libmicrohttpd hands the field over with a NULL key: the simulator
    -- crashed on the request.
    local s = sim.start{}
    local body = os.tmpname()
    local f = assert(io.open(body, "wb"))
    f:write('--XX\r\nContent-Disposition: formapikey"\r\n\r\n0123456789abcdef0123456789abcdef\r\n--XX--\r\n')
    f:close()
    local out = sim.run(("curl -s -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary @%s %s")
      :format(body, s.endpoint))
    os.remove(body)
    local stats = s:stats()
    s:stop()
    assert.matches('^{"code":1,', out)
    assert.are.equal(1, stats.requests)
  end)
end)
