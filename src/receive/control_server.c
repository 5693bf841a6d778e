/*
 * control_server.c — see control_server.h. One request line per
 * connection, one answer line, then close.
 */
#include "receive/control_server.h"
#include "lib/log.h"
#include "lib/util.h"
#include "delivery/deliver.h"
#include "receive/server.h"

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
#define CONTROL_MAX_ARGS 5

struct control_server {
    struct server *srv;
    struct evconnlistener *evl;
    char *path;
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

/* Runs one request; the answer is "ok" or "error <reason>", then what the
 * cmdlet prints. */
static void
control_dispatch(struct control_server *cs, char *line, struct evbuffer *out)
{
    char *argv[CONTROL_MAX_ARGS], err[512], *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc = -1;

    control_split(line, argv);
    if (strcmp(argv[0], "reload") == 0) {
        if (server_reload(cs->srv, err, sizeof(err)) == 0)
            evbuffer_add_printf(out, "ok\n");
        else
            evbuffer_add_printf(out, "error %s\n", err);
        return;
    }
    if ((f = open_memstream(&text, &len)) == NULL) {
        evbuffer_add_printf(out, "error out of memory\n");
        return;
    }
    if (strcmp(argv[0], "get-queue") == 0)
        rc = deliver_cmd_get_queue(cs->srv->deliver, argv[1], f);
    else if (strcmp(argv[0], "get-message") == 0)
        rc = deliver_cmd_get_message(cs->srv->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else if (strcmp(argv[0], "queue-action") == 0)
        rc = deliver_cmd_queue_action(cs->srv->deliver, argv[1], argv[2], f);
    else if (strcmp(argv[0], "message-action") == 0)
        rc = deliver_cmd_message_action(cs->srv->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else
        fprintf(f, "unknown request\n");
    fclose(f);
    if (rc == 0) {
        evbuffer_add_printf(out, "ok\n");
        evbuffer_add(out, text, len);
    } else {
        text[strcspn(text, "\n")] = '\0';
        evbuffer_add_printf(out, "error %s\n", text);
    }
    free(text);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
    struct control_server *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF);

    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
            bufferevent_free(bev);
        return;
    }
    control_dispatch(cs, line, bufferevent_get_output(bev));
    free(line);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, control_done_cb, control_event_cb, cs);
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
        (cred.uid != 0 && cred.uid != geteuid())) {
        log_warnx("control: refused a request from uid %ld", (long)cred.uid);
        close(fd);
        return;
    }
    bev = bufferevent_socket_new(evconnlistener_get_base(evl), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, control_read_cb, NULL, control_event_cb, cs);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control_server *
control_server_open(struct server *srv, char *err, size_t errlen)
{
    struct control_server *cs = xcalloc(1, sizeof(*cs));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char *rundir = xasprintf("%s/run", srv->instance_dir);
    mode_t old;

    cs->srv = srv;
    cs->path = xasprintf("%s/control.sock", rundir);
    (void)mkdir(rundir, 0700);
    free(rundir);
    if (strlen(cs->path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s: path too long for a socket", cs->path);
        goto fail;
    }
    strlcpy_p(sun.sun_path, cs->path, sizeof(sun.sun_path));
    (void)unlink(cs->path); /* left over from a service that died */
    old = umask(077);
    cs->evl = evconnlistener_new_bind(srv->base, control_accept_cb, cs,
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
