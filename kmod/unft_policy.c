// SPDX-License-Identifier: GPL-2.0
/*
 * unft: attribute policies of net_flow_nl and nfl_hairpin, one per
 * attribute set of spec/net_flow_nl.yaml and spec/nfl_hairpin.yaml,
 * and the strict checker for what policies cannot say.
 *
 * The genetlink core validates requests against these policies (strictly:
 * unknown attributes, wrong lengths, missing NLA_F_NESTED are errors) before
 * a handler runs. unft_check() then walks the same sets for required
 * attributes, repeated attributes of struct-like sets and NUL bytes inside
 * strings, and names the failing place the way the user-space decoder does:
 * "FLOWS.FLOW[1] at byte 60: required attribute UID is missing".
 */
#include <linux/bits.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "unft.h"

/* ---- net_flow_nl ---- */

static const struct nla_policy unft_field_pol[NFL_FIELD_ATTR_MAX + 1] = {
	[NFL_FIELD_ATTR_NAME]		= { .type = NLA_STRING },
	[NFL_FIELD_ATTR_UID]		= { .type = NLA_U32 },
	[NFL_FIELD_ATTR_BITWIDTH]	= { .type = NLA_U32 },
};

static const struct nla_policy unft_field_list_pol[NFL_FIELD_MAX + 1] = {
	[NFL_FIELD]			= NLA_POLICY_NESTED(unft_field_pol),
};

static const struct nla_policy unft_header_pol[NFL_HEADER_ATTR_MAX + 1] = {
	[NFL_HEADER_ATTR_NAME]		= { .type = NLA_STRING },
	[NFL_HEADER_ATTR_UID]		= { .type = NLA_U32 },
	[NFL_HEADER_ATTR_FIELDS]	= NLA_POLICY_NESTED(unft_field_list_pol),
};

static const struct nla_policy unft_header_list_pol[NFL_HEADER_MAX + 1] = {
	[NFL_HEADER]			= NLA_POLICY_NESTED(unft_header_pol),
};

/* A field reference of a match list: no NEXT_NODE. */
static const struct nla_policy unft_field_ref_pol[NFL_FIELD_REF_MAX + 1] = {
	[NFL_FIELD_REF_NEXT_NODE]	= { .type = NLA_REJECT,
					    .reject_message = "NEXT_NODE is only allowed in a jump entry" },
	[NFL_FIELD_REF_INSTANCE]	= { .type = NLA_U32 },
	[NFL_FIELD_REF_HEADER]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_FIELD]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_MASK_TYPE]	= { .type = NLA_U32 },
	[NFL_FIELD_REF_TYPE]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_VALUE]		= NLA_POLICY_RANGE(NLA_BINARY, 1, 8),
	[NFL_FIELD_REF_MASK]		= NLA_POLICY_RANGE(NLA_BINARY, 1, 8),
};

/* A jump entry: a field reference with NEXT_NODE. */
static const struct nla_policy unft_jump_entry_pol[NFL_FIELD_REF_MAX + 1] = {
	[NFL_FIELD_REF_NEXT_NODE]	= { .type = NLA_U32 },
	[NFL_FIELD_REF_INSTANCE]	= { .type = NLA_U32 },
	[NFL_FIELD_REF_HEADER]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_FIELD]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_MASK_TYPE]	= { .type = NLA_U32 },
	[NFL_FIELD_REF_TYPE]		= { .type = NLA_U32 },
	[NFL_FIELD_REF_VALUE]		= NLA_POLICY_RANGE(NLA_BINARY, 1, 8),
	[NFL_FIELD_REF_MASK]		= NLA_POLICY_RANGE(NLA_BINARY, 1, 8),
};

static const struct nla_policy unft_field_ref_list_pol[NFL_FIELD_REFS_MAX + 1] = {
	[NFL_FIELD_REF]			= NLA_POLICY_NESTED(unft_field_ref_pol),
};

