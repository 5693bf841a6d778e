/*
 * server.c — see server.h.
 */
#include "receive/server.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/util.h"
#include "receive/accept_set.h"
#include "receive/rcvconn_select.h"
#include "receive/session.h"
#include "receive/session_int.h"
#include "tls/tls.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void
server_init(struct server *srv, struct event_base *base, struct config *cfg)
{
    struct timeval now;

    memset(srv, 0, sizeof(*srv));
    srv->base = base;
    srv->cfg = cfg;
    gettimeofday(&now, NULL);
    /* Session ids: unique across restarts, readable as a time. */
    srv->next_session_id = ((uint64_t)now.tv_sec << 20) | (uint64_t)(now.tv_usec & 0xfffff);
    srv->accepts = accept_set_new(base, server_accept, srv);
}

void
server_set_config(struct server *srv, struct config *cfg)
{
    config_unref(srv->cfg);
    srv->cfg = cfg;
}

struct ssl_ctx_st *
server_tls_ctx(struct server *srv, const struct receive_connector *rc)
{
    char why[512];

    if (!(rc->auth_mechanism & AUTHM_TLS) || srv->tls == NULL)
        return NULL;
    return tls_store_server_ctx(srv->tls, receive_connector_fqdn(srv->cfg, rc), why, sizeof(why));
}

void
server_check_tls(struct server *srv)
{
    char why[512];

    for (size_t i = 0; i < srv->cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &srv->cfg->receive_connectors[i];
        if (!(rc->auth_mechanism & AUTHM_TLS) || !rc->enabled)
            continue;
        if (tls_store_server_ctx(srv->tls, receive_connector_fqdn(srv->cfg, rc), why,
                                 sizeof(why)) == NULL)
            log_warnx("receive connector \"%s\": STARTTLS is not offered: %s", rc->name, why);
    }
}

int
server_swap_tls(struct server *srv, struct tls_store *fresh)
{
    char why[512];

    for (size_t i = 0; i < srv->cfg->nreceive_connectors && srv->tls; i++) {
        const struct receive_connector *rc = &srv->cfg->receive_connectors[i];
        const char *fqdn = receive_connector_fqdn(srv->cfg, rc);
        if (!rc->enabled || !(rc->auth_mechanism & AUTHM_TLS))
            continue;
        if (tls_store_server_ctx(srv->tls, fqdn, why, sizeof(why)) != NULL &&
            tls_store_server_ctx(fresh, fqdn, why, sizeof(why)) == NULL) {
            log_warnx("certificates changed, but receive connector \"%s\" would lose STARTTLS "
                      "(%s); the previous certificates stay in use",
                      rc->name, why);
            tls_store_free(fresh);
            return -1;
        }
    }
    /* TLS contexts of running sessions are reference-counted by OpenSSL
     * through their SSL objects (and tls_ctx_ref), so the old store can go. */
    tls_store_free(srv->tls);
    srv->tls = fresh;
    return 0;
}

/* Sends a one-line reply on a connection we will not serve, then closes. */
static void
server_refuse(int fd, const char *reply)
{
    log_flush(); /* what the client is told is in the log first (log.h: batches) */
    (void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

void
server_accept(void *arg, int fd, const struct sockaddr *remote, int remote_len)
{
    struct server *srv = arg;
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    const struct receive_connector *rc;
    char rtext[64], ltext[64], reply[256];
    uint64_t on_connector = 0, from_source = 0;

    if (srv->stopping || getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
        close(fd);
        return;
    }
    sockaddr_format(remote, rtext, sizeof(rtext));
    sockaddr_format((struct sockaddr *)&local, ltext, sizeof(ltext));
    rc = rcvconn_select(srv->cfg, (struct sockaddr *)&local, remote);
    if (rc == NULL) {
        log_info("smtp refused client=%s local=%s reason=\"no receive connector accepts this "
                 "client on this address\"",
                 rtext, ltext);
        snprintf(reply, sizeof(reply),
                 "554 5.7.1 %s No receive connector accepts connections from you here\r\n",
                 srv->cfg->transport.fqdn ? srv->cfg->transport.fqdn : "postern");
        metric_inc(MET_SMTP_SESSIONS, METRIC_L("(none)", "refused_no_connector"));
        server_refuse(fd, reply);
        return;
    }
    for (struct session *s = srv->sessions; s; s = s->next) {
        if (s->dead || strcmp(s->rc->name, rc->name) != 0)
            continue;
        on_connector++;
        if (sockaddr_same_ip((struct sockaddr *)&s->remote_sa, remote))
            from_source++;
    }
    if ((rc->max_inbound_connection != CONFIG_UNLIMITED &&
         on_connector >= rc->max_inbound_connection) ||
        (rc->max_inbound_connection_per_source != CONFIG_UNLIMITED &&
         from_source >= rc->max_inbound_connection_per_source)) {
        log_info("smtp refused client=%s connector=\"%s\" reason=\"connection limit reached\" "
                 "connector_sessions=%llu source_sessions=%llu",
                 rtext, rc->name, (unsigned long long)on_connector,
                 (unsigned long long)from_source);
        snprintf(reply, sizeof(reply), "421 4.3.2 %s Too many connections; try again later\r\n",
                 receive_connector_fqdn(srv->cfg, rc));
        metric_inc(MET_SMTP_SESSIONS, METRIC_L(rc->name, "refused_limit"));
        server_refuse(fd, reply);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    session_start(srv, srv->cfg, rc, fd, (struct sockaddr *)&local, remote);
}

size_t
server_sessions_waiting(const struct server *srv)
{
    size_t n = 0;

    for (const struct session *s = srv->sessions; s; s = s->next)
        n += s->busy && !s->dead;
    return n;
}

void
server_begin_stop(struct server *srv)
{
    struct session *s, *next;

    srv->stopping = true;
    accept_set_free(srv->accepts);
    srv->accepts = NULL;
    for (s = srv->sessions; s; s = next) {
        next = s->next;
        if (!s->busy)
            session_shutdown(s);
    }
}

void
server_close(struct server *srv)
{
    accept_set_free(srv->accepts);
    srv->accepts = NULL;
    session_close_all(srv);
}
