/*  rb_scripts: the DB node's Lua scripts and their replies (see
    rb_scripts.h). Seqs and epochs travel as decimal strings and are
    compared as Lua numbers, exact up to 2^53. The scripts are kept out of
    clang-format's reach so they read as Lua. Each reply is parsed here,
    after the scripts, into the struct rb_scripts.h names for it; this is
    the only file that reads a reply's elements.  */
#include "rb_scripts.h"
#include "rb_failover.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// clang-format off

/*  Common prologue: stop unless Redis holds the node's dataset at an
    epoch not older than the node has seen. ARGV[1] is "ID/EPOCH" ("/0"
    when the node serves no dataset yet). Then m = dataset, epoch and the
    fields asked for (from m[3] on).  */
#define PROLOGUE(fields) \
    "local want_id, want_epoch = string.match(ARGV[1], '^(%x*)/(%d+)$')\n" \
    "local m = redis.call('HMGET', 'rb:meta', 'dataset', 'epoch', " fields ")\n" \
    "if not m[1] then return {'needs_restore'} end\n" \
    "if (want_id ~= '' and m[1] ~= want_id)\n" \
    "   or (tonumber(m[2]) or 0) < (tonumber(want_epoch) or 0) then\n" \
    "  return {'foreign', m[1]}\n" \
    "end\n"

/*  GET: ARGV dataset, ttl, cap, then node, key, known for each key read
    (one call for a whole burst of GETs: Lua's cost per call is most of
    what a one-key call costs Redis, so a burst pays it once).
    -> {'ok', epoch, dataset, reads} where reads is a flat list of seq,
    flag, found, value, reg per key, in order; or {state}.
    Each asking service node is remembered for pushes (SADD, and the
    set's TTL renewed), unless known is "1" and the dataset is still at
    the epoch the node asked with: the DB node registered it for the key
    lately, in this epoch, and remembers that (rb_db_reads.c), so a read
    of a key it fetched before is no write. reg says where the node is
    now registered by this call: 'f' (rb:f:KEY) or 'a' (rb:fa), the sets
    that only expire; '' for anything else (not registered: known, no
    node, a set at its cap; or a poller of a flagged key, whose set goes
    when the flag does). A set at its cap takes no one new. For a key
    with no record at all the node goes into one set for every absent
    key, rb:fa, not a set of the key's own: a flood of GETs of absent keys
    adds nothing to Redis, and APPLY pushes a key's creation to rb:fa. A
    key with no record asked before the recovery list is complete (when
    every key is flagged) is remembered nowhere: the node does not cache a
    flagged answer and polls again by itself, so a flood of random keys
    then adds nothing to Redis either. Once the list is complete a key is
    flagged only if listed, and its pollers are kept (rb:p:KEY) for the
    RECOVERED push its diff sends. A node name "" is remembered nowhere
    (the asker gets no pushes).  */
static const char s_get[] =
    PROLOGUE ("'state', 'list_done'")
    "if m[3] ~= 'normal' and m[3] ~= 'recovering' then return {m[3]} end\n"
    "local ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local recovering, listed = m[3] == 'recovering', m[4] == '1'\n"
    "local same = tonumber(m[2]) == tonumber(want_epoch)\n"
    "local out = {}\n"
    "for i = 4, #ARGV - 2, 3 do\n"
    "  local node, key = ARGV[i], ARGV[i + 1]\n"
    "  local r = redis.call('HMGET', 'rb:r:' .. key, 'v', 's', 'd')\n"
    "  local seq = tonumber(r[2]) or 0\n"
    "  local flag = 0\n"
    "  if recovering then\n"
    "    if not listed then flag = 1 else\n"
    "      local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "      if t and t > seq then flag = 1 end\n"
    "    end\n"
    "  end\n"
    "  local set, reg = nil, ''\n"
    "  if node == '' or (flag == 1 and not r[2] and not listed) then\n"
    "  elseif flag == 1 then\n"
    "    set = 'rb:p:' .. key\n"
    "    redis.call('SADD', 'rb:polled', key)\n"
    "  elseif ARGV[i + 2] == '1' and same then\n"
    "  elseif r[2] then\n"
    "    set, reg = 'rb:f:' .. key, 'f'\n"
    "  else\n"
    "    set, reg = 'rb:fa', 'a'\n"
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

