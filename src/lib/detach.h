/*
 * detach.h — `run --daemon`: leaving the terminal only once the service is
 * up, so that the command's exit status says whether it started.
 *
 * The parent waits on a pipe; the child reports readiness after it has
 * bound its ports and dropped privileges, and only then moves its stderr
 * to DIR/logs/postern.log, which it opens as the service user (a file in a
 * directory that user owns is never opened by root).
 * Must never: open the log file before the privilege drop.
 */
#ifndef POSTERN_DETACH_H
#define POSTERN_DETACH_H

/* Forks. In the parent: waits for the child's report and exits (0 when the
 * service started). In the child: returns the descriptor to report on. */
int detach_start(void);
/* In the child, once the service runs: redirects stdin/stdout to /dev/null
 * and stderr to DIR/logs/postern.log, then tells the parent. */
int detach_ready(int report_fd, const char *instance_dir);

#endif
