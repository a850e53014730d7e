// SPDX-License-Identifier: GPL-2.0
/*
 * unft: the net_flow_nl family (the Flow Table API leg of the contract).
 *
 * Every command is a "do" handled by unft_api_doit(); GET_FLOWS is also a
 * dump (NLM_F_DUMP: unft_flows_start() makes the call, unft_dump_page()
 * answers its flows page by page, then NLMSG_DONE and no ACK). Both run:
 *   1. policy validation by the genetlink core (strict), then unft_check()
 *      for required and repeated attributes: -EINVAL with the path;
 *   2. the preamble: IDENTIFIER_TYPE = IFINDEX and an IDENTIFIER naming a
 *      unft port in the requester's namespace, else -EINVAL;
 *   3. UPDATE_FLOWS, CREATE_TABLE, DESTROY_TABLE: -EOPNOTSUPP;
 *   4. no listener in the requester's namespace (where the port was found):
 *      -ENOTCONN at once;
 *   5. one ENCAP request (or its parts) to that namespace's listener, then a sleep on the
 *      call's completion (process context, no lock held) until the answer,
 *      the timeout (-ETIMEDOUT) or the listener's end (-ENOTCONN);
 *   6. the API reply built from the answer per the contract's tables (a
 *      do's GET_FLOWS: one message with every flow, see unft_reply_flows()).
 * Every operation needs CAP_NET_ADMIN (GENL_ADMIN_PERM), the getters too.
 */
#include <linux/errno.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "unft.h"
#include "unft_compat.h"

static const char *const unft_cmd_names[] = {
	[NFL_TABLE_CMD_GET_TABLES] = "GET_TABLES",
	[NFL_TABLE_CMD_GET_HEADERS] = "GET_HEADERS",
	[NFL_TABLE_CMD_GET_ACTIONS] = "GET_ACTIONS",
	[NFL_TABLE_CMD_GET_HDR_GRAPH] = "GET_HDR_GRAPH",
	[NFL_TABLE_CMD_GET_TABLE_GRAPH] = "GET_TABLE_GRAPH",
	[NFL_TABLE_CMD_GET_FLOWS] = "GET_FLOWS",
	[NFL_TABLE_CMD_SET_FLOWS] = "SET_FLOWS",
	[NFL_TABLE_CMD_DEL_FLOWS] = "DEL_FLOWS",
	[NFL_TABLE_CMD_UPDATE_FLOWS] = "UPDATE_FLOWS",
	[NFL_TABLE_CMD_CREATE_TABLE] = "CREATE_TABLE",
	[NFL_TABLE_CMD_DESTROY_TABLE] = "DESTROY_TABLE",
};

static int unft_check_preamble(struct genl_info *info, struct unft_req *req)
{
	struct nlattr **tb = info->attrs;
	struct net_device *dev;
	int err = 0;

	if (!tb[NFL_IDENTIFIER_TYPE])
		return unft_top_missing(info->extack, NFL_IDENTIFIER_TYPE, "IDENTIFIER_TYPE",
					"the preamble is missing: ");
	if (!tb[NFL_IDENTIFIER])
		return unft_top_missing(info->extack, NFL_IDENTIFIER, "IDENTIFIER",
					"the preamble is missing: ");
	req->id_type = nla_get_u32(tb[NFL_IDENTIFIER_TYPE]);
	req->ifindex = nla_get_u32(tb[NFL_IDENTIFIER]);
	if (req->id_type != NFL_IDENTIFIER_IFINDEX) {
		unft_text(info->extack, tb[NFL_IDENTIFIER_TYPE],
			  "unknown identifier type %u (only IFINDEX, %u, is known)",
			  req->id_type, NFL_IDENTIFIER_IFINDEX);
		return -EINVAL;
	}

	rcu_read_lock();
	dev = req->ifindex <= INT_MAX ?
	      dev_get_by_index_rcu(genl_info_net(info), req->ifindex) : NULL;
	if (!dev) {
		err = -EINVAL;
		unft_text(info->extack, tb[NFL_IDENTIFIER],
			  "no device with ifindex %u in this network namespace", req->ifindex);
	} else if (!unft_is_unft_dev(dev)) {
		err = -EINVAL;
		unft_text(info->extack, tb[NFL_IDENTIFIER],
			  "ifindex %u (%s) is not a unft device", req->ifindex, dev->name);
	}
	rcu_read_unlock();
	return err;
}

/* The FLOW elements of a SET/DEL request, by index. */
static int unft_index_flows(struct genl_info *info, struct unft_req *req)
{
	const struct nlattr *flows = info->attrs[NFL_FLOWS];
	const struct nlattr *a;
	u32 n = 0;
	int rem;

	if (!flows)
		return 0;
	nla_for_each_nested(a, flows, rem)
		n++;
	if (!n)
		return 0;
	req->flows = unft_kvzalloc(array_size(n, sizeof(*req->flows)));
	if (!req->flows)
		return -ENOMEM;
	nla_for_each_nested(a, flows, rem)
		req->flows[req->nflows++] = a;
	return 0;
}

