/*
 * session_auth.c — SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and
 * LOGIN mechanisms against the instance's mailboxes.
 *
 * The password check (yescrypt, deliberately slow) runs in the keys
 * process, where the hashes are (receive/keys_client.h); an unknown user
 * costs it as much as a wrong password. MaxLogonFailures closes the
 * session; no answer from the keys process is a temporary failure (454).
 * Must never: offer or accept AUTH where the connector lacks BasicAuth or,
 * with BasicAuthRequireTLS, before TLS; log or keep a password.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "receive/keys_client.h"
#include "receive/server.h"
#include "receive/session_int.h"
#include "smtp/sasl_plain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4954 4: base64 lines of at most 12288 octets decode to at most this. */
#define AUTH_DECODED_MAX 9216

struct auth_job {
    struct session *s;
    char *user; /* the mailbox's name, or what the client sent */
};

bool
session_auth_offered(const struct session *s)
{
    unsigned mech = s->rc->auth_mechanism;

    if (!(mech & AUTHM_BASICAUTH) || !(s->rc->permission_groups & PERM_EXCHANGE_USERS))
        return false;
    /* never a password in clear text where TLS is required */
    if (((mech & AUTHM_BASICAUTH_REQUIRE_TLS) || s->rc->require_tls) && !s->tls)
        return false;
    return s->auth_user == NULL;
}

/* A user name as the client sent it, made safe for a log line: printable
 * ASCII without quotes or backslashes, at most 64 characters. */
static void
auth_log_name(const char *user, char *out, size_t len)
{
    size_t n = 0;

    for (; *user && n + 5 < len && n < 64; user++) {
        unsigned char ch = (unsigned char)*user;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            n += (size_t)snprintf(out + n, len - n, "\\x%02x", ch);
        else
            out[n++] = (char)ch;
    }
    out[n] = '\0';
}

static void
auth_job_done(void *arg, int result)
{
    struct auth_job *j = arg;
    struct session *s = j->s;

    if (!s->dead) {
        session_enter_state(s, SS_READY);
        if (result < 0) {
            log_warnx("%016llx smtp auth not checked connector=\"%s\" client=%s: the keys "
                      "process did not answer",
                      (unsigned long long)s->id, s->rc->name, s->remote_ip);
            session_log(s, '*', NULL, "authentication not checked: keys process unavailable");
            session_reply(s, "454 4.7.0 Temporary authentication failure");
        } else if (result > 0) {
            s->auth_user = j->user;
            j->user = NULL;
            log_info("%016llx smtp auth ok connector=\"%s\" client=%s user=\"%s\"",
                     (unsigned long long)s->id, s->rc->name, s->remote_ip, s->auth_user);
            session_log(s, '*', s->auth_user, "authenticated");
            session_reply(s, "235 2.7.0 Authentication successful");
        } else {
            char name[300];
            s->logon_failures++;
            auth_log_name(j->user, name, sizeof(name));
            log_info("%016llx smtp auth failed connector=\"%s\" client=%s user=\"%s\" failures=%u",
                     (unsigned long long)s->id, s->rc->name, s->remote_ip, name, s->logon_failures);
            session_log(s, '*', NULL, "authentication failed");
            session_reply(s, "535 5.7.8 Authentication credentials invalid");
            if (s->rc->max_logon_failures > 0 && s->logon_failures >= s->rc->max_logon_failures) {
                session_reply(s, "421 4.7.0 %s Too many failed logons; closing connection",
                              session_fqdn(s));
                s->state = SS_QUIT; /* the write callback closes after the flush */
                free(s->helo);
                s->helo = xstrdup("too many failed logons");
            }
        }
    }
    free(j->user);
    free(j);
    session_resume(s);
}

static void
auth_check(struct session *s, const char *user, const char *password)
{
    struct auth_job *j = xcalloc(1, sizeof(*j));
    const struct mailbox *mb = config_find_mailbox(s->cfg, user);

    j->s = s;
    j->user = xstrdup(mb ? mb->name : user);
    s->busy = true;
    keys_client_check_password(s->srv->keys, user, password, auth_job_done, j);
}

static void
auth_abort(struct session *s, const char *reply)
{
    session_reply(s, "%s", reply);
    session_enter_state(s, SS_READY);
    if (s->auth_login_user) {
        explicit_bzero(s->auth_login_user, strlen(s->auth_login_user));
        free(s->auth_login_user);
        s->auth_login_user = NULL;
    }
}

/* Decodes one base64 response; "=" is the empty response (RFC 4954 4). */
static long
auth_decode(const char *b64, unsigned char *out, size_t outsize)
{
    if (strcmp(b64, "=") == 0) {
        out[0] = '\0';
        return 0;
    }
    return base64_decode(b64, strlen(b64), out, outsize);
}

