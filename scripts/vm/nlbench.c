// nlbench.c: the speed of the Flow Table API through unft.ko and flow-table-hairpind, measured
// by a compiled client inside the VM (scripts/vm/nlbench.py is the same in Python).
//
//   nlbench [--dev unft0] [--n 1000] [--blocks 5] [--set-hex FILE --del-hex FILE]
//           [--metric-prefix P]
//
// Why a C client too: under QEMU TCG every task switch flushes the soft TLB, so a call that
// sleeps (every API call does: unft waits for the daemon) pays for refilling its client's
// working set afterwards. An interpreter's working set is large, a C loop's is a few pages:
// the two clients bracket what a client adds on top of the kernel and the daemon. Both
// round trips of a ratio are measured by the same client, in alternating blocks (the host's
// load changes within seconds).
//
// Round trips, each a request with NLM_F_ACK waiting for its final NLMSG_ERROR, one socket:
//   genl      nlctrl CTRL_CMD_GETFAMILY "nlctrl" (the baseline: no task switch)
//   tables    GET_TABLES on the unft port               (the largest discovery reply)
//   graph     GET_TABLE_GRAPH                          (a reply nearer the baseline's size)
//   set1/del1 SET_FLOWS of one flow then DEL_FLOWS of it (--set-hex/--del-hex: the first line
//             of each, encoded by `flow-table-ctl encode`; replies are ACKs only)
//   pingpong  a one-byte round trip over two pipes to a child process (two task switches,
//             nothing else: the floor any user-space listener adds), minus the same in one
//             process
// Prints "VMTEST METRIC <prefix>c_<name> <value>" lines; exit status 1 when any call failed
// (numbers of failing calls mean nothing), 2 on bad usage.
//
//   nlbench --save-replies DIR ...       also writes the payloads (attributes after the genl
//                                        header) of the GET_TABLES and GET_TABLE_GRAPH replies
//                                        to DIR/0.bin and DIR/4.bin
//   nlbench --floor-listener DIR [--ack] registers as unft's listener and answers GET_TABLES /
//                                        GET_TABLE_GRAPH with those bytes, nothing else: the
//                                        least work any listener can do for the same answer,
//                                        so the round trip it gives is the floor of the design
//                                        (unft, two task switches, one listener receive and
//                                        send). Answers carry NLM_F_ACK only with --ack. Runs
//                                        until killed or until unft goes away.
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include "uapi/net_flow.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

static const char *prefix = "";
static int sock_fd = -1;
static uint32_t next_seq = 1;
static uint8_t rx[1 << 16];

struct request {
	const char *name;
	uint8_t *save;		/* when set: the first reply's payload is copied here */
	size_t save_len;
	uint8_t bytes[4096];
	size_t len;
	size_t reply_bytes;	/* of the last call, NLMSG_ERROR included */
};

static void metric(const char *name, double v)
{
	printf("VMTEST METRIC %sc_%s %.1f\n", prefix, name, v);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "nlbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static size_t put_attr(uint8_t *p, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };

	memcpy(p, &a, sizeof(a));
	memcpy(p + NLA_HDRLEN, data, len);
	memset(p + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	return NLA_HDRLEN + NLA_ALIGN(len);
}

/* A generic netlink request: header, genl header, the attributes given. */
static void genl_request(struct request *r, const char *name, uint16_t family, uint8_t cmd,
			 uint8_t version, const uint8_t *attrs, size_t attrs_len)
{
	struct nlmsghdr h = { .nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + attrs_len),
			      .nlmsg_type = family, .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK };
	struct genlmsghdr g = { .cmd = cmd, .version = version };

	r->name = name;
	memcpy(r->bytes, &h, sizeof(h));
	memcpy(r->bytes + NLMSG_HDRLEN, &g, sizeof(g));
	memcpy(r->bytes + NLMSG_HDRLEN + GENL_HDRLEN, attrs, attrs_len);
	r->len = h.nlmsg_len;
}

/*
 * One round trip: send with a fresh nlmsg_seq, read until the NLMSG_ERROR of that seq.
 * Returns its error (0: ACK); the reply messages before it are read and counted only.
 */
