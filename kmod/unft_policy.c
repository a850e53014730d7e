// SPDX-License-Identifier: GPL-2.0
/*
 * unft: the strict checker for what policies cannot say, and the request
 * validation around it. The policies and the checker's sets are generated
 * from the specs and their hints (unft_nl_gen.c, spec/README.md).
 *
 * Handlers validate requests against the generated policies (strictly:
 * unknown attributes, wrong lengths, missing NLA_F_NESTED are errors).
 * unft_check() then walks the same sets for required attributes, repeated
 * attributes of struct-like sets, NUL bytes inside strings and enum ranges,
 * and names the failing place the way the user-space decoder does:
 * "FLOWS.FLOW[1] at byte 60: required attribute UID is missing".
 */
#include <linux/bits.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "unft.h"

/* ---- validation (the core only splits the attributes by type) ---- */

/*
 * The genetlink core gets no policy (see unft_api.c): it splits the
 * attributes by type, refuses unknown types and trailing bytes; the real
 * policies are applied here. Families set resv_start_op past their last
 * command (else 6.1's core refuses every attribute of an op without a
 * policy), so the core no longer checks the header's reserved field and
 * flags for them: unft_header_check() does, as the core did.
 */
int unft_header_check(const struct genl_info *info)
{
	u16 flags = info->nlhdr->nlmsg_flags;

	if (info->genlhdr->reserved) {
		NL_SET_ERR_MSG(info->extack, "genlmsghdr.reserved field is not 0");
		return -EINVAL;
	}
	if ((flags & NLM_F_DUMP) == NLM_F_DUMP)
		flags &= ~NLM_F_DUMP;
	if (flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO)) {
		NL_SET_ERR_MSG(info->extack, "ambiguous or reserved bits set in nlmsg_flags");
		return -EINVAL;
	}
	return 0;
}

int unft_validate(struct genl_info *info, const struct nla_policy *policy,
		  int maxtype, struct nlattr **tb)
{
	int err = unft_header_check(info);

	if (err)
		return err;
	err = nlmsg_parse(info->nlhdr, GENL_HDRLEN, tb, maxtype, policy, info->extack);
	if (err)
		return err == -ERANGE ? -EINVAL : err;
	info->attrs = tb;
	return 0;
}

int unft_validate_nested(const struct nlattr *nest, const struct nla_policy *policy,
			 int maxtype, struct netlink_ext_ack *extack)
{
	int err = nla_validate_nested(nest, maxtype, policy, extack);

	return err == -ERANGE ? -EINVAL : err;
}

/* ---- the strict checker ---- */

#define UNFT_PATH_MAX 12

struct unft_walk {
	const struct nlmsghdr *nlh;
	struct netlink_ext_ack *extack;
	int depth;
	struct {
		const char *name;
		int index;		/* list element index, or -1 */
	} path[UNFT_PATH_MAX];
};

static const char *unft_name(const struct unft_set *s, u16 type)
{
	if (s->names && type <= s->maxtype && s->names[type])
		return s->names[type];
	return "?";
}

static void unft_walk_push(struct unft_walk *w, const char *name, int index)
{
	if (w->depth < UNFT_PATH_MAX) {
		w->path[w->depth].name = name;
		w->path[w->depth].index = index;
	}
	w->depth++;
}

__printf(4, 5)
static int unft_walk_fail(struct unft_walk *w, const struct nlattr *at,
			  const char *last, const char *fmt, ...)
{
	char path[160], reason[96];
	size_t n = 0;
	va_list args;
	int i, depth = min(w->depth, UNFT_PATH_MAX);
	long offset = at ? (const u8 *)at - (const u8 *)w->nlh : 0;

	path[0] = '\0';
	for (i = 0; i < depth + (last ? 1 : 0) && n < sizeof(path); i++) {
		const char *name = i < depth ? w->path[i].name : last;
		int index = i < depth ? w->path[i].index : -1;

		if (index >= 0)
			n += scnprintf(path + n, sizeof(path) - n, "%s%s[%d]",
				       n ? "." : "", name, index);
		else
			n += scnprintf(path + n, sizeof(path) - n, "%s%s",
				       n ? "." : "", name);
	}
	va_start(args, fmt);
	vscnprintf(reason, sizeof(reason), fmt, args);
	va_end(args);
	unft_text(w->extack, at, "%s at byte %ld: %s", n ? path : "message",
		  offset, reason);
	return -EINVAL;
}

static int unft_walk_set(struct unft_walk *w, const struct unft_set *s,
			 const struct nlattr *parent, const struct nlattr *head,
			 int len)
{
	const struct nlattr *a;
	u32 seen = 0, missing;
	int rem, index = 0, err;

	nla_for_each_attr(a, head, len, rem) {
		u16 type = nla_type(a);
		const struct unft_set *child;

		if (s->elem) {
			/* Policies let only elem_type through. */
			child = s->child ? s->child[s->elem_type] : NULL;
			if (child) {
				unft_walk_push(w, s->elem, index);
				err = unft_walk_set(w, child, a, nla_data(a), nla_len(a));
				w->depth--;
				if (err)
					return err;
			}
			index++;
			continue;
		}
		if (type > s->maxtype || type >= 32)
			continue;	/* rejected by the policy already */
		if (seen & BIT(type))
			return unft_walk_fail(w, a, NULL, "attribute %s appears more than once",
					      unft_name(s, type));
		seen |= BIT(type);
		if (s->strings & BIT(type)) {
			const char *p = memchr(nla_data(a), '\0', nla_len(a));

			if (p && p != (const char *)nla_data(a) + nla_len(a) - 1)
				return unft_walk_fail(w, a, unft_name(s, type),
						      "string has a NUL byte inside");
		}
		/* Here, not in the policy: the core answers a range violation with
		 * -ERANGE, the contract wants -EINVAL.
		 */
		if (s->ranged && type == s->ranged && nla_get_u32(a) > s->range_max)
			return unft_walk_fail(w, a, unft_name(s, type),
					      "value %u is out of range (0 to %u)",
					      nla_get_u32(a), s->range_max);
		child = s->child ? s->child[type] : NULL;
		if (child) {
			unft_walk_push(w, unft_name(s, type), -1);
			err = unft_walk_set(w, child, a, nla_data(a), nla_len(a));
			w->depth--;
			if (err)
				return err;
		}
	}
	missing = s->required & ~seen;
	if (missing)
		return unft_walk_fail(w, parent, NULL, "required attribute %s is missing",
				      unft_name(s, __ffs(missing)));
	return 0;
}

int unft_check(const struct unft_set *set, const struct nlmsghdr *nlh,
	       const struct nlattr *head, int len, const char *prefix,
	       struct netlink_ext_ack *extack)
{
	struct unft_walk w = { .nlh = nlh, .extack = extack };

	if (prefix)
		unft_walk_push(&w, prefix, -1);
	return unft_walk_set(&w, set, NULL, head, len);
}