/*  APPLY: ARGV dataset, then seq, key, op, value for each order.
    -> {'ok', applied, skipped, cleared, watermark, pushes, current,
    epoch} where pushes is a flat list of kind ('u' update with the order's
    record, 'c' update with the key's current record, 'r' recovered),
    order index (1-based), node; and current a flat list of order index,
    seq, deleted ('0'/'1'), value: the record of each skipped order's key
    that has fetchers; epoch the dataset's, which the pushes carry (it may
    be newer than the node knew). A skipped order pushes too: it may be a re-send of
    one applied earlier whose reply, and so whose pushes, were lost. A
    key's creation pushes to rb:fa as well (the nodes that cached some
    key as absent), and so does every skipped order: the creation may be
    the one whose pushes were lost. A node that caches no such key
    ignores the push; every node of rb:fa becomes a fetcher of the key
    (rb:f:KEY), since one that caches it from this push will not ask for
    it again, yet must hear of its later changes.  */
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
    /* the nodes of rb:fa may cache the key from the push they get now and
       never ask for it again: they become its fetchers, for as long as
       either set lives */
    "local function adopt(key)\n"
    "  local f = 'rb:f:' .. key\n"
    "  local ttl = redis.call('TTL', 'rb:fa')\n"
    "  if ttl <= 0 then return end\n"
    "  redis.call('SUNIONSTORE', f, f, 'rb:fa')\n"
    "  redis.call('EXPIRE', f, math.max(ttl, redis.call('TTL', f)))\n"
    "end\n"
    "for i = 2, #ARGV, 4 do\n"
    "  local idx = (i + 2) / 4\n"
    "  local seq, key, op = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]\n"
    "  local rk = 'rb:r:' .. key\n"
    "  local cur = tonumber(redis.call('HGET', rk, 's'))\n"
    "  if not cur or seq > cur then\n"
    "    if not cur then dtotal = dtotal + 1 end\n"
    "    if op == 'put' then\n"
    "      redis.call('HSET', rk, 'v', ARGV[i + 3], 's', seq, 'd', '0')\n"
    "      redis.call('SREM', 'rb:tombs', key)\n"
    "    else\n"
    "      redis.call('HSET', rk, 'v', '', 's', seq, 'd', '1')\n"
    "      redis.call('SADD', 'rb:tombs', key)\n"
    "    end\n"
    "    applied = applied + 1\n"
    "    push('u', idx, 'rb:f:' .. key)\n"
    "    if not cur and push('u', idx, 'rb:fa') > 0 then adopt(key) end\n"
    "  else\n"
    "    skipped = skipped + 1\n"
    "    local absent = push('c', idx, 'rb:fa')\n"
    "    if push('c', idx, 'rb:f:' .. key) + absent > 0 then\n"
    "      local r = redis.call('HMGET', rk, 'v', 'd')\n"
    "      current[#current + 1] = idx\n"
    "      current[#current + 1] = cur\n"
    "      current[#current + 1] = r[2] or '0'\n"
    "      current[#current + 1] = r[1] or ''\n"
    "    end\n"
    "    if absent > 0 then adopt(key) end\n"
    "  end\n"
    "  if seq > wm then wm = seq end\n"
    /* a listed key reaches its target: it was behind until this order
       (cleared, RECOVERED), or was listed already current (GET compared
       and never flagged it: it just goes) */
    "  local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "  if t and t <= math.max(seq, cur or 0) then\n"
    "    redis.call('HDEL', 'rb:rec', key)\n"
    "    if t > (cur or 0) then\n"
    "      cleared = cleared + 1\n"
    "      push('r', idx, 'rb:p:' .. key)\n"
    "      redis.call('DEL', 'rb:p:' .. key)\n"
    "      redis.call('SREM', 'rb:polled', key)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', 'rb:meta', 'watermark', wm)\n"
    "if dtotal > 0 then redis.call('HINCRBY', 'rb:meta', 'total', dtotal) end\n"
    "return {'ok', applied, skipped, cleared, wm, pushes, current, m[2]}\n";