static int unft_answer_error(struct genl_info *info, const struct unft_call *call)
{
	if (call->msg[0])
		unft_text(info->extack, NULL, "%s", call->msg);
	return -(int)call->status;
}

void *unft_api_reply_start(struct sk_buff *skb, u32 portid, u32 seq, int flags,
			   const struct unft_req *req)
{
	void *hdr = genlmsg_put(skb, portid, seq, &unft_api_family, flags, req->cmd);

	if (!hdr ||
	    nla_put_u32(skb, NFL_IDENTIFIER_TYPE, req->id_type) ||
	    nla_put_u32(skb, NFL_IDENTIFIER, req->ifindex))
		return NULL;
	return hdr;
}

/* GET_TABLES ... GET_TABLE_GRAPH: preamble + the answer's payload, one message. */
static int unft_reply_discovery(struct genl_info *info, const struct unft_req *req,
				const struct unft_call *call)
{
	struct sk_buff *skb;
	void *hdr;

	skb = unft_skb_new(UNFT_PREAMBLE_SIZE + call->attrs.len);
	if (!skb)
		return -ENOMEM;
	hdr = unft_api_reply_start(skb, info->snd_portid, info->snd_seq, 0, req);
	if (!hdr)
		goto nospace;
	if (call->attrs.data &&
	    unft_put_copies(skb, (const struct nlattr *)call->attrs.data, call->attrs.len,
			    BIT(NFL_IDENTIFIER_TYPE) | BIT(NFL_IDENTIFIER)))
		goto nospace;
	return unft_reply_send(skb, hdr, info);

nospace:
	unft_skb_free(skb);
	return -EMSGSIZE;
}

static int unft_api_reply(struct sk_buff *skb, struct genl_info *info,
			  const struct unft_req *req, const struct unft_call *call)
{
	int err;

	switch (req->cmd) {
	case NFL_TABLE_CMD_GET_FLOWS:
		if (call->status)
			return unft_answer_error(info, call);
		return unft_reply_flows(skb, info, req, call);
	case NFL_TABLE_CMD_SET_FLOWS:
	case NFL_TABLE_CMD_DEL_FLOWS:
		if (call->status) {
			/* ABORT_LOG: the failed flow first, then the error. */
			if (req->strategy == NFL_FLOWS_ERROR_ABORT_LOG) {
				err = unft_reply_report(info, req, call, true);
				if (err < 0)
					return err;
			}
			return unft_answer_error(info, call);
		}
		/* CONT_LOG: every failed flow, then the ACK. CONTINUE: the ACK. */
		if (req->strategy == NFL_FLOWS_ERROR_CONT_LOG) {
			err = unft_reply_report(info, req, call, false);
			if (err < 0)
				return err;
		}
		return 0;
	default:
		if (call->status)
			return unft_answer_error(info, call);
		return unft_reply_discovery(info, req, call);
	}
}

/*
 * Steps 1-5 for the request in @info (@tb: room for its attributes): the
 * answered call (its STATUS may be an errno), or an ERR_PTR with the text set.
 */
static struct unft_call *unft_api_call(struct genl_info *info, struct unft_req *req,
				       struct nlattr **tb)
{
	u8 cmd = req->cmd;
	struct unft_peer peer = {};
	struct unft_call *call;
	unsigned long deadline;
	/* The ops table registers spec commands only: cmd <= NFL_CMD_MAX. */
	const struct unft_request *rules = &unft_net_flow_nl_requests[cmd];
	u64 t_start = ktime_get_ns(), t_woken;
	int err;

