/* edit.c -- the module qxtv-edit.so: line editing for `qxtv repl`, from
 * libedit, which no other command needs (see module.h). */
#include "edit.h"

#include <editline/readline.h>

__attribute__((visibility("default")))
const struct edit_api qxt_edit_api = { readline, add_history };
