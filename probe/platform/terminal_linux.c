/* Terminals, Linux side (terminal.h). */
#include "terminal.h"

#include <unistd.h>

gboolean terminal_is(FILE *f)
{
    return isatty(fileno(f));
}
