/* The one definition of the valgrind flag (see vg.h). */
#include "vg.h"

#ifdef LM_HAVE_VALGRIND
bool lm_vg_on;
#endif
