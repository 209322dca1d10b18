/*
 * The few process controls Swift cannot call directly: prctl(2) and
 * capget(2) are variadic (or only reachable through syscall(2), which is).
 * Each returns 0 / a value on success and a negative errno on failure.
 */
#ifndef SE_PROCESS_HARDENING_H
#define SE_PROCESS_HARDENING_H

/* prctl(PR_SET_DUMPABLE, value): 0 or -errno. */
int se_set_dumpable(int value);

/* prctl(PR_GET_DUMPABLE): 0, 1 or 2, or -errno. */
int se_get_dumpable(void);

/* Whether CAP_IPC_LOCK is in the effective set (capget): 1, 0 or -errno. */
int se_has_cap_ipc_lock(void);

#endif
