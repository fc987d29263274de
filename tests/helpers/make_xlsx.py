#!/usr/bin/python3
"""tests/helpers/make_xlsx.py DIR: Excel inputs made by a real spreadsheet
library (python3-openpyxl, Debian's), for tests/e2e/xlsx_spec.lua.

  DIR/twin.xlsx, DIR/twin.csv   the same applicants, as a workbook and as the
                                CSV a person would save from it (UTF-8)
  DIR/merged.xlsx               a header with merged cells
  DIR/lossy.xlsx                mobiles whose digits Excel lost (1.39E+10), one not
                                whole, one an error cell (#N/A)
  DIR/bomb.xlsx                 a sheet of 300 MB that compresses to ~300 KB
  DIR/doctype.xlsx, DIR/badxml.xlsx, DIR/truncated.xlsx, DIR/notzip.xlsx
  DIR/stored.xlsx               twin.xlsx with its parts stored, not deflated
  DIR/many_strings.xlsx         twin.xlsx with 2000 more (empty) shared strings
  DIR/merged_data.xlsx          a name merged over two data rows, and a hidden row

What twin.xlsx holds, as Excel leaves data: mobiles stored as numbers (the
XML holds 13972565391, and for one row 1.3972565391E10 as other writers
put it), mobiles stored as text (with dashes, +86), empty cells, a row left
empty, a sparse row (cells skipped), text that looks like a formula
(=1+1, +86..., -8, @x) stored as text, a date, a boolean, a second sheet.
openpyxl 3.0 writes text inline (<is>); Excel keeps it in a shared strings
table (with rich-text runs and phonetic guides), so the generator moves the
text of the first sheet into xl/sharedStrings.xml afterwards, as Excel
would have stored it: both kinds are read.
"""
import csv
import datetime
import io
import os
import re
import sys
import zipfile
from xml.sax.saxutils import escape

import openpyxl

DIR = sys.argv[1]
HEADER = ["申请编号", "手机号", "姓名", "备注", "日期"]
# (id, mobile, name, note, date): a mobile that is an int is stored as a number.
ROWS = [
    ("A1", 13972565391, "张三", "=1+1", datetime.date(2026, 3, 1)),
    ("A2", 18819079212, "曹操", "+86 only", None),
    ("A3", "138-0013-8000", "阿依古丽·买买提", "-8", None),
    ("A4", 13101921476, "史桂刚", "@x", True),
    ("A5", "+86 15739938567", "宋国", None, None),
    ("A6", 1397256539, "张三", "ten digits", None),        # rejected: 10 digits, both ways
    ("A7", 13972565391, "李四", "wrong name", None),        # inconsistent
    ("A8", 13972565391, None, "no name", None),            # rejected: empty name
]
SPARSE_ROW = 12       # sheet row of a row with cells skipped (A and E only... see below)


def cell_text(v):
    """The text a person sees (and a CSV saved from the sheet holds)."""
    if v is None:
        return ""
    if v is True:
        return "TRUE"
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v)


