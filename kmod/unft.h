/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unft: a loopback Flow Table API offload driver whose driver calls are
 * hairpinned to a user-space listener (spec/two-leg-contract.md).
 *
 * Files, one concern each (after drivers/net/netdevsim):
 *   unft_main.c     module init/exit, parameters
 *   unft_netdev.c   the "unft" rtnl_link type (ip link add unft0 type unft)
 *   unft_nl_gen.c   generated from spec/: nla_policy tables, the strict
 *                   checker's sets, requests by command, the ops tables
 *   unft_policy.c   the strict checker (required / repeated attributes,
 *                   error paths) and the semantic checks YAML cannot say
 *   unft_api.c      the net_flow_nl family: checks, forwarding, API replies
 *   unft_hairpin.c  the nfl_hairpin family: a listener and pending calls
 *                   per network namespace, timeouts, NETLINK_URELEASE
 *   unft_parts.c    ENCAP requests cut into parts, answers put back together
 *   unft_text.c     extended-ack texts that outlive the handler
 *   unft_debugfs.c  counters and knobs in /sys/kernel/debug/unft/
 *   unft_compat.h   the kernel API differences between 6.1 and 6.12
 */
#ifndef _UNFT_H
#define _UNFT_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <net/genetlink.h>

#include <uapi/net_flow.h>

#include "unft_nl_gen.h"

#define UNFT_DRV_NAME		"unft"

/* Contract, "Parts": senders cut parts at this much payload (the spec's part-budget). */
#define UNFT_PART_BUDGET	NFLH_PART_BUDGET
/* GET_FLOWS reply pages: at most this many bytes of FLOW elements each. */
#define UNFT_PAGE_FLOWS		4096
/* Longest extended-ack text (longer ERROR_MSG texts are cut). */
#define UNFT_TEXT_LEN		256
/* Default cap on the reassembled answer of one call. */
#define UNFT_MAX_ANSWER		(16 * 1024 * 1024)

/* ---- counters (unft_debugfs.c) ---- */

struct unft_stats {
	atomic64_t requests;		/* API calls forwarded to the listener */
	atomic64_t answers;		/* calls completed by the listener */
	atomic64_t timeouts;		/* calls that got -ETIMEDOUT */
	atomic64_t notconn;		/* calls failed: no or lost listener */
	atomic64_t failed;		/* calls failed by a broken answer */
	atomic64_t refused;		/* ENCAP answers refused (EPERM/ENOENT/...) */
	atomic64_t parts_out;		/* ENCAP request messages sent */
	atomic64_t parts_in;		/* ENCAP answer messages accepted */
	atomic64_t send_retries;	/* listener queue full, resent */
	atomic64_t listener_lost;	/* listener sockets released */
	/* Where an answered call's time goes (ns, summed over timed_calls):
	 * handler entry to reply queued; of that, ENCAP request queued to the
	 * answer accepted (a task switch and the listener's own work), and
	 * answer accepted to the caller running again (the listener's return
	 * from its system call and a task switch); the rest is unft's work.
	 */
	atomic64_t timed_calls;
	atomic64_t time_total_ns;
	atomic64_t time_listener_ns;
	atomic64_t time_wake_ns;
	atomic64_t pending;		/* calls waiting now */
	atomic64_t live;		/* live allocations: calls, buffers, skbs */
};

extern struct unft_stats unft_stats;

/* ---- knobs (module parameters and debugfs) ---- */

extern unsigned int unft_timeout_ms;	/* answer timeout, module param */
extern u32 unft_part_budget;		/* bytes of flows per ENCAP part */
extern u32 unft_max_answer;		/* cap on one reassembled answer */

/* ---- accounted allocations ---- */

void *unft_kvzalloc(size_t size);
void unft_kvfree(void *p);
struct sk_buff *unft_skb_new(size_t payload);
void unft_skb_free(struct sk_buff *skb);
/* The skb leaves our hands (netlink consumes it, sent or not). */
static inline void unft_skb_gone(void)
{
	atomic64_dec(&unft_stats.live);
}

/* A growable byte buffer (kvmalloc'd, accounted). */
struct unft_buf {
	u8 *data;
	size_t len;
	size_t cap;
};

