/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API differences between nflab's lab kernels (6.1 and 6.12
 * LTS), kept here rather than as #ifdefs through the code. Each helper
 * says which kernel changed what.
 */

#ifndef _NFLAB_COMPAT_H
#define _NFLAB_COMPAT_H

#include <linux/version.h>
#include <net/dropreason.h>
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

/*
 * A probe of the kfree_skb tracepoint, named fn: 6.11 added the receiving
 * socket as a fourth argument.
 */
#if KERNEL_VERSION(6, 11, 0) <= LINUX_VERSION_CODE
#define NFLAB_KFREE_SKB_PROBE(fn)					\
	void fn(void *data, struct sk_buff *skb, void *location,	\
		enum skb_drop_reason reason, struct sock *rx_sk)
#else
#define NFLAB_KFREE_SKB_PROBE(fn)					\
	void fn(void *data, struct sk_buff *skb, void *location,	\
		enum skb_drop_reason reason)
#endif

/*
 * The name of a drop reason, as the kernel's tracepoint prints it. 6.1
 * has one table; 6.4 split the reasons into subsystems, each with its own
 * table (only the core's is always there).
 */
static inline const char *nflab_drop_reason_name(enum skb_drop_reason reason)
{
#if KERNEL_VERSION(6, 4, 0) <= LINUX_VERSION_CODE
	const struct drop_reason_list *list;
	unsigned int subsys = reason >> SKB_DROP_REASON_SUBSYS_SHIFT;
	unsigned int i = reason & ~SKB_DROP_REASON_SUBSYS_MASK;
	const char *name = NULL;

	if (subsys >= SKB_DROP_REASON_SUBSYS_NUM)
		return NULL;
	rcu_read_lock();
	list = rcu_dereference(drop_reasons_by_subsys[subsys]);
	if (list && i < list->n_reasons)
		name = list->reasons[i];
	rcu_read_unlock();
	return name;
#else
	return (unsigned int)reason < SKB_DROP_REASON_MAX ? drop_reasons[reason] : NULL;
#endif
}

#endif /* _NFLAB_COMPAT_H */
