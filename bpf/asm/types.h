/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * linux/types.h wants <asm/types.h>, which Debian keeps in a per-arch
 * directory that clang -target bpf does not search. Every arch's copy is
 * this one include, so bnet ships it and builds the same on any host.
 */
#include <asm-generic/types.h>
