// SPDX-License-Identifier: GPL-2.0
/*
 * unft: extended-ack texts that outlive the handler.
 *
 * Linux 6.1 has no formatted extack messages: netlink_ack() reads
 * extack->_msg after the doit handler has returned, so a text built at run
 * time (a decoder path, the listener's ERROR_MSG) must stay valid until
 * then. The netlink core runs doit and netlink_ack() synchronously in the
 * sending task, one message after the other, so one buffer per task is
 * enough: a task's text is overwritten only by that same task's next
 * handler, when the previous ack has gone out. A slot is taken back from a
 * task that is exiting, and all are released on module exit (no handler
 * runs then: both families are unregistered first). If every slot belongs
 * to a live task, the text falls back to a fixed one.
 */
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/spinlock.h>
#include <linux/kernel.h>

#include "unft.h"

#define UNFT_TEXT_SLOTS 128

struct unft_text_slot {
	struct task_struct *task;	/* holds a reference */
	char text[UNFT_TEXT_LEN];
};

static struct unft_text_slot unft_text_slots[UNFT_TEXT_SLOTS];
static DEFINE_SPINLOCK(unft_text_lock);

void unft_text(struct netlink_ext_ack *extack, const struct nlattr *bad,
	       const char *fmt, ...)
{
	struct unft_text_slot *slot = NULL, *free_slot = NULL;
	struct task_struct *old = NULL;
	va_list args;
	int i;

	if (!extack)
		return;
	NL_SET_BAD_ATTR(extack, bad);

	spin_lock(&unft_text_lock);
	for (i = 0; i < UNFT_TEXT_SLOTS; i++) {
		struct unft_text_slot *s = &unft_text_slots[i];

		if (s->task == current) {
			slot = s;
			break;
		}
		if (!free_slot && (!s->task || (READ_ONCE(s->task->flags) & PF_EXITING)))
			free_slot = s;
	}
	if (!slot && free_slot) {
		slot = free_slot;
		old = slot->task;
		get_task_struct(current);
		slot->task = current;
	}
	if (slot) {
		va_start(args, fmt);
		vscnprintf(slot->text, sizeof(slot->text), fmt, args);
		va_end(args);
		extack->_msg = slot->text;
	} else {
		extack->_msg = "unft: error text dropped (too many tasks)";
	}
	spin_unlock(&unft_text_lock);

	if (old)
		put_task_struct(old);
}

int unft_top_missing(struct netlink_ext_ack *extack, int type, const char *name,
		     const char *why)
{
	unft_text(extack, NULL, "message at byte 0: %srequired attribute %s is missing", why, name);
	NL_SET_ERR_ATTR_MISS(extack, NULL, type);
	return -EINVAL;
}

void unft_text_exit(void)
{
	int i;

	for (i = 0; i < UNFT_TEXT_SLOTS; i++) {
		if (unft_text_slots[i].task) {
			put_task_struct(unft_text_slots[i].task);
			unft_text_slots[i].task = NULL;
		}
	}
}
