// SPDX-License-Identifier: GPL-2.0
/*
 * unft: the nfl_hairpin family. Each network namespace has its own
 * listener (a netlink port, taken from the sender of SET_LISTENER: the
 * listener's namespace is its socket's), its own calls and its own SEQ
 * counter (pernet state, struct unft_net). A call on a port goes to the
 * listener of the namespace the request named the port in, as an ENCAP
 * request, and is answered by an ENCAP answer carrying the same SEQ from
 * that listener's socket. Calls wait in their namespace's table keyed by
 * SEQ; each has a completion, a timeout (timeout_ms), and ends exactly
 * once: answered (DONE) or FAILED (timeout, listener gone, broken answer,
 * unload).
 *
 * Locking: unft_hp.lock (a spinlock, never held while sleeping) guards
 * every namespace's listener and table, the list of namespaces and every
 * call's state (one lock: calls are rare and short next to the netlink
 * round trips around them). A call's mutex serialises the
 * parts of its answer; the waiter takes it once after the call ended, so no
 * answer handler is still writing when the waiter reads the answer.
 * Both families set parallel_ops: a caller sleeps in its handler while the
 * listener's answer runs in another handler; without it both would run
 * under the genl mutex and the caller would wait for ever.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/hashtable.h>
#include <linux/jiffies.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/ktime.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "unft.h"
#include "unft_compat.h"

/* One network namespace's hairpin (pernet, zeroed by the core). */
struct unft_net {
	struct list_head node;		/* in unft_hp.nets */
	bool registered;
	u32 portid;			/* the listener, in this namespace */
	u64 next_seq;
	DECLARE_HASHTABLE(calls, 6);	/* pending calls by SEQ */
};

static unsigned int unft_net_id;

static struct {
	spinlock_t lock;		/* see "Locking" above */
	bool dying;			/* module exit has begun */
	struct list_head nets;		/* every namespace's unft_net */
	struct unft_net *init;		/* the initial namespace's, while registered */
} unft_hp = {
	.lock = __SPIN_LOCK_UNLOCKED(unft_hp.lock),
	.nets = LIST_HEAD_INIT(unft_hp.nets),
};

static struct unft_net *unft_net(const struct net *net)
{
	return net_generic(net, unft_net_id);
}

/* debugfs outlives the pernet state on both ends of the module's life. */
u32 unft_hairpin_listener(void)
{
	u32 port = 0;

	spin_lock(&unft_hp.lock);
	if (unft_hp.init && unft_hp.init->registered)
		port = unft_hp.init->portid;
	spin_unlock(&unft_hp.lock);
	return port;
}

u32 unft_hairpin_listeners(void)
{
	struct unft_net *un;
	u32 n = 0;

	spin_lock(&unft_hp.lock);
	list_for_each_entry(un, &unft_hp.nets, node)
		n += un->registered;
	spin_unlock(&unft_hp.lock);
	return n;
}

/* ---- calls ---- */

static void unft_call_free(struct unft_call *call)
{
	unft_buf_free(&call->attrs);
	unft_buf_free(&call->flows);
	unft_kvfree(call->results);
	mutex_destroy(&call->lock);
	unft_kvfree(call);
}

void unft_call_put(struct unft_call *call)
{
	if (call && refcount_dec_and_test(&call->ref))
		unft_call_free(call);
}

void unft_peer_put(struct unft_peer *peer)
{
	if (peer->net)
		put_net(peer->net);
	peer->net = NULL;
}

struct unft_call *unft_call_start(u8 cmd, u32 nflows, struct net *net,
				  struct unft_peer *peer, struct netlink_ext_ack *extack)
{
	struct unft_net *un = unft_net(net);
	struct unft_call *call;
	int err = 0;

	call = unft_kvzalloc(sizeof(*call));
	if (!call)
		return ERR_PTR(-ENOMEM);
	refcount_set(&call->ref, 1);
	init_completion(&call->done);
	mutex_init(&call->lock);
	call->cmd = cmd;
	call->nflows = nflows;
	if (nflows) {
		call->results = unft_kvzalloc(array_size(nflows, sizeof(u32)));
		if (!call->results) {
			unft_call_free(call);
			return ERR_PTR(-ENOMEM);
		}
		memset32(call->results, U32_MAX, nflows);
	}

