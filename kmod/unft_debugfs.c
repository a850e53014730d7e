// SPDX-License-Identifier: GPL-2.0
/*
 * unft: counters and knobs in /sys/kernel/debug/unft/.
 *
 * Counters (read-only, decimal):
 *   requests answers timeouts notconn failed refused parts_out parts_in
 *   send_retries listener_lost   running totals
 *   timed_calls time_total_ns time_listener_ns time_wake_ns
 *                                answered calls and their time: handler
 *                                entry to reply; ENCAP queued to answer;
 *                                answer to the caller running again
 *   pending                      calls waiting now
 *   live                         live allocations (calls, buffers, skbs);
 *                                0 whenever no call is in flight
 *   listener                     the initial namespace's listener port, 0
 *                                if none
 *   listeners                    namespaces that have a listener
 *   stats                        everything above, one "name value" a line
 * Knobs (read-write):
 *   timeout_ms        answer timeout (also /sys/module/unft/parameters/)
 *   part_budget       bytes of flows per ENCAP part (default 61440; tests
 *                     lower it to exercise parts with small batches)
 *   max_answer_bytes  cap on one reassembled answer (default 16 MiB)
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/seq_file.h>

#include "unft.h"

static struct dentry *unft_debugfs_root;

static int unft_counter_get(void *data, u64 *val)
{
	*val = atomic64_read(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(unft_counter_fops, unft_counter_get, NULL, "%llu\n");

static int unft_listener_get(void *data, u64 *val)
{
	*val = unft_hairpin_listener();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(unft_listener_fops, unft_listener_get, NULL, "%llu\n");

static int unft_listeners_get(void *data, u64 *val)
{
	*val = unft_hairpin_listeners();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(unft_listeners_fops, unft_listeners_get, NULL, "%llu\n");

static const struct {
	const char *name;
	atomic64_t *counter;
} unft_counters[] = {
	{ "requests", &unft_stats.requests },
	{ "answers", &unft_stats.answers },
	{ "timeouts", &unft_stats.timeouts },
	{ "notconn", &unft_stats.notconn },
	{ "failed", &unft_stats.failed },
	{ "refused", &unft_stats.refused },
	{ "parts_out", &unft_stats.parts_out },
	{ "parts_in", &unft_stats.parts_in },
	{ "send_retries", &unft_stats.send_retries },
	{ "listener_lost", &unft_stats.listener_lost },
	{ "timed_calls", &unft_stats.timed_calls },
	{ "time_total_ns", &unft_stats.time_total_ns },
	{ "time_listener_ns", &unft_stats.time_listener_ns },
	{ "time_wake_ns", &unft_stats.time_wake_ns },
	{ "pending", &unft_stats.pending },
	{ "live", &unft_stats.live },
};

static int unft_stats_show(struct seq_file *m, void *v)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(unft_counters); i++)
		seq_printf(m, "%s %lld\n", unft_counters[i].name,
			   (long long)atomic64_read(unft_counters[i].counter));
	seq_printf(m, "listener %u\n", unft_hairpin_listener());
	seq_printf(m, "listeners %u\n", unft_hairpin_listeners());
	seq_printf(m, "timeout_ms %u\n", READ_ONCE(unft_timeout_ms));
	seq_printf(m, "part_budget %u\n", READ_ONCE(unft_part_budget));
	seq_printf(m, "max_answer_bytes %u\n", READ_ONCE(unft_max_answer));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(unft_stats);

void unft_debugfs_init(void)
{
	struct dentry *d;
	int i;

	d = debugfs_create_dir(UNFT_DRV_NAME, NULL);
	if (IS_ERR(d))
		return;
	unft_debugfs_root = d;
	for (i = 0; i < ARRAY_SIZE(unft_counters); i++)
		debugfs_create_file_unsafe(unft_counters[i].name, 0444, d,
					   unft_counters[i].counter, &unft_counter_fops);
	debugfs_create_file_unsafe("listener", 0444, d, NULL, &unft_listener_fops);
	debugfs_create_file_unsafe("listeners", 0444, d, NULL, &unft_listeners_fops);
	debugfs_create_file("stats", 0444, d, NULL, &unft_stats_fops);
	debugfs_create_u32("timeout_ms", 0644, d, &unft_timeout_ms);
	debugfs_create_u32("part_budget", 0644, d, &unft_part_budget);
	debugfs_create_u32("max_answer_bytes", 0644, d, &unft_max_answer);
}

void unft_debugfs_exit(void)
{
	debugfs_remove_recursive(unft_debugfs_root);
	unft_debugfs_root = NULL;
}
