/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API differences between nflab's lab kernels (6.1 and 6.12
 * LTS), kept here rather than as #ifdefs through the code. Each helper
 * says which kernel changed what.
 */

#ifndef _NFLAB_COMPAT_H
#define _NFLAB_COMPAT_H

#include <linux/version.h>
#include <net/genetlink.h>

/* 6.12 moved the unaligned access helpers out of asm/. */
#if KERNEL_VERSION(6, 12, 0) <= LINUX_VERSION_CODE
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * The attributes of a dump request, parsed by the genetlink core: 6.2
 * moved them from genl_dumpit_info into its embedded genl_info.
 */
static inline struct nlattr **nflab_dump_attrs(struct netlink_callback *cb)
{
#if KERNEL_VERSION(6, 2, 0) <= LINUX_VERSION_CODE
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * A dump's start callback gets no extended ACK before 6.2 (cb->extack is
 * NULL there), so its rejection would carry no message. There, start
 * should succeed and leave the error to the first dump call, which has an
 * extack (the message then comes with NLMSG_DONE): true when so.
 */
static inline bool nflab_dump_defer(struct netlink_callback *cb, int err)
{
	return err && !cb->extack;
}

#endif /* _NFLAB_COMPAT_H */