static int call(struct request *r)
{
	uint32_t seq = next_seq++;
	size_t got = 0;

	memcpy(r->bytes + offsetof(struct nlmsghdr, nlmsg_seq), &seq, sizeof(seq));
	if (send(sock_fd, r->bytes, r->len, 0) != (ssize_t)r->len)
		die("send");
	for (;;) {
		ssize_t n = recv(sock_fd, rx, sizeof(rx), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		got += (size_t)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)rx; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type != NLMSG_ERROR) {
				size_t pl = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

				if (r->save && !r->save_len && h->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN &&
				    pl <= 65536) {
					memcpy(r->save, (uint8_t *)NLMSG_DATA(h) + GENL_HDRLEN, pl);
					r->save_len = pl;
				}
				continue;
			}
			r->reply_bytes = got;
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

/* Seconds for n round trips; any error ends the program. */
static double timed(struct request *r, int n)
{
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		int err = call(r);

		if (err) {
			fprintf(stderr, "nlbench: %s failed: error %d\n", r->name, err);
			exit(1);
		}
	}
	return now_s() - t0;
}

/* SET_FLOWS of one flow then DEL_FLOWS of it: seconds for n pairs. */
static double timed_pair(struct request *set, struct request *del, int n)
{
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		int a = call(set), b = call(del);

		if (a || b) {
			fprintf(stderr, "nlbench: set1/del1 failed: errors %d %d\n", a, b);
			exit(1);
		}
	}
	return now_s() - t0;
}

static uint16_t resolve(const char *family)
{
	uint8_t attrs[64];
	size_t len = put_attr(attrs, CTRL_ATTR_FAMILY_NAME, family, (uint16_t)(strlen(family) + 1));
	struct request r;
	uint32_t seq = next_seq++;

	genl_request(&r, "resolve", GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, attrs, len);
	memcpy(r.bytes + offsetof(struct nlmsghdr, nlmsg_seq), &seq, sizeof(seq));
	if (send(sock_fd, r.bytes, r.len, 0) != (ssize_t)r.len)
		die("send");
	ssize_t n = recv(sock_fd, rx, sizeof(rx), 0);
	if (n < 0)
		die("recv");
	struct nlmsghdr *h = (struct nlmsghdr *)rx;
	if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != GENL_ID_CTRL) {
		fprintf(stderr, "nlbench: family %s not found\n", family);
		exit(1);
	}
	uint8_t *p = (uint8_t *)NLMSG_DATA(h) + GENL_HDRLEN, *end = (uint8_t *)h + h->nlmsg_len;
	uint16_t id = 0;
	while (p + NLA_HDRLEN <= end) {
		struct nlattr *a = (struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
			memcpy(&id, p + NLA_HDRLEN, sizeof(id));
		p += NLA_ALIGN(a->nla_len);
	}
	/* the ACK */
	do {
		n = recv(sock_fd, rx, sizeof(rx), 0);
	} while (n < 0 && errno == EINTR);
	if (!id) {
		fprintf(stderr, "nlbench: no family id for %s\n", family);
		exit(1);
	}
	return id;
}

/* The first hex line of a file (a message `flow-table-ctl encode` wrote), family id patched. */
static int read_hex(const char *path, struct request *r, const char *name, uint16_t family)
{
	FILE *f = fopen(path, "r");
	char line[2 * sizeof(r->bytes) + 2];
	size_t k = 0;

	if (!f)
		die(path);
	if (!fgets(line, sizeof(line), f)) {
		fprintf(stderr, "nlbench: %s: empty\n", path);
		exit(2);
	}
	fclose(f);
	for (char *c = line; c[0] && c[1] && c[0] != '\n' && k < sizeof(r->bytes); c += 2) {
		unsigned v;

		if (sscanf(c, "%2x", &v) != 1) {
			fprintf(stderr, "nlbench: %s: not hex at column %zu\n", path, (size_t)(c - line));
			exit(2);
		}
		r->bytes[k++] = (uint8_t)v;
	}
	if (k < NLMSG_HDRLEN + GENL_HDRLEN) {
		fprintf(stderr, "nlbench: %s: %zu bytes is no message (or longer than %zu)\n", path, k,
			sizeof(r->bytes));
		exit(2);
	}
	r->name = name;
	r->len = k;
	memcpy(r->bytes + offsetof(struct nlmsghdr, nlmsg_type), &family, sizeof(family));
	return 0;
}