	spin_lock(&unft_hp.lock);
	if (unft_hp.dying) {
		err = -ESHUTDOWN;
	} else if (!un->registered) {
		err = -ENOTCONN;
	} else {
		call->seq = un->next_seq++;
		call->state = UNFT_CALL_PENDING;
		hash_add(un->calls, &call->node, call->seq);
		peer->net = get_net(net);
		peer->portid = un->portid;
		atomic64_inc(&unft_stats.pending);
		atomic64_inc(&unft_stats.requests);
	}
	spin_unlock(&unft_hp.lock);

	if (err) {
		if (err == -ENOTCONN) {
			atomic64_inc(&unft_stats.notconn);
			unft_text(extack, NULL,
				  "no hairpin listener is registered in this network namespace");
		} else {
			unft_text(extack, NULL, "unft is being unloaded");
		}
		unft_call_free(call);
		return ERR_PTR(err);
	}
	return call;
}

/* Ends a pending call; caller holds unft_hp.lock. */
static bool unft_call_end_locked(struct unft_call *call, enum unft_call_state state,
				 int err, const char *why)
{
	if (call->state != UNFT_CALL_PENDING)
		return false;
	call->state = state;
	call->err = err;
	if (why)
		strscpy(call->why, why, sizeof(call->why));
	hash_del(&call->node);
	atomic64_dec(&unft_stats.pending);
	complete(&call->done);
	return true;
}

/*
 * Fails a call unless it has ended already. @why replaces the answer's
 * text: it is what the API caller will read.
 */
void unft_call_fail(struct unft_call *call, int err, const char *why)
{
	bool ended;

	spin_lock(&unft_hp.lock);
	ended = unft_call_end_locked(call, UNFT_CALL_FAILED, err, why);
	spin_unlock(&unft_hp.lock);
	if (ended && err == -ENOTCONN)
		atomic64_inc(&unft_stats.notconn);
	else if (ended && err == -ETIMEDOUT)
		atomic64_inc(&unft_stats.timeouts);
	else if (ended)
		atomic64_inc(&unft_stats.failed);
}

static bool unft_call_pending(struct unft_call *call)
{
	bool pending;

	spin_lock(&unft_hp.lock);
	pending = call->state == UNFT_CALL_PENDING;
	spin_unlock(&unft_hp.lock);
	return pending;
}

/*
 * Unicasts one ENCAP message to the listener and consumes @skb. A full
 * receive queue is retried until the deadline: the listener is another
 * task and drains it.
 */
int unft_call_send(struct unft_call *call, const struct unft_peer *peer,
		   struct sk_buff *skb, unsigned long deadline)
{
	int err;

	for (;;) {
		struct sk_buff *clone;

		if (!unft_call_pending(call)) {
			err = -ECANCELED;	/* ended meanwhile; wait() tells why */
			break;
		}
		clone = skb_clone(skb, GFP_KERNEL);
		if (!clone) {
			err = -ENOMEM;
			break;
		}
		err = genlmsg_unicast(peer->net, clone, peer->portid);
		if (err != -EAGAIN)
			break;
		atomic64_inc(&unft_stats.send_retries);
		if (time_after(jiffies, deadline)) {
			err = -ETIMEDOUT;
			break;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		usleep_range(2000, 3000);
	}
	unft_skb_free(skb);
	if (!err)
		atomic64_inc(&unft_stats.parts_out);
	if (err == -ECONNREFUSED)
		err = -ENOTCONN;
	return err;
}

int unft_call_wait(struct unft_call *call, unsigned long deadline)
{
	long left = (long)(deadline - jiffies);
	long ret;

	ret = wait_for_completion_killable_timeout(&call->done, max(left, 1L));
	if (ret == 0)
		unft_call_fail(call, -ETIMEDOUT, "the hairpin listener did not answer in time");
	else if (ret < 0)
		unft_call_fail(call, -EINTR, "interrupted");

	/* A handler that completed the call may still hold the lock. */
	mutex_lock(&call->lock);
	mutex_unlock(&call->lock);

	return call->state == UNFT_CALL_DONE ? 0 : call->err;
}

/* Takes a reference on the namespace's pending call with this SEQ. */
static struct unft_call *unft_call_get(struct unft_net *un, u64 seq)
{
	struct unft_call *call, *found = NULL;