static const struct nla_policy unft_jump_list_pol[NFL_JUMP_ENTRY_MAX + 1] = {
	[NFL_JUMP_ENTRY]		= NLA_POLICY_NESTED(unft_jump_entry_pol),
};

static const struct nla_policy unft_action_arg_pol[NFL_ACTION_ARG_MAX + 1] = {
	[NFL_ACTION_ARG_NAME]		= { .type = NLA_STRING },
	[NFL_ACTION_ARG_TYPE]		= { .type = NLA_U32 },
	[NFL_ACTION_ARG_VALUE]		= NLA_POLICY_RANGE(NLA_BINARY, 1, 8),
};

static const struct nla_policy unft_action_arg_list_pol[NFL_ACTION_ARGS_MAX + 1] = {
	[NFL_ACTION_ARG]		= NLA_POLICY_NESTED(unft_action_arg_pol),
};

static const struct nla_policy unft_action_pol[NFL_ACTION_ATTR_MAX + 1] = {
	[NFL_ACTION_ATTR_NAME]		= { .type = NLA_STRING },
	[NFL_ACTION_ATTR_UID]		= { .type = NLA_U32 },
	[NFL_ACTION_ATTR_SIGNATURE]	= NLA_POLICY_NESTED(unft_action_arg_list_pol),
};

static const struct nla_policy unft_action_list_pol[NFL_ACTION_MAX + 1] = {
	[NFL_ACTION]			= NLA_POLICY_NESTED(unft_action_pol),
};

/* table-action-uids: repeated bare ACTION_ATTR_UID, nothing else. */
static const struct nla_policy unft_table_actions_pol[NFL_ACTION_ATTR_UID + 1] = {
	[NFL_ACTION_ATTR_UID]		= { .type = NLA_U32 },
};

static const struct nla_policy unft_table_pol[NFL_TABLE_ATTR_MAX + 1] = {
	[NFL_TABLE_ATTR_NAME]		= { .type = NLA_STRING },
	[NFL_TABLE_ATTR_UID]		= { .type = NLA_U32 },
	[NFL_TABLE_ATTR_SOURCE]		= { .type = NLA_U32 },
	[NFL_TABLE_ATTR_APPLY]		= { .type = NLA_U32 },
	[NFL_TABLE_ATTR_SIZE]		= { .type = NLA_U32 },
	[NFL_TABLE_ATTR_MATCHES]	= NLA_POLICY_NESTED(unft_field_ref_list_pol),
	[NFL_TABLE_ATTR_ACTIONS]	= NLA_POLICY_NESTED(unft_table_actions_pol),
};

static const struct nla_policy unft_table_list_pol[NFL_TABLE_MAX + 1] = {
	[NFL_TABLE]			= NLA_POLICY_NESTED(unft_table_pol),
};

static const struct nla_policy unft_hdrs_pol[NFL_HEADER_NODE_HDRS_MAX + 1] = {
	[NFL_HEADER_NODE_HDRS_VALUE]	= { .type = NLA_U32 },
};

static const struct nla_policy unft_header_node_pol[NFL_HEADER_NODE_MAX + 1] = {
	[NFL_HEADER_NODE_NAME]		= { .type = NLA_STRING },
	[NFL_HEADER_NODE_UID]		= { .type = NLA_U32 },
	[NFL_HEADER_NODE_HDRS]		= NLA_POLICY_NESTED(unft_hdrs_pol),
	[NFL_HEADER_NODE_JUMP]		= NLA_POLICY_NESTED(unft_jump_list_pol),
};

static const struct nla_policy unft_header_graph_pol[NFL_HEADER_GRAPH_MAX + 1] = {
	[NFL_HEADER_GRAPH_NODE]		= NLA_POLICY_NESTED(unft_header_node_pol),
};

static const struct nla_policy unft_tg_node_pol[NFL_TABLE_GRAPH_NODE_MAX + 1] = {
	[NFL_TABLE_GRAPH_NODE_UID]	= { .type = NLA_U32 },
	[NFL_TABLE_GRAPH_NODE_FLAGS]	= { .type = NLA_U32 },
	[NFL_TABLE_GRAPH_NODE_JUMP]	= NLA_POLICY_NESTED(unft_jump_list_pol),
};