/* Two task switches per round trip: a byte to a child and back, minus the same in one process. */
static void pingpong(int n)
{
	int a[2], b[2], s[2];
	char c = 'x';

	if (pipe(a) || pipe(b) || pipe(s))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		while (read(a[0], &c, 1) == 1)
			if (write(b[1], &c, 1) != 1)
				break;
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	for (int i = 0; i < 20; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			die("pingpong");
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			die("pingpong");
	double two = now_s() - t0;
	close(a[1]);
	waitpid(pid, NULL, 0);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		if (write(s[1], &c, 1) != 1 || read(s[0], &c, 1) != 1 ||
		    write(s[1], &c, 1) != 1 || read(s[0], &c, 1) != 1)
			die("pipe");
	double one = now_s() - t0;
	metric("switch_pingpong_us", two / n * 1e6);
	metric("switch_rtt_us", (two - one) / n * 1e6);
}

static uint8_t canned[5][65536];
static size_t canned_len[5];

static void save_file(const char *dir, int cmd, const uint8_t *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.bin", dir, cmd);
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		die(path);
}

static void load_file(const char *dir, int cmd)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.bin", dir, cmd);
	f = fopen(path, "r");
	if (!f)
		return;		/* that getter is answered EOPNOTSUPP */
	canned_len[cmd] = fread(canned[cmd], 1, sizeof(canned[cmd]), f);
	fclose(f);
}

/* A nest's header at p; returns where its content starts. */
static size_t begin_nest(uint8_t *p, uint16_t type)
{
	struct nlattr a = { .nla_len = 0, .nla_type = (uint16_t)(type | NLA_F_NESTED) };

	memcpy(p, &a, sizeof(a));
	return NLA_HDRLEN;
}

static void end_nest(uint8_t *start, size_t len)
{
	uint16_t l = (uint16_t)len;

	memcpy(start, &l, sizeof(l));
}

/* The u32 or u64 value of an attribute (0 when it has another size). */
static uint64_t attr_uint(const struct nlattr *a)
{
	uint32_t v32;
	uint64_t v64;

	if (a->nla_len == NLA_HDRLEN + 4) {
		memcpy(&v32, (const uint8_t *)a + NLA_HDRLEN, 4);
		return v32;
	}
	if (a->nla_len == NLA_HDRLEN + 8) {
		memcpy(&v64, (const uint8_t *)a + NLA_HDRLEN, 8);
		return v64;
	}
	return 0;
}

static uint8_t tx[70000];

/* Answers one ENCAP request (a getter with its canned payload, anything else EOPNOTSUPP). */
static void floor_answer(struct nlmsghdr *h, uint16_t hp, int ack)
{
	uint8_t *p = (uint8_t *)NLMSG_DATA(h) + GENL_HDRLEN, *end = (uint8_t *)h + h->nlmsg_len;
	uint64_t seq = 0;
	uint32_t cmd = 0, cmd_type = 0, status;
	int found = 0;

	for (; p + NLA_HDRLEN <= end; ) {
		struct nlattr *a = (struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NFLH_ENCAP) {
			uint8_t *q = p + NLA_HDRLEN, *qend = p + a->nla_len;

			while (q + NLA_HDRLEN <= qend) {
				struct nlattr *b = (struct nlattr *)q;

				if (b->nla_len < NLA_HDRLEN || q + b->nla_len > qend)
					break;
				switch (b->nla_type & NLA_TYPE_MASK) {
				case NFLH_ENCAP_CMD_TYPE: cmd_type = (uint32_t)attr_uint(b); break;
				case NFLH_ENCAP_CMD: cmd = (uint32_t)attr_uint(b); break;
				case NFLH_ENCAP_SEQ: seq = attr_uint(b); found = 1; break;
				}
				q += NLA_ALIGN(b->nla_len);
			}
		}
		p += NLA_ALIGN(a->nla_len);
	}
	if (!found) {
		fprintf(stderr, "nlbench: floor listener: an ENCAP without SEQ, ignored\n");
		return;
	}
	status = cmd < 5 && canned_len[cmd] ? 0 : EOPNOTSUPP;

	struct nlmsghdr out = { .nlmsg_type = hp, .nlmsg_seq = next_seq++,
				.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | (ack ? NLM_F_ACK : 0)) };
	struct genlmsghdr g = { .cmd = NFLH_CMD_ENCAP, .version = NFLH_GENL_VERSION };
	size_t len = NLMSG_HDRLEN, encap, inner;

	memcpy(tx + NLMSG_HDRLEN, &g, sizeof(g));
	len += GENL_HDRLEN;
	encap = len;
	len += begin_nest(tx + len, NFLH_ENCAP);
	len += put_attr(tx + len, NFLH_ENCAP_CMD_TYPE, &cmd_type, 4);
	len += put_attr(tx + len, NFLH_ENCAP_CMD, &cmd, 4);
	len += put_attr(tx + len, NFLH_ENCAP_STATUS, &status, 4);
	len += put_attr(tx + len, NFLH_ENCAP_SEQ, &seq, 8);
	if (!status) {
		inner = len;
		len += begin_nest(tx + len, NFLH_ENCAP_ATTR);
		memcpy(tx + len, canned[cmd], canned_len[cmd]);
		len += NLA_ALIGN(canned_len[cmd]);
		end_nest(tx + inner, len - inner);
	}
	end_nest(tx + encap, len - encap);
	out.nlmsg_len = (uint32_t)len;
	memcpy(tx, &out, sizeof(out));
	if (send(sock_fd, tx, len, 0) != (ssize_t)len)
		die("floor listener: send");
}