/*  FLAG is one MULTI/EXEC of three commands (rb_db_requests.c): the
    FLAG_OPEN script, HSET rb:rec KEY TARGET ... of every listed key, the
    FLAG script. The targets are written as they come, with no read of
    the records: GET compares each record's seq with its target when it
    reads it, so a key listed already current is never answered flagged,
    and APPLY drops its entry once an order reaches the target (END drops
    the rest). Both scripts take ARGV dataset first and come to the same
    verdict (they read only rb:meta, which the HSET between them does not
    touch): when it is a refusal, FLAG_OPEN moves rb:rec aside, so the
    HSET writes into a new one, and FLAG throws that away and puts
    rb:rec back: a refused batch changes nothing.  */
#define FLAG_VERDICT \
    "local function verdict()\n" \
    PROLOGUE ("'state'") \
    "  if m[3] ~= 'recovering' then return {'wrong_state', m[3]} end\n" \
    "  return {'ok'}\n" \
    "end\n" \
    "local v = verdict()\n"

/*  FLAG_OPEN: ARGV dataset. -> {'ok'} or the refusal.  */
static const char s_flag_open[] =
    FLAG_VERDICT
    "if v[1] ~= 'ok' then\n"
    "  redis.call('DEL', 'rb:rec:held')\n"
    "  if redis.call('EXISTS', 'rb:rec') == 1 then\n"
    "    redis.call('RENAME', 'rb:rec', 'rb:rec:held')\n"
    "  end\n"
    "end\n"
    "return v\n";

/*  FLAG: ARGV dataset, last ("1" or "0"), keys in the batch.
    -> {'ok', flagged, current, recovered} where flagged is the keys whose
    target was stored (all of them: which are behind is decided at read
    time), current 0, and recovered a flat list of key, node for the
    polled keys not behind their target (last batch); or the refusal.  */
static const char s_flag[] =
    FLAG_VERDICT
    "if v[1] ~= 'ok' then\n"
    "  redis.call('DEL', 'rb:rec')\n"
    "  if redis.call('EXISTS', 'rb:rec:held') == 1 then\n"
    "    redis.call('RENAME', 'rb:rec:held', 'rb:rec')\n"
    "  end\n"
    "  return v\n"
    "end\n"
    "local recovered = {}\n"
    "if ARGV[2] == '1' then\n"
    "  redis.call('HSET', 'rb:meta', 'list_done', '1')\n"
    "  for _, key in ipairs(redis.call('SMEMBERS', 'rb:polled')) do\n"
    "    local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "    local s = tonumber(redis.call('HGET', 'rb:r:' .. key, 's')) or 0\n"
    "    if not t or t <= s then\n"
    "      for _, n in ipairs(redis.call('SMEMBERS', 'rb:p:' .. key)) do\n"
    "        recovered[#recovered + 1] = key\n"
    "        recovered[#recovered + 1] = n\n"
    "      end\n"
    "      redis.call('DEL', 'rb:p:' .. key)\n"
    "      redis.call('SREM', 'rb:polled', key)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {'ok', tonumber(ARGV[3]) or 0, 0, recovered}\n";

/*  END: ARGV dataset. -> {'ok'} (also when already normal),
    {'list_incomplete'}, {'incomplete', n} or {state}.  */
