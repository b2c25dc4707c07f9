/*  rb_scrape: what the tests of the Prometheus endpoints share
    (test_metrics, test_ops_serve; docs/operations.md "Metrics"): a small
    HTTP/1.0 client for GET /metrics on 127.0.0.1, one series' value in
    a scrape, waiting for a value, and promtool check metrics.  */
#ifndef RB_SCRAPE_H
#define RB_SCRAPE_H

#include <stdbool.h>

#include "rb_tnode.h"

#define RB_SCRAPE_MS 8000 /* deadline for a value to show in a scrape */

/*  Sends request to 127.0.0.1:port and returns the whole response
    (caller frees), or NULL when nothing could be read.  */
char *rb_scrape_http (int port, const char *request);
/*  GET /metrics: the body of a 200 answer (caller frees), or NULL. */
char *rb_scrape (int port);
/*  The value of one series ("name" or "name{label=\"v\"}") in a scrape,
    or NAN when it is not there.  */
double rb_scrape_value (const char *text, const char *series);
/*  Scrapes port until series reaches want (at least want with at_least)
    or RB_SCRAPE_MS pass; returns the last value seen. Between scrapes
    pump's bus is pumped (its heartbeats), or with pump NULL the test
    waits 50 ms (the next snapshot is rendered within a second).  */
double rb_scrape_wait (int port, const char *series, double want, bool at_least,
                       rb_tnode_t *pump);
/*  promtool check metrics on a scrape of port: 0 when it passes. */
int rb_scrape_promtool (int port);

#endif
