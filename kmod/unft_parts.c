// SPDX-License-Identifier: GPL-2.0
/*
 * unft: messages larger than one netlink message (contract, "Parts").
 *
 * An attribute nest holds at most 65535 bytes, so a SET_FLOWS/DEL_FLOWS
 * batch travels to the listener as several ENCAP requests with one SEQ,
 * PART 0, 1, ... and MORE on all but the last; the preamble, FLOWS_ERROR
 * and any other top-level attribute repeat in every part, each part
 * carries a slice of FLOWS. The cut follows the user-space twin exactly: a
 * flow goes into the current part unless that would pass the budget (60 KiB
 * of FLOW elements) and the part has a flow already.
 *
 * Answers come back the same way and are concatenated here in PART order;
 * a part out of order, a gap or a different CMD/CMD_TYPE/STATUS fails the
 * whole call with -EINVAL.
 *
 * Towards the API client, a GET_FLOWS answer becomes, for a dump
 * (NLM_F_DUMP), NLM_F_MULTI reply messages of at most UNFT_PAGE_FLOWS bytes
 * of flows each (a larger flow gets a message of its own, no flows give one
 * message with an empty FLOWS), then NLMSG_DONE and no ACK, paced by the
 * client's reads as every netlink dump; for a do, one reply message with
 * every flow, then the ACK. The do's handler runs in the client's own
 * sendmsg(), so the client cannot read while we queue: the reply must fit
 * its receive buffer, which is checked before it is sent (-ENOBUFS
 * otherwise, with a text saying how much room was needed).
 */
#include <linux/kernel.h>
#include <linux/skbuff.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "unft.h"

static bool unft_is_batch(u8 cmd)
{
	return cmd == NFL_TABLE_CMD_SET_FLOWS || cmd == NFL_TABLE_CMD_DEL_FLOWS;
}

/* Top-level nests copied verbatim into every part, in encoder order. */
static const u16 unft_copied_nests[] = {
	NFL_TABLES, NFL_HEADERS, NFL_ACTIONS, NFL_HEADER_GRAPH, NFL_TABLE_GRAPH,
};

static size_t unft_req_common_size(const struct unft_req *req)
{
	size_t size = 3 * nla_total_size(sizeof(u32));
	int i;

	for (i = 0; i < ARRAY_SIZE(unft_copied_nests); i++)
		if (req->tb[unft_copied_nests[i]])
			size += nla_total_size(nla_len(req->tb[unft_copied_nests[i]]));
	return size;
}

/*
 * The request's top-level attributes as the twin re-encodes them: the
 * preamble, FLOWS_ERROR (always for SET/DEL), the nests, FLOWS last.
 */
static int unft_put_common(struct sk_buff *skb, const struct unft_req *req)
{
	int i;

	if (nla_put_u32(skb, NFL_IDENTIFIER_TYPE, req->id_type) ||
	    nla_put_u32(skb, NFL_IDENTIFIER, req->ifindex))
		return -EMSGSIZE;
	if (unft_is_batch(req->cmd)) {
		if (nla_put_u32(skb, NFL_FLOWS_ERROR, req->strategy))
			return -EMSGSIZE;
	} else if (req->tb[NFL_FLOWS_ERROR]) {
		if (nla_put_u32(skb, NFL_FLOWS_ERROR, nla_get_u32(req->tb[NFL_FLOWS_ERROR])))
			return -EMSGSIZE;
	}
	for (i = 0; i < ARRAY_SIZE(unft_copied_nests); i++) {
		const struct nlattr *a = req->tb[unft_copied_nests[i]];

		if (a && unft_put_copy(skb, a))
			return -EMSGSIZE;
	}
	return 0;
}