static const char s_end[] =
    PROLOGUE ("'state', 'list_done'")
    "if m[3] == 'normal' then return {'ok'} end\n"
    "if m[3] ~= 'recovering' then return {m[3]} end\n"
    "if m[4] ~= '1' then return {'list_incomplete'} end\n"
    /* the listed keys no order has reached yet: those at their target
       go; the first one still behind ends the look */
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('HSCAN', 'rb:rec', cursor, 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for i = 1, #r[2], 2 do\n"
    "    local key = r[2][i]\n"
    "    local s = tonumber(redis.call('HGET', 'rb:r:' .. key, 's')) or 0\n"
    "    if tonumber(r[2][i + 1]) > s then\n"
    "      return {'incomplete', redis.call('HLEN', 'rb:rec')}\n"
    "    end\n"
    "    redis.call('HDEL', 'rb:rec', key)\n"
    "  end\n"
    "until cursor == '0'\n"
    "redis.call('HSET', 'rb:meta', 'state', 'normal')\n"
    "redis.call('DEL', 'rb:polled')\n"
    "return {'ok'}\n";

/*  INIT: ARGV new dataset id. -> {'ok'} or {'not_empty', dbsize}.  */
static const char s_init[] =
    "local n = redis.call('DBSIZE')\n"
    "if n ~= 0 then return {'not_empty', n} end\n"
    RB_LUA_REPLID
    "redis.call('HSET', 'rb:meta', 'dataset', ARGV[1], 'epoch', 1,\n"
    "  'state', 'normal', 'watermark', 0, 'list_done', '1', 'total', 0,\n"
    "  'restored_watermark', 0, 'replid', replid)\n"
    "return {'ok'}\n";

/*  RESTORE_BEGIN: ARGV node, now_ms, lease_ms, file dataset, file epoch,
    highest epoch the node knows. Replaces everything by an empty dataset
    in state restoring with epoch + 1. -> {'ok', epoch} or {'busy', who}.
 */
static const char s_restore_begin[] =
    "local m = redis.call('HMGET', 'rb:meta', 'state', 'restore_until',\n"
    "  'restore_owner', 'epoch')\n"
    "local now = tonumber(ARGV[2])\n"
    "if m[1] == 'restoring' and (tonumber(m[2]) or 0) > now\n"
    "   and m[3] ~= ARGV[1] then\n"
    "  return {'busy', m[3] or '?'}\n"
    "end\n"
    "local epoch = math.max(tonumber(m[4]) or 0, tonumber(ARGV[5]),\n"
    "  tonumber(ARGV[6])) + 1\n"
    "redis.call('FLUSHDB')\n"
    RB_LUA_REPLID
    "redis.call('HSET', 'rb:meta', 'dataset', ARGV[4], 'epoch', epoch,\n"
    "  'replid', replid,\n"
    "  'state', 'restoring', 'watermark', 0, 'list_done', '0',\n"
    "  'total', 0, 'restored_watermark', 0, 'restore_owner', ARGV[1],\n"
    "  'restore_until', now + tonumber(ARGV[3]))\n"
    "return {'ok', epoch}\n";

/*  RESTORE_END: ARGV node, watermark. -> {'ok', total, tombs} or
    {'lost', owner} when another node took the restore over.  */
static const char s_restore_end[] =
    "local m = redis.call('HMGET', 'rb:meta', 'state', 'restore_owner')\n"
    "if m[1] ~= 'restoring' or m[2] ~= ARGV[1] then\n"
    "  return {'lost', m[2] or '?'}\n"
    "end\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rb:tombs')) do\n"
    "  if redis.call('HGET', 'rb:r:' .. key, 'd') ~= '1' then\n"
    "    redis.call('SREM', 'rb:tombs', key)\n"
    "  end\n"
    "end\n"
    "local other = 1 + redis.call('EXISTS', 'rb:tombs')\n"
    "local total = redis.call('DBSIZE') - other\n"
    "redis.call('HSET', 'rb:meta', 'state', 'recovering', 'list_done', '0',\n"
    "  'watermark', ARGV[2], 'restored_watermark', ARGV[2], 'total', total)\n"
    "redis.call('HDEL', 'rb:meta', 'restore_owner', 'restore_until')\n"
    "return {'ok', total, redis.call('SCARD', 'rb:tombs')}\n";

/*  STATUS: ARGV dataset. -> {'ok', state, epoch, watermark, total, tombs,
    recovering, list_done, restored_watermark, dataset}  */
static const char s_failover[] = RB_LUA_FAILOVER;

static const char s_status[] =
    PROLOGUE ("'state', 'watermark', 'total', 'list_done', "
              "'restored_watermark'")
    "return {'ok', m[3], m[2], m[4], m[5] or '0',\n"
    "  redis.call('SCARD', 'rb:tombs'), redis.call('HLEN', 'rb:rec'),\n"
    "  m[6] or '0', m[7] or '0', m[1]}\n";

// clang-format on

static const struct {
    const char *name;
    const char *source;
} s_scripts[RB_SCRIPT_COUNT] = {
    [RB_SCRIPT_GET] = {"get", s_get},
    [RB_SCRIPT_APPLY] = {"apply", s_apply},
    [RB_SCRIPT_FLAG_OPEN] = {"flag_open", s_flag_open},
    [RB_SCRIPT_FLAG] = {"flag", s_flag},
    [RB_SCRIPT_END] = {"end", s_end},
    [RB_SCRIPT_INIT] = {"init", s_init},
    [RB_SCRIPT_RESTORE_BEGIN] = {"restore_begin", s_restore_begin},
    [RB_SCRIPT_RESTORE_END] = {"restore_end", s_restore_end},
    [RB_SCRIPT_STATUS] = {"status", s_status},
    [RB_SCRIPT_FAILOVER] = {"failover", s_failover},
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

/*  --- reading a reply's elements (only here) ----------------------------- */

/*  Copies r's status word (its first element) into word. 0 for "ok", -1
    for another word, -2 if r is not a table starting with a word that
    fits.  */
static int
s_word (const redisReply *r, char *word)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return -2;
    const redisReply *e = r->element[0];
    if ((e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) ||
        e->len >= RB_REPLY_WORD || strlen (e->str) != e->len)
        return -2;
    memcpy (word, e->str, e->len + 1);
    return strcmp (word, "ok") == 0 ? 0 : -1;
}

/*  Element index of r, or NULL if r has none of that type. */
static const redisReply *
s_element (const redisReply *r, size_t index, int type)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || index >= r->elements)
        return NULL;
    return r->element[index]->type == type ? r->element[index] : NULL;
}

