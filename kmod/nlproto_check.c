// SPDX-License-Identifier: GPL-2.0
/*
 * The C compiler checks here what nlproto's generator read from the
 * protocol header, and so what the Go constants and name tables carry:
 * nlproto/zz_static_assert.h holds an assertion per constant with the value
 * the generator computed, so a header it misreads fails the module build.
 * Strings are checked by an identical redefinition of their macro, which
 * GCC only warns about when it differs: Kbuild compiles this file with
 * -Werror. It has no code.
 */

#include <linux/build_bug.h>

#include "nlproto/nflab.h"
#include "nlproto/zz_static_assert.h"