int unft_buf_append(struct unft_buf *b, const void *p, size_t n);
void unft_buf_free(struct unft_buf *b);

/* Ends a nest, refusing one that outgrew nla_len's 16 bits. */
int unft_nest_end(struct sk_buff *skb, struct nlattr *start);
/* Copies an attribute (header flags included) into skb. */
int unft_put_copy(struct sk_buff *skb, const struct nlattr *attr);
/* Copies the attributes of @head (@len bytes) but those whose type is in the
 * bit mask @skip.
 */
int unft_put_copies(struct sk_buff *skb, const struct nlattr *head, int len,
		    u32 skip);
/* Ends the reply started at @hdr and sends it to the requester. */
int unft_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info);

/*
 * ---- the strict checker (unft_policy.c) ----
 *
 * The policies and checker sets are generated (unft_nl_gen.h): unft_<set>_pol
 * and unft_<set>_set per attribute set of the specs, and per command the
 * request's pair in unft_net_flow_nl_requests / unft_nfl_hairpin_requests.
 */

/*
 * Strict parsing of a request's attributes into @tb (maxtype + 1 entries;
 * info->attrs then points to it) against @policy, done by the handler
 * rather than the genetlink core: the core answers some malformed
 * attributes (a binary too long, a flag with a payload, a nest of 1-3 bytes)
 * with -ERANGE, the contract wants -EINVAL for every malformed message.
 */
int unft_header_check(const struct genl_info *info);
int unft_validate(struct genl_info *info, const struct nla_policy *policy,
		  int maxtype, struct nlattr **tb);
/* The same for a nest (an answer's ATTR). */
int unft_validate_nested(const struct nlattr *nest, const struct nla_policy *policy,
			 int maxtype, struct netlink_ext_ack *extack);

/*
 * Checks what nla_validate cannot: required attributes, repeats in
 * struct-like sets, NUL bytes inside strings. The attributes must already
 * have passed policy validation. On failure sets an extended-ack text
 * "PATH at byte N: reason" (N counted from the start of nlh) and returns
 * -EINVAL.
 */
int unft_check(const struct unft_set *set, const struct nlmsghdr *nlh,
	       const struct nlattr *head, int len, const char *prefix,
	       struct netlink_ext_ack *extack);

/* ---- extended-ack texts (unft_text.c) ---- */

__printf(3, 4)
void unft_text(struct netlink_ext_ack *extack, const struct nlattr *bad,
	       const char *fmt, ...);
/* A required top-level attribute is missing: the text names it (after @why,
 * "" or a clause ending in ": "), NL_SET_ERR_ATTR_MISS its type. -EINVAL.
 */
int unft_top_missing(struct netlink_ext_ack *extack, int type, const char *name,
		     const char *why);
void unft_text_exit(void);

/* ---- the hairpin (unft_hairpin.c) ---- */

enum unft_call_state {
	UNFT_CALL_PENDING,	/* in the table, waiting for its answer */
	UNFT_CALL_DONE,		/* answered completely */
	UNFT_CALL_FAILED,	/* timed out, listener lost, broken answer */
};

/* One driver call hairpinned to the listener. */
struct unft_call {
	struct hlist_node node;		/* in the pending table, by seq */
	refcount_t ref;
	struct completion done;
	struct mutex lock;		/* serialises the answer's parts */
	enum unft_call_state state;	/* under the hairpin lock */
	int err;			/* FAILED: -errno for the caller */
	u64 seq;
	u8 cmd;				/* NFL_TABLE_CMD_* */
	u32 nflows;			/* flows of a SET/DEL request */
	u64 t_sent;			/* ktime ns: the (last) ENCAP part queued */
	u64 t_done;			/* ktime ns: the answer accepted */

	/* The answer, filled under @lock while PENDING. */
	bool started;			/* a first part was accepted */
	u32 next_part;
	u32 status;			/* positive errno or 0 */
	size_t total;			/* answer bytes so far */
	char msg[UNFT_TEXT_LEN];	/* the answer's ERROR_MSG */
	char why[UNFT_TEXT_LEN];	/* FAILED: the reason, set once */
	struct unft_buf attrs;		/* ATTR of part 0 without FLOWS */
	struct unft_buf flows;		/* FLOW elements of every part */
	u32 nanswer_flows;
	u32 *results;			/* errno per request flow, or U32_MAX */
};