/*  Element index of r, an array of whole groups of size elements each:
 *n gets the number of groups. NULL if it is not that.  */
static const redisReply *
s_groups (const redisReply *r, size_t index, size_t size, size_t *n)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_ARRAY);
    if (!e || e->elements % size)
        return NULL;
    *n = e->elements / size;
    return e;
}

/*  Element index of r as an unsigned integer (a Redis integer or a
    decimal string); 0, or -1 if it is absent or not one.  */
static int
s_u64 (const redisReply *r, size_t index, uint64_t *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || index >= r->elements)
        return -1;
    const redisReply *e = r->element[index];
    if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
        *out = (uint64_t) e->integer;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20)
        return -1;
    char *end;
    unsigned long long v = strtoull (e->str, &end, 10);
    if (*end || e->str[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/*  Element index of r, a string: borrowed bytes; 0 or -1. */
static int
s_bytes (const redisReply *r, size_t index, const char **ptr, size_t *len)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_STRING);
    if (!e)
        return -1;
    *ptr = e->str;
    *len = e->len;
    return 0;
}

/*  Copies element index of r, a string shorter than len, into out. */
static int
s_text (const redisReply *r, size_t index, char *out, size_t len)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_STRING);
    if (!e || e->len >= len)
        return -1;
    memcpy (out, e->str, e->len + 1);
    return 0;
}

/*  Ends a parse: a reply not understood leaves nothing in out. */
static int
s_done (int rc, void *out, size_t size)
{
    if (rc == -2)
        memset (out, 0, size);
    return rc;
}

const char *
rb_reply_error (const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

int
rb_reply_word (const redisReply *r, char *word)
{
    return s_word (r, word);
}

int
rb_reply_u64 (const redisReply *r, size_t index, uint64_t *out)
{
    return s_u64 (r, index, out);
}

int
rb_reply_text (const redisReply *r, size_t index, char *out, size_t len)
{
    return s_text (r, index, out, len);
}

/*  --- each script's reply ------------------------------------------------ */

int
rb_get_reply_parse (const redisReply *r, size_t n, rb_get_reply_t *out)
{
    memset (out, 0, n * sizeof *out);
    char word[RB_REPLY_WORD] = "";
    uint64_t epoch = 0;
    size_t groups = 0;
    int rc = s_word (r, word);
    const redisReply *reads = rc == 0 ? s_groups (r, 3, 5, &groups) : NULL;
    if (rc == 0 && (s_u64 (r, 1, &epoch) || !reads || groups != n))
        rc = -2;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rb_get_reply_t *o = &out[i];
        uint64_t flag = 0, found = 0;
        const char *reg;
        size_t reg_len;
        if (s_u64 (reads, 5 * i, &o->seq) || s_u64 (reads, 5 * i + 1, &flag) ||
            s_u64 (reads, 5 * i + 2, &found) ||
            s_bytes (reads, 5 * i + 3, &o->value, &o->value_len) ||
            s_bytes (reads, 5 * i + 4, &reg, &reg_len) || reg_len > 1) {
            rc = -2;
            break;
        }
        o->epoch = epoch;
        o->registered = reg_len == 1 && (reg[0] == 'f' || reg[0] == 'a');
        o->recovering = flag != 0;
        o->found = found != 0;
        if (!o->found) {
            o->value = NULL;
            o->value_len = 0;
        }
    }
    if (rc == -2)
        word[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (rc != 0)
            memset (&out[i], 0, sizeof out[i]);
        memcpy (out[i].word, word, sizeof word);
    }
    return rc;
}

