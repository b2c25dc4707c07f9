/*  rb_scripts: the DB node's Lua scripts (see rb_scripts.h). Seqs and
    epochs travel as decimal strings and are compared as Lua numbers,
    exact up to 2^53. The scripts are kept out of clang-format's reach so
    they read as Lua. Each reply is parsed in rb_replies.c into the
    struct rb_scripts.h names for it; that is the only file that reads a
    reply's elements.  */
#include "rb_scripts.h"
#include "rb_failover.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// clang-format off

/*  Every script runs on one partition N (rb_parts.h) and declares its
    keys: KEYS[1] is rb:{N}:meta, the partition's copy of the dataset's
    state; KEYS[2] is rb:{N}:stable, a key that never exists. On a Redis
    Cluster a call whose declared keys are not all there is not run while
    its slot migrates (ASK, then TRYAGAIN at the target): so every
    script runs only on the node that owns the partition's slot, never
    half-way through a migration (rb_store re-sends it once the slot has
    moved). The keys a script finds by reading a set (the members of
    rb:{N}:polled, rb:{N}:tombs, rb:{N}:rec) are of the same partition,
    named from the prefix of KEYS[1]: 'local pre = ...' below.  */
#define PREFIX "local pre = string.sub(KEYS[1], 1, -5)\n"

/*  Common prologue: stop unless the partition holds the node's dataset
    at an epoch not older than the node has seen. ARGV[1] is "ID/EPOCH"
    ("/0" when the node serves no dataset yet). An older epoch is
    'lagging': another partition may have moved on (a transition half
    made), or all of Redis is older (the node decides, rb_db_view.c).
    Then m = dataset, epoch and the fields asked for (from m[3] on).  */
#define PROLOGUE(fields) \
    "local want_id, want_epoch = string.match(ARGV[1], '^(%x*)/(%d+)$')\n" \
    "local m = redis.call('HMGET', KEYS[1], 'dataset', 'epoch', " fields ")\n" \
    "if not m[1] then return {'needs_restore'} end\n" \
    "if want_id ~= '' and m[1] ~= want_id then return {'foreign', m[1]} end\n" \
    "if (tonumber(m[2]) or 0) < (tonumber(want_epoch) or 0) then\n" \
    "  return {'lagging', m[2]}\n" \
    "end\n"

/*  GET: KEYS meta, stable, rec, polled, fa, then r:KEY, f:KEY, p:KEY of
    each key read; ARGV dataset, ttl, cap, then node, key, known for each
    key (one call for a whole burst of GETs of one partition: Lua's cost
    per call is most of what a one-key call costs Redis, so a burst pays
    it once).
    -> {'ok', epoch, dataset, reads} where reads is a flat list of seq,
    flag, found, value, reg per key, in order; or {state}.
    Each asking service node is remembered for pushes (SADD, and the
    set's TTL renewed), unless known is "1" and the dataset is still at
    the epoch the node asked with: the DB node registered it for the key
    lately, in this epoch, and remembers that (rb_db_reads.c), so a read
    of a key it fetched before is no write. reg says where the node is
    now registered by this call: 'f' (rb:{N}:f:KEY) or 'a' (rb:{N}:fa),
    the sets that only expire; '' for anything else (not registered:
    known, no node, a set at its cap; or a poller of a flagged key, whose
    set goes when the flag does). A set at its cap takes no one new. For
    a key with no record at all the node goes into one set for every
    absent key of the partition, fa, not a set of the key's own: a flood
    of GETs of absent keys adds nothing to Redis, and APPLY pushes a
    key's creation to fa. A key with no record asked before the recovery
    list is complete (when every key is flagged) is remembered nowhere:
    the node does not cache a flagged answer and polls again by itself,
    so a flood of random keys then adds nothing to Redis either. Once the
    list is complete a key is flagged only if listed, and its pollers are
    kept (p:KEY, and the key in polled) for the RECOVERED push its diff
    sends. A node name "" is remembered nowhere (the asker gets no
    pushes).  */