static int floor_listener(const char *dir, int ack)
{
	uint16_t hp = resolve(NFLH_GENL_NAME);
	uint8_t attrs[32];
	uint32_t type = NFLH_LISTENER_TYPE_ENCAP;
	struct request reg;
	size_t len;

	for (int cmd = 0; cmd < 5; cmd++)
		load_file(dir, cmd);
	len = begin_nest(attrs, NFLH_LISTENER);
	len += put_attr(attrs + len, NFLH_LISTENER_ATTR_TYPE, &type, 4);
	end_nest(attrs, len);
	genl_request(&reg, "SET_LISTENER", hp, NFLH_CMD_SET_LISTENER, NFLH_GENL_VERSION, attrs, len);
	int err = call(&reg);
	if (err) {
		fprintf(stderr, "nlbench: SET_LISTENER failed: error %d\n", err);
		return 1;
	}
	fprintf(stderr, "nlbench: floor listener registered (answers %s NLM_F_ACK)\n",
		ack ? "with" : "without");
	for (;;) {
		ssize_t n = recv(sock_fd, rx, sizeof(rx), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "nlbench: floor listener: the socket ended (%s)\n",
				n < 0 ? strerror(errno) : "closed");
			return 0;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)rx; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;

				if (e)
					fprintf(stderr, "nlbench: floor listener: unft refused answer "
						"%u: error %d\n", h->nlmsg_seq, e);
				continue;
			}
			if (h->nlmsg_type == hp && h->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN &&
			    ((struct genlmsghdr *)NLMSG_DATA(h))->cmd == NFLH_CMD_ENCAP)
				floor_answer(h, hp, ack);
		}
	}
}

