/*  rb_scripts: the DB node's Lua scripts (see rb_scripts.h). Seqs and
    epochs travel as decimal strings and are compared as Lua numbers,
    exact up to 2^53. The scripts are kept out of clang-format's reach so
    they read as Lua.  */
#include "rb_scripts.h"

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

/*  GET: ARGV dataset, node, ttl, cap, key.
    -> {'ok', epoch, seq, flag, found, value, dataset} or {state}.
    The asking service node is remembered for pushes (SADD, and the
    set's TTL renewed on every GET, so a node's registration lasts as long
    as it keeps asking); a set at its cap takes no one new.  */
static const char s_get[] =
    PROLOGUE ("'state', 'list_done'")
    "if m[3] ~= 'normal' and m[3] ~= 'recovering' then return {m[3]} end\n"
    "local key = ARGV[5]\n"
    "local r = redis.call('HMGET', 'rb:r:' .. key, 'v', 's', 'd')\n"
    "local seq = tonumber(r[2]) or 0\n"
    "local flag = 0\n"
    "if m[3] == 'recovering' then\n"
    "  if m[4] ~= '1' then flag = 1 else\n"
    "    local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "    if t and t > seq then flag = 1 end\n"
    "  end\n"
    "end\n"
    "if ARGV[2] ~= '' then\n"
    "  local set = 'rb:f:' .. key\n"
    "  if flag == 1 then\n"
    "    set = 'rb:p:' .. key\n"
    "    redis.call('SADD', 'rb:polled', key)\n"
    "  end\n"
    "  if redis.call('SADD', set, ARGV[2]) == 1\n"
    "     and redis.call('SCARD', set) > tonumber(ARGV[4]) then\n"
    "    redis.call('SREM', set, ARGV[2])\n"
    "  end\n"
    "  redis.call('EXPIRE', set, tonumber(ARGV[3]))\n"
    "end\n"
    "local found = 1\n"
    "if not r[2] or r[3] == '1' then found = 0 end\n"
    "return {'ok', m[2], seq, flag, found, r[1] or '', m[1]}\n";

/*  APPLY: ARGV dataset, then seq, key, op, value for each order.
    -> {'ok', applied, skipped, cleared, watermark, pushes, current,
    epoch} where pushes is a flat list of kind ('u' update with the order's
    record, 'c' update with the key's current record, 'r' recovered),
    order index (1-based), node; and current a flat list of order index,
    seq, deleted ('0'/'1'), value: the record of each skipped order's key
    that has fetchers; epoch the dataset's, which the pushes carry (it may
    be newer than the node knew). A skipped order pushes too: it may be a re-send of
    one applied earlier whose reply, and so whose pushes, were lost.  */
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
    "    redis.call('HSET', 'rb:seq', key, seq)\n"
    "    applied = applied + 1\n"
    "    push('u', idx, 'rb:f:' .. key)\n"
    "  else\n"
    "    skipped = skipped + 1\n"
    "    if push('c', idx, 'rb:f:' .. key) > 0 then\n"
    "      local r = redis.call('HMGET', rk, 'v', 'd')\n"
    "      current[#current + 1] = idx\n"
    "      current[#current + 1] = cur\n"
    "      current[#current + 1] = r[2] or '0'\n"
    "      current[#current + 1] = r[1] or ''\n"
    "    end\n"
    "  end\n"
    "  if seq > wm then wm = seq end\n"
    "  local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "  if t and t <= math.max(seq, cur or 0) then\n"
    "    redis.call('HDEL', 'rb:rec', key)\n"
    "    cleared = cleared + 1\n"
    "    push('r', idx, 'rb:p:' .. key)\n"
    "    redis.call('DEL', 'rb:p:' .. key)\n"
    "    redis.call('SREM', 'rb:polled', key)\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', 'rb:meta', 'watermark', wm)\n"
    "if dtotal > 0 then redis.call('HINCRBY', 'rb:meta', 'total', dtotal) end\n"
    "return {'ok', applied, skipped, cleared, wm, pushes, current, m[2]}\n";

/*  FLAG: ARGV dataset, last ("1" or "0"), then key, target for each.
    -> {'ok', flagged, current, recovered} where recovered is a flat
    list of key, node for polled keys no longer behind (last batch).  */
static const char s_flag[] =
    PROLOGUE ("'state'")
    "if m[3] ~= 'recovering' then return {'wrong_state', m[3]} end\n"
    "local flagged, current, fields = 0, 0, {}\n"
    "local function store()\n"
    "  if #fields > 0 then redis.call('HSET', 'rb:rec', unpack(fields)) end\n"
    "  fields = {}\n"
    "end\n"
    /* the records' seqs, a chunk at a time from rb:seq (one call) */
    "for first = 3, #ARGV, 4000 do\n"
    "  local keys = {}\n"
    "  for i = first, math.min(first + 3998, #ARGV), 2 do\n"
    "    keys[#keys + 1] = ARGV[i]\n"
    "  end\n"
    "  local seqs = redis.call('HMGET', 'rb:seq', unpack(keys))\n"
    "  for j = 1, #keys do\n"
    "    local target = ARGV[first + 2 * j - 1]\n"
    "    if (tonumber(seqs[j]) or 0) < tonumber(target) then\n"
    "      fields[#fields + 1] = keys[j]\n"
    "      fields[#fields + 1] = target\n"
    "      flagged = flagged + 1\n"
    "      if #fields >= 4000 then store() end\n"
    "    else\n"
    "      current = current + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "store()\n"
    "local recovered = {}\n"
    "if ARGV[2] == '1' then\n"
    "  redis.call('HSET', 'rb:meta', 'list_done', '1')\n"
    "  for _, key in ipairs(redis.call('SMEMBERS', 'rb:polled')) do\n"
    "    local t = tonumber(redis.call('HGET', 'rb:rec', key))\n"
    "    local s = tonumber(redis.call('HGET', 'rb:seq', key)) or 0\n"
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
    "return {'ok', flagged, current, recovered}\n";