/* Where the listener is, for one call (a reference on @net is held). */
struct unft_peer {
	struct net *net;
	u32 portid;
};

/* A call to the listener of @net, the namespace the request named the port in. */
struct unft_call *unft_call_start(u8 cmd, u32 nflows, struct net *net,
				  struct unft_peer *peer, struct netlink_ext_ack *extack);
int unft_call_send(struct unft_call *call, const struct unft_peer *peer,
		   struct sk_buff *skb, unsigned long deadline);
void unft_call_fail(struct unft_call *call, int err, const char *why);
int unft_call_wait(struct unft_call *call, unsigned long deadline);
void unft_call_put(struct unft_call *call);
void unft_peer_put(struct unft_peer *peer);

extern struct genl_family unft_hp_family;

int unft_hairpin_init(void);
void unft_hairpin_shutdown(void);
void unft_hairpin_exit(void);
/* For debugfs: the initial namespace's listener port or 0; how many
 * namespaces have a listener.
 */
u32 unft_hairpin_listener(void);
u32 unft_hairpin_listeners(void);

/* ---- parts (unft_parts.c) ---- */

/* What unft_api.c hands to the request builder. */
struct unft_req {
	const struct nlmsghdr *nlh;
	struct nlattr **tb;		/* top-level attributes of the request */
	u8 cmd;
	u32 id_type;
	u32 ifindex;
	u32 strategy;			/* NFL_FLOWS_ERROR_*, SET/DEL only */
	u32 nflows;
	const struct nlattr **flows;	/* FLOW elements of SET/DEL */
};

int unft_send_request(struct unft_call *call, const struct unft_req *req,
		      const struct unft_peer *peer, unsigned long deadline);
/* GET_FLOWS as a do: one reply message with every flow of the answer. */
int unft_reply_flows(struct sk_buff *req_skb, struct genl_info *info,
		     const struct unft_req *req, const struct unft_call *call);

/* GET_FLOWS as a dump: the answered call, kept in the netlink_callback's ctx. */
struct unft_dump_ctx {
	struct unft_call *call;
	size_t off;			/* next page starts here in call->flows */
	u32 pages;
	u32 id_type;
	u32 ifindex;
};
/* The dump skb a page needs at least (netlink_callback.min_dump_alloc). */
u32 unft_dump_alloc(const struct unft_call *call);
/* The next NLM_F_MULTI page into @skb: skb->len, or 0 when all were sent. */
int unft_dump_page(struct sk_buff *skb, struct netlink_callback *cb);
/* SET/DEL report messages: the failed flows with ERROR; returns how many. */
int unft_reply_report(struct genl_info *info, const struct unft_req *req,
		      const struct unft_call *call, bool first_failure_only);
/* 1: the call is complete; 0: more parts are due; <0: the call is broken. */
int unft_answer_add(struct unft_call *call, struct nlattr **et,
		    const struct nlmsghdr *nlh, struct netlink_ext_ack *extack);

/* ---- the API family (unft_api.c) ---- */

extern struct genl_family unft_api_family;

/* The identifier preamble's size: IDENTIFIER_TYPE and IDENTIFIER, u32 each. */
#define UNFT_PREAMBLE_SIZE (2 * nla_total_size(sizeof(u32)))

/* Starts a reply to @req: its command and the identifier preamble; NULL when
 * they do not fit.
 */
void *unft_api_reply_start(struct sk_buff *skb, u32 portid, u32 seq, int flags,
			   const struct unft_req *req);
int unft_api_init(void);
void unft_api_exit(void);

/* ---- devices (unft_netdev.c) ---- */

struct unft_dev {
	struct net_device *dev;
};

bool unft_is_unft_dev(const struct net_device *dev);
int unft_netdev_init(void);
void unft_netdev_exit(void);

/* ---- debugfs (unft_debugfs.c) ---- */

void unft_debugfs_init(void);
void unft_debugfs_exit(void);

#endif /* _UNFT_H */