	spin_lock(&unft_hp.lock);
	hash_for_each_possible(un->calls, call, node, seq) {
		if (call->seq == seq) {
			refcount_inc(&call->ref);
			found = call;
			break;
		}
	}
	spin_unlock(&unft_hp.lock);
	return found;
}

static void unft_fail_all_locked(struct unft_net *un, int err, const char *why)
{
	struct unft_call *call;
	struct hlist_node *tmp;
	int bkt;

	hash_for_each_safe(un->calls, bkt, tmp, call, node) {
		if (unft_call_end_locked(call, UNFT_CALL_FAILED, err, why) && err == -ENOTCONN)
			atomic64_inc(&unft_stats.notconn);
	}
}

/* ---- the family ---- */

static bool unft_is_listener(struct genl_info *info)
{
	struct unft_net *un = unft_net(genl_info_net(info));
	bool ok;

	spin_lock(&unft_hp.lock);
	ok = un->registered && un->portid == info->snd_portid;
	spin_unlock(&unft_hp.lock);
	return ok;
}

int unft_hp_set_listener(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *lt[NFLH_LISTENER_ATTR_MAX + 1];
	struct nlattr *tb[NFLH_MAX + 1], *nest;
	struct unft_net *un = unft_net(genl_info_net(info));
	u32 type, port = 0;
	int err;

	err = unft_validate(info, unft_nflh_attrs_pol, NFLH_MAX, tb);
	if (err)
		return err;
	nest = tb[NFLH_LISTENER];
	if (!nest)
		return unft_top_missing(info->extack, NFLH_LISTENER, "LISTENER", "");
	err = unft_check(&unft_listener_set, info->nlhdr, nla_data(nest), nla_len(nest),
			 "LISTENER", info->extack);
	if (err)
		return err;
	err = nla_parse_nested(lt, NFLH_LISTENER_ATTR_MAX, nest, NULL, info->extack);
	if (err)
		return err;
	type = nla_get_u32(lt[NFLH_LISTENER_ATTR_TYPE]);
	if (type != NFLH_LISTENER_TYPE_ENCAP) {
		unft_text(info->extack, lt[NFLH_LISTENER_ATTR_TYPE],
			  "unknown listener type %u", type);
		return -EINVAL;
	}

	spin_lock(&unft_hp.lock);
	if (unft_hp.dying) {
		err = -ESHUTDOWN;
	} else if (un->registered && un->portid != info->snd_portid) {
		err = -EBUSY;
		port = un->portid;
	} else {
		/* The sender's port, never a number from the message. */
		un->registered = true;
		un->portid = info->snd_portid;
	}
	spin_unlock(&unft_hp.lock);

	if (err == -EBUSY)
		unft_text(info->extack, NULL,
			  "a listener is registered already in this network namespace (port %u)",
			  port);
	else if (err)
		unft_text(info->extack, NULL, "unft is being unloaded");
	return err;
}

int unft_hp_get_listener(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	struct nlattr *nest;
	bool registered;
	struct nlattr *tb[NFLH_MAX + 1];
	struct unft_net *un = unft_net(genl_info_net(info));
	void *hdr;
	u32 port;
	int err;

	err = unft_validate(info, unft_nflh_attrs_pol, NFLH_MAX, tb);
	if (err)
		return err;
	spin_lock(&unft_hp.lock);
	registered = un->registered;
	port = un->portid;
	spin_unlock(&unft_hp.lock);
	if (!registered) {
		unft_text(info->extack, NULL,
			  "no hairpin listener is registered in this network namespace");
		return -ENOENT;
	}

	msg = unft_skb_new(nla_total_size(0) + 2 * nla_total_size(sizeof(u32)));
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put(msg, info->snd_portid, info->snd_seq, &unft_hp_family, 0,
			  NFLH_CMD_GET_LISTENER);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(msg, NFLH_LISTENER);
	if (!nest ||
	    nla_put_u32(msg, NFLH_LISTENER_ATTR_TYPE, NFLH_LISTENER_TYPE_ENCAP) ||
	    nla_put_u32(msg, NFLH_LISTENER_ATTR_PORT, port))
		goto nospace;
	nla_nest_end(msg, nest);
	return unft_reply_send(msg, hdr, info);

nospace:
	unft_skb_free(msg);
	return -EMSGSIZE;
}

int unft_hp_encap(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *et[NFLH_ENCAP_MAX + 1];
	struct nlattr *tb[NFLH_MAX + 1], *nest;
	struct unft_call *call;
	bool acked = false;
	u64 seq;
	int err;

	err = unft_validate(info, unft_nflh_attrs_pol, NFLH_MAX, tb);
	if (err)
		return err;
	nest = tb[NFLH_ENCAP];
	if (!nest)
		return unft_top_missing(info->extack, NFLH_ENCAP, "ENCAP", "");
	if (!unft_is_listener(info)) {
		atomic64_inc(&unft_stats.refused);
		unft_text(info->extack, NULL,
			  "ENCAP answers are accepted only from the listener's socket");
		return -EPERM;
	}
	err = nla_parse_nested(et, NFLH_ENCAP_MAX, nest, NULL, info->extack);
	if (err)
		return err;
	if (!et[NFLH_ENCAP_SEQ]) {
		unft_text(info->extack, nest, "ENCAP at byte %ld: required attribute SEQ is missing",
			  (long)((u8 *)nest - (u8 *)info->nlhdr));
		NL_SET_ERR_ATTR_MISS(info->extack, nest, NFLH_ENCAP_SEQ);
		return -EINVAL;
	}
	if (!et[NFLH_ENCAP_STATUS]) {
		unft_text(info->extack, nest,
			  "ENCAP without STATUS is a request: unft accepts only answers");
		return -EINVAL;
	}
	seq = nla_get_u64(et[NFLH_ENCAP_SEQ]);

	call = unft_call_get(unft_net(genl_info_net(info)), seq);
	if (!call) {
		atomic64_inc(&unft_stats.refused);
		unft_text(info->extack, et[NFLH_ENCAP_SEQ],
			  "ENCAP seq %llu: no call waits for it (unknown, answered or timed out)",
			  seq);
		return -ENOENT;
	}

	mutex_lock(&call->lock);
	if (!unft_call_pending(call)) {
		atomic64_inc(&unft_stats.refused);
		unft_text(info->extack, et[NFLH_ENCAP_SEQ],
			  "ENCAP seq %llu: the call has ended (timed out or failed)", seq);
		err = -ENOENT;
		goto out;
	}
	err = unft_answer_add(call, et, info->nlhdr, info->extack);
	if (err < 0) {
		/* The whole call fails, with the text the listener gets too. */
		unft_call_fail(call, err, info->extack->_msg);
	} else {
		atomic64_inc(&unft_stats.parts_in);
		if (err == 1) {
			bool ended;

			/*
			 * The listener's ACK goes out before the caller wakes up, as
			 * the twin does: otherwise the caller's next request could
			 * reach the listener before this ACK (the core ACKs only
			 * after the handler returns). -EINTR below tells
			 * netlink_rcv_skb() not to ACK a second time.
			 */
			if (info->nlhdr->nlmsg_flags & NLM_F_ACK) {
				unft_ack_now(skb, info);
				acked = true;
			}
			call->t_done = ktime_get_ns();
			spin_lock(&unft_hp.lock);
			ended = unft_call_end_locked(call, UNFT_CALL_DONE, 0, NULL);
			spin_unlock(&unft_hp.lock);
			if (ended)
				atomic64_inc(&unft_stats.answers);
		}
		err = 0;
	}
out:
	mutex_unlock(&call->lock);
	unft_call_put(call);
	return acked ? -EINTR : err;
}

/*
 * GENL_NAMSIZ (16) counts the NUL: a family name has at most 15 characters,
 * which the genetlink core does not check (nlctrl's strlen would run off the
 * end: a fortify BUG). ynl-gen refuses longer names; the copy below stays
 * bounded all the same.
 */
struct genl_family unft_hp_family = {
	.version	= NFLH_GENL_VERSION,
	.maxattr	= NFLH_MAX,
	/* No policy: each handler validates (unft_validate); see unft_header_check(). */
	.resv_start_op	= NFLH_CMD_MAX + 1,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.small_ops	= unft_nfl_hairpin_ops,	/* generated from the spec */
	.n_small_ops	= ARRAY_SIZE(unft_nfl_hairpin_ops),
};

/* ---- the listener's socket going away ---- */

static int unft_hp_notify(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct unft_net *un;
	bool lost = false;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;

	un = unft_net(n->net);
	spin_lock(&unft_hp.lock);
	if (un->registered && un->portid == n->portid) {
		un->registered = false;
		unft_fail_all_locked(un, -ENOTCONN, "the hairpin listener's socket was closed");
		lost = true;
	}
	spin_unlock(&unft_hp.lock);

	if (lost)
		atomic64_inc(&unft_stats.listener_lost);
	return NOTIFY_DONE;
}

static struct notifier_block unft_hp_notifier = {
	.notifier_call = unft_hp_notify,
};

/* ---- namespaces ---- */

static int __net_init unft_net_init(struct net *net)
{
	struct unft_net *un = unft_net(net);

	un->next_seq = 1;
	hash_init(un->calls);
	spin_lock(&unft_hp.lock);
	list_add(&un->node, &unft_hp.nets);
	if (net_eq(net, &init_net))
		unft_hp.init = un;
	spin_unlock(&unft_hp.lock);
	return 0;
}

/*
 * The namespace's last socket is gone, so is its listener, and no caller
 * is left in a handler; failing what might remain keeps the table honest.
 */
static void __net_exit unft_net_exit(struct net *net)
{
	struct unft_net *un = unft_net(net);

	spin_lock(&unft_hp.lock);
	un->registered = false;
	unft_fail_all_locked(un, -ENOTCONN, "the network namespace is going away");
	list_del(&un->node);
	if (unft_hp.init == un)
		unft_hp.init = NULL;
	spin_unlock(&unft_hp.lock);
}

static struct pernet_operations unft_net_ops = {
	.init	= unft_net_init,
	.exit	= unft_net_exit,
	.id	= &unft_net_id,
	.size	= sizeof(struct unft_net),
};

int unft_hairpin_init(void)
{
	int err;

	strscpy(unft_hp_family.name, NFLH_GENL_NAME, sizeof(unft_hp_family.name));
	if (sizeof(NFLH_GENL_NAME) > sizeof(unft_hp_family.name))
		pr_notice("family name \"%s\" is longer than GENL_NAMSIZ allows: registered as \"%s\"\n",
			  NFLH_GENL_NAME, unft_hp_family.name);

	err = register_pernet_subsys(&unft_net_ops);
	if (err)
		return err;
	err = netlink_register_notifier(&unft_hp_notifier);
	if (err)
		goto err_pernet;
	err = genl_register_family(&unft_hp_family);
	if (err)
		goto err_notifier;
	return 0;

err_notifier:
	netlink_unregister_notifier(&unft_hp_notifier);
err_pernet:
	unregister_pernet_subsys(&unft_net_ops);
	return err;
}

/* First step of unloading: no new calls, every waiting call wakes up. */
void unft_hairpin_shutdown(void)
{
	struct unft_net *un;

	spin_lock(&unft_hp.lock);
	unft_hp.dying = true;
	list_for_each_entry(un, &unft_hp.nets, node)
		unft_fail_all_locked(un, -ESHUTDOWN, "unft is being unloaded");
	spin_unlock(&unft_hp.lock);
}

void unft_hairpin_exit(void)
{
	genl_unregister_family(&unft_hp_family);
	netlink_unregister_notifier(&unft_hp_notifier);
	unregister_pernet_subsys(&unft_net_ops);
}
