-- qxt.sink: where records go. Each is loaded on first use:
--   qxt.sink.csv(path, opts)   qxt.sink.sqlite(db_path, table, opts)
-- A sink has :write(record, result) and :close(), each -> true | nil,
-- "FILE: why"; what a row holds is qxt.sink.row's, the same for every sink.
return require("qxt.lazy")("qxt.sink", "sink")