static const struct nla_policy unft_table_graph_pol[NFL_TABLE_GRAPH_MAX + 1] = {
	[NFL_TABLE_GRAPH_NODE]		= NLA_POLICY_NESTED(unft_tg_node_pol),
};

static const struct nla_policy unft_flow_pol[NFL_ATTR_MAX + 1] = {
	[NFL_ATTR_ERROR]		= { .type = NLA_U32 },
	[NFL_ATTR_TABLE]		= { .type = NLA_U32 },
	[NFL_ATTR_UID]			= { .type = NLA_U32 },
	[NFL_ATTR_PRIORITY]		= { .type = NLA_U32 },
	[NFL_ATTR_MATCHES]		= NLA_POLICY_NESTED(unft_field_ref_list_pol),
	[NFL_ATTR_ACTIONS]		= NLA_POLICY_NESTED(unft_action_list_pol),
};

static const struct nla_policy unft_flow_list_pol[NFL_NFL_MAX + 1] = {
	[NFL_FLOW]			= NLA_POLICY_NESTED(unft_flow_pol),
};

static const struct nla_policy unft_selector_pol[NFL_TABLE_FLOWS_MAX + 1] = {
	[NFL_TABLE_FLOWS_TABLE]		= { .type = NLA_U32 },
	[NFL_TABLE_FLOWS_MINPRIO]	= { .type = NLA_U32 },
	[NFL_TABLE_FLOWS_MAXPRIO]	= { .type = NLA_U32 },
	[NFL_TABLE_FLOWS_FLOWS]		= { .type = NLA_REJECT,
					    .reject_message = "FLOWS is not allowed in a GET_FLOWS selector" },
};

/* Top level, FLOWS as a list of FLOW: every request but GET_FLOWS, every answer. */
const struct nla_policy unft_nfl_list_policy[NFL_MAX + 1] = {
	[NFL_IDENTIFIER_TYPE]		= { .type = NLA_U32 },
	[NFL_IDENTIFIER]		= { .type = NLA_U32 },
	[NFL_TABLES]			= NLA_POLICY_NESTED(unft_table_list_pol),
	[NFL_HEADERS]			= NLA_POLICY_NESTED(unft_header_list_pol),
	[NFL_ACTIONS]			= NLA_POLICY_NESTED(unft_action_list_pol),
	[NFL_HEADER_GRAPH]		= NLA_POLICY_NESTED(unft_header_graph_pol),
	[NFL_TABLE_GRAPH]		= NLA_POLICY_NESTED(unft_table_graph_pol),
	[NFL_FLOWS]			= NLA_POLICY_NESTED(unft_flow_list_pol),
	[NFL_FLOWS_ERROR]		= { .type = NLA_U32 },	/* range: unft_check() */
};

/* Top level of a GET_FLOWS request: FLOWS holds the selector. */
const struct nla_policy unft_nfl_selector_policy[NFL_MAX + 1] = {
	[NFL_IDENTIFIER_TYPE]		= { .type = NLA_U32 },
	[NFL_IDENTIFIER]		= { .type = NLA_U32 },
	[NFL_TABLES]			= NLA_POLICY_NESTED(unft_table_list_pol),
	[NFL_HEADERS]			= NLA_POLICY_NESTED(unft_header_list_pol),
	[NFL_ACTIONS]			= NLA_POLICY_NESTED(unft_action_list_pol),
	[NFL_HEADER_GRAPH]		= NLA_POLICY_NESTED(unft_header_graph_pol),
	[NFL_TABLE_GRAPH]		= NLA_POLICY_NESTED(unft_table_graph_pol),
	[NFL_FLOWS]			= NLA_POLICY_NESTED(unft_selector_pol),
	[NFL_FLOWS_ERROR]		= { .type = NLA_U32 },	/* range: unft_check() */
};

/* ---- nfl_hairpin ---- */