static const char s_get[] =
    PROLOGUE ("'state', 'list_done'")
    "if m[3] ~= 'normal' and m[3] ~= 'recovering' then return {m[3]} end\n"
    "local ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local recovering, listed = m[3] == 'recovering', m[4] == '1'\n"
    "local same = tonumber(m[2]) == tonumber(want_epoch)\n"
    "local out = {}\n"
    "local k = 6\n"
    "for i = 4, #ARGV - 2, 3 do\n"
    "  local node, key = ARGV[i], ARGV[i + 1]\n"
    "  local rk, fk, pk = KEYS[k], KEYS[k + 1], KEYS[k + 2]\n"
    "  k = k + 3\n"
    "  local r = redis.call('HMGET', rk, 'v', 's', 'd')\n"
    "  local seq = tonumber(r[2]) or 0\n"
    "  local flag = 0\n"
    "  if recovering then\n"
    "    if not listed then flag = 1 else\n"
    "      local t = tonumber(redis.call('HGET', KEYS[3], key))\n"
    "      if t and t > seq then flag = 1 end\n"
    "    end\n"
    "  end\n"
    "  local set, reg = nil, ''\n"
    "  if node == '' or (flag == 1 and not r[2] and not listed) then\n"
    "  elseif flag == 1 then\n"
    "    set = pk\n"
    "    redis.call('SADD', KEYS[4], key)\n"
    "  elseif ARGV[i + 2] == '1' and same then\n"
    "  elseif r[2] then\n"
    "    set, reg = fk, 'f'\n"
    "  else\n"
    "    set, reg = KEYS[5], 'a'\n"
    "  end\n"
    "  if set then\n"
    "    if redis.call('SADD', set, node) == 1\n"
    "       and redis.call('SCARD', set) > cap then\n"
    "      redis.call('SREM', set, node)\n"
    "      reg = ''\n"
    "    end\n"
    "    redis.call('EXPIRE', set, ttl)\n"
    "  end\n"
    "  local found = 1\n"
    "  if not r[2] or r[3] == '1' then found = 0 end\n"
    "  out[#out + 1] = seq\n"
    "  out[#out + 1] = flag\n"
    "  out[#out + 1] = found\n"
    "  out[#out + 1] = r[1] or ''\n"
    "  out[#out + 1] = reg\n"
    "end\n"
    "return {'ok', m[2], m[1], out}\n";

/*  APPLY: KEYS meta, stable, rec, polled, fa, tombs, then r:KEY, f:KEY,
    p:KEY of each order; ARGV dataset, then seq, key, op, value for each
    order (the orders of one partition).
    -> {'ok', applied, skipped, cleared, watermark, pushes, current,
    epoch} where pushes is a flat list of kind ('u' update with the order's
    record, 'c' update with the key's current record, 'r' recovered),
    order index (1-based), node; and current a flat list of order index,
    seq, deleted ('0'/'1'), value: the record of each skipped order's key
    that has fetchers; watermark the partition's (the highest seq it
    has applied); epoch the dataset's, which the pushes carry (it may be
    newer than the node knew). A skipped order pushes too: it may be a
    re-send of one applied earlier whose reply, and so whose pushes, were
    lost. A key's creation pushes to fa as well (the nodes that cached
    some key as absent), and so does every skipped order: the creation may
    be the one whose pushes were lost. A node that caches no such key
    ignores the push; every node of fa becomes a fetcher of the key
    (f:KEY), since one that caches it from this push will not ask for it
    again, yet must hear of its later changes.  */
