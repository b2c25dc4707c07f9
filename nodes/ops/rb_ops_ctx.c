/*  rb_ops_ctx: a command's context on the bus: connecting and
    registering once, one request and its answer, and the stall that stops
    further sends once one failed. Below every command and the sender.  */
#include "rb_ops_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

/*  --- the bus --------------------------------------------------------- */

int
ops_connect (ops_t *self)
{
    if (self->bus || self->bus_code)
        return self->bus_code;
    rb_bus_opts_t o = {.endpoint = self->opts.broker,
                       .role = RB_ROLE_OPS,
                       .name = self->name,
                       .curve_cert = self->opts.curve_cert,
                       .broker_cert = self->opts.broker_cert};
    self->bus = rb_bus_new (&o);
    if (rb_bus_wait_ready (self->bus, self->opts.timeout_ms) == 0)
        return 0;
    const char *problem = rb_bus_problem (self->bus);
    if (problem)
        snprintf (self->bus_why, sizeof self->bus_why,
                  "broker %s: cannot register as %s: %s", self->opts.broker,
                  self->name, problem);
    else
        snprintf (self->bus_why, sizeof self->bus_why,
                  "broker %s: no answer within %d ms", self->opts.broker,
                  self->opts.timeout_ms);
    rb_bus_destroy (&self->bus);
    self->bus_code = problem ? RB_S_NAME_TAKEN : RB_S_TIMEOUT;
    return self->bus_code;
}

void
ops_stall (ops_t *self, int code, const char *why)
{
    if (self->stalled)
        return;
    self->stalled = true;
    self->stall_code = code;
    snprintf (self->stall_why, sizeof self->stall_why, "%s", why);
}

int
ops_call (ops_t *self, int addr, const char *dest, const rb_body_t *req,
          uint32_t timeout_ms, zmsg_t **msg, rb_body_t *b)
{
    rb_body_init (b, RB_T_NONE);
    *msg = NULL;
    int code = ops_connect (self);
    if (code) {
        b->type = RB_T_ERROR;
        b->text = rb_str (self->bus_why);
        return code;
    }
    rb_header_t h;
    code = rb_bus_call (self->bus, addr, dest, req, timeout_ms, msg, &h, b);
    if (!*msg && b->type != RB_T_ERROR) { /* a local timeout: no body */
        b->type = RB_T_ERROR;
        b->text = rb_str ("");
    }
    return code;
}

/*  --- request ids ------------------------------------------------------ */

int
ops_unhex (const char *hex, size_t len, uint8_t rid[16])
{
    if (len != RB_OPS_RID_HEX)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        char two[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        if (!isxdigit ((unsigned char) two[0]) ||
            !isxdigit ((unsigned char) two[1]) || sscanf (two, "%x", &v) != 1)
            return -1;
        rid[i] = (uint8_t) v;
    }
    return 0;
}

/*  --- the ops node's sidecar file ------------------------------------ */

void
ops_sidecar_path (const char *journal, char *out, size_t len)
{
    snprintf (out, len, "%s.serve", journal);
}

int
ops_sidecar_read (const char *journal, char *name, size_t len)
{
    char path[4200], line[128];
    ops_sidecar_path (journal, path, sizeof path);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    long pid = 0;
    name[0] = '\0';
    while (fgets (line, sizeof line, f)) {
        line[strcspn (line, "\n")] = '\0';
        if (strncmp (line, "name=", 5) == 0 && strlen (line + 5) < len &&
            rb_name_valid (line + 5, strlen (line + 5)))
            snprintf (name, len, "%s", line + 5);
        else if (strncmp (line, "pid=", 4) == 0)
            pid = strtol (line + 4, NULL, 10);
    }
    fclose (f);
    bool alive = pid > 0 && (kill ((pid_t) pid, 0) == 0 || errno == EPERM);
    return name[0] && alive ? 0 : -1;
}

/*  --- command line --------------------------------------------------- */

const char *
ops_arg (int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen (name);
    if (streq (argv[*i], name) && *i + 1 < argc)
        return argv[++*i];
    if (strncmp (argv[*i], name, len) == 0 && argv[*i][len] == '=')
        return argv[*i] + len + 1;
    return NULL;
}