static const struct nla_policy unft_result_pol[NFLH_RESULT_MAX + 1] = {
	[NFLH_RESULT_INDEX]		= { .type = NLA_U32 },
	[NFLH_RESULT_ERRNO]		= { .type = NLA_U32 },	/* range: unft_answer_add() */
};

static const struct nla_policy unft_results_pol[NFLH_RESULTS_MAX + 1] = {
	[NFLH_RESULT]			= NLA_POLICY_NESTED(unft_result_pol),
};

/*
 * ATTR is validated by the ENCAP handler itself (against
 * unft_nfl_list_policy), after the SEQ has been read: a broken answer then
 * fails its call at once instead of leaving it to time out.
 */
const struct nla_policy unft_encap_policy[NFLH_ENCAP_MAX + 1] = {
	[NFLH_ENCAP_CMD_TYPE]		= { .type = NLA_U32 },
	[NFLH_ENCAP_CMD]		= { .type = NLA_U32 },
	[NFLH_ENCAP_STATUS]		= { .type = NLA_U32 },	/* range: unft_answer_add() */
	[NFLH_ENCAP_SEQ]		= { .type = NLA_U64 },
	[NFLH_ENCAP_ATTR]		= { .type = NLA_NESTED },
	[NFLH_ENCAP_RESULTS]		= NLA_POLICY_NESTED(unft_results_pol),
	[NFLH_ENCAP_PART]		= { .type = NLA_U32 },
	[NFLH_ENCAP_MORE]		= { .type = NLA_FLAG },
	[NFLH_ENCAP_ERROR_MSG]		= { .type = NLA_STRING },
	[NFLH_ENCAP_PAD]		= { .type = NLA_BINARY },
};

static const struct nla_policy unft_listener_pol[NFLH_LISTENER_ATTR_MAX + 1] = {
	[NFLH_LISTENER_ATTR_TYPE]	= { .type = NLA_U32 },
	[NFLH_LISTENER_ATTR_PORT]	= { .type = NLA_U32 },
};

const struct nla_policy unft_nflh_policy[NFLH_MAX + 1] = {
	[NFLH_ENCAP]			= NLA_POLICY_NESTED(unft_encap_policy),
	[NFLH_LISTENER]			= NLA_POLICY_NESTED(unft_listener_pol),
};

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

/*
 * One attribute set. A list wrapper (elem != NULL) holds any number of
 * attributes of type elem_type, each checked against child[elem_type];
 * a struct-like set holds each attribute at most once.
 */
struct unft_set {
	const char *const *names;	/* by type, for error paths */
	u16 maxtype;
	u32 required;			/* BIT(type) of required attributes */
	u32 strings;			/* BIT(type) of string attributes */
	u16 ranged;			/* a u32 attribute with a maximum, or 0 */
	u32 range_max;
	const char *elem;		/* list wrappers: element name */
	u16 elem_type;
	const struct unft_set *const *child;	/* by type, or NULL */
};

static const char *const unft_field_names[] = {
	[NFL_FIELD_ATTR_NAME] = "NAME", [NFL_FIELD_ATTR_UID] = "UID",
	[NFL_FIELD_ATTR_BITWIDTH] = "BITWIDTH",
};

static const char *const unft_header_names[] = {
	[NFL_HEADER_ATTR_NAME] = "NAME", [NFL_HEADER_ATTR_UID] = "UID",
	[NFL_HEADER_ATTR_FIELDS] = "FIELDS",
};

static const char *const unft_ref_names[] = {
	[NFL_FIELD_REF_NEXT_NODE] = "NEXT_NODE",
	[NFL_FIELD_REF_INSTANCE] = "INSTANCE",
	[NFL_FIELD_REF_HEADER] = "HEADER", [NFL_FIELD_REF_FIELD] = "FIELD",
	[NFL_FIELD_REF_MASK_TYPE] = "MASK_TYPE", [NFL_FIELD_REF_TYPE] = "TYPE",
	[NFL_FIELD_REF_VALUE] = "VALUE", [NFL_FIELD_REF_MASK] = "MASK",
};