static const char s_apply[] =
    PROLOGUE ("'state', 'watermark'")
    "if m[3] ~= 'normal' and m[3] ~= 'recovering' then return {m[3]} end\n"
    "local wm = tonumber(m[4]) or 0\n"
    "local applied, skipped, cleared, dtotal = 0, 0, 0, 0\n"
    "local pushes, current = {}, {}\n"
    "local function push(kind, idx, set)\n"
    "  local nodes = redis.call('SMEMBERS', set)\n"
    "  for _, n in ipairs(nodes) do\n"
    "    pushes[#pushes + 1] = kind\n"
    "    pushes[#pushes + 1] = idx\n"
    "    pushes[#pushes + 1] = n\n"
    "  end\n"
    "  return #nodes\n"
    "end\n"
    /* the nodes of fa may cache the key from the push they get now and
       never ask for it again: they become its fetchers, for as long as
       either set lives */
    "local function adopt(f)\n"
    "  local ttl = redis.call('TTL', KEYS[5])\n"
    "  if ttl <= 0 then return end\n"
    "  redis.call('SUNIONSTORE', f, f, KEYS[5])\n"
    "  redis.call('EXPIRE', f, math.max(ttl, redis.call('TTL', f)))\n"
    "end\n"
    "for i = 2, #ARGV, 4 do\n"
    "  local idx = (i + 2) / 4\n"
    "  local seq, key, op = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]\n"
    "  local rk, fk, pk = KEYS[4 + 3 * idx], KEYS[5 + 3 * idx], KEYS[6 + 3 * idx]\n"
    "  local cur = tonumber(redis.call('HGET', rk, 's'))\n"
    "  if not cur or seq > cur then\n"
    "    if not cur then dtotal = dtotal + 1 end\n"
    "    if op == 'put' then\n"
    "      redis.call('HSET', rk, 'v', ARGV[i + 3], 's', seq, 'd', '0')\n"
    "      redis.call('SREM', KEYS[6], key)\n"
    "    else\n"
    "      redis.call('HSET', rk, 'v', '', 's', seq, 'd', '1')\n"
    "      redis.call('SADD', KEYS[6], key)\n"
    "    end\n"
    "    applied = applied + 1\n"
    "    push('u', idx, fk)\n"
    "    if not cur and push('u', idx, KEYS[5]) > 0 then adopt(fk) end\n"
    "  else\n"
    "    skipped = skipped + 1\n"
    "    local absent = push('c', idx, KEYS[5])\n"
    "    if push('c', idx, fk) + absent > 0 then\n"
    "      local r = redis.call('HMGET', rk, 'v', 'd')\n"
    "      current[#current + 1] = idx\n"
    "      current[#current + 1] = cur\n"
    "      current[#current + 1] = r[2] or '0'\n"
    "      current[#current + 1] = r[1] or ''\n"
    "    end\n"
    "    if absent > 0 then adopt(fk) end\n"
    "  end\n"
    "  if seq > wm then wm = seq end\n"
    /* a listed key reaches its target: it was behind until this order
       (cleared, RECOVERED), or was listed already current (GET compared
       and never flagged it: it just goes) */
    "  local t = tonumber(redis.call('HGET', KEYS[3], key))\n"
    "  if t and t <= math.max(seq, cur or 0) then\n"
    "    redis.call('HDEL', KEYS[3], key)\n"
    "    if t > (cur or 0) then\n"
    "      cleared = cleared + 1\n"
    "      push('r', idx, pk)\n"
    "      redis.call('DEL', pk)\n"
    "      redis.call('SREM', KEYS[4], key)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'watermark', wm)\n"
    "if dtotal > 0 then redis.call('HINCRBY', KEYS[1], 'total', dtotal) end\n"
    "return {'ok', applied, skipped, cleared, wm, pushes, current, m[2]}\n";

/*  FLAG: KEYS meta, stable, rec, polled; ARGV dataset, last ("1" or
    "0"), then key, target for each key of the batch in this partition.
    The targets are written as they come, with no read of the records:
    GET compares each record's seq with its target when it reads it, so
    a key listed already current is never answered flagged, and APPLY
    drops its entry once an order reaches the target (END drops the
    rest). The recovery list's last batch goes to every partition (with
    or without keys): it marks the list complete there, and sends
    RECOVERED for the keys polled while flagged that are not behind
    their target.
    -> {'ok', flagged, current, recovered} where flagged is the keys whose
    target was stored (all of them: which are behind is decided at read
    time), current 0, and recovered a flat list of key, node; or
    {'wrong_state', state} or a prologue refusal, with nothing written.  */
/*  The recovery list's last batch, on a partition (KEYS[1] meta, KEYS[3]
    rec, KEYS[4] polled): the list is complete there; the keys polled
    while flagged that are not behind their target get RECOVERED
    (recovered: key, node pairs).  */
#define FLAG_LAST \
    "local recovered = {}\n" \
    "if ARGV[2] == '1' then\n" \
    "  redis.call('HSET', KEYS[1], 'list_done', '1')\n" \
    "  for _, key in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n" \
    "    local t = tonumber(redis.call('HGET', KEYS[3], key))\n" \
    "    local s = tonumber(redis.call('HGET', pre .. 'r:' .. key, 's')) or 0\n" \
    "    if not t or t <= s then\n" \
    "      for _, n in ipairs(redis.call('SMEMBERS', pre .. 'p:' .. key)) do\n" \
    "        recovered[#recovered + 1] = key\n" \
    "        recovered[#recovered + 1] = n\n" \
    "      end\n" \
    "      redis.call('DEL', pre .. 'p:' .. key)\n" \
    "      redis.call('SREM', KEYS[4], key)\n" \
    "    end\n" \
    "  end\n" \
    "end\n"