/* Builds one ENCAP request: flows [first, last) of a batch, or the whole call. */
static struct sk_buff *unft_build_part(const struct unft_call *call,
				       const struct unft_req *req,
				       u32 first, u32 last, int part, bool more)
{
	struct nlattr *encap, *attr, *flows;
	struct sk_buff *skb;
	size_t size, flow_bytes = 0;
	void *hdr;
	u32 i;

	if (unft_is_batch(req->cmd)) {
		for (i = first; i < last; i++)
			flow_bytes += nla_total_size(nla_len(req->flows[i]));
	} else if (req->tb[NFL_FLOWS]) {
		flow_bytes = nla_len(req->tb[NFL_FLOWS]);
	}
	size = nla_total_size(0) +				/* ENCAP */
	       2 * nla_total_size(sizeof(u32)) +		/* CMD_TYPE, CMD */
	       nla_total_size_64bit(sizeof(u64)) +		/* SEQ */
	       nla_total_size(sizeof(u32)) + nla_total_size(0) + /* PART, MORE */
	       nla_total_size(0) +				/* ATTR */
	       unft_req_common_size(req) +
	       nla_total_size(flow_bytes);			/* FLOWS */

	skb = unft_skb_new(size);
	if (!skb)
		return ERR_PTR(-ENOMEM);
	/* Kernel-originated: no NLM_F_REQUEST, nlmsg_seq 0, nlmsg_pid 0. */
	hdr = genlmsg_put(skb, 0, 0, &unft_hp_family, 0, NFLH_CMD_ENCAP);
	if (!hdr)
		goto nospace;
	encap = nla_nest_start(skb, NFLH_ENCAP);
	if (!encap ||
	    nla_put_u32(skb, NFLH_ENCAP_CMD_TYPE, NFLH_ENCAP_CMD_TYPE_NFL_COMMAND) ||
	    nla_put_u32(skb, NFLH_ENCAP_CMD, req->cmd) ||
	    nla_put_u64_64bit(skb, NFLH_ENCAP_SEQ, call->seq, NFLH_ENCAP_PAD))
		goto nospace;
	if (part >= 0 && nla_put_u32(skb, NFLH_ENCAP_PART, part))
		goto nospace;
	if (more && nla_put_flag(skb, NFLH_ENCAP_MORE))
		goto nospace;
	attr = nla_nest_start(skb, NFLH_ENCAP_ATTR);
	if (!attr || unft_put_common(skb, req))
		goto nospace;
	if (unft_is_batch(req->cmd)) {
		if (req->tb[NFL_FLOWS]) {
			flows = nla_nest_start(skb, NFL_FLOWS);
			if (!flows)
				goto nospace;
			for (i = first; i < last; i++)
				if (unft_put_copy(skb, req->flows[i]))
					goto nospace;
			if (unft_nest_end(skb, flows))
				goto nospace;
		}
	} else if (req->tb[NFL_FLOWS]) {
		if (unft_put_copy(skb, req->tb[NFL_FLOWS]))
			goto nospace;
	}
	if (unft_nest_end(skb, attr) || unft_nest_end(skb, encap))
		goto nospace;
	genlmsg_end(skb, hdr);
	return skb;

nospace:
	unft_skb_free(skb);
	return ERR_PTR(-EMSGSIZE);
}

/* End of the part that starts at flow @start (the twin's cut rule). */
static u32 unft_part_end(const struct unft_req *req, u32 start, size_t budget)
{
	size_t size = 0;
	u32 i;

	for (i = start; i < req->nflows; i++) {
		size_t n = nla_total_size(nla_len(req->flows[i]));

		if (size + n > budget && i > start)
			break;
		size += n;
	}
	return i;
}

int unft_send_request(struct unft_call *call, const struct unft_req *req,
		      const struct unft_peer *peer, unsigned long deadline)
{
	size_t budget = READ_ONCE(unft_part_budget) ?: UNFT_PART_BUDGET;
	u32 start, end, nparts = 0;
	struct sk_buff *skb;
	int part, err;

	if (unft_is_batch(req->cmd) && req->nflows) {
		for (start = 0; start < req->nflows; start = end) {
			end = unft_part_end(req, start, budget);
			nparts++;
		}
	}
	if (nparts <= 1) {
		skb = unft_build_part(call, req, 0, req->nflows, -1, false);
		if (IS_ERR(skb))
			return PTR_ERR(skb);
		return unft_call_send(call, peer, skb, deadline);
	}

	for (start = 0, part = 0; start < req->nflows; start = end, part++) {
		end = unft_part_end(req, start, budget);
		skb = unft_build_part(call, req, start, end, part, end < req->nflows);
		if (IS_ERR(skb))
			return PTR_ERR(skb);
		err = unft_call_send(call, peer, skb, deadline);
		if (err)
			return err;
	}
	return 0;
}

/* Appends one attribute, padded, to a buffer. */
static int unft_buf_append_attr(struct unft_buf *b, const struct nlattr *a)
{
	static const u8 zero[NLA_ALIGNTO];
	int pad = NLA_ALIGN(a->nla_len) - a->nla_len;
	int err;

	err = unft_buf_append(b, a, a->nla_len);
	if (!err && pad)
		err = unft_buf_append(b, zero, pad);
	return err;
}

