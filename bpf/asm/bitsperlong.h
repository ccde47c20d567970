/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* See types.h here: the BPF target is 64-bit whatever the host is. */
#define __BITS_PER_LONG 64
#include <asm-generic/bitsperlong.h>