static const char s_flag[] =
    PROLOGUE ("'state'")
    PREFIX
    "if m[3] ~= 'recovering' then return {'wrong_state', m[3]} end\n"
    "local n = (#ARGV - 2) / 2\n"
    "for i = 3, #ARGV, 2000 do\n"
    "  redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 1999, #ARGV)))\n"
    "end\n"
    FLAG_LAST
    "return {'ok', n, 0, recovered}\n";

/*  On one Redis a batch is faster as one MULTI/EXEC of three commands
    (rb_db_requests.c): FLAG_OPEN, a plain HSET rb:{0}:rec KEY TARGET ...
    of every listed key, FLAG_CLOSE: the targets reach Redis with no Lua
    in between (a script's arguments cost Lua ~2.5 times what the HSET
    itself costs), and the batches are pipelined. Both scripts take ARGV
    dataset first and come to the same verdict (they read only the meta,
    which the HSET does not touch): when it is a refusal, FLAG_OPEN moves
    rec aside (rec:held), so the HSET writes into a new one, and
    FLAG_CLOSE throws that away and puts rec back: a refused batch
    changes nothing. (Not on a cluster: a redirection inside MULTI would
    have the store send the HSET again alone.)  */
#define FLAG_VERDICT \
    "local function verdict()\n" \
    PROLOGUE ("'state'") \
    "  if m[3] ~= 'recovering' then return {'wrong_state', m[3]} end\n" \
    "  return {'ok'}\n" \
    "end\n" \
    "local v = verdict()\n"

/*  FLAG_OPEN: KEYS meta, stable, rec, rec:held; ARGV dataset. -> {'ok'}
    or the refusal.  */
static const char s_flag_open[] =
    FLAG_VERDICT
    "if v[1] ~= 'ok' then\n"
    "  redis.call('DEL', KEYS[4])\n"
    "  if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "    redis.call('RENAME', KEYS[3], KEYS[4])\n"
    "  end\n"
    "end\n"
    "return v\n";

/*  FLAG_CLOSE: KEYS meta, stable, rec, polled, rec:held; ARGV dataset,
    last, keys in the batch. -> as FLAG.  */
static const char s_flag_close[] =
    FLAG_VERDICT
    PREFIX
    "if v[1] ~= 'ok' then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "  if redis.call('EXISTS', KEYS[5]) == 1 then\n"
    "    redis.call('RENAME', KEYS[5], KEYS[3])\n"
    "  end\n"
    "  return v\n"
    "end\n"
    FLAG_LAST
    "return {'ok', tonumber(ARGV[3]) or 0, 0, recovered}\n";

/*  END: KEYS meta, stable, rec, polled; ARGV dataset. -> {'ok'} (also
    when already normal), {'list_incomplete'}, {'incomplete', n} or
    {state}. The partition goes normal when none of its listed keys is
    behind its target: the dataset is normal when every partition is.  */
