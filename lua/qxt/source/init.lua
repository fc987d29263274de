-- qxt.source: where records come from. Each is loaded on first use:
--   qxt.source.csv(path, opts)   qxt.source.jsonl(path, opts)
--   qxt.source.table(array_or_generator)   qxt.source.stdin(opts)
--   qxt.source.sqlite(db_path, query, opts)
-- Every source yields records { seq, line, fields, mobile, name, error }.
return require("qxt.lazy")("qxt.source", "source")
