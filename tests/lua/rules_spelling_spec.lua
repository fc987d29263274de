-- qxt.rules: one spelling for where a rule sends its record (`route`).
describe("qxt.rules", function()
  it("takes route = sink, and refuses the old spelling to =", function()
    local router = qxt.rules{ { name = "all", when = function() return true end, route = "review" } }
    assert.are.same({ "review", "all" }, { router({}, {}) })
    assert.has_error(function()
      qxt.rules{ { name = "old", when = function() return true end, to = "review" } }
    end, 'rule 1 (old) needs when = function(record, result) and route = "sink name"')
  end)
end)