__printf(3, 4)
static int unft_broken(struct netlink_ext_ack *extack, const struct nlattr *bad,
		       const char *fmt, ...)
{
	char text[UNFT_TEXT_LEN];
	va_list args;

	va_start(args, fmt);
	vscnprintf(text, sizeof(text), fmt, args);
	va_end(args);
	unft_text(extack, bad, "%s", text);
	return -EINVAL;
}

int unft_answer_add(struct unft_call *call, struct nlattr **et,
		    const struct nlmsghdr *nlh, struct netlink_ext_ack *extack)
{
	bool has_part = et[NFLH_ENCAP_PART], more = et[NFLH_ENCAP_MORE];
	u32 cmd_type, cmd, status, part = 0;
	const struct nlattr *a, *r;
	int rem, err;

	if (!et[NFLH_ENCAP_CMD_TYPE] || !et[NFLH_ENCAP_CMD])
		return unft_broken(extack, NULL,
				   "ENCAP seq %llu: required attribute %s is missing", call->seq,
				   et[NFLH_ENCAP_CMD_TYPE] ? "CMD" : "CMD_TYPE");
	cmd_type = nla_get_u32(et[NFLH_ENCAP_CMD_TYPE]);
	cmd = nla_get_u32(et[NFLH_ENCAP_CMD]);
	status = nla_get_u32(et[NFLH_ENCAP_STATUS]);
	if (has_part)
		part = nla_get_u32(et[NFLH_ENCAP_PART]);
	if (status > MAX_ERRNO)
		return unft_broken(extack, et[NFLH_ENCAP_STATUS],
				   "ENCAP seq %llu: STATUS %u is not an errno", call->seq, status);

	if (!call->started) {
		if ((has_part && part != 0) || (!has_part && more)) {
			if (has_part)
				return unft_broken(extack, et[NFLH_ENCAP_PART],
						   "ENCAP seq %llu: part %u arrived, part 0 was expected",
						   call->seq, part);
			return unft_broken(extack, NULL,
					   "ENCAP seq %llu: part none arrived, part 0 was expected",
					   call->seq);
		}
		if (cmd_type != NFLH_ENCAP_CMD_TYPE_NFL_COMMAND || cmd != call->cmd)
			return unft_broken(extack, et[NFLH_ENCAP_CMD],
					   "ENCAP seq %llu: answer has CMD_TYPE %u CMD %u, the request had CMD_TYPE %u CMD %u",
					   call->seq, cmd_type, cmd,
					   NFLH_ENCAP_CMD_TYPE_NFL_COMMAND, call->cmd);
		call->status = status;
	} else {
		if (!has_part)
			return unft_broken(extack, NULL,
					   "ENCAP seq %llu: part none arrived, part %u was expected",
					   call->seq, call->next_part);
		if (part != call->next_part)
			return unft_broken(extack, et[NFLH_ENCAP_PART],
					   "ENCAP seq %llu: part %u arrived, part %u was expected",
					   call->seq, part, call->next_part);
		if (cmd_type != NFLH_ENCAP_CMD_TYPE_NFL_COMMAND || cmd != call->cmd ||
		    status != call->status)
			return unft_broken(extack, NULL,
					   "ENCAP seq %llu: parts disagree on CMD, CMD_TYPE or STATUS",
					   call->seq);
	}

	call->total += nlh->nlmsg_len;
	if (call->total > READ_ONCE(unft_max_answer)) {
		unft_text(extack, NULL, "ENCAP seq %llu: the answer exceeds %u bytes (max_answer_bytes)",
			  call->seq, READ_ONCE(unft_max_answer));
		return -EMSGSIZE;
	}

	if (et[NFLH_ENCAP_ERROR_MSG])
		nla_strscpy(call->msg, et[NFLH_ENCAP_ERROR_MSG], sizeof(call->msg));

	a = et[NFLH_ENCAP_ATTR];
	if (a) {
		err = unft_validate_nested(a, unft_nfl_attrs_pol, NFL_MAX, extack);
		if (err)
			return err;
		err = unft_check(&unft_nfl_attrs_set, nlh, nla_data(a), nla_len(a),
				 "ENCAP.ATTR", extack);
		if (err)
			return err;
		nla_for_each_nested(r, a, rem) {
			const struct nlattr *f;
			int frem;

			if (nla_type(r) == NFL_FLOWS) {
				nla_for_each_nested(f, r, frem) {
					err = unft_buf_append_attr(&call->flows, f);
					if (err)
						return err;
					call->nanswer_flows++;
				}
			} else if (!call->started) {
				/* Part 0's preamble and payload; later parts repeat them. */
				err = unft_buf_append_attr(&call->attrs, r);
				if (err)
					return err;
			}
		}
	}

	r = et[NFLH_ENCAP_RESULTS];
	if (r) {
		const struct nlattr *e;

		err = unft_check(&unft_result_list_set, nlh, nla_data(r), nla_len(r),
				 "ENCAP.RESULTS", extack);
		if (err)
			return err;
		nla_for_each_nested(e, r, rem) {
			struct nlattr *rt[NFLH_RESULT_MAX + 1];
			u32 index, errno_;

			err = nla_parse_nested(rt, NFLH_RESULT_MAX, e, NULL, extack);
			if (err)
				return err;
			index = nla_get_u32(rt[NFLH_RESULT_INDEX]);
			errno_ = nla_get_u32(rt[NFLH_RESULT_ERRNO]);
			if (errno_ > MAX_ERRNO)
				return unft_broken(extack, rt[NFLH_RESULT_ERRNO],
						   "ENCAP seq %llu: RESULT %u: ERRNO %u is not an errno",
						   call->seq, index, errno_);
			if (!unft_is_batch(call->cmd))
				continue;	/* results only mean something for a batch */
			if (index >= call->nflows)
				return unft_broken(extack, e,
						   "ENCAP seq %llu: RESULT index %u, the request had %u flows",
						   call->seq, index, call->nflows);
			call->results[index] = errno_;
		}
	}

	call->started = true;
	call->next_part = part + 1;
	return more ? 0 : 1;
}

