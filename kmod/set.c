// SPDX-License-Identifier: GPL-2.0
/*
 * Named sets of addresses and ports. A set's elements are merged into
 * sorted, disjoint ranges when a transaction commits, off the packet path;
 * an address lookup is a binary search over them, a port lookup one bit
 * of a bitmap. Neither scans elements.
 */

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "nflab.h"
#include "rules.h"

static int nflab_range_cmp(const void *a, const void *b)
{
	const struct nflab_range *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return 0;
}

void nflab_set_data_put(struct nflab_set_data *d)
{
	if (!d || !refcount_dec_and_test(&d->ref))
		return;
	kvfree(d->r);
	bitmap_free(d->ports);
	kfree(d);
}

/*
 * The set's committed elements and those added in the transaction, merged.
 * Process context: sorting a million ranges takes a while, not a lock.
 */
struct nflab_set_data *nflab_set_build(const struct nflab_src_set *s)
{
	unsigned int old = s->data ? s->data->n : 0, n = old + s->nadd, i, out;
	struct nflab_set_data *d;
	struct nflab_range *r;

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d)
		return NULL;
	refcount_set(&d->ref, 1);
	d->type = s->type;
	r = kvmalloc_array(max(n, 1U), sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		goto err_free_data;
	if (old)
		memcpy(r, s->data->r, old * sizeof(*r));
	if (s->nadd)
		memcpy(r + old, s->add, s->nadd * sizeof(*r));
	sort(r, n, sizeof(*r), nflab_range_cmp, NULL);
	for (i = 0, out = 0; i < n; i++) {
		/* Overlapping or adjacent: one range. */
		if (out && (r[i].first <= r[out - 1].last ||
			    r[i].first - 1 == r[out - 1].last)) {
			r[out - 1].last = max(r[out - 1].last, r[i].last);
			continue;
		}
		r[out++] = r[i];
	}
	d->r = r;
	d->n = out;
	if (s->type == NFLAB_SET_TYPE_PORT) {
		d->ports = bitmap_zalloc(65536, GFP_KERNEL_ACCOUNT);
		if (!d->ports)
			goto err_free_ranges;
		for (i = 0; i < out; i++)
			bitmap_set(d->ports, r[i].first,
				   r[i].last - r[i].first + 1);
	}
	return d;

err_free_ranges:
	kvfree(r);
err_free_data:
	kfree(d);
	return NULL;
}

/* Packet path: O(log n) for addresses, O(1) for ports. */
bool nflab_set_lookup(const struct nflab_set_data *d, u32 key)
{
	unsigned int lo = 0, hi = d->n;

	if (d->ports)
		return key < 65536 && test_bit(key, d->ports);
	/* At most 32 rounds: n < 2^32. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (key < d->r[mid].first)
			hi = mid;
		else if (key > d->r[mid].last)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
