-- qxt.sink: where records go. Each is loaded on first use:
--   qxt.sink.csv(path, opts)   qxt.sink.sqlite(db_path, table, opts)
-- A sink has :write(record, result) and :close().
return require("qxt.lazy")("qxt.sink", "sink")