static const char *const unft_arg_names[] = {
	[NFL_ACTION_ARG_NAME] = "NAME", [NFL_ACTION_ARG_TYPE] = "TYPE",
	[NFL_ACTION_ARG_VALUE] = "VALUE",
};

static const char *const unft_action_names[] = {
	[NFL_ACTION_ATTR_NAME] = "NAME", [NFL_ACTION_ATTR_UID] = "UID",
	[NFL_ACTION_ATTR_SIGNATURE] = "SIGNATURE",
};

static const char *const unft_table_names[] = {
	[NFL_TABLE_ATTR_NAME] = "NAME", [NFL_TABLE_ATTR_UID] = "UID",
	[NFL_TABLE_ATTR_SOURCE] = "SOURCE", [NFL_TABLE_ATTR_APPLY] = "APPLY",
	[NFL_TABLE_ATTR_SIZE] = "SIZE", [NFL_TABLE_ATTR_MATCHES] = "MATCHES",
	[NFL_TABLE_ATTR_ACTIONS] = "ACTIONS",
};

static const char *const unft_header_node_names[] = {
	[NFL_HEADER_NODE_NAME] = "NAME", [NFL_HEADER_NODE_UID] = "UID",
	[NFL_HEADER_NODE_HDRS] = "HDRS", [NFL_HEADER_NODE_JUMP] = "JUMP",
};

static const char *const unft_tg_node_names[] = {
	[NFL_TABLE_GRAPH_NODE_UID] = "UID",
	[NFL_TABLE_GRAPH_NODE_FLAGS] = "FLAGS",
	[NFL_TABLE_GRAPH_NODE_JUMP] = "JUMP",
};

static const char *const unft_flow_names[] = {
	[NFL_ATTR_ERROR] = "ERROR", [NFL_ATTR_TABLE] = "TABLE",
	[NFL_ATTR_UID] = "UID", [NFL_ATTR_PRIORITY] = "PRIORITY",
	[NFL_ATTR_MATCHES] = "MATCHES", [NFL_ATTR_ACTIONS] = "ACTIONS",
};

static const char *const unft_selector_names[] = {
	[NFL_TABLE_FLOWS_TABLE] = "TABLE", [NFL_TABLE_FLOWS_MINPRIO] = "MINPRIO",
	[NFL_TABLE_FLOWS_MAXPRIO] = "MAXPRIO", [NFL_TABLE_FLOWS_FLOWS] = "FLOWS",
};

static const char *const unft_top_names[] = {
	[NFL_IDENTIFIER_TYPE] = "IDENTIFIER_TYPE",
	[NFL_IDENTIFIER] = "IDENTIFIER", [NFL_TABLES] = "TABLES",
	[NFL_HEADERS] = "HEADERS", [NFL_ACTIONS] = "ACTIONS",
	[NFL_HEADER_GRAPH] = "HEADER_GRAPH", [NFL_TABLE_GRAPH] = "TABLE_GRAPH",
	[NFL_FLOWS] = "FLOWS", [NFL_FLOWS_ERROR] = "FLOWS_ERROR",
};

static const char *const unft_result_names[] = {
	[NFLH_RESULT_INDEX] = "INDEX", [NFLH_RESULT_ERRNO] = "ERRNO",
};

static const char *const unft_listener_names[] = {
	[NFLH_LISTENER_ATTR_TYPE] = "TYPE", [NFLH_LISTENER_ATTR_PORT] = "PORT",
};

#define SET(_names, _max, _req, _str, _child) {			\
	.names = _names, .maxtype = _max, .required = _req,		\
	.strings = _str, .child = _child }
#define LIST(_elem, _type, _child) {					\
	.elem = _elem, .elem_type = _type, .child = _child }

static const struct unft_set unft_set_field =
	SET(unft_field_names, NFL_FIELD_ATTR_MAX,
	    BIT(NFL_FIELD_ATTR_NAME) | BIT(NFL_FIELD_ATTR_UID) | BIT(NFL_FIELD_ATTR_BITWIDTH),
	    BIT(NFL_FIELD_ATTR_NAME), NULL);