	err = unft_validate(info, rules->policy, NFL_MAX, tb);
	if (err)
		return ERR_PTR(err);
	req->tb = tb;
	err = unft_check(rules->set, info->nlhdr, nlmsg_attrdata(info->nlhdr, GENL_HDRLEN),
			 nlmsg_attrlen(info->nlhdr, GENL_HDRLEN), NULL, info->extack);
	if (err)
		return ERR_PTR(err);
	err = unft_check_preamble(info, req);
	if (err)
		return ERR_PTR(err);
	if (cmd > NFL_TABLE_CMD_DEL_FLOWS) {
		unft_text(info->extack, NULL, "%s is not supported by unft",
			  cmd < ARRAY_SIZE(unft_cmd_names) ? unft_cmd_names[cmd] : "?");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (cmd == NFL_TABLE_CMD_SET_FLOWS || cmd == NFL_TABLE_CMD_DEL_FLOWS) {
		if (info->attrs[NFL_FLOWS_ERROR])
			req->strategy = nla_get_u32(info->attrs[NFL_FLOWS_ERROR]);
		err = unft_index_flows(info, req);
		if (err)
			return ERR_PTR(err);
	}

	deadline = jiffies + msecs_to_jiffies(max(READ_ONCE(unft_timeout_ms), 1U));
	call = unft_call_start(cmd, req->nflows, genl_info_net(info), &peer, info->extack);
	if (IS_ERR(call))
		return call;

	err = unft_send_request(call, req, &peer, deadline);
	call->t_sent = ktime_get_ns();
	if (err && err != -ECANCELED) {
		char why[80];

		snprintf(why, sizeof(why), "the ENCAP request could not be sent to the listener (%pe)",
			 ERR_PTR(err));
		unft_call_fail(call, err, why);
	}
	err = unft_call_wait(call, deadline);
	t_woken = ktime_get_ns();
	unft_peer_put(&peer);
	if (err) {
		if (call->why[0])
			unft_text(info->extack, NULL, "%s", call->why);
		unft_call_put(call);
		return ERR_PTR(err);
	}
	atomic64_inc(&unft_stats.timed_calls);
	atomic64_add(ktime_get_ns() - t_start, &unft_stats.time_total_ns);
	atomic64_add(call->t_done - call->t_sent, &unft_stats.time_listener_ns);
	atomic64_add(t_woken - call->t_done, &unft_stats.time_wake_ns);
	return call;
}

int unft_api_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct unft_req req = {
		.nlh = info->nlhdr,
		.cmd = info->genlhdr->cmd,
		.strategy = NFL_FLOWS_ERROR_ABORT,
	};
	struct nlattr *tb[NFL_MAX + 1];
	struct unft_call *call;
	int err;

	call = unft_api_call(info, &req, tb);
	if (IS_ERR(call)) {
		err = PTR_ERR(call);
	} else {
		err = unft_api_reply(skb, info, &req, call);
		unft_call_put(call);
	}
	unft_kvfree(req.flows);
	return err;
}

/*
 * GET_FLOWS with NLM_F_DUMP: the call is made here, in the client's
 * sendmsg() as for a do (the genetlink core holds no lock of ours nor
 * genl_lock: parallel_ops), so the first page's size is known before
 * netlink_dump() allocates its skb; the pages then follow the client's reads.
 * A failure is answered here, with this handler's extended ack, and -EINTR
 * tells netlink_rcv_skb() not to answer again: before 6.5 the core gives
 * .start no extended ack, so its own NLMSG_ERROR would have no text. The
 * same NLMSG_ERROR as a do's, on every kernel.
 */
int unft_flows_start(struct netlink_callback *cb)
{
	struct unft_dump_ctx *ctx = (struct unft_dump_ctx *)cb->ctx;
	struct netlink_ext_ack extack = {};
	struct genl_info info = {
		.snd_seq = cb->nlh->nlmsg_seq,
		.snd_portid = NETLINK_CB(cb->skb).portid,
		.nlhdr = (struct nlmsghdr *)cb->nlh,
		.genlhdr = nlmsg_data(cb->nlh),
		.extack = &extack,
	};
	struct unft_req req = {
		.nlh = cb->nlh,
		.cmd = NFL_TABLE_CMD_GET_FLOWS,
	};
	struct nlattr *tb[NFL_MAX + 1];
	struct unft_call *call;
	int err;

	BUILD_BUG_ON(sizeof(*ctx) > sizeof(cb->ctx));
	genl_info_net_set(&info, sock_net(cb->skb->sk));
	call = unft_api_call(&info, &req, tb);
	if (IS_ERR(call)) {
		err = PTR_ERR(call);
	} else if (call->status) {
		err = unft_answer_error(&info, call);
		unft_call_put(call);
	} else {
		*ctx = (struct unft_dump_ctx){
			.call = call,
			.id_type = req.id_type,
			.ifindex = req.ifindex,
		};
		cb->min_dump_alloc = unft_dump_alloc(call);
		return 0;
	}
	unft_ack_dump_start(cb, err, &extack);
	return -EINTR;
}

int unft_flows_done(struct netlink_callback *cb)
{
	struct unft_dump_ctx *ctx = (struct unft_dump_ctx *)cb->ctx;

	if (ctx->call)
		unft_call_put(ctx->call);
	ctx->call = NULL;
	return 0;
}

/*
 * The ops (unft_net_flow_nl_ops) are generated from the spec (get-flows'
 * dump with unft_flows_start, unft_dump_page, unft_flows_done). No policy for
 * the core: it splits the attributes by type (and refuses unknown types and
 * trailing bytes); unft_api_doit() validates them (unft_validate(): -EINVAL,
 * never the core's -ERANGE).
 */
struct genl_family unft_api_family = {
	.name		= NFL_GENL_NAME,
	.version	= NFL_GENL_VERSION,
	.maxattr	= NFL_MAX,
	.resv_start_op	= NFL_CMD_MAX + 1,	/* see unft_header_check() */
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= unft_net_flow_nl_ops,
	.n_ops		= ARRAY_SIZE(unft_net_flow_nl_ops),
};

int unft_api_init(void)
{
	return genl_register_family(&unft_api_family);
}

void unft_api_exit(void)
{
	genl_unregister_family(&unft_api_family);
}
