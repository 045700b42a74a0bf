/* Whether a stream is a terminal that takes the report's colours (ANSI
 * escapes): Linux's isatty; Windows' console, once virtual terminal
 * processing is switched on for it (Windows 10 1511 and later; an older
 * console gets no colours). */
#pragma once

#include <glib.h>
#include <stdio.h>

gboolean terminal_is(FILE *f);