/* ---- towards the API client ---- */

/* One reply message: the request's preamble and FLOWS{the FLOW elements @flows}. */
static int unft_flows_put(struct sk_buff *skb, u32 portid, u32 seq, int flags,
			  const struct unft_req *req, const u8 *flows, size_t len)
{
	struct nlattr *nest;
	void *hdr;

	hdr = unft_api_reply_start(skb, portid, seq, flags, req);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, NFL_FLOWS);
	if (!nest || skb_tailroom(skb) < len)
		return -EMSGSIZE;
	if (len)
		skb_put_data(skb, flows, len);
	if (unft_nest_end(skb, nest))
		return -EMSGSIZE;
	genlmsg_end(skb, hdr);
	return 0;
}

static size_t unft_flows_msg_size(size_t len)
{
	return UNFT_PREAMBLE_SIZE + nla_total_size(len);
}

/*
 * GET_FLOWS as a do: one reply message with every flow (the ACK follows if
 * asked). A FLOWS nest holds at most 65535 bytes; more flows than that are
 * refused with -EMSGSIZE and a text asking for a dump, as the kernel refuses
 * a do whose reply does not fit.
 */
int unft_reply_flows(struct sk_buff *req_skb, struct genl_info *info,
		     const struct unft_req *req, const struct unft_call *call)
{
	struct sock *sk = NETLINK_CB(req_skb).sk;
	size_t len = call->flows.len;
	struct sk_buff *skb;
	long room;
	int err;

	if (nla_total_size(len) > U16_MAX) {
		unft_text(info->extack, NULL,
			  "GET_FLOWS: the flows take %zu bytes, more than one reply message holds (65535 bytes of FLOWS): ask for a dump (NLM_F_DUMP)",
			  len);
		return -EMSGSIZE;
	}
	skb = unft_skb_new(unft_flows_msg_size(len));
	if (!skb)
		return -ENOMEM;
	err = unft_flows_put(skb, info->snd_portid, info->snd_seq, 0, req, call->flows.data, len);
	if (err) {
		unft_skb_free(skb);
		return err;
	}
	room = (long)READ_ONCE(sk->sk_rcvbuf) - atomic_read(&sk->sk_rmem_alloc);
	if ((long)skb->truesize > room) {
		unft_text(info->extack, NULL,
			  "GET_FLOWS reply needs %u bytes of receive buffer, the socket has %ld free: raise SO_RCVBUF or ask for a dump (NLM_F_DUMP)",
			  skb->truesize, max(room, 0L));
		unft_skb_free(skb);
		return -ENOBUFS;
	}
	unft_skb_gone();
	return genlmsg_reply(skb, info);
}

