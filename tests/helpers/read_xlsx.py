#!/usr/bin/python3
"""tests/helpers/read_xlsx.py FILE: an .xlsx as python3-openpyxl (Debian's)
reads it, as JSON on stdout, for tests/e2e/xlsx_spec.lua:

  {"sheets": [{"name": ..., "freeze": "A2" | null,
               "rows": [[value, ...], ...],      # None as null
               "types": [["s", "n", ...], ...]}]} # openpyxl's data_type per cell
"""
import json
import sys

import openpyxl

wb = openpyxl.load_workbook(sys.argv[1])
out = {"sheets": []}
for ws in wb.worksheets:
    rows, types = [], []
    for row in ws.iter_rows():
        rows.append([c.value for c in row])
        types.append([c.data_type for c in row])
    out["sheets"].append({"name": ws.title, "freeze": ws.freeze_panes, "rows": rows, "types": types})
json.dump(out, sys.stdout, ensure_ascii=False, default=str)