def make_twin():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "申请人"
    ws.append(HEADER)
    lines = [HEADER]
    r = 1
    for i, row in enumerate(ROWS):
        r += 1
        for c, v in enumerate(row, start=1):
            if v is None:
                continue
            cell = ws.cell(row=r, column=c, value=v)
            if isinstance(v, str):
                cell.data_type = "s"          # text, even "=1+1": never a formula
            if isinstance(v, datetime.date):
                cell.number_format = "yyyy-mm-dd"
        lines.append([cell_text(v) for v in row])
        if i == 3:                            # an empty row in the middle: skipped by both
            r += 1
            lines.append([])
    # A sparse row: cells B, C and D only (A and E skipped).
    r += 1
    ws.cell(row=r, column=2, value=18356284763)
    ws.cell(row=r, column=3, value="崔霞军")
    ws.cell(row=r, column=4, value="sparse")
    lines.append(["", "18356284763", "崔霞军", "sparse", ""])
    other = wb.create_sheet("其他")
    other.append(["mobile", "name"])
    other.append(["13800138000", "阿依古丽·买买提"])
    path = os.path.join(DIR, "twin.xlsx")
    wb.save(path)
    with open(os.path.join(DIR, "twin.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for line in lines:
            if line:
                w.writerow(line)
            else:
                f.write("\r\n")
    to_shared_strings(path, "xl/worksheets/sheet1.xml")
    rewrite(path, "xl/worksheets/sheet1.xml",
            lambda x: x.replace("<v>13972565391</v>", "<v>1.3972565391E10</v>", 1))


def rewrite(path, name, change):
    """Replaces one part of the archive by change(its text)."""
    with zipfile.ZipFile(path) as z:
        parts = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in parts:
            if info.filename == name:
                data = change(data.decode("utf-8")).encode("utf-8")
            z.writestr(info.filename, data)


def to_shared_strings(path, sheet):
    """Moves the sheet's inline strings into a shared strings table, the
    first as rich text runs and one with a phonetic guide (not its text)."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename).decode("utf-8") for i in z.infolist()}
    strings = []

    def shared(m):
        attrs, text = m.group(1), m.group(2)
        strings.append(text)
        return '<c%s t="s"><v>%d</v></c>' % (attrs, len(strings) - 1)

    parts[sheet] = re.sub(r'<c([^>]*?) t="inlineStr"><is><t>(.*?)</t></is></c>', shared, parts[sheet])
    items = []
    for i, t in enumerate(strings):
        if i == 0:       # the header's first cell, as rich text: two runs
            chars = re.findall(r"&#\d+;|&\w+;|.", t)
            half = len(chars) // 2
            items.append('<si><r><t>%s</t></r><r><rPr><b/></rPr><t>%s</t></r></si>'
                         % ("".join(chars[:half]), "".join(chars[half:])))
        elif i == 2:     # with a phonetic guide, which is not part of the text
            items.append('<si><t>%s</t><rPh sb="0" eb="1"><t>XING</t></rPh></si>' % t)
        else:
            items.append("<si><t>%s</t></si>" % t)
    parts["xl/sharedStrings.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" '
        'uniqueCount="%d">%s</sst>' % (len(strings), len(strings), "".join(items)))
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        "</Relationships>",
        '<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text.encode("utf-8"))


def simple(name, rows, merge=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    path = os.path.join(DIR, name)
    wb.save(path)
    return path


def make_damaged():
    base = simple("base.xlsx", [["mobile", "name"], [13972565391, "张三"]])
    with open(base, "rb") as f:
        data = f.read()
    with open(os.path.join(DIR, "truncated.xlsx"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(DIR, "notzip.xlsx"), "wb") as f:
        f.write(b"PK\x03\x04" + b"\x00" * 200)
    for name, change in [
        ("doctype.xlsx", lambda x: x.replace("<worksheet", '<!DOCTYPE worksheet [<!ENTITY a "aaaa">]><worksheet', 1)),
        ("badxml.xlsx", lambda x: x.replace("</sheetData>", "</sheetDat>", 1)),
    ]:
        path = os.path.join(DIR, name)
        with open(path, "wb") as f:
            f.write(data)
        rewrite(path, "xl/worksheets/sheet1.xml", change)
    # A bomb: 300 MB of spaces inside the sheet compress ~1000 to 1.
    path = os.path.join(DIR, "bomb.xlsx")
    with open(path, "wb") as f:
        f.write(data)
    with zipfile.ZipFile(base) as z:
        parts = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts:
            if name == "xl/worksheets/sheet1.xml":
                with z.open(name, "w", force_zip64=True) as w:
                    text = body.decode("utf-8")
                    head, tail = text.split("<sheetData>", 1)
                    w.write((head + "<sheetData>").encode())
                    chunk = b" " * (1 << 20)
                    for _ in range(300):
                        w.write(chunk)
                    w.write(tail.encode())
            else:
                z.writestr(name, body)


def main():
    os.makedirs(DIR, exist_ok=True)
    make_twin()
    simple("merged.xlsx", [["手机号", None, "姓名"], [13972565391, None, "张三"]], merge="A1:B1")
    lossy = simple("lossy.xlsx", [["mobile", "name", "id"], [13972565391, "张三", "L1"],
                                  [13900000000, "张三", "L2"], [13972565391, "张三", "L3"],
                                  ["#N/A", "张三", "L4"]])          # openpyxl stores an error cell
    rewrite(lossy, "xl/worksheets/sheet1.xml",
            lambda x: x.replace("<v>13900000000</v>", "<v>1.39E+10</v>", 1)
                       .replace("<v>13972565391</v></c><c r=\"B4\"", "<v>13972565391.5</v></c><c r=\"B4\"", 1))
    make_damaged()
    # A name merged over two rows (its value in the first only) and a hidden row.
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["mobile", "name", "id"], [13972565391, "张三", "M1"], [18819079212, "曹操", "M2"],
                [13800138000, None, "M3"], [13101921476, "史桂刚", "M4"]]:
        ws.append(row)
    ws.merge_cells("B3:B4")
    ws.row_dimensions[5].hidden = True
    wb.save(os.path.join(DIR, "merged_data.xlsx"))
    # Many empty shared strings: little text, many offsets in memory.
    many = os.path.join(DIR, "many_strings.xlsx")
    with open(os.path.join(DIR, "twin.xlsx"), "rb") as f, open(many, "wb") as g:
        g.write(f.read())
    rewrite(many, "xl/sharedStrings.xml", lambda x: x.replace("</sst>", "<si/>" * 2000 + "</sst>"))
    # The twin with its parts stored, not deflated: what the fuzz smoke test
    # (tests/lua/xlsx_spec.lua) mutates reaches the XML.
    with zipfile.ZipFile(os.path.join(DIR, "twin.xlsx")) as z:
        parts = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(os.path.join(DIR, "stored.xlsx"), "w", zipfile.ZIP_STORED) as z:
        for name, body in parts:
            z.writestr(name, body)


main()