/* PLAIN: authzid NUL authcid NUL passwd (RFC 4616 2). */
static void
auth_plain(struct session *s, const char *b64)
{
    unsigned char buf[AUTH_DECODED_MAX + 1];
    long n = auth_decode(b64, buf, sizeof(buf) - 1);
    const char *authzid, *authcid, *passwd;

    if (n < 0) {
        auth_abort(s, "501 5.5.2 Cannot decode the AUTH response");
        return;
    }
    buf[n] = '\0'; /* the password is the last part: it ends here */
    if (sasl_plain_split((const char *)buf, (size_t)n, &authzid, &authcid, &passwd) < 0) {
        auth_abort(s, "501 5.5.2 Malformed AUTH PLAIN response");
        explicit_bzero(buf, sizeof(buf));
        return;
    }
    if (*authzid != '\0' && strcmp(authzid, authcid) != 0) {
        auth_abort(s, "535 5.7.8 Authorization identity must match the user");
        explicit_bzero(buf, sizeof(buf));
        return;
    }
    auth_check(s, authcid, passwd);
    explicit_bzero(buf, sizeof(buf));
}

static void
auth_login_password(struct session *s, const char *b64)
{
    unsigned char buf[AUTH_DECODED_MAX + 1];

    if (auth_decode(b64, buf, sizeof(buf)) < 0) {
        auth_abort(s, "501 5.5.2 Cannot decode the AUTH response");
        return;
    }
    auth_check(s, s->auth_login_user, (const char *)buf);
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(s->auth_login_user, strlen(s->auth_login_user));
    free(s->auth_login_user);
    s->auth_login_user = NULL;
}

static void
auth_login_user(struct session *s, const char *b64)
{
    unsigned char buf[AUTH_DECODED_MAX + 1];

    if (auth_decode(b64, buf, sizeof(buf)) <= 0) {
        auth_abort(s, "501 5.5.2 Cannot decode the AUTH response");
        return;
    }
    free(s->auth_login_user);
    s->auth_login_user = xstrdup((const char *)buf);
    s->auth_step = AUTH_LOGIN_PASS;
    session_enter_state(s, SS_AUTH);
    session_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
}

void
session_auth_command(struct session *s, const char *arg)
{
    char mech[32];
    const char *initial;
    size_t mlen;

    if (!s->esmtp) {
        session_reply(s, "503 5.5.1 Send EHLO first");
        session_protocol_error(s);
        return;
    }
    if (s->auth_user) {
        session_reply(s, "503 5.5.1 Already authenticated");
        session_protocol_error(s);
        return;
    }
    if (!session_auth_offered(s)) {
        if ((s->rc->auth_mechanism & AUTHM_BASICAUTH) &&
            ((s->rc->auth_mechanism & AUTHM_BASICAUTH_REQUIRE_TLS) || s->rc->require_tls) &&
            !s->tls)
            session_reply(s,
                          "538 5.7.11 Encryption required for requested authentication mechanism");
        else
            session_reply(s, "503 5.5.1 Authentication is not enabled on this connector");
        return;
    }
    mlen = strcspn(arg, " ");
    if (mlen == 0 || mlen >= sizeof(mech)) {
        session_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        session_protocol_error(s);
        return;
    }
    memcpy(mech, arg, mlen);
    mech[mlen] = '\0';
    initial = arg + mlen;
    while (*initial == ' ')
        initial++;
    if (str_ieq(mech, "PLAIN")) {
        s->auth_login = false;
        if (*initial) {
            auth_plain(s, initial);
        } else {
            s->auth_step = AUTH_PLAIN_WAIT;
            session_enter_state(s, SS_AUTH);
            session_reply(s, "334 ");
        }
    } else if (str_ieq(mech, "LOGIN")) {
        s->auth_login = true;
        if (*initial) {
            auth_login_user(s, initial);
        } else {
            s->auth_step = AUTH_LOGIN_USER;
            session_enter_state(s, SS_AUTH);
            session_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
        }
    } else {
        session_reply(s, "504 5.5.4 Unrecognized authentication type");
    }
}

void
session_auth_line(struct session *s, const char *line)
{
    session_log(s, '<', "****", NULL); /* never log credentials */
    if (strcmp(line, "*") == 0) {
        auth_abort(s, "501 5.7.0 Authentication cancelled");
        return;
    }
    switch (s->auth_step) {
    case AUTH_PLAIN_WAIT:
        auth_plain(s, line);
        break;
    case AUTH_LOGIN_USER:
        auth_login_user(s, line);
        break;
    case AUTH_LOGIN_PASS:
        auth_login_password(s, line);
        break;
    }
}