static const struct unft_set *const unft_field_list_child[NFL_FIELD_MAX + 1] = {
	[NFL_FIELD] = &unft_set_field,
};
static const struct unft_set unft_set_field_list =
	LIST("FIELD", NFL_FIELD, unft_field_list_child);

static const struct unft_set *const unft_header_child[NFL_HEADER_ATTR_MAX + 1] = {
	[NFL_HEADER_ATTR_FIELDS] = &unft_set_field_list,
};
static const struct unft_set unft_set_header =
	SET(unft_header_names, NFL_HEADER_ATTR_MAX,
	    BIT(NFL_HEADER_ATTR_NAME) | BIT(NFL_HEADER_ATTR_UID) | BIT(NFL_HEADER_ATTR_FIELDS),
	    BIT(NFL_HEADER_ATTR_NAME), unft_header_child);
static const struct unft_set *const unft_header_list_child[NFL_HEADER_MAX + 1] = {
	[NFL_HEADER] = &unft_set_header,
};
static const struct unft_set unft_set_header_list =
	LIST("HEADER", NFL_HEADER, unft_header_list_child);

#define UNFT_REF_REQUIRED (BIT(NFL_FIELD_REF_INSTANCE) | BIT(NFL_FIELD_REF_HEADER) | \
			   BIT(NFL_FIELD_REF_FIELD) | BIT(NFL_FIELD_REF_MASK_TYPE) | \
			   BIT(NFL_FIELD_REF_TYPE))

static const struct unft_set unft_set_field_ref =
	SET(unft_ref_names, NFL_FIELD_REF_MAX, UNFT_REF_REQUIRED, 0, NULL);
static const struct unft_set unft_set_jump_entry =
	SET(unft_ref_names, NFL_FIELD_REF_MAX,
	    UNFT_REF_REQUIRED | BIT(NFL_FIELD_REF_NEXT_NODE), 0, NULL);
static const struct unft_set *const unft_field_ref_list_child[NFL_FIELD_REFS_MAX + 1] = {
	[NFL_FIELD_REF] = &unft_set_field_ref,
};
static const struct unft_set unft_set_field_ref_list =
	LIST("FIELD_REF", NFL_FIELD_REF, unft_field_ref_list_child);
static const struct unft_set *const unft_jump_list_child[NFL_JUMP_ENTRY_MAX + 1] = {
	[NFL_JUMP_ENTRY] = &unft_set_jump_entry,
};
static const struct unft_set unft_set_jump_list =
	LIST("JUMP_ENTRY", NFL_JUMP_ENTRY, unft_jump_list_child);

static const struct unft_set unft_set_action_arg =
	SET(unft_arg_names, NFL_ACTION_ARG_MAX,
	    BIT(NFL_ACTION_ARG_TYPE) | BIT(NFL_ACTION_ARG_VALUE),
	    BIT(NFL_ACTION_ARG_NAME), NULL);
static const struct unft_set *const unft_action_arg_list_child[NFL_ACTION_ARGS_MAX + 1] = {
	[NFL_ACTION_ARG] = &unft_set_action_arg,
};
static const struct unft_set unft_set_action_arg_list =
	LIST("ACTION_ARG", NFL_ACTION_ARG, unft_action_arg_list_child);
static const struct unft_set *const unft_action_child[NFL_ACTION_ATTR_MAX + 1] = {
	[NFL_ACTION_ATTR_SIGNATURE] = &unft_set_action_arg_list,
};
static const struct unft_set unft_set_action =
	SET(unft_action_names, NFL_ACTION_ATTR_MAX, BIT(NFL_ACTION_ATTR_UID),
	    BIT(NFL_ACTION_ATTR_NAME), unft_action_child);
static const struct unft_set *const unft_action_list_child[NFL_ACTION_MAX + 1] = {
	[NFL_ACTION] = &unft_set_action,
};
static const struct unft_set unft_set_action_list =
	LIST("ACTION", NFL_ACTION, unft_action_list_child);

