/* edit.h -- what `qxtv repl` takes from the module qxtv-edit.so (edit.c). */
#ifndef QXT_EDIT_H
#define QXT_EDIT_H

struct edit_api {
    char *(*readline)(const char *prompt);   /* a line (malloc'd) or NULL at end */
    int (*add_history)(const char *line);
};

#endif
