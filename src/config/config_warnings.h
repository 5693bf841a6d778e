/*
 * config_warnings.h — configurations that are valid but dangerous, said
 * aloud: by every cmdlet that saves one and by the service at start and
 * reload.
 * Must never: refuse a configuration (that is config_validate's job).
 */
#ifndef POSTERN_CONFIG_WARNINGS_H
#define POSTERN_CONFIG_WARNINGS_H

#include <stddef.h>

struct config;

/* Calls warn once per danger found, with a one-line explanation. */
void config_warnings(const struct config *cfg, void (*warn)(void *arg, const char *text),
                     void *arg);

#endif