/*  END: ARGV dataset. -> {'ok'} (also when already normal),
    {'list_incomplete'}, {'incomplete', n} or {state}.  */
static const char s_end[] =
    PROLOGUE ("'state', 'list_done'")
    "if m[3] == 'normal' then return {'ok'} end\n"
    "if m[3] ~= 'recovering' then return {m[3]} end\n"
    "if m[4] ~= '1' then return {'list_incomplete'} end\n"
    "local n = redis.call('HLEN', 'rb:rec')\n"
    "if n > 0 then return {'incomplete', n} end\n"
    "redis.call('HSET', 'rb:meta', 'state', 'normal')\n"
    "redis.call('DEL', 'rb:polled')\n"
    "return {'ok'}\n";

/*  INIT: ARGV new dataset id. -> {'ok'} or {'not_empty', dbsize}.  */
static const char s_init[] =
    "local n = redis.call('DBSIZE')\n"
    "if n ~= 0 then return {'not_empty', n} end\n"
    "redis.call('HSET', 'rb:meta', 'dataset', ARGV[1], 'epoch', 1,\n"
    "  'state', 'normal', 'watermark', 0, 'list_done', '1', 'total', 0,\n"
    "  'restored_watermark', 0)\n"
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
    "redis.call('HSET', 'rb:meta', 'dataset', ARGV[4], 'epoch', epoch,\n"
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
    "  + redis.call('EXISTS', 'rb:seq')\n"
    "local total = redis.call('DBSIZE') - other\n"
    "redis.call('HSET', 'rb:meta', 'state', 'recovering', 'list_done', '0',\n"
    "  'watermark', ARGV[2], 'restored_watermark', ARGV[2], 'total', total)\n"
    "redis.call('HDEL', 'rb:meta', 'restore_owner', 'restore_until')\n"
    "return {'ok', total, redis.call('SCARD', 'rb:tombs')}\n";

/*  STATUS: ARGV dataset. -> {'ok', state, epoch, watermark, total, tombs,
    recovering, list_done, restored_watermark, dataset}  */
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
    [RB_SCRIPT_FLAG] = {"flag", s_flag},
    [RB_SCRIPT_END] = {"end", s_end},
    [RB_SCRIPT_INIT] = {"init", s_init},
    [RB_SCRIPT_RESTORE_BEGIN] = {"restore_begin", s_restore_begin},
    [RB_SCRIPT_RESTORE_END] = {"restore_end", s_restore_end},
    [RB_SCRIPT_STATUS] = {"status", s_status},
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

/*  --- replies ------------------------------------------------------------ */

const char *
rb_db_reply_word (const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    const redisReply *e = r->element[0];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS
               ? e->str
               : NULL;
}

int
rb_db_reply_u64 (const redisReply *r, size_t index, uint64_t *out)
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

/*  Copies element index of r, a string shorter than len, into out. */
static int
s_reply_text (const redisReply *r, size_t index, char *out, size_t len)
{
    const redisReply *e = r->element[index];
    if (e->type != REDIS_REPLY_STRING || e->len >= len)
        return -1;
    memcpy (out, e->str, e->len + 1);
    return 0;
}

/*  STATUS: {'ok', state, epoch, watermark, total, tombs, recovering,
    list_done, restored_watermark, dataset} or {word, ...}.  */
static int
s_status_fields (const redisReply *r, rb_status_reply_t *out)
{
    if (strcmp (out->word, "ok") != 0 || r->elements < 10)
        return -1;
    uint64_t *nums[] = {&out->epoch,
                        &out->watermark,
                        &out->total,
                        &out->tombs,
                        &out->recovering,
                        &out->list_done,
                        &out->restored_watermark};
    for (size_t i = 0; i < 7; i++)
        if (rb_db_reply_u64 (r, i + 2, nums[i]))
            return -1;
    if (s_reply_text (r, 1, out->state, sizeof out->state) ||
        s_reply_text (r, 9, out->dataset, sizeof out->dataset) ||
        strlen (out->dataset) != 32)
        return -1;
    return 0;
}

int
rb_status_reply_parse (const redisReply *r, rb_status_reply_t *out)
{
    memset (out, 0, sizeof *out);
    const char *word = rb_db_reply_word (r);
    if (!word)
        return -1;
    snprintf (out->word, sizeof out->word, "%s", word);
    if (s_status_fields (r, out) == 0)
        return 0;
    /* nothing half-read is left behind: only the word */
    char kept[sizeof out->word];
    memcpy (kept, out->word, sizeof kept);
    memset (out, 0, sizeof *out);
    memcpy (out->word, kept, sizeof kept);
    return -1;
}
