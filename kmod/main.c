// SPDX-License-Identifier: GPL-2.0
/*
 * nflab: a netfilter lab module. Module entry and exit.
 */

#include <linux/module.h>
#include <net/genetlink.h>

#include "nflab.h"
#include "rules.h"

/*
 * Layers, bottom up: the table; nflab's state in every namespace; the
 * netlink family, which reaches that state; the hooks, which fill the table
 * and send events through the family. Unload takes them down top first, so
 * the family goes only after the hooks and the last entry's DESTROY event.
 */
static int __init nflab_init(void)
{
	int ret;

	ret = nflab_ct_init();
	if (ret)
		return ret;
	nflab_nat_init();
	nflab_fc_init();

	ret = nflab_state_init_all();
	if (ret)
		goto err_ct_exit;

	ret = nflab_netlink_init();
	if (ret)
		goto err_state_exit;

	ret = nflab_nat_notifiers_init();
	if (ret)
		goto err_netlink_exit;

	ret = nflab_hooks_init();
	if (ret)
		goto err_nat_exit;

	pr_info("version %s loaded (protocol %d)\n", NFLAB_MODULE_VERSION,
		NFLAB_PROTO_VERSION);
	return 0;

err_nat_exit:
	nflab_nat_notifiers_exit();
err_netlink_exit:
	nflab_netlink_exit();
err_state_exit:
	nflab_state_exit_all();
err_ct_exit:
	nflab_ct_exit();
	return ret;
}

static void __exit nflab_exit(void)
{
	nflab_hooks_exit();
	nflab_nat_notifiers_exit();
	nflab_netlink_exit();
	nflab_state_exit_all();
	nflab_ct_exit();
	pr_info("unloaded\n");
}

module_init(nflab_init);
module_exit(nflab_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Netfilter lab: hooks, connection tracking and NAT");
MODULE_VERSION(NFLAB_MODULE_VERSION);
MODULE_ALIAS_GENL_FAMILY(NFLAB_GENL_NAME);
