/*  rb_scrape: GET /metrics from the tests (see rb_scrape.h). */
#include "rb_scrape.h"

#include <arpa/inet.h>
#include <check.h>
#include <czmq.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/*  Sends request to 127.0.0.1:port and returns the whole response
    (caller frees), or NULL when nothing could be read.  */
char *
rb_scrape_http (int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    struct timeval tv = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0) {
        close (fd);
        return NULL;
    }
    ck_assert_int_eq (send (fd, request, strlen (request), MSG_NOSIGNAL),
                      (ssize_t) strlen (request));
    size_t len = 0, cap = 65536;
    char *buf = (char *) malloc (cap);
    ssize_t n;
    while ((n = recv (fd, buf + len, cap - len - 1, 0)) > 0) {
        len += (size_t) n;
        if (cap - len < 4096)
            buf = (char *) realloc (buf, cap *= 2);
    }
    close (fd);
    buf[len] = '\0';
    return buf;
}

/*  GET /metrics: the body of a 200 answer (caller frees), or NULL. */
char *
rb_scrape (int port)
{
    char *r = rb_scrape_http (port, "GET /metrics HTTP/1.0\r\nHost: t\r\n\r\n");
    char *body = r ? strstr (r, "\r\n\r\n") : NULL;
    if (!body || strncmp (r + 8, " 200 ", 5) != 0) {
        free (r);
        return NULL;
    }
    char *copy = strdup (body + 4);
    free (r);
    return copy;
}

/*  The value of one series ("name" or "name{label=\"v\"}") in a scrape,
    or NAN when it is not there.  */
double
rb_scrape_value (const char *text, const char *series)
{
    size_t len = strlen (series);
    for (const char *line = text; line && *line;) {
        if (strncmp (line, series, len) == 0 && line[len] == ' ')
            return strtod (line + len + 1, NULL);
        line = strchr (line, '\n');
        line = line ? line + 1 : NULL;
    }
    return NAN;
}

double
rb_scrape_wait (int port, const char *series, double want, bool at_least,
                rb_tnode_t *pump)
{
    int64_t until = zclock_mono () + RB_SCRAPE_MS;
    double v = NAN;
    while (zclock_mono () < until) {
        char *text = rb_scrape (port);
        v = text ? rb_scrape_value (text, series) : NAN;
        free (text);
        if (v == want || (at_least && v >= want))
            return v;
        if (pump)
            rb_tnode_pump (pump, 50);
        else
            zclock_sleep (50);
    }
    return v;
}

/*  promtool check metrics on a scrape of port: 0 when it passes. */
int
rb_scrape_promtool (int port)
{
    char *text = rb_scrape (port);
    ck_assert_ptr_nonnull (text);
    char path[] = "/tmp/recobus-metrics-XXXXXX";
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    free (text);
    char cmd[256];
    snprintf (cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system (cmd);
    unlink (path);
    return rc;
}