bool
rb_meta_reply_normal (const redisReply *r, const char *id, uint64_t epoch)
{
    uint64_t e = 0;
    const redisReply *d = s_element (r, 0, REDIS_REPLY_STRING);
    const redisReply *st = s_element (r, 2, REDIS_REPLY_STRING);
    return r && r->elements == 3 && d && st && s_u64 (r, 1, &e) == 0 &&
           e == epoch && strcmp (d->str, id) == 0 &&
           strcmp (st->str, "normal") == 0;
}

int
rb_record_reply_parse (const redisReply *r, uint64_t epoch, rb_get_reply_t *out)
{
    memset (out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return -2;
    const redisReply *v = r->element[0], *s = r->element[1], *d = r->element[2];
    bool has_seq = s->type != REDIS_REPLY_NIL;
    /* as the GET script reads it: no seq, no record; a value may be
       missing (""); a seq we cannot read is not understood */
    if ((has_seq && s_u64 (r, 1, &out->seq)) ||
        (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_NIL) ||
        (d->type != REDIS_REPLY_STRING && d->type != REDIS_REPLY_NIL)) {
        memset (out, 0, sizeof *out);
        return -2;
    }
    strcpy (out->word, "ok");
    out->epoch = epoch;
    out->found = has_seq &&
                 !(d->type == REDIS_REPLY_STRING && strcmp (d->str, "1") == 0);
    if (out->found && v->type == REDIS_REPLY_STRING) {
        out->value = v->str;
        out->value_len = v->len;
    } else if (out->found)
        out->value = "";
    return 0;
}

/*  Fills push's current record from APPLY's current list (quads of
    order index, seq, deleted, value), for order idx (from 1).  */
static int
s_apply_current (const redisReply *current, uint64_t idx, rb_apply_push_t *p)
{
    for (size_t i = 0; i < current->elements; i += 4) {
        uint64_t at = 0;
        const char *del;
        size_t del_len;
        if (s_u64 (current, i, &at) || at != idx)
            continue;
        if (s_u64 (current, i + 1, &p->seq) ||
            s_bytes (current, i + 2, &del, &del_len) ||
            s_bytes (current, i + 3, &p->value, &p->value_len))
            return -1;
        p->deleted = del_len == 1 && del[0] == '1';
        if (p->deleted) {
            p->value = NULL;
            p->value_len = 0;
        }
        return 0;
    }
    return -1; /* a 'c' push with no record to push */
}

/*  Reads push i of APPLY's push list (triples of kind, order index from
    1, node).  */
static int
s_apply_push (const redisReply *list, size_t i, const redisReply *current,
              uint32_t n_orders, rb_apply_push_t *p)
{
    const char *kind;
    size_t kind_len;
    uint64_t idx = 0;
    if (s_bytes (list, 3 * i, &kind, &kind_len) || kind_len != 1 ||
        !strchr ("ucr", kind[0]) || s_u64 (list, 3 * i + 1, &idx) || idx < 1 ||
        idx > n_orders || !s_element (list, 3 * i + 2, REDIS_REPLY_STRING))
        return -1;
    p->kind = kind[0];
    p->order = (uint32_t) (idx - 1);
    p->node = list->element[3 * i + 2]->str;
    return p->kind == 'c' ? s_apply_current (current, idx, p) : 0;
}

static int
s_apply_pushes (const redisReply *r, uint32_t n_orders, rb_apply_reply_t *out)
{
    size_t n = 0, n_current = 0;
    const redisReply *list = s_groups (r, 5, 3, &n);
    const redisReply *current = s_groups (r, 6, 4, &n_current);
    if (!list || !current)
        return -1;
    out->pushes = (rb_apply_push_t *) calloc (n ? n : 1, sizeof *out->pushes);
    assert (out->pushes);
    out->n_pushes = n;
    for (size_t i = 0; i < n; i++)
        if (s_apply_push (list, i, current, n_orders, &out->pushes[i]))
            return -1;
    return 0;
}

int
rb_apply_reply_parse (const redisReply *r, uint32_t n_orders,
                      rb_apply_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 &&
        (s_u64 (r, 1, &out->applied) || s_u64 (r, 2, &out->skipped) ||
         s_u64 (r, 3, &out->cleared) || s_u64 (r, 4, &out->watermark) ||
         s_u64 (r, 7, &out->epoch) || s_apply_pushes (r, n_orders, out)))
        rc = -2;
    if (rc == -2)
        rb_apply_reply_release (out);
    return s_done (rc, out, sizeof *out);
}