int main(int argc, char **argv)
{
	const char *save_dir = NULL, *floor_dir = NULL;
	int ack = 0;
	const char *dev = "unft0", *set_hex = NULL, *del_hex = NULL;
	int n = 1000, blocks = 5;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--dev") && v)
			dev = v, i++;
		else if (!strcmp(argv[i], "--n") && v)
			n = atoi(v), i++;
		else if (!strcmp(argv[i], "--blocks") && v)
			blocks = atoi(v), i++;
		else if (!strcmp(argv[i], "--set-hex") && v)
			set_hex = v, i++;
		else if (!strcmp(argv[i], "--del-hex") && v)
			del_hex = v, i++;
		else if (!strcmp(argv[i], "--save-replies") && v)
			save_dir = v, i++;
		else if (!strcmp(argv[i], "--floor-listener") && v)
			floor_dir = v, i++;
		else if (!strcmp(argv[i], "--ack"))
			ack = 1;
		else if (!strcmp(argv[i], "--metric-prefix") && v)
			prefix = v, i++;
		else {
			fprintf(stderr, "usage: nlbench [--dev unft0] [--n 1000] [--blocks 5] "
				"[--set-hex FILE --del-hex FILE] [--metric-prefix P] [--save-replies DIR]\n"
				"       nlbench --floor-listener DIR [--ack]\n"
				"  e.g. nlbench --dev unft0 --n 2000\n");
			return 2;
		}
	}
	if (n < 1 || blocks < 1 || !!set_hex != !!del_hex) {
		fprintf(stderr, "nlbench: --n and --blocks must be positive; --set-hex needs --del-hex\n");
		return 2;
	}
	unsigned ifindex = floor_dir ? 1 : if_nametoindex(dev);
	if (!ifindex)
		die(dev);

	sock_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (sock_fd < 0)
		die("socket");
	int one = 1, rcvbuf = 1 << 22;
	setsockopt(sock_fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(sock_fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(sock_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	if (bind(sock_fd, (struct sockaddr *)&local, sizeof(local)))
		die("bind");
	if (floor_dir)
		return floor_listener(floor_dir, ack);
	uint16_t api = resolve(NFL_GENL_NAME);

	uint8_t attrs[64];
	uint32_t type = NFL_IDENTIFIER_IFINDEX, id = ifindex;
	size_t len = put_attr(attrs, CTRL_ATTR_FAMILY_NAME, "nlctrl", 7);
	static struct request genl, tables, graph, set1, del1;
	genl_request(&genl, "genl", GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, attrs, len);
	len = put_attr(attrs, NFL_IDENTIFIER_TYPE, &type, 4);
	len += put_attr(attrs + len, NFL_IDENTIFIER, &id, 4);
	genl_request(&tables, "tables", api, NFL_TABLE_CMD_GET_TABLES, NFL_GENL_VERSION, attrs, len);
	genl_request(&graph, "graph", api, NFL_TABLE_CMD_GET_TABLE_GRAPH, NFL_GENL_VERSION, attrs, len);
	struct request *apis[] = { &tables, &graph };
	int n_apis = 2;
	if (set_hex) {
		read_hex(set_hex, &set1, "set1", api);
		read_hex(del_hex, &del1, "del1", api);
	}

	/* Warm-up, and the sizes (so the round trips can be compared fairly). */
	static uint8_t saved[2][65536];
	timed(&genl, 20);
	for (int k = 0; k < n_apis; k++) {
		apis[k]->save = save_dir ? saved[k] : NULL;
		timed(apis[k], 20);
		apis[k]->save = NULL;
	}
	if (save_dir) {
		save_file(save_dir, NFL_TABLE_CMD_GET_TABLES, saved[0], tables.save_len);
		save_file(save_dir, NFL_TABLE_CMD_GET_TABLE_GRAPH, saved[1], graph.save_len);
	}
	if (set_hex)
		timed_pair(&set1, &del1, 20);
	metric("genl_reply_bytes", (double)genl.reply_bytes);
	metric("tables_reply_bytes", (double)tables.reply_bytes);
	metric("graph_reply_bytes", (double)graph.reply_bytes);

	int per = n / blocks > 0 ? n / blocks : 1;
	double t_genl = 0, t_api[2] = { 0, 0 }, t_pair = 0, lo = 1e9, hi = 0;
	for (int b = 0; b < blocks; b++) {
		double g = timed(&genl, per);
		double t = timed(&tables, per);

		t_genl += g;
		t_api[0] += t;
		t_api[1] += timed(&graph, per);
		if (set_hex)
			t_pair += timed_pair(&set1, &del1, per);
		lo = t / g < lo ? t / g : lo;
		hi = t / g > hi ? t / g : hi;
	}
	double calls = (double)per * blocks, genl_us = t_genl / calls * 1e6;
	metric("genl_rtt_us", genl_us);
	metric("tables_rtt_us", t_api[0] / calls * 1e6);
	metric("tables_rtt_ratio", t_api[0] / t_genl);
	metric("tables_rtt_ratio_min", lo);
	metric("tables_rtt_ratio_max", hi);
	metric("graph_rtt_us", t_api[1] / calls * 1e6);
	metric("graph_rtt_ratio", t_api[1] / t_genl);
	if (set_hex) {
		metric("set1_del1_rtt_us", t_pair / calls / 2 * 1e6);
		metric("set1_del1_rtt_ratio", t_pair / 2 / t_genl);
	}
	pingpong(n);
	return 0;
}
