/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unft: the kernel API differences between the kernels unft builds on
 * (Debian's 6.1 and 6.12), kept here so the rest of the module reads as
 * one version. Each is tested by what the kernel defines, not by
 * LINUX_VERSION_CODE.
 */
#ifndef _UNFT_COMPAT_H
#define _UNFT_COMPAT_H

#include <linux/netdevice.h>
#include <linux/netlink.h>
#include <linux/skbuff.h>
#include <net/genetlink.h>

/*
 * Lockless transmit: a feature bit until 6.11, a device field since. The
 * bit's macro is tested rather than the version, so a kernel with the
 * change backported builds too.
 */
static inline void unft_set_lltx(struct net_device *dev)
{
#ifdef NETIF_F_LLTX
	dev->features |= NETIF_F_LLTX;
#else
	dev->lltx = true;
#endif
}

/*
 * ACKs the message a doit handler is handling. info->nlhdr became const
 * while netlink_ack() still takes a plain pointer; netlink_rcv_skb() calls
 * the handler with that message at skb->data, which is the same header
 * without a cast.
 */
static inline void unft_ack_now(struct sk_buff *skb, struct genl_info *info)
{
	netlink_ack(skb, nlmsg_hdr(skb), 0, info->extack);
}

/*
 * Answers the dump request a .start handler is starting with @err and
 * @extack, as netlink_rcv_skb() answers a do; the handler then returns
 * -EINTR so the core does not answer again. The request is at
 * cb->skb->data (netlink_rcv_skb() pulls each message it has handled), as
 * cb->nlh is, which is const where netlink_ack() is not.
 */
static inline void unft_ack_dump_start(struct netlink_callback *cb, int err,
				       const struct netlink_ext_ack *extack)
{
	netlink_ack(cb->skb, nlmsg_hdr(cb->skb), err, extack);
}

#endif /* _UNFT_COMPAT_H */