static const char s_end[] =
    PROLOGUE ("'state', 'list_done'")
    PREFIX
    "if m[3] == 'normal' then return {'ok'} end\n"
    "if m[3] ~= 'recovering' then return {m[3]} end\n"
    "if m[4] ~= '1' then return {'list_incomplete'} end\n"
    /* the listed keys no order has reached yet: those at their target
       go; the first one still behind ends the look */
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('HSCAN', KEYS[3], cursor, 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for i = 1, #r[2], 2 do\n"
    "    local key = r[2][i]\n"
    "    local s = tonumber(redis.call('HGET', pre .. 'r:' .. key, 's')) or 0\n"
    "    if tonumber(r[2][i + 1]) > s then\n"
    "      return {'incomplete', redis.call('HLEN', KEYS[3])}\n"
    "    end\n"
    "    redis.call('HDEL', KEYS[3], key)\n"
    "  end\n"
    "until cursor == '0'\n"
    "redis.call('HSET', KEYS[1], 'state', 'normal')\n"
    "redis.call('DEL', KEYS[4])\n"
    "return {'ok'}\n";

/*  INIT: KEYS meta, stable; ARGV new dataset id, parts, and "1" when
    the whole server must be empty (one Redis, or the cluster's first
    partition once every master said DBSIZE 0). -> {'ok'} or
    {'not_empty', keys}.  */
static const char s_init[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {'not_empty', 1} end\n"
    "if ARGV[3] == '1' then\n"
    "  local n = redis.call('DBSIZE')\n"
    "  if n ~= 0 then return {'not_empty', n} end\n"
    "end\n"
    RB_LUA_REPLID
    "redis.call('HSET', KEYS[1], 'dataset', ARGV[1], 'epoch', 1,\n"
    "  'state', 'normal', 'watermark', 0, 'list_done', '1', 'total', 0,\n"
    "  'restored_watermark', 0, 'replid', replid, 'parts', ARGV[2])\n"
    "return {'ok'}\n";

/*  RESTORE_BEGIN: KEYS meta, stable; ARGV node, now_ms, lease_ms, file
    dataset, file epoch, highest epoch the node knows, parts, and the
    epoch to write or "0". With "0" (the lead: one Redis, or the
    cluster's partition 0, which holds the restore's lease) it checks the
    lease, flushes its server and writes the partition's meta as an
    empty dataset in state restoring with epoch + 1, and the lease. With
    an epoch (every other partition, after every master was flushed) it
    writes that meta, unless the partition is already at a newer epoch
    (another node took the restore over).
    -> {'ok', epoch}, {'busy', who} or {'lost', epoch}.  */
static const char s_restore_begin[] =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'restore_until',\n"
    "  'restore_owner', 'epoch')\n"
    "local now = tonumber(ARGV[2])\n"
    "local epoch = tonumber(ARGV[8])\n"
    "local fields = {}\n"
    "if epoch == 0 then\n"
    "  if m[1] == 'restoring' and (tonumber(m[2]) or 0) > now\n"
    "     and m[3] ~= ARGV[1] then\n"
    "    return {'busy', m[3] or '?'}\n"
    "  end\n"
    "  epoch = math.max(tonumber(m[4]) or 0, tonumber(ARGV[5]),\n"
    "    tonumber(ARGV[6])) + 1\n"
    "  redis.call('FLUSHDB')\n"
    "  fields = {'restore_owner', ARGV[1],\n"
    "    'restore_until', now + tonumber(ARGV[3])}\n"
    "elseif (tonumber(m[4]) or 0) > epoch then\n"
    "  return {'lost', m[4]}\n"
    "end\n"
    RB_LUA_REPLID
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'dataset', ARGV[4], 'epoch', epoch,\n"
    "  'replid', replid, 'parts', ARGV[7],\n"
    "  'state', 'restoring', 'watermark', 0, 'list_done', '0',\n"
    "  'total', 0, 'restored_watermark', 0, unpack(fields))\n"
    "return {'ok', epoch}\n";

/*  RESTORE_CLEAN: KEYS meta, stable, tombs; ARGV epoch. After the load,
    before any partition leaves restoring: the tombstone set keeps only
    keys whose record is a tombstone (a key twice in a backup, the later
    copy live). -> {'ok', tombs, sets} (sets: 1 if the tombstone set
    exists, a key of its own) or {'lost', epoch}.  */
static const char s_restore_clean[] =
    PREFIX
    "local m = redis.call('HMGET', KEYS[1], 'state', 'epoch')\n"
    "if m[1] ~= 'restoring' or m[2] ~= ARGV[1] then\n"
    "  return {'lost', m[2] or '0'}\n"
    "end\n"
    "for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  if redis.call('HGET', pre .. 'r:' .. key, 'd') ~= '1' then\n"
    "    redis.call('SREM', KEYS[3], key)\n"
    "  end\n"
    "end\n"
    "return {'ok', redis.call('SCARD', KEYS[3]), redis.call('EXISTS', KEYS[3])}\n";

/*  RESTORE_END: KEYS meta, stable; ARGV node, watermark, epoch, total
    (records, tombstones included), "1" for the lead (the partition that
    holds the lease, done last). The partition goes recovering with the
    backup's watermark; the lead takes the dataset's total and drops the
    lease. -> {'ok'} or {'lost', owner} when another node took the
    restore over.  */
static const char s_restore_end[] =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'restore_owner',\n"
    "  'epoch')\n"
    "if m[1] ~= 'restoring' or m[3] ~= ARGV[3]\n"
    "   or (ARGV[5] == '1' and m[2] ~= ARGV[1]) then\n"
    "  return {'lost', m[2] or '?'}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'recovering', 'list_done', '0',\n"
    "  'watermark', ARGV[2], 'restored_watermark', ARGV[2], 'total', ARGV[4])\n"
    "redis.call('HDEL', KEYS[1], 'restore_owner', 'restore_until')\n"
    "return {'ok'}\n";

/*  FAILOVER: see rb_failover.h.  */
static const char s_failover[] = RB_LUA_FAILOVER;

/*  FOLLOW: KEYS meta, stable; ARGV dataset id, epoch. A partition left
    at an older epoch by a transition made on another (a failover seen
    there, or a node that died half-way) follows it: the epoch, state
    recovering, list_done 0, restored_watermark its own watermark (its
    records are intact: what the recovery must redo is the other
    partition's). A partition restoring is left to its restore.
    -> {'ok', moved} (moved 0 or 1), {'restoring'} or a refusal.  */
static const char s_follow[] =
    "local m = redis.call('HMGET', KEYS[1], 'dataset', 'epoch', 'state',\n"
    "  'watermark', 'restored_watermark')\n"
    "if not m[1] then return {'needs_restore'} end\n"
    "if m[1] ~= ARGV[1] then return {'foreign', m[1]} end\n"
    "local epoch = tonumber(ARGV[2])\n"
    "if (tonumber(m[2]) or 0) >= epoch then return {'ok', 0} end\n"
    "if m[3] == 'restoring' then return {'restoring'} end\n"
    "local from = tonumber(m[4]) or 0\n"
    "if m[3] == 'recovering' then\n"
    "  from = math.min(from, tonumber(m[5]) or 0)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'epoch', epoch, 'state', 'recovering',\n"
    "  'list_done', '0', 'restored_watermark', from)\n"
    "return {'ok', 1}\n";

/*  STATUS: KEYS meta, stable, tombs, rec; ARGV dataset. -> {'ok', state,
    epoch, watermark, total, tombs, recovering, list_done,
    restored_watermark, dataset, parts} for the partition, whatever its
    epoch (the node compares the partitions: rb_status_merge), or
    {'needs_restore'} / {'foreign', id}.  */
static const char s_status[] =
    "local want_id = string.match(ARGV[1], '^(%x*)/')\n"
    "local m = redis.call('HMGET', KEYS[1], 'dataset', 'epoch', 'state',\n"
    "  'watermark', 'total', 'list_done', 'restored_watermark', 'parts')\n"
    "if not m[1] then return {'needs_restore'} end\n"
    "if want_id and want_id ~= '' and m[1] ~= want_id then\n"
    "  return {'foreign', m[1]}\n"
    "end\n"
    "return {'ok', m[3], m[2], m[4], m[5] or '0',\n"
    "  redis.call('SCARD', KEYS[3]), redis.call('HLEN', KEYS[4]),\n"
    "  m[6] or '0', m[7] or '0', m[1], m[8] or '1'}\n";

// clang-format on

static const struct {
    const char *name;
    const char *source;
} s_scripts[RB_SCRIPT_COUNT] = {
    [RB_SCRIPT_GET] = {"get", s_get},
    [RB_SCRIPT_APPLY] = {"apply", s_apply},
    [RB_SCRIPT_FLAG] = {"flag", s_flag},
    [RB_SCRIPT_FLAG_OPEN] = {"flag_open", s_flag_open},
    [RB_SCRIPT_FLAG_CLOSE] = {"flag_close", s_flag_close},
    [RB_SCRIPT_END] = {"end", s_end},
    [RB_SCRIPT_INIT] = {"init", s_init},
    [RB_SCRIPT_RESTORE_BEGIN] = {"restore_begin", s_restore_begin},
    [RB_SCRIPT_RESTORE_CLEAN] = {"restore_clean", s_restore_clean},
    [RB_SCRIPT_RESTORE_END] = {"restore_end", s_restore_end},
    [RB_SCRIPT_STATUS] = {"status", s_status},
    [RB_SCRIPT_FAILOVER] = {"failover", s_failover},
    [RB_SCRIPT_FOLLOW] = {"follow", s_follow},
};

const char *
rb_script_source (int script)
{
    return s_scripts[script].source;
}

const char *
rb_script_name (int script)
{
    return s_scripts[script].name;
}
