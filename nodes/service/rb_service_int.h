/*  rb_service_int: what the service node's files share (internal).
    rb_service.c: actor, terminals, cache path, pushes, counters;
    rb_waits.c: terminals parked on keys and their poll streams.  */
#ifndef RB_SERVICE_INT_H
#define RB_SERVICE_INT_H

#ifndef RB_INSIDE_SERVICE
#error "rb_service_int.h is internal to its floor; include its public header"
#endif

#include "rb_bus.h"
#include "rb_cache.h"
#include "rb_msg.h"
#include "rb_service.h"
#include "rb_slots.h"

/*  A terminal request waiting for an answer. */
typedef struct {
    uint8_t id[256]; /* the terminal's routing id */
    uint8_t id_len;
    uint64_t corr;    /* the terminal's correlation id */
    int64_t deadline; /* zclock_mono () after which: unavailable */
} rb_waiter_t;

/*  One key's poll stream, shared by every terminal waiting on it. */
typedef struct {
    char key[RB_KEY_MAX + 1];
    rb_waiter_t *waiters;
    uint32_t n_waiters, cap_waiters;
    bool in_flight;    /* a GET to "db" is out */
    bool poll_again;   /* RECOVERED came while it was out */
    int64_t next_poll; /* when to send the next GET, if not in flight */
    int backoff_ms;    /* delay before the one after */
    uint64_t pushed_seq, pushed_epoch; /* the newest UPDATE for the key */
    uint32_t poll_reg; /* the bus registration the GET went out in */
} rb_wait_t;

typedef enum {
    RB_CNT_OK,
    RB_CNT_NOT_FOUND,
    RB_CNT_STALE,
    RB_CNT_UNAVAILABLE,
    RB_CNT_HITS,
    RB_CNT_MISSES,
    RB_CNT_POLLS,
    RB_CNT_RESETS,
    RB_CNT_UPDATES,
    RB_CNT_RECOVERED,
    RB_CNT_MALFORMED,
    RB_CNT_DROPPED,
    RB_CNT_COUNT
} rb_counter_t;

typedef struct {
    rb_service_opts_t opts; /* strings owned */
    zsock_t *pipe;
    zloop_t *loop;
    zsock_t *terminals; /* ROUTER */
    void *terminals_h;
    char *endpoint; /* as bound */
    rb_bus_t *bus;
    rb_cache_t *cache;
    uint64_t epoch;     /* highest epoch seen (RESET or DATA) */
    rb_slots_t *waits;  /* rb_wait_t by id */
    zhashx_t *wait_ids; /* key -> wait id */
    rb_body_t body;     /* reused for decoding terminal requests */
    uint64_t counters[RB_CNT_COUNT];
    int64_t next_stats;
    uint32_t registrations; /* the bus registration the cache is good for */
} svc_t;

/*  rb_service.c */
/*  Sends ANSWER to one terminal; value is ignored unless found.  */
void rb_svc_answer (svc_t *self, const uint8_t *id, size_t id_len,
                    uint64_t corr, const char *key, int status, uint64_t seq,
                    bool found, const void *value, uint32_t value_len);

/*  rb_waits.c */
/*  Parks a terminal request on key (a cache miss); starts or joins the
    key's poll stream.  */
void rb_waits_add (svc_t *self, const rb_str_t key, const uint8_t *id,
                   size_t id_len, uint64_t corr);
/*  An UPDATE push for key: an answer older than it, read by another DB
    node before the order, is not used.  */
void rb_waits_updated (svc_t *self, const rb_str_t key, uint64_t seq,
                       uint64_t epoch);
/*  A RECOVERED push for key: poll it now.  */
void rb_waits_recovered (svc_t *self, const rb_str_t key);
/*  Deadlines and due re-polls; called every few ms.  */
void rb_waits_tick (svc_t *self);
/*  Frees every wait (at shutdown).  */
void rb_waits_destroy_all (svc_t *self);
uint32_t rb_waits_count (svc_t *self);

#endif
