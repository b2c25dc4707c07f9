/*  rb_failover: the FAILOVER script, run on every new Redis connection
    before anything is read from it, and its reply.

    Redis replicates asynchronously: a replica promoted by a failover, or
    a master restarted from its last snapshot, may lack writes that were
    acknowledged. Each Redis server has a replication id (INFO
    replication, master_replid) that changes whenever its history may
    have forked: a replica promoted, a server restarted. Each
    partition's meta keeps, in field replid, the id of the server that
    last checked it (INIT and RESTORE_BEGIN write it too). FAILOVER compares it with the
    server's own: another id, or a watermark below one this DB node saw
    acknowledged in the same epoch, means the data may be behind. Then,
    in the same atomic step, the dataset goes RECOVERING as after a
    restore: epoch + 1, list_done 0, restored_watermark where recovery
    must start, and the new replid stored. Several DB nodes checking at
    once: the first moves it (check-and-set on the stored replid); the
    others find the id theirs and follow the new epoch.

    The Lua is here, as macros, so that rb_scripts.c loads it with the
    other scripts; rb_failover.c parses its reply with nothing of
    rb_scripts.h but the reply helpers (rb_replies.c).  */
#ifndef RB_FAILOVER_H
#define RB_FAILOVER_H

#include "rb_scripts.h"

// clang-format off

/*  Lua: local replid = the server's replication id ('' if INFO has
    none).  */
#define RB_LUA_REPLID \
    "local replid = string.match(redis.call('INFO', 'replication'),\n" \
    "  'master_replid:(%x+)') or ''\n"

/*  FAILOVER: KEYS meta, stable (of one partition); ARGV dataset
    ("ID/EPOCH"), the epoch and the highest watermark this node saw
    acknowledged in it for the partition ("0" "0": none), then the
    replication ids of the cluster's other masters now. -> {'ok', epoch,
    state, what} where what is 'same' (nothing to do), 'recorded' (the
    id written: first sight; a partition that moved in by resharding
    from a master that is still up, with its history, so nothing of it
    was lost; or a state that is not served: restoring) or 'moved' (the
    transition: epoch is the new one); or {'needs_restore'},
    {'foreign', id}, {'lagging', epoch}, {'no_replid'}. A dataset
    already recovering starts its recovery again from the watermark of
    its restore (or lower): keys its diffs had not yet reached stay
    listed.  */
#define RB_LUA_FAILOVER \
    "local want_id, want_epoch = string.match(ARGV[1], '^(%x*)/(%d+)$')\n" \
    "local m = redis.call('HMGET', KEYS[1], 'dataset', 'epoch', 'state',\n" \
    "  'watermark', 'replid', 'restored_watermark')\n" \
    "if not m[1] then return {'needs_restore'} end\n" \
    "local epoch, state = tonumber(m[2]) or 0, m[3] or ''\n" \
    "if want_id ~= '' and m[1] ~= want_id then return {'foreign', m[1]} end\n" \
    "if epoch < (tonumber(want_epoch) or 0) then return {'lagging', m[2]} end\n" \
    RB_LUA_REPLID \
    "if replid == '' then return {'no_replid'} end\n" \
    "local wm = tonumber(m[4]) or 0\n" \
    "local behind = tonumber(ARGV[2]) == epoch\n" \
    "  and wm < (tonumber(ARGV[3]) or 0)\n" \
    "if not behind and m[5] == replid then\n" \
    "  return {'ok', epoch, state, 'same'}\n" \
    "end\n" \
    "local moved_in = false\n" \
    "for i = 4, #ARGV do\n" \
    "  if m[5] == ARGV[i] then moved_in = true end\n" \
    "end\n" \
    "if (not behind and ((m[5] or '') == '' or moved_in))\n" \
    "   or (state ~= 'normal' and state ~= 'recovering') then\n" \
    "  redis.call('HSET', KEYS[1], 'replid', replid)\n" \
    "  return {'ok', epoch, state, 'recorded'}\n" \
    "end\n" \
    "local from = wm\n" \
    "if state == 'recovering' then\n" \
    "  from = math.min(wm, tonumber(m[6]) or 0)\n" \
    "end\n" \
    "redis.call('HSET', KEYS[1], 'epoch', epoch + 1, 'state',\n" \
    "  'recovering', 'list_done', '0', 'restored_watermark', from,\n" \
    "  'replid', replid)\n" \
    "return {'ok', epoch + 1, 'recovering', 'moved'}\n"

// clang-format on

/*  FAILOVER's reply (parsed as rb_scripts.h says: 0 ok, -1 a refusal
    word, -2 not understood).  */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t epoch; /* the dataset's now (the new one when moved) */
    char state[16]; /* normal, recovering, restoring */
    bool moved;     /* this call made the transition */
    bool recorded;  /* this call wrote the replid, nothing else */
} rb_failover_reply_t;

int rb_failover_reply_parse (const redisReply *r, rb_failover_reply_t *out);

#endif
