/* xlsxread.h -- reads the rows of one sheet of an .xlsx workbook, through
 * libzip (the container) and expat (the XML). No Lua here: lxlsx_read.c is
 * the binding (the Lua module qxt.xlsx.core), tests/fuzz/fuzz_xlsx.c feeds it
 * bytes directly.
 *
 * What it reads: _rels/.rels to find the workbook, the workbook's sheet list
 * and relationships, the styles (only: which cell formats are dates), the
 * shared strings (held in memory, capped), then the sheet, streamed: rows
 * come one at a time from a suspended expat parser, so memory stays bounded
 * for any number of rows.
 *
 * Before the first row is handed out, xlsx_open parses the whole sheet once
 * (the "check pass"): a damaged deflate stream, a CRC error, bad XML, a cell
 * past Excel's limits or a part over its size cap is found then, before a
 * caller has done anything with a row. The same pass counts the rows, finds
 * the header row (the first with a value) and collects merged cells.
 *
 * Every size is capped (struct xlsx_limits): an entry's uncompressed size
 * (counted as it is read, never trusted from the archive), the shared
 * strings, one cell, one row, the ratio of uncompressed to compressed bytes
 * (zip bombs). A DOCTYPE anywhere is refused (no entities, no DTD: an .xlsx
 * never has one). Failures are messages, never crashes. */
#ifndef QXT_XLSXREAD_H
#define QXT_XLSXREAD_H

#include <stddef.h>
#include <stdint.h>

struct xlsx;

/* Caps, in bytes; 0 in a field means its default, and a value over the
 * default is the default (caps are only ever lowered, for tests). */
struct xlsx_limits {
    uint64_t max_sheet;      /* the sheet's XML, streamed (default 4 GiB) */
    size_t max_part;         /* workbook, relationships, styles (default 16 MiB) */
    size_t max_strings;      /* the shared strings' XML, held in memory (default 256 MiB) */
    size_t max_cell;         /* one cell's text (default 128 KiB: Excel's 32767 characters) */
    size_t max_row;          /* one row's text (default 16 MiB) */
    unsigned max_ratio;      /* uncompressed / compressed, for parts over 1 MiB (default 200) */
    size_t max_merges;       /* merged ranges remembered (default 100000; more are an error) */
};

/* Kinds of cell (xlsx_cell.kind). */
#define XLSX_TEXT   's'      /* a shared, inline or formula string, or an ISO date (t="d") */
#define XLSX_NUMBER 'n'      /* the number as written in the XML ("13972565391", "1.39E+10") */
#define XLSX_DATE   'd'      /* a number in a date or time format: the serial day count */
#define XLSX_BOOL   'b'      /* "TRUE" or "FALSE" */
#define XLSX_ERROR  'e'      /* Excel's error text, "#N/A", "#DIV/0!" */

struct xlsx_cell {
    unsigned col;            /* 1-based (A = 1) */
    char kind;
    const char *text;        /* UTF-8, not NUL-terminated; owned by the reader */
    size_t len;
};

/* One row: valid until the next xlsx_next_row or xlsx_close. */
struct xlsx_row {
    unsigned number;         /* the row number Excel shows (1-based) */
    size_t ncells;           /* cells with a value, by increasing col */
    const struct xlsx_cell *cells;
};

/* A merged range, 1-based, inclusive. */
struct xlsx_merge {
    unsigned r1, c1, r2, c2;
};

/* Opens the workbook at path (or the size bytes at data, which must stay
 * valid until xlsx_close) and checks the sheet named sheet (NULL: the first
 * sheet that is not hidden; a name is matched exactly, else ignoring ASCII
 * case). NULL with a message in err (what is wrong, naming the sheet or the
 * part; for an unknown sheet, the sheets there are). */
struct xlsx *xlsx_open(const char *path, const char *sheet, const struct xlsx_limits *limits,
                       char *err, size_t errlen);
struct xlsx *xlsx_open_buffer(const void *data, size_t size, const char *sheet,
                              const struct xlsx_limits *limits, char *err, size_t errlen);

/* The sheet being read (owned by the reader). */
const char *xlsx_sheet_name(const struct xlsx *x);

/* The workbook's sheet names, in tab order; n of them. */
const char *xlsx_sheet_at(const struct xlsx *x, size_t i);
size_t xlsx_sheet_count(const struct xlsx *x);

/* From the check pass: rows with at least one value; the first of them
 * (0 when the sheet is empty); the merged ranges. */
size_t xlsx_row_count(const struct xlsx *x);
unsigned xlsx_header_row(const struct xlsx *x);
/* Rows with a value that are hidden (by a filter, or by hand), and the
 * first of them in *first (0: none). They are read like the others. */
size_t xlsx_hidden_rows(const struct xlsx *x, unsigned *first);
size_t xlsx_merge_count(const struct xlsx *x);
const struct xlsx_merge *xlsx_merge_at(const struct xlsx *x, size_t i);

/* Whether dates count from 1904 (a Mac workbook) rather than 1900. */
int xlsx_date1904(const struct xlsx *x);

/* The next row with at least one value: 1 with *row set, 0 at the end, -1
 * with a message in err (the file changed between the passes, or the
 * disk failed). Empty rows are skipped. */
int xlsx_next_row(struct xlsx *x, struct xlsx_row *row, char *err, size_t errlen);

/* Frees everything; NULL is fine. */
void xlsx_close(struct xlsx *x);

/* "C7" for (7, 3) into buf (at least 12 bytes). */
void xlsx_cell_name(unsigned row, unsigned col, char *buf, size_t size);

#endif