/* End of the page that starts at @off: the cut rule of the contract ("GET_FLOWS reply pages"). */
static size_t unft_page_end(const struct unft_call *call, size_t off)
{
	const u8 *buf = call->flows.data;
	size_t end = off;

	while (call->flows.len - end >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)(buf + end);
		size_t n = max_t(size_t, NLA_ALIGN(a->nla_len), NLA_HDRLEN);

		if (end > off && end - off + n > UNFT_PAGE_FLOWS)
			break;
		end = min(end + n, call->flows.len);
	}
	return end;
}

u32 unft_dump_alloc(const struct unft_call *call)
{
	size_t off = 0, end, most = 0;

	while (off < call->flows.len) {
		end = unft_page_end(call, off);
		most = max(most, end - off);
		off = end;
	}
	return nlmsg_total_size(GENL_HDRLEN + unft_flows_msg_size(most));
}

/*
 * GET_FLOWS as a dump: one NLM_F_MULTI page per call of the dumpit (each its
 * own skb, as the twin sends each its own packet), then 0 and netlink_dump()
 * adds NLMSG_DONE; never an ACK. No flows give one page with an empty FLOWS.
 */
int unft_dump_page(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct unft_dump_ctx *ctx = (struct unft_dump_ctx *)cb->ctx;
	const struct unft_call *call = ctx->call;
	struct unft_req req = {
		.cmd = NFL_TABLE_CMD_GET_FLOWS,
		.id_type = ctx->id_type,
		.ifindex = ctx->ifindex,
	};
	size_t end;
	int err;

	if (ctx->pages && ctx->off >= call->flows.len)
		return 0;
	end = unft_page_end(call, ctx->off);
	err = unft_flows_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, NLM_F_MULTI,
			     &req, call->flows.data ? call->flows.data + ctx->off : NULL,
			     end - ctx->off);
	if (err)
		return err;
	ctx->off = end;
	ctx->pages++;
	return skb->len;
}

static bool unft_reported(u32 e, bool first_failure_only)
{
	if (e == 0 || e == U32_MAX)
		return false;
	return !(first_failure_only && e == ECANCELED);
}

static int unft_report_send(struct genl_info *info, const struct unft_req *req,
			    const struct unft_call *call, u32 from, u32 to,
			    bool first_failure_only)
{
	struct nlattr *flows, *flow;
	struct sk_buff *skb;
	size_t size = 0;
	void *hdr;
	u32 i;

	for (i = from; i < to; i++)
		if (unft_reported(call->results[i], first_failure_only))
			size += nla_total_size(nla_total_size(sizeof(u32)) +
					       nla_len(req->flows[i]));
	skb = unft_skb_new(UNFT_PREAMBLE_SIZE + nla_total_size(size));
	if (!skb)
		return -ENOMEM;
	hdr = unft_api_reply_start(skb, info->snd_portid, info->snd_seq, 0, req);
	if (!hdr)
		goto nospace;
	flows = nla_nest_start(skb, NFL_FLOWS);
	if (!flows)
		goto nospace;
	for (i = from; i < to; i++) {
		if (!unft_reported(call->results[i], first_failure_only))
			continue;
		/* The failed flow as sent, with its errno in ERROR first. */
		flow = nla_nest_start(skb, NFL_FLOW);
		if (!flow || nla_put_u32(skb, NFL_ATTR_ERROR, call->results[i]))
			goto nospace;
		if (unft_put_copies(skb, nla_data(req->flows[i]), nla_len(req->flows[i]),
				    BIT(NFL_ATTR_ERROR)) ||
		    unft_nest_end(skb, flow))
			goto nospace;
	}
	if (unft_nest_end(skb, flows))
		goto nospace;
	return unft_reply_send(skb, hdr, info);

nospace:
	unft_skb_free(skb);
	return -EMSGSIZE;
}

int unft_reply_report(struct genl_info *info, const struct unft_req *req,
		      const struct unft_call *call, bool first_failure_only)
{
	size_t size = 0;
	u32 i, from = 0;
	int err, count = 0;

	/* Usually one message; a report that would outgrow a nest is cut
	 * like the parts are.
	 */
	for (i = 0; i < call->nflows; i++) {
		size_t n;

		if (!unft_reported(call->results[i], first_failure_only))
			continue;
		n = nla_total_size(nla_total_size(sizeof(u32)) + nla_len(req->flows[i]));
		if (size + n > UNFT_PART_BUDGET && size) {
			err = unft_report_send(info, req, call, from, i, first_failure_only);
			if (err)
				return err;
			from = i;
			size = 0;
		}
		size += n;
		count++;
	}
	if (count) {
		err = unft_report_send(info, req, call, from, call->nflows, first_failure_only);
		if (err)
			return err;
	}
	return count;
}
