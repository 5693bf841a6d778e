/*
 * secret_args.c — see secret_args.h.
 */
#include "admin/secret_args.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const secret_params[] = {"Password", "AuthenticationCredential"};

/* Length of the parameter name when word names a secret-carrying one
 * ("-Password" or "-Password:..."), else 0. */
static size_t
secret_param(const char *word)
{
    if (word[0] != '-')
        return 0;
    for (size_t i = 0; i < sizeof(secret_params) / sizeof(secret_params[0]); i++) {
        size_t n = strlen(secret_params[i]);
        if (strncasecmp(word + 1, secret_params[i], n) == 0 &&
            (word[1 + n] == '\0' || word[1 + n] == ':'))
            return 1 + n;
    }
    return 0;
}

static char *
take(char *value)
{
    char *copy = xstrdup(value);

    explicit_bzero(value, strlen(value));
    return copy;
}

int
secret_args_hide(int argc, char **argv, char ***copies)
{
    int n = 0;

    *copies = xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) {
        size_t name = secret_param(argv[i]);
        if (name == 0)
            continue;
        if (argv[i][name] == ':') {
            /* keep "-Password:" in place, hide what follows the colon */
            char *copy = xstrdup(argv[i]);
            explicit_bzero(argv[i] + name + 1, strlen(argv[i] + name + 1));
            argv[i] = (*copies)[n++] = copy;
        } else if (i + 1 < argc && strcmp(argv[i + 1], "-") != 0) {
            argv[i + 1] = (*copies)[n++] = take(argv[i + 1]);
            i++;
        }
    }
    return n;
}

void
secret_args_free(char **copies, int n)
{
    for (int i = 0; i < n; i++)
        str_free_wiped(copies[i]);
    free(copies);
}
