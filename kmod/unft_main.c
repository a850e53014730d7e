// SPDX-License-Identifier: GPL-2.0
/*
 * unft: module init and exit, parameters, accounted allocations.
 *
 * Every kvmalloc'd object and every skb the module builds is counted in
 * unft_stats.live while it is ours; the count must be 0 whenever no call is
 * in flight and after unload (reported in the kernel log on exit, since the
 * Debian kernel has no kmemleak).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <net/genetlink.h>
#include <net/rtnetlink.h>

#include "unft.h"

struct unft_stats unft_stats;

unsigned int unft_timeout_ms = 5000;
module_param_named(timeout_ms, unft_timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms, "How long a driver call waits for the listener's answer (ms, default 5000)");

u32 unft_part_budget = UNFT_PART_BUDGET;
u32 unft_max_answer = UNFT_MAX_ANSWER;

void *unft_kvzalloc(size_t size)
{
	void *p = kvzalloc(size, GFP_KERNEL);

	if (p)
		atomic64_inc(&unft_stats.live);
	return p;
}

void unft_kvfree(void *p)
{
	if (!p)
		return;
	atomic64_dec(&unft_stats.live);
	kvfree(p);
}

struct sk_buff *unft_skb_new(size_t payload)
{
	struct sk_buff *skb = genlmsg_new(payload, GFP_KERNEL);

	if (skb)
		atomic64_inc(&unft_stats.live);
	return skb;
}

void unft_skb_free(struct sk_buff *skb)
{
	if (!skb)
		return;
	atomic64_dec(&unft_stats.live);
	kfree_skb(skb);
}

int unft_buf_append(struct unft_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = max_t(size_t, b->cap * 2, 4096);
		u8 *data;

		while (cap < b->len + n)
			cap *= 2;
		data = unft_kvzalloc(cap);
		if (!data)
			return -ENOMEM;
		if (b->len)
			memcpy(data, b->data, b->len);
		unft_kvfree(b->data);
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void unft_buf_free(struct unft_buf *b)
{
	unft_kvfree(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int unft_nest_end(struct sk_buff *skb, struct nlattr *start)
{
	if (skb_tail_pointer(skb) - (unsigned char *)start > U16_MAX)
		return -EMSGSIZE;
	nla_nest_end(skb, start);
	return 0;
}

int unft_put_copy(struct sk_buff *skb, const struct nlattr *attr)
{
	return nla_put(skb, attr->nla_type, nla_len(attr), nla_data(attr));
}

int unft_put_copies(struct sk_buff *skb, const struct nlattr *head, int len,
		    u32 skip)
{
	const struct nlattr *a;
	int rem;

	nla_for_each_attr(a, head, len, rem) {
		if (nla_type(a) < 32 && (skip & BIT(nla_type(a))))
			continue;
		if (unft_put_copy(skb, a))
			return -EMSGSIZE;
	}
	return 0;
}

int unft_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info)
{
	genlmsg_end(skb, hdr);
	unft_skb_gone();
	return genlmsg_reply(skb, info);
}

static int __init unft_init(void)
{
	int err;

	unft_debugfs_init();

	err = unft_hairpin_init();
	if (err)
		goto err_debugfs;
	err = unft_api_init();
	if (err)
		goto err_hairpin;
	err = unft_netdev_init();
	if (err)
		goto err_api;

	pr_info("loaded: families %s and %s, timeout %u ms\n",
		NFL_GENL_NAME, NFLH_GENL_NAME, unft_timeout_ms);
	return 0;

err_api:
	unft_api_exit();
err_hairpin:
	unft_hairpin_shutdown();
	unft_hairpin_exit();
err_debugfs:
	unft_debugfs_exit();
	return err;
}

static void __exit unft_exit(void)
{
	s64 live;

	/* Wake every waiting call first: unregistering a family waits for
	 * the handlers that are still running.
	 */
	unft_hairpin_shutdown();
	unft_api_exit();
	unft_netdev_exit();
	unft_hairpin_exit();
	unft_text_exit();

	live = atomic64_read(&unft_stats.live);
	if (live)
		pr_err("unloaded with a leak: %lld live objects\n", live);
	else
		pr_info("unloaded, no live objects\n");
	unft_debugfs_exit();
}

module_init(unft_init);
module_exit(unft_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Flow Table API loopback offload driver hairpinned to user space");
MODULE_ALIAS_RTNL_LINK("unft");
MODULE_ALIAS_GENL_FAMILY(NFL_GENL_NAME);
MODULE_ALIAS_GENL_FAMILY(NFLH_GENL_NAME);