static const struct unft_set unft_set_table_actions =
	LIST("UID", NFL_ACTION_ATTR_UID, NULL);
static const struct unft_set *const unft_table_child[NFL_TABLE_ATTR_MAX + 1] = {
	[NFL_TABLE_ATTR_MATCHES] = &unft_set_field_ref_list,
	[NFL_TABLE_ATTR_ACTIONS] = &unft_set_table_actions,
};
static const struct unft_set unft_set_table =
	SET(unft_table_names, NFL_TABLE_ATTR_MAX,
	    BIT(NFL_TABLE_ATTR_NAME) | BIT(NFL_TABLE_ATTR_UID) | BIT(NFL_TABLE_ATTR_SOURCE) |
	    BIT(NFL_TABLE_ATTR_SIZE) | BIT(NFL_TABLE_ATTR_MATCHES) | BIT(NFL_TABLE_ATTR_ACTIONS),
	    BIT(NFL_TABLE_ATTR_NAME), unft_table_child);
static const struct unft_set *const unft_table_list_child[NFL_TABLE_MAX + 1] = {
	[NFL_TABLE] = &unft_set_table,
};
static const struct unft_set unft_set_table_list =
	LIST("TABLE", NFL_TABLE, unft_table_list_child);

static const struct unft_set unft_set_hdrs =
	LIST("VALUE", NFL_HEADER_NODE_HDRS_VALUE, NULL);
static const struct unft_set *const unft_header_node_child[NFL_HEADER_NODE_MAX + 1] = {
	[NFL_HEADER_NODE_HDRS] = &unft_set_hdrs,
	[NFL_HEADER_NODE_JUMP] = &unft_set_jump_list,
};
static const struct unft_set unft_set_header_node =
	SET(unft_header_node_names, NFL_HEADER_NODE_MAX,
	    BIT(NFL_HEADER_NODE_NAME) | BIT(NFL_HEADER_NODE_UID) | BIT(NFL_HEADER_NODE_HDRS) |
	    BIT(NFL_HEADER_NODE_JUMP),
	    BIT(NFL_HEADER_NODE_NAME), unft_header_node_child);
static const struct unft_set *const unft_header_graph_child[NFL_HEADER_GRAPH_MAX + 1] = {
	[NFL_HEADER_GRAPH_NODE] = &unft_set_header_node,
};
static const struct unft_set unft_set_header_graph =
	LIST("NODE", NFL_HEADER_GRAPH_NODE, unft_header_graph_child);

static const struct unft_set *const unft_tg_node_child[NFL_TABLE_GRAPH_NODE_MAX + 1] = {
	[NFL_TABLE_GRAPH_NODE_JUMP] = &unft_set_jump_list,
};
static const struct unft_set unft_set_tg_node =
	SET(unft_tg_node_names, NFL_TABLE_GRAPH_NODE_MAX,
	    BIT(NFL_TABLE_GRAPH_NODE_UID) | BIT(NFL_TABLE_GRAPH_NODE_FLAGS) |
	    BIT(NFL_TABLE_GRAPH_NODE_JUMP), 0, unft_tg_node_child);
static const struct unft_set *const unft_table_graph_child[NFL_TABLE_GRAPH_MAX + 1] = {
	[NFL_TABLE_GRAPH_NODE] = &unft_set_tg_node,
};
static const struct unft_set unft_set_table_graph =
	LIST("NODE", NFL_TABLE_GRAPH_NODE, unft_table_graph_child);

static const struct unft_set *const unft_flow_child[NFL_ATTR_MAX + 1] = {
	[NFL_ATTR_MATCHES] = &unft_set_field_ref_list,
	[NFL_ATTR_ACTIONS] = &unft_set_action_list,
};
static const struct unft_set unft_set_flow =
	SET(unft_flow_names, NFL_ATTR_MAX,
	    BIT(NFL_ATTR_TABLE) | BIT(NFL_ATTR_UID) | BIT(NFL_ATTR_PRIORITY), 0,
	    unft_flow_child);
