/*
 * control_server.c — see control_server.h.
 */
#include "daemon/control_server.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_LINE_MAX 1024

struct control_server {
    struct evconnlistener *evl;
    char *path;
    uid_t allowed_uid;
    control_request_fn *fn;
    void *arg;
};

/* One request waiting for its answer; bev is NULL once the client left. */
struct control_reply {
    struct bufferevent *bev;
};

static void
control_done_cb(struct bufferevent *bev, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
    bufferevent_free(bev);
}

/* Splits "command\targ\targ" in place. */
static int
control_split(char *line, char **argv)
{
    int n = 0;

    char *p = line;

    while (p != NULL && n < CONTROL_MAX_ARGS) {
        char *tab = strchr(p, '\t');
        argv[n++] = p;
        if (tab != NULL)
            *tab++ = '\0';
        p = tab;
    }
    for (int i = n; i < CONTROL_MAX_ARGS; i++)
        argv[i] = "";
    return n;
}

void
control_reply_finish(struct control_reply *r, bool ok, const char *text, size_t len)
{
    if (r->bev != NULL) {
        struct evbuffer *out = bufferevent_get_output(r->bev);
        if (ok) {
            evbuffer_add_printf(out, "ok\n");
            evbuffer_add(out, text, len);
        } else {
            evbuffer_add_printf(out, "error %.*s\n", (int)strcspn(text, "\n"), text);
        }
        bufferevent_setcb(r->bev, NULL, control_done_cb, control_event_cb, NULL);
        bufferevent_enable(r->bev, EV_WRITE);
        if (evbuffer_get_length(out) == 0)
            bufferevent_free(r->bev);
    }
    free(r);
}

/* The client hung up while its answer was pending. */
static void
control_waiting_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct control_reply *r = arg;

    bufferevent_free(bev);
    r->bev = NULL;
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
    struct control_server *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF);
    char *argv[CONTROL_MAX_ARGS];
    struct control_reply *r;

    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
            bufferevent_free(bev);
        return;
    }
    r = xcalloc(1, sizeof(*r));
    control_split(line, argv);
    r->bev = bev;
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, NULL, control_waiting_event_cb, r);
    cs->fn(cs->arg, argv, r);
    free(line);
}

static void
control_accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int len,
                  void *arg)
{
    struct control_server *cs = arg;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    struct bufferevent *bev;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
        (cred.uid != 0 && cred.uid != cs->allowed_uid)) {
        log_warnx("control: refused a request from uid %ld", (long)cred.uid);
        close(fd);
        return;
    }
    bev = bufferevent_socket_new(evconnlistener_get_base(evl), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, control_read_cb, NULL, control_event_cb, cs);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control_server *
control_server_open(struct event_base *base, const char *path, uid_t allowed_uid,
                    control_request_fn *fn, void *arg, char *err, size_t errlen)
{
    struct control_server *cs = xcalloc(1, sizeof(*cs));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    mode_t old;

    cs->path = xstrdup(path);
    cs->allowed_uid = allowed_uid;
    cs->fn = fn;
    cs->arg = arg;
    if (strlen(cs->path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s: path too long for a socket", cs->path);
        goto fail;
    }
    strlcpy_p(sun.sun_path, cs->path, sizeof(sun.sun_path));
    (void)unlink(cs->path); /* left over from a service that died */
    old = umask(077);
    cs->evl = evconnlistener_new_bind(base, control_accept_cb, cs,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                      (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (cs->evl == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", cs->path, strerror(errno));
        goto fail;
    }
    return cs;
fail:
    free(cs->path);
    free(cs);
    return NULL;
}

void
control_server_close(struct control_server *cs)
{
    if (cs == NULL)
        return;
    evconnlistener_free(cs->evl);
    (void)unlink(cs->path);
    free(cs->path);
    free(cs);
}
