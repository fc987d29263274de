/* fuzz_xlsx.c -- libFuzzer harness for the .xlsx reader (src/lib/xlsxread.c,
 * xlsxpart.c): any bytes as a workbook, from memory. Opening must succeed or
 * fail with a message; every row must come out with cells in increasing
 * columns and rows in increasing order, or the reading stop with a message.
 * The caps are lowered so that one run stays small and fast. The seeds
 * (tests/fuzz/corpus/xlsx) are workbooks with their parts stored, not
 * deflated, so that mutations reach the XML. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "xlsxread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xlsx_limits lim = { .max_sheet = 4u << 20, .max_part = 1u << 20, .max_strings = 1u << 20,
                               .max_cell = 4096, .max_row = 65536, .max_merges = 1024 };
    char err[512] = "";
    struct xlsx *x = xlsx_open_buffer(data, size, NULL, &lim, err, sizeof err);
    struct xlsx_row row;
    unsigned last = 0;
    int rc;

    if (!x) {
        if (!err[0])
            abort();             /* a failure says why */
        return 0;
    }
    while ((rc = xlsx_next_row(x, &row, err, sizeof err)) > 0) {
        if (row.number <= last || row.ncells == 0)
            abort();
        last = row.number;
        for (size_t i = 0; i < row.ncells; i++)
            if (row.cells[i].len == 0 || (i > 0 && row.cells[i].col <= row.cells[i - 1].col))
                abort();
    }
    if (rc < 0 && !err[0])
        abort();
    xlsx_close(x);
    return 0;
}
