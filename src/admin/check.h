/*
 * check.h — `postern -D DIR check`: the pre-start check of an instance
 * (systemd's ExecStartPre, or an administrator before a reload). It reads
 * postern.conf as the service would and says what is wrong in one line,
 * so that a bad file is named before anything is stopped or started.
 * Must never: change anything in the instance; pass a file the service
 * would refuse to start with.
 */
#ifndef POSTERN_CHECK_H
#define POSTERN_CHECK_H

/* Validates DIR/postern.conf (syntax, values, the rules across objects)
 * and, when started as root, that the service user exists. Warnings go to
 * stderr and do not fail. Returns the exit status: 0 valid, 1 not. */
int check_instance(const char *dir);

#endif
