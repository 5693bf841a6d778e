/*
 * detach.h — `run --daemon`: leaving the terminal only once the service is
 * up, so that the command's exit status says whether it started.
 *
 * The parent waits on a pipe; the service opens DIR/logs/postern.log with
 * the instance owner's rights (a file in a directory that user owns is
 * never opened as root), hands it to its child processes for their stderr,
 * and once every process is up moves its own stderr there and reports.
 * Must never: open the log file with root's rights.
 */
#ifndef POSTERN_DETACH_H
#define POSTERN_DETACH_H

/* Forks. In the parent: waits for the child's report and exits (0 when the
 * service started). In the child: returns the descriptor to report on. */
int detach_start(void);
/* Opens DIR/logs/postern.log for appending (the caller runs with the
 * instance owner's rights: lib/runas.h). The descriptor, or -1 (logged). */
int detach_open_log(const char *instance_dir);
/* Once the service runs: redirects stdin/stdout to /dev/null and stderr to
 * log_fd, then tells the parent. */
int detach_ready(int report_fd, int log_fd);

#endif
