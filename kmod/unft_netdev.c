// SPDX-License-Identifier: GPL-2.0
/*
 * unft: the network device type. `ip link add unft0 type unft` makes a
 * port; each port has its own ifindex, which is what a Flow Table API
 * request names in its preamble. The data path is not modelled: frames
 * sent to a port are counted and dropped.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <net/rtnetlink.h>

#include "unft.h"
#include "unft_compat.h"

static struct rtnl_link_ops unft_link_ops;

bool unft_is_unft_dev(const struct net_device *dev)
{
	return dev->rtnl_link_ops == &unft_link_ops;
}

static netdev_tx_t unft_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_lstats_add(dev, skb->len);
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static int unft_dev_init(struct net_device *dev)
{
	dev->lstats = netdev_alloc_pcpu_stats(struct pcpu_lstats);
	return dev->lstats ? 0 : -ENOMEM;
}

static void unft_dev_uninit(struct net_device *dev)
{
	free_percpu(dev->lstats);
}

static void unft_get_stats64(struct net_device *dev,
			     struct rtnl_link_stats64 *stats)
{
	u64 packets, bytes;

	dev_lstats_read(dev, &packets, &bytes);
	stats->tx_packets = packets;
	stats->tx_bytes = bytes;
	stats->tx_dropped = packets;
}

static const struct net_device_ops unft_netdev_ops = {
	.ndo_init		= unft_dev_init,
	.ndo_uninit		= unft_dev_uninit,
	.ndo_start_xmit		= unft_start_xmit,
	.ndo_get_stats64	= unft_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void unft_setup(struct net_device *dev)
{
	struct unft_dev *ud = netdev_priv(dev);

	ether_setup(dev);
	dev->netdev_ops = &unft_netdev_ops;
	dev->needs_free_netdev = true;
	dev->flags |= IFF_NOARP;
	dev->flags &= ~IFF_MULTICAST;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE | IFF_NO_QUEUE;
	unft_set_lltx(dev);
	dev->min_mtu = 0;
	dev->max_mtu = 0;
	eth_hw_addr_random(dev);

	ud->dev = dev;
}

static int unft_link_validate(struct nlattr *tb[], struct nlattr *data[],
			 struct netlink_ext_ack *extack)
{
	if (tb[IFLA_ADDRESS]) {
		if (nla_len(tb[IFLA_ADDRESS]) != ETH_ALEN) {
			NL_SET_ERR_MSG_ATTR(extack, tb[IFLA_ADDRESS],
					    "unft: address must be 6 bytes");
			return -EINVAL;
		}
		if (!is_valid_ether_addr(nla_data(tb[IFLA_ADDRESS]))) {
			NL_SET_ERR_MSG_ATTR(extack, tb[IFLA_ADDRESS],
					    "unft: invalid unicast address");
			return -EADDRNOTAVAIL;
		}
	}
	return 0;
}

static struct rtnl_link_ops unft_link_ops = {
	.kind		= UNFT_DRV_NAME,
	.priv_size	= sizeof(struct unft_dev),
	.setup		= unft_setup,
	.validate	= unft_link_validate,
};

int unft_netdev_init(void)
{
	return rtnl_link_register(&unft_link_ops);
}

void unft_netdev_exit(void)
{
	/* Deletes every unft port in every namespace. */
	rtnl_link_unregister(&unft_link_ops);
}