static const struct unft_set *const unft_flow_list_child[NFL_NFL_MAX + 1] = {
	[NFL_FLOW] = &unft_set_flow,
};
static const struct unft_set unft_set_flow_list =
	LIST("FLOW", NFL_FLOW, unft_flow_list_child);

static const struct unft_set unft_set_selector =
	SET(unft_selector_names, NFL_TABLE_FLOWS_MAX, BIT(NFL_TABLE_FLOWS_TABLE), 0, NULL);

static const struct unft_set *const unft_top_list_child[NFL_MAX + 1] = {
	[NFL_TABLES] = &unft_set_table_list,
	[NFL_HEADERS] = &unft_set_header_list,
	[NFL_ACTIONS] = &unft_set_action_list,
	[NFL_HEADER_GRAPH] = &unft_set_header_graph,
	[NFL_TABLE_GRAPH] = &unft_set_table_graph,
	[NFL_FLOWS] = &unft_set_flow_list,
};
static const struct unft_set *const unft_top_selector_child[NFL_MAX + 1] = {
	[NFL_TABLES] = &unft_set_table_list,
	[NFL_HEADERS] = &unft_set_header_list,
	[NFL_ACTIONS] = &unft_set_action_list,
	[NFL_HEADER_GRAPH] = &unft_set_header_graph,
	[NFL_TABLE_GRAPH] = &unft_set_table_graph,
	[NFL_FLOWS] = &unft_set_selector,
};

/*
 * FLOWS_ERROR's range is checked here rather than by the policy: the core
 * answers a range violation with -ERANGE, the contract wants -EINVAL.
 */
static const struct unft_set unft_set_top_list = {
	.names = unft_top_names, .maxtype = NFL_MAX, .child = unft_top_list_child,
	.ranged = NFL_FLOWS_ERROR, .range_max = NFL_FLOWS_ERROR_CONT_LOG,
};
static const struct unft_set unft_set_top_selector = {
	.names = unft_top_names, .maxtype = NFL_MAX, .child = unft_top_selector_child,
	.ranged = NFL_FLOWS_ERROR, .range_max = NFL_FLOWS_ERROR_CONT_LOG,
};

static const struct unft_set unft_set_result =
	SET(unft_result_names, NFLH_RESULT_MAX,
	    BIT(NFLH_RESULT_INDEX) | BIT(NFLH_RESULT_ERRNO), 0, NULL);
static const struct unft_set *const unft_results_child[NFLH_RESULTS_MAX + 1] = {
	[NFLH_RESULT] = &unft_set_result,
};
static const struct unft_set unft_set_results =
	LIST("RESULT", NFLH_RESULT, unft_results_child);

static const struct unft_set unft_set_listener =
	SET(unft_listener_names, NFLH_LISTENER_ATTR_MAX, BIT(NFLH_LISTENER_ATTR_TYPE), 0, NULL);

static const struct unft_set *const unft_sets[] = {
	[UNFT_SET_NFL_LIST] = &unft_set_top_list,
	[UNFT_SET_NFL_SELECTOR] = &unft_set_top_selector,
	[UNFT_SET_RESULTS] = &unft_set_results,
	[UNFT_SET_LISTENER] = &unft_set_listener,
};

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
	if (missing) {
		err = unft_walk_fail(w, parent, NULL, "required attribute %s is missing",
				     unft_name(s, __ffs(missing)));
		NL_SET_ERR_ATTR_MISS(w->extack, parent, __ffs(missing));
		return err;
	}
	return 0;
}

int unft_check(enum unft_set_id set, const struct nlmsghdr *nlh,
	       const struct nlattr *head, int len, const char *prefix,
	       struct netlink_ext_ack *extack)
{
	struct unft_walk w = { .nlh = nlh, .extack = extack };

	if (prefix)
		unft_walk_push(&w, prefix, -1);
	return unft_walk_set(&w, unft_sets[set], NULL, head, len);
}