void
rb_apply_reply_release (rb_apply_reply_t *reply)
{
    if (!reply)
        return;
    free (reply->pushes);
    reply->pushes = NULL;
    reply->n_pushes = 0;
}

/*  FLAG's recovered list: pairs of key, node. */
static int
s_flag_recovered (const redisReply *r, rb_flag_reply_t *out)
{
    size_t n = 0;
    const redisReply *list = s_groups (r, 3, 2, &n);
    if (!list)
        return -1;
    out->recovered =
        (rb_flag_recovered_t *) calloc (n ? n : 1, sizeof *out->recovered);
    assert (out->recovered);
    out->n_recovered = n;
    for (size_t i = 0; i < n; i++) {
        rb_flag_recovered_t *x = &out->recovered[i];
        if (s_bytes (list, 2 * i, &x->key, &x->key_len) ||
            !s_element (list, 2 * i + 1, REDIS_REPLY_STRING))
            return -1;
        x->node = list->element[2 * i + 1]->str;
    }
    return 0;
}

int
rb_flag_reply_parse (const redisReply *r, rb_flag_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 && (s_u64 (r, 1, &out->flagged) ||
                    s_u64 (r, 2, &out->current) || s_flag_recovered (r, out)))
        rc = -2;
    if (rc == -2)
        rb_flag_reply_release (out);
    return s_done (rc, out, sizeof *out);
}

void
rb_flag_reply_release (rb_flag_reply_t *reply)
{
    if (!reply)
        return;
    free (reply->recovered);
    reply->recovered = NULL;
    reply->n_recovered = 0;
}

int
rb_end_reply_parse (const redisReply *r, rb_end_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == -1 && strcmp (out->word, "incomplete") == 0 &&
        s_u64 (r, 1, &out->left))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_init_reply_parse (const redisReply *r, rb_init_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == -1 &&
        (strcmp (out->word, "not_empty") != 0 || s_u64 (r, 1, &out->keys)))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_restore_begin_reply_parse (const redisReply *r,
                              rb_restore_begin_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    const char *who;
    size_t len;
    if (rc == 0 && s_u64 (r, 1, &out->epoch))
        rc = -2;
    else if (rc == -1 &&
             (strcmp (out->word, "busy") != 0 || s_bytes (r, 1, &who, &len)))
        rc = -2;
    else if (rc == -1) /* a name too long is cut: it is only shown */
        snprintf (out->who, sizeof out->who, "%.*s", (int) len, who);
    return s_done (rc, out, sizeof *out);
}

int
rb_restore_end_reply_parse (const redisReply *r, rb_restore_end_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 && (s_u64 (r, 1, &out->total) || s_u64 (r, 2, &out->tombs)))
        rc = -2;
    else if (rc == -1 && strcmp (out->word, "lost") != 0)
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_status_reply_parse (const redisReply *r, rb_status_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    uint64_t *nums[] = {&out->epoch,
                        &out->watermark,
                        &out->total,
                        &out->tombs,
                        &out->recovering,
                        &out->list_done,
                        &out->restored_watermark};
    for (size_t i = 0; rc == 0 && i < 7; i++)
        if (s_u64 (r, i + 2, nums[i]))
            rc = -2;
    if (rc == 0 && (s_text (r, 1, out->state, sizeof out->state) ||
                    s_text (r, 9, out->dataset, sizeof out->dataset) ||
                    strlen (out->dataset) != 32))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}
